// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager: the topics of this node and their partitions, on one
// shard. Topic metadata (partition counts, config overrides) lives in
// `<data_dir>/topics.meta`, written atomically; partition data in the
// `<topic>-<partition>` folders of storage::DataDir. When the controller Raft
// group arrives, it becomes the source of this metadata.

#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "spate/cluster/disk_thread.h"
#include "spate/cluster/partition.h"
#include "spate/cluster/producer_ids.h"
#include "spate/cluster/raft_group_id.h"
#include "spate/cluster/topic_config.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/net/signal.h"
#include "spate/storage/data_dir.h"

namespace spate::cluster {

inline constexpr std::int32_t kPartitionsMax = 10000;  // per topic

// Bounds on what clients may create on this broker (docs/limits.md). Past
// them CreateTopics, CreatePartitions and auto-creation are refused
// (limit_exceeded); a data directory already past them still opens.
struct TopicLimits {
  std::size_t topics_max = 10'000;
  std::size_t partitions_max = 10'000;  // in all topics together
};

// topics.meta is written only while it encodes to at most this many bytes;
// it is read with a larger bound, so a file written by an older version that
// kept unnormalized config values still opens (and is rewritten smaller).
inline constexpr std::size_t kTopicsMetaWriteBytesMax = 64U << 20U;
inline constexpr std::size_t kTopicsMetaReadBytesMax = 512U << 20U;

inline constexpr std::size_t kReplicasMax = 32;  // per partition (MetadataLimits::replicas_max)

// A topic of this node. A single node's topic (id 0) holds every partition;
// a cluster topic (its id from the controller) holds the partitions this
// broker is a replica of, and null for the others.
struct Topic {
  std::string name;
  ConfigMap overrides;
  std::vector<std::shared_ptr<Partition>> partitions;
  std::uint64_t id = 0;
  std::vector<std::vector<NodeId>> replicas{};  // cluster topics: per partition
  std::vector<std::vector<NodeId>> learners{};  // per partition; empty: none (TopicRecord)
};

// Whether partition `index` of a cluster topic lists `self` among its replicas.
[[nodiscard]] bool is_replica(const std::vector<std::vector<NodeId>>& replicas, std::int32_t index,
                              NodeId self);

// What the controller's metadata asks this broker to hold of a cluster topic.
struct HostedTopic {
  std::string name;
  std::uint64_t id = 0;  // not 0
  ConfigMap overrides;
  // Per partition (all of the topic's): its members (the replicas, and during
  // a reassignment the target's brokers joining); this broker holds the
  // partitions whose list names it. Kept in topics.meta.
  std::vector<std::vector<NodeId>> replicas;
  // Per partition, the Raft group's voters when this broker opens it now
  // (a broker joining as a learner is not among them); empty: `replicas`.
  std::vector<std::vector<NodeId>> voters{};
  // Partitions held here whose list no longer names this broker are closed
  // and their folders removed (set only once the metadata has caught up).
  bool remove_unassigned = false;
};

// Per partition, the members of `spec` outside its voters (the brokers of a
// reassignment's target that join as learners); empty if there are none.
[[nodiscard]] std::vector<std::vector<NodeId>> hosted_learners(const HostedTopic& spec);

struct TopicSpec {
  std::string name;
  std::int32_t partitions = 1;
  ConfigMap overrides;
};

// The bytes of topics.meta (docs/storage-format.md).
struct TopicRecord {
  std::string name;
  std::int32_t partitions = 0;
  ConfigMap overrides;
  std::uint64_t id = 0;                         // 0: a single node's topic
  std::vector<std::vector<NodeId>> replicas{};  // cluster topics: per partition
  // Per partition, those of its replicas that are (or join as) Raft learners
  // (during a reassignment); empty: none anywhere. A partition opens with
  // them as learners, so a replica restarted while it joins, whose own Raft
  // state holds no membership yet, comes back a learner, not a voter.
  std::vector<std::vector<NodeId>> learners{};
  bool operator==(const TopicRecord&) const = default;
};
[[nodiscard]] std::vector<std::byte> encode_topics_meta(const std::vector<TopicRecord>& topics);
[[nodiscard]] Result<std::vector<TopicRecord>> decode_topics_meta(std::span<const std::byte> bytes);

// This broker as a replica of cluster partitions.
struct ReplicaContext {
  NodeId self{0};
  // Where a cluster partition's Raft messages go (unset: dropped).
  std::function<void(RaftGroupId group, raft::Message message)> send;
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  // PartitionRaftConfig's, for every cluster partition.
  std::chrono::milliseconds replica_lag_max{30'000};
  std::chrono::milliseconds read_lease{0};
  RaftCounters* counters = nullptr;
};

// Topic administration (create, delete, add partitions, change configs) runs
// one operation at a time: an operation waits for the one running to
// finish, folders removed and topics.meta written, so a create
// can never reopen the folder of a delete still in progress. The blocking
// file work (creating folders and logs, fsyncs, writing topics.meta,
// removing folders) runs on a worker thread, never on the shard, and the
// shard's map changes only once that work is durable. topics.meta is the
// source of truth: a create writes its folders first and topics.meta last, a
// delete writes topics.meta first and removes folders after, and on open a
// folder whose topic topics.meta does not list is an interrupted create or
// delete, and is removed.
// transfer_leaderships over any partitions (PartitionManager's, or a test's
// replicas): those not led by this node, or led by a sole voter, are left
// alone. Returns how many moved to another leader before `deadline`.
awaitable<std::size_t> transfer_leaderships(std::vector<std::shared_ptr<Partition>> partitions,
                                            const Clock& clock, Clock::SteadyTime deadline);

class PartitionManager {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  // Opens every partition in `dir` (in parallel through `runner`) and the
  // topic metadata. Errors: the storage's, naming the partition.
  // `replica`: this broker's id and where cluster partitions' Raft messages
  // go (a single node's topics need neither).
  [[nodiscard]] static Result<std::unique_ptr<PartitionManager>> open(
      storage::Filesystem& fs, storage::DataDir& dir, const storage::LogConfig& defaults,
      const Clock& clock, asio::any_io_executor shard, DiskThread& disk,
      const storage::TaskRunner& runner = {}, ReplicaContext replica = {});
  ~PartitionManager();
  PartitionManager(const PartitionManager&) = delete;
  PartitionManager& operator=(const PartitionManager&) = delete;

