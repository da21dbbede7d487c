// SPDX-License-Identifier: Apache-2.0
//
// Coordinator: every consumer group this broker coordinates, and their
// committed offsets, kept as records in the internal topic __consumer_offsets
// (issue 14; design.md, the groups module). Runs on the shard: requests call
// in, each Group (group.h) decides, and calls whose answer comes later
// (JoinGroup at the rebalance barrier, a follower's SyncGroup) wait on a
// signal until another call or tick() produces their reply.
//
// Offsets are durable before OffsetCommit answers: the records are appended
// to the group's partition of __consumer_offsets (hash of the group id) and
// applied to the live map only once committed, in log order, so that the
// live map is always what a replay of the log gives; start() does that
// replay. Group deletion and offset expiry write tombstones.

#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spate/cluster/partition_manager.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/groups/group.h"
#include "spate/groups/offsets.h"
#include "spate/net/signal.h"

namespace spate::groups {

inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

struct CoordinatorConfig {
  // offsets.topic.num.partitions (used when the topic is first created).
  std::int32_t offsets_partitions = 8;
  // offsets.retention.minutes: committed offsets of a group with no members
  // expire this long after their commit.
  std::int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;
  // offset.metadata.max.bytes
  std::size_t metadata_bytes_max = 4096;
  // The most groups (with members or with committed offsets) one broker holds.
  std::size_t groups_max = 10'000;
  // Longest group id accepted.
  std::size_t group_id_bytes_max = 1024;
  // The most bytes all members of all groups may hold (protocol metadata,
  // assignments, client ids): a JoinGroup past it gets too_many_groups.
  std::size_t member_bytes_max = 256U << 20U;
  // The most bytes committed offsets may take in memory, all groups together
  // (OffsetMap::entry_bytes each, commits not yet durable included): a commit
  // that would grow past it gets offsets_full for those partitions.
  std::size_t offsets_bytes_max = 256U << 20U;
  // Longest a JoinGroup waits at the barrier (rebalance timeouts are cut to it).
  std::int32_t rebalance_timeout_max_ms = 30 * 60 * 1000;
  // What a JoinGroup or SyncGroup wait adds to the group's own timeouts, so
  // that the group, not the wait, answers (the fuzz target sets 0).
  std::int32_t wait_slack_ms = 5'000;
  // How often expiry of committed offsets runs.
  std::int64_t expiry_interval_ms = 60'000;
  GroupLimits limits;
};

// One partition's commit in an OffsetCommit, with its outcome.
struct CommitEntry {
  PartitionKey partition;
  CommittedOffset value;
  GroupError error = GroupError::none;
};

// A group as ListGroups and DescribeGroups show it.
struct GroupView {
  std::string group_id;
  GroupState state = GroupState::dead;
  std::string protocol_type;
  std::string protocol_name;
  std::int32_t generation = 0;
  std::vector<MemberInfo> members;
};

class Coordinator {
 public:
  Coordinator(CoordinatorConfig config, cluster::PartitionManager& partitions, const Clock& clock);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Creates __consumer_offsets if missing and replays it into the live map.
  // Until it returns, group requests get coordinator_loading.
  // Errors: the partition manager's or the log's (the broker does not start).
  awaitable<Status> start();
  // Answers every waiting call with coordinator_not_available; later calls
  // get it too.
  void stop();
  [[nodiscard]] bool loaded() const { return loaded_; }
  [[nodiscard]] const CoordinatorConfig& config() const { return config_; }

  awaitable<JoinResult> join(std::string group_id, JoinRequest request);
  awaitable<SyncResult> sync(std::string group_id, SyncRequest request,
                             std::optional<std::string> instance_id);
  GroupError heartbeat(const std::string& group_id, const std::string& member_id,
                       std::int32_t generation, const std::optional<std::string>& instance_id);
  // One member (LeaveGroup v0-v2) or each of several (v3+). A static member
  // may be named by its instance id alone.
  GroupError leave(const std::string& group_id, const std::string& member_id,
                   const std::optional<std::string>& instance_id);
  // Stores the entries whose error is none on return; sets each entry's
  // error otherwise. Returns once durable (or the deadline passed).
  awaitable<void> commit(std::string group_id, std::string member_id, std::int32_t generation,
                         std::optional<std::string> instance_id, std::vector<CommitEntry>& entries,
                         Clock::SteadyTime deadline);
  // Committed offsets of a group: of the given partitions (missing ones as
  // offset -1), or of every partition when `partitions` is nullopt.
  // Errors: coordinator_loading.
  [[nodiscard]] GroupError fetch(const std::string& group_id,
                                 const std::optional<std::vector<PartitionKey>>& partitions,
                                 std::map<PartitionKey, CommittedOffset>& out) const;
  [[nodiscard]] std::vector<GroupView> list() const;
  // nullopt: no such group (DescribeGroups shows it Dead).
  [[nodiscard]] std::optional<GroupView> describe(const std::string& group_id) const;
  // Deletes empty groups and their offsets (tombstones, durable on return).
  awaitable<std::vector<GroupError>> delete_groups(std::vector<std::string> group_ids,
                                                   Clock::SteadyTime deadline);

