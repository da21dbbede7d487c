// SPDX-License-Identifier: Apache-2.0
//
// A single node's data directory restarted as a cluster member (--seeds):
// its topics.meta and producer.ids go into the controller once
// (migration_commands, metadata_migration.h), and its partitions become
// Raft groups of this broker alone, data intact (docs/controller.md,
// "Migrating a single node"; ADR 0004).
//
// The steps, each safe to repeat after a crash:
//   1. once this broker's registration applied, the commands are proposed
//      (producer-id blocks first, then one create_topic per topic); a topic
//      refused as already_exists is fine when the controller's topic has the
//      same partition count, all on this broker;
//   2. once every command committed, `topics.meta.migrated` is written (the
//      topics it migrated): the migration never runs again;
//   3. the metadata applier adopts each single node's topic that the
//      controller has with that shape (PartitionManager::
//      adopt_single_node_topic): each partition's raft.state is rewritten
//      to name this broker instead of the single node's voter 0
//      (adopt_single_node_raft_state), then topics.meta records the topic's
//      cluster id. A crash between two raft.state files leaves some
//      rewritten: they are accepted as they are the next time.
// A topic the controller has with another shape, or whose raft.state names
// anything but the single node, is logged and kept on disk, not served.

#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "spate/cluster/controller.h"
#include "spate/cluster/disk_thread.h"
#include "spate/cluster/partition_manager.h"
#include "spate/cluster/raft_state.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/net/background_task.h"
#include "spate/net/signal.h"
#include "spate/storage/file.h"

namespace spate::cluster {

// The raft.state of a single node's partition as a replica of `self`: its
// vote and start membership name voter 0 (the single node) and must name
// `self`. nullopt: nothing to change (nothing names 0, or `self` is 0, or it
// was rewritten before). Errors: invalid_argument when the state is not a
// single node's (membership entries in its log, a start membership or a
// vote naming any other broker), saying which.
[[nodiscard]] Result<std::optional<RaftState>> single_node_raft_state_for(const RaftState& stored,
                                                                          NodeId self);

enum class RaftStateAdoption : std::uint8_t { rewritten, unchanged };

// Reads <dir>/raft.state and, if `write` and it names the single node,
// replaces it atomically with single_node_raft_state_for's (a missing file
// is a fresh state: unchanged). Errors: corrupt_log (a damaged file),
// invalid_argument (not a single node's), the file system's; on every
// error the file is left as it was.
[[nodiscard]] Result<RaftStateAdoption> adopt_single_node_raft_state(
    storage::Filesystem& fs, const std::filesystem::path& dir, NodeId self, bool write);

// Whether <data_dir>/topics.meta.migrated exists. Errors: the file system's.
[[nodiscard]] Result<bool> single_node_migrated(storage::Filesystem& fs,
                                                const std::filesystem::path& data_dir);
// Writes <data_dir>/topics.meta.migrated atomically: `topics` in topics.meta's
// format. Errors: the file system's.
[[nodiscard]] Status mark_single_node_migrated(storage::Filesystem& fs,
                                               const std::filesystem::path& data_dir,
                                               const std::vector<TopicRecord>& topics);

// Whether the controller's topic `name` is a single node's topic of
// `partitions` partitions migrated by `self`: that many partitions, each
// with `self` as its only replica and no reassignment pending.
[[nodiscard]] bool migrated_shape(const TopicMeta& topic, std::int32_t partitions, NodeId self);

// Steps 1 and 2 above, on the shard. One io_context (the shard's).
class SingleNodeMigration {
 public:
  SingleNodeMigration(Controller& controller, PartitionManager& partitions, storage::Filesystem& fs,
                      std::filesystem::path data_dir, DiskThread& disk, const Clock& clock,
                      asio::any_io_executor shard);
  SingleNodeMigration(const SingleNodeMigration&) = delete;
  SingleNodeMigration& operator=(const SingleNodeMigration&) = delete;

  // Does nothing if the directory was migrated or holds nothing to migrate.
  void start();
  // Ends the run (a proposal in flight ends at its deadline or the
  // controller's close).
  awaitable<void> stop();
  // topics.meta.migrated was written (by this run or an earlier one).
  [[nodiscard]] bool done() const { return done_; }

 private:
  awaitable<void> run();
  // Proposes `command` until it commits (or stop()); nullopt if stopped.
  awaitable<std::optional<ApplyOutcome>> propose_until_committed(Command command);
  // Logs what a producer-id block's outcome means; false if it was refused.
  [[nodiscard]] bool check_block(const ApplyOutcome& outcome, bool first,
                                 std::int64_t ids_next) const;
  // Logs what the outcome of migrating `topic` means; false if it was not
  // migrated.
  [[nodiscard]] bool check_topic(const TopicRecord& topic, const ApplyOutcome& outcome) const;
  awaitable<Status> write_marker(std::vector<TopicRecord> topics);

  Controller& controller_;
  PartitionManager& partitions_;
  storage::Filesystem& fs_;
  std::filesystem::path data_dir_;
  DiskThread& disk_;
  const Clock& clock_;
  asio::any_io_executor shard_;
  bool stopping_ = false;
  bool done_ = false;
  net::Signal wake_;  // stop()
  net::BackgroundTask task_{log::Module::cluster, "single node migration"};
};

}  // namespace spate::cluster