  void set_limits(const TopicLimits& limits) { limits_ = limits; }
  [[nodiscard]] const TopicLimits& limits() const { return limits_; }

  // Creates topics, each independently: one status per spec, in order.
  // Errors per topic: invalid_argument (bad name, count or config: the
  // message says which), already_exists, limit_exceeded, timeout (the turn
  // did not come before `deadline`), the storage's. With validate_only
  // nothing changes.
  awaitable<std::vector<Status>> create_topics(std::vector<TopicSpec> specs, bool validate_only,
                                               Deadline deadline);
  awaitable<Status> create_topic(std::string name, std::int32_t partitions, ConfigMap overrides,
                                 bool validate_only, Deadline deadline);
  // Removes the topic from topics.meta, then closes and removes every
  // partition. Errors: not_found, timeout, the storage's (nothing changed).
  awaitable<Status> delete_topic(std::string name, Deadline deadline);
  // Grows the topic to `total` partitions. Errors: not_found,
  // invalid_argument, limit_exceeded, timeout, the storage's.
  awaitable<Status> add_partitions(std::string name, std::int32_t total, bool validate_only,
                                   Deadline deadline);
  // Replaces the topic's overrides. Errors: not_found, invalid_argument,
  // timeout, the storage's.
  awaitable<Status> set_topic_configs(std::string name, ConfigMap overrides, bool validate_only,
                                      Deadline deadline);
  // As set_topic_configs, with the new overrides computed from the current
  // ones in the operation's turn (IncrementalAlterConfigs). Errors: also
  // those `change` returns.
  using ConfigChange = std::function<Result<ConfigMap>(const ConfigMap& current)>;
  awaitable<Status> change_topic_configs(std::string name, ConfigChange change, bool validate_only,
                                         Deadline deadline);

