// SPDX-License-Identifier: Apache-2.0
//
// Coordinator: every consumer group this broker coordinates, and their
// committed offsets, kept as records in the internal topic __consumer_offsets
// (issue 14; design.md, the groups module). Runs on the shard: requests call
// in, each Group (group.h) decides, and calls whose answer comes later
// (JoinGroup at the rebalance barrier, a follower's SyncGroup) wait on a
// signal until another call or tick() produces their reply.
//
// A group lives in one partition of __consumer_offsets (hash of the group
// id), and the coordinator serves the groups of the partitions it leads
// (offsets_topic.h): on a single node all of them, from start(); in a
// cluster those whose Raft group this broker is the confirmed leader of.
// tick() follows the leaderships: a partition newly led is loaded by
// replaying it up to its high watermark (its groups get coordinator_loading
// meanwhile), a partition no longer led (or led in a new term) is unloaded
// (its waiting calls get not_coordinator, its groups and offsets are
// dropped). A group of a partition not served here gets not_coordinator.
//
// Offsets are durable before OffsetCommit answers: the records are appended
// to the group's partition (replicated to a majority in a cluster) and
// applied to the live map only once committed in the term they were written
// in, in log order, so that the live map is always what a replay of the log
// gives. Group deletion and offset expiry write tombstones.

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
#include "spate/groups/offsets_topic.h"
#include "spate/net/signal.h"

namespace spate::groups {

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
  // The most bytes of __consumer_offsets one tick() replays while loading
  // partitions this broker came to lead (the rest waits for the next tick,
  // so that the shard keeps serving).
  std::uint64_t load_bytes_per_tick = 16U << 20U;
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
  // A single node: every partition of the local __consumer_offsets.
  Coordinator(CoordinatorConfig config, cluster::PartitionManager& partitions, const Clock& clock);
  // The partitions of `topic` this broker leads (a cluster, or a test's).
  Coordinator(CoordinatorConfig config, std::unique_ptr<OffsetsTopic> topic, const Clock& clock);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Prepares __consumer_offsets (a single node creates it if missing) and
  // loads every partition led here (on a single node: all of them). Until
  // it returns, group requests get coordinator_loading.
  // Errors: the partition manager's or the log's (the broker does not start).
  awaitable<Status> start();
  // Answers every waiting call with coordinator_not_available; later calls
  // get it too.
  void stop();
  // Started, and no partition led here is still loading.
  [[nodiscard]] bool loaded() const { return started_ && loading_ == 0; }
  // Whether this broker serves `group_id` now: none, not_coordinator (its
  // partition is not led here: the client finds the coordinator again),
  // coordinator_loading, or coordinator_not_available (stopped).
  [[nodiscard]] GroupError route(const std::string& group_id) const;
  // Whether partition `index` of __consumer_offsets is led here and loaded.
  [[nodiscard]] bool serves(std::int32_t index) const;
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

  // Follows the leaderships of __consumer_offsets (loads and unloads
  // partitions), session and rebalance timeouts, durable records'
  // application, offset expiry. Call often (every 100 ms).
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
  // A JoinGroup or SyncGroup waiting for its reply.
  struct Waiter {
    RequestId id = 0;
    std::int32_t partition = 0;  // of the group it waits in
    net::Signal signal;
    std::optional<Reply> reply;
  };
  // A batch of records appended, applied once committed in its term.
  struct Written {
    Offset end;
    Term term;
  };
  struct PendingApply {
    Written at;
    std::vector<StoredRecord> records;
  };
  // A partition of __consumer_offsets this broker leads.
  struct Served {
    Term term;            // the leadership it was loaded in
    bool loading = true;  // replaying up to the high watermark
    Offset next{0};       // the replay's next offset
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
  std::shared_ptr<Waiter> add_waiter(const std::string& group_id);
  void forget(const std::string& group_id);
  [[nodiscard]] GroupView view_of(const std::string& group_id, const Group* group) const;
  std::string fresh_member_id(const std::string& client_id);
  // Appends records for `group_id`; they are applied once committed. Returns
  // what to wait for. Errors: not_leader (the partition is not served
  // here), the partition's.
  Result<Written> write(const std::string& group_id, std::vector<StoredRecord> records);
  // Errors: not_coordinator if the leadership was lost before the commit.
  awaitable<GroupError> wait_durable(const std::string& group_id, Written at,
                                     Clock::SteadyTime deadline);
  void apply_durable(std::int32_t partition);
  // The partition if it is served here in the term it was loaded in.
  [[nodiscard]] std::shared_ptr<cluster::Partition> served(std::int32_t partition) const;

  // Following the leaderships (coordinator_load.cpp). `budget`: bytes the
  // loads may replay now. Errors: the first load that failed.
  Status follow_leaders(std::uint64_t& budget);
  // Replays partition `p` from where it stopped, up to the high watermark or
  // the budget. Errors: the log's (the partition is unloaded).
  Status load_step(std::int32_t p, std::uint64_t& budget);
  // Applies the group records of one read from `from`; returns the next offset.
  Result<Offset> replay_read(cluster::Partition& part, Offset from, std::uint64_t bytes_max,
                             std::size_t& skipped);
  // Drops what partition `p` holds; its waiting calls get not_coordinator.
  void unload(std::int32_t p);
  // Refuses (offsets_full) the entries that would grow the committed offsets
  // past offsets_bytes_max.
  void check_offsets_room(const std::string& group_id, std::vector<CommitEntry>& entries);
  void expire_offsets();
  [[nodiscard]] std::int64_t now_ms() const;

  CoordinatorConfig config_;
  std::unique_ptr<OffsetsTopic> topic_;
  const Clock& clock_;
  bool started_ = false;
  bool stopped_ = false;
  std::int32_t partition_count_ = 0;
  std::map<std::int32_t, Served> served_;
  std::size_t loading_ = 0;  // entries of served_ still loading
  // A load that failed, by partition: not tried again in that term.
  std::map<std::int32_t, Term> failed_;
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