  // Session and rebalance timeouts, durable records' application, offset
  // expiry. Call often (every 100 ms).
  void tick();

  // For tests and /metrics.
  [[nodiscard]] const OffsetMap& offsets() const { return offsets_; }
  [[nodiscard]] std::int32_t partition_for(std::string_view group_id) const;
  [[nodiscard]] std::size_t waiting() const { return waiters_.size(); }
  [[nodiscard]] std::size_t member_bytes() const { return member_bytes_; }
  // Committed offsets' bytes, durable and pending (the offsets_bytes_max usage).
  [[nodiscard]] std::size_t offset_bytes() const {
    return offsets_.bytes() + pending_offset_bytes_;
  }

  // For /metrics: every group's state, member count and generation, as
  // list() shows them but without copying members (a group known only by
  // its committed offsets is Empty, with its stored generation).
  struct GroupStats {
    std::string group_id;
    GroupState state = GroupState::empty;
    std::size_t members = 0;
    std::int32_t generation = 0;
  };
  [[nodiscard]] std::vector<GroupStats> group_stats() const;

 private:
  struct Waiter;
  struct PendingApply {
    Offset end;
    std::vector<StoredRecord> records;
  };

  // A static member's instance id now owned by another member id (KIP-345).
  [[nodiscard]] static bool fenced(const Group& group, const std::string& member_id,
                                   const std::optional<std::string>& instance_id);
  [[nodiscard]] GroupError check_group_id(const std::string& group_id, bool may_be_empty) const;
  Group* find(const std::string& group_id);
  [[nodiscard]] const Group* find(const std::string& group_id) const;
  Result<Group*> find_or_create(const std::string& group_id);
  void deliver(std::vector<Reply> replies);
  void after_change(Group& group);
  awaitable<std::optional<Reply>> await_reply(std::shared_ptr<Waiter> waiter,
                                              Clock::SteadyTime deadline);
  std::shared_ptr<Waiter> add_waiter();
  void forget(const std::string& group_id);
  [[nodiscard]] GroupView view_of(const std::string& group_id, const Group* group) const;
  std::string fresh_member_id(const std::string& client_id);
  // Appends records for `group_id`; they are applied once durable. Returns
  // the end offset to wait for. Errors: the partition's.
  Result<Offset> write(const std::string& group_id, std::vector<StoredRecord> records);
  awaitable<GroupError> wait_durable(const std::string& group_id, Offset end,
                                     Clock::SteadyTime deadline);
  void apply_durable(std::int32_t partition);
  // Refuses (offsets_full) the entries that would grow the committed offsets
  // past offsets_bytes_max.
  void check_offsets_room(const std::string& group_id, std::vector<CommitEntry>& entries);
  awaitable<Status> replay(std::int32_t partition);
  void expire_offsets();
  [[nodiscard]] std::int64_t now_ms() const;

  CoordinatorConfig config_;
  cluster::PartitionManager& partitions_;
  const Clock& clock_;
  bool loaded_ = false;
  bool stopped_ = false;
  std::int32_t partition_count_ = 0;
  std::map<std::string, std::unique_ptr<Group>> groups_;
  std::map<std::string, std::size_t> group_bytes_;  // member bytes per group
  // The generation of the last group record written, per group.
  std::map<std::string, std::int32_t> summary_generation_;
  std::size_t member_bytes_ = 0;
  OffsetMap offsets_;
  std::map<std::int32_t, std::vector<PendingApply>> pending_;
  std::size_t pending_offset_bytes_ = 0;  // entry_bytes of commits in pending_
  bool offsets_full_logged_ = false;
  std::map<RequestId, std::shared_ptr<Waiter>> waiters_;
  RequestId next_request_ = 1;
  std::uint64_t next_member_ = 0;
  std::int64_t next_expiry_ms_ = 0;
};

}  // namespace spate::groups