  // Makes this broker hold what the controller assigned it of a cluster
  // topic (partition_manager_cluster.cpp): creates the topic or the
  // partitions it now holds (each a Raft group over its replicas), grows
  // its count, and applies changed overrides; nothing changes if all is as
  // asked. Errors: invalid_argument (a bad spec), already_exists (a topic of
  // that name with another id is here: delete it first), invalid_partitions
  // (fewer partitions than held), timeout, the storage's.
  awaitable<Status> host_topic(HostedTopic spec, Deadline deadline);
  // Makes a single node's topic kept here (id 0: on disk, not served in a
  // cluster) the cluster topic `spec` that the controller migrated it into
  // (single_node_migration.h; partition_manager_adopt.cpp): `spec` must
  // have the topic's partition count, each with this broker as its only
  // replica. Every partition's raft.state is checked first (nothing is
  // written if one is damaged or not a single node's), then rewritten to
  // name this broker, the partitions open as Raft groups of it alone with
  // their data, and topics.meta records the topic's id. Errors: not_found
  // (no single node's topic of that name), invalid_partitions or
  // invalid_replica_assignment (another shape: nothing changes),
  // invalid_argument or corrupt_log (a raft.state: nothing changes),
  // timeout, the storage's.
  awaitable<Status> adopt_single_node_topic(HostedTopic spec, Deadline deadline);
  // The partition of a cluster Raft group held here, or null.
  [[nodiscard]] std::shared_ptr<Partition> partition(const RaftGroupId& group) const;
  [[nodiscard]] const ReplicaContext& replica_context() const { return replica_; }

  [[nodiscard]] const Topic* topic(const std::string& name) const;
  [[nodiscard]] std::shared_ptr<Partition> partition(const std::string& topic,
                                                     std::int32_t index) const;
  [[nodiscard]] const std::map<std::string, Topic>& topics() const { return topics_; }
  [[nodiscard]] const storage::LogConfig& defaults() const { return defaults_; }
  [[nodiscard]] std::size_t partition_count() const { return partition_count_; }
  // The idempotent producer ids of this node (InitProducerId).
  [[nodiscard]] ProducerIds& producer_ids() { return *producer_ids_; }
  // Sealed segment files kept open, and the cap (--max-open-segment-files).
  [[nodiscard]] const storage::FileCache& segment_files() const { return dir_.file_cache(); }
  // The compaction thread every partition of this manager shares.
  [[nodiscard]] const LogCleaner& cleaner() const { return *cleaner_; }
  // Admin operations waiting for their turn (plus the one running).
  [[nodiscard]] std::size_t admin_queue() const { return admin_waiting_ + (admin_busy_ ? 1 : 0); }

  // Roll, retention and interval flushes for every partition.
  void tick();
  // Partition::peer_unreachable for every partition.
  void peer_unreachable(NodeId node);
  // Before stopping (SIGTERM, ahead of close_all()): hands the leadership of
  // every partition this node leads to another voter and waits until each
  // has a new leader or `deadline` passes (a transfer raft gives up on is
  // tried again meanwhile). Produce to those partitions is refused with
  // NOT_LEADER_OR_FOLLOWER from the start, so a rolling restart costs
  // producers only retriable errors. A sole voter has nothing to hand over:
  // with only those it returns at once. tick() must keep running while it
  // waits. Returns how many partitions were handed over.
  awaitable<std::size_t> transfer_leaderships(Deadline deadline);
  // Closes every partition cleanly, several at a time off the shard.
  // Returns the number that failed. Afterwards closing() is true and the
  // partitions must not be read (their logs were closed on other threads).
  awaitable<std::size_t> close_all();
  [[nodiscard]] bool closing() const { return closing_; }

 private:
  PartitionManager(storage::Filesystem& fs, storage::DataDir& dir, storage::LogConfig defaults,
                   const Clock& clock, asio::any_io_executor shard, DiskThread& disk);
  class Turn;
  // Waits until no other admin operation runs (or the deadline passes).
  awaitable<Result<Turn>> take_turn(Deadline deadline);
  void end_turn();
  // Runs `work` on the worker thread; resumes on the shard.
  awaitable<void> off_shard(std::function<void()> work);

  // Opening (partition_manager_open.cpp).
  using FoundLogs =
      std::map<std::string, std::map<std::int32_t, std::unique_ptr<storage::PartitionLog>>>;
  // Reads topics.meta into topics_ (configs in canonical form; *changed if an
  // older version stored them otherwise). nullopt if there is none.
  // Errors: corrupt_log, the storage's.
  [[nodiscard]] Result<std::optional<std::vector<TopicRecord>>> load_meta(bool* changed);
  // Removes the folders topics.meta does not list (interrupted operations).
  [[nodiscard]] Status remove_unlisted_folders(const std::vector<TopicRecord>& records);
  [[nodiscard]] Result<FoundLogs> open_logs(const storage::TaskRunner& runner);
  // Topics with folders but no entry: kept with default configs when there
  // is no topics.meta (an old directory), else dropped (not served).
  void keep_unlisted_topics(FoundLogs& found, bool meta_present, std::vector<TopicRecord>& records,
                            bool* changed);
  // Makes each record's partitions from the logs found (or new empty ones).
  [[nodiscard]] Status attach_logs(const std::vector<TopicRecord>& records, FoundLogs& found,
                                   bool meta_present, bool* changed);
  // A CreateTopics spec against this broker and the specs accepted before it
  // (`seen`, bringing the counts to `topics` and `partitions`); normalizes
  // its configs.
  [[nodiscard]] Status check_new_topic(TopicSpec& spec, const std::set<std::string_view>& seen,
                                       std::size_t topics, std::size_t partitions) const;

  [[nodiscard]] std::vector<TopicRecord> records() const;
  // Encodes and writes topics.meta on the worker. Errors: limit_exceeded
  // (past kTopicsMetaWriteBytesMax), the storage's.
  awaitable<Status> write_meta(std::vector<TopicRecord> records);
  // Opens partitions [from, to) of a topic on the worker (removing any
  // leftover folder first); on failure removes what it made.
  awaitable<Result<std::vector<std::unique_ptr<storage::PartitionLog>>>> make_partitions(
      const std::string& name, const ConfigMap& overrides, std::int32_t from, std::int32_t to);
  // The same for the partitions listed.
  awaitable<Result<std::vector<std::unique_ptr<storage::PartitionLog>>>> make_partitions(
      const std::string& name, const ConfigMap& overrides, std::vector<std::int32_t> indexes);
  awaitable<void> remove_partitions(const std::string& name, std::int32_t from, std::int32_t to);
  awaitable<void> remove_partitions(const std::string& name, std::vector<std::int32_t> indexes);
  // Closes logs that never became partitions, on the worker.
  awaitable<void> drop_logs(std::vector<std::unique_ptr<storage::PartitionLog>> logs);
  // A partition over `log`: a single node's (topic id 0), or a Raft group
  // over `replicas` of cluster topic `id`, `learners` among them not voting
  // (the membership it opens with unless its own Raft state holds one).
  std::shared_ptr<Partition> adopt(const std::string& topic, std::int32_t index,
                                   std::unique_ptr<storage::PartitionLog> log, std::uint64_t id = 0,
                                   const std::vector<NodeId>& replicas = {},
                                   const std::vector<NodeId>& learners = {});
  [[nodiscard]] Status persist_now();
  // Closes the listed partitions of a held cluster topic (topics.meta no
  // longer names this broker for them) and removes their folders.
  awaitable<void> unhost_partitions(const std::string& name, std::vector<std::int32_t> indexes);

  storage::Filesystem& fs_;
  storage::DataDir& dir_;
  storage::LogConfig defaults_;
  const Clock& clock_;
  asio::any_io_executor shard_;
  DiskThread& disk_;
  TopicLimits limits_;
  std::map<std::string, Topic> topics_;
  std::unordered_map<std::uint64_t, std::string> cluster_names_;  // cluster topics by id
  ReplicaContext replica_;
  std::size_t partition_count_ = 0;
  static constexpr std::size_t kCloseThreads = 8;
  bool closing_ = false;
  bool admin_busy_ = false;
  std::size_t admin_waiting_ = 0;
  net::Signal admin_idle_;
  std::unique_ptr<ProducerIds> producer_ids_;
  // Joined after the worker, before the partitions it cleans are gone.
  std::unique_ptr<LogCleaner> cleaner_ = std::make_unique<LogCleaner>();
  // Last member: destroyed (joined) first, while everything its jobs use lives.
  std::unique_ptr<DiskThread> worker_;
};

}  // namespace spate::cluster
