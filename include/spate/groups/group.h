// SPDX-License-Identifier: Apache-2.0
//
// Group: one consumer group's membership as a pure, deterministic state
// machine (issue 14), in the way the Raft core is one: requests and ticks in,
// with the time passed in by the caller; replies out. No I/O, no clock, no
// threads. The coordinator (later) decodes requests, calls in on the group's
// shard, and sends each Reply to the connection that waits for it.
//
// States as Kafka's classic protocol has them:
//
//   empty --join--> preparing_rebalance --every member joined or the
//   rebalance timeout--> completing_rebalance --leader's SyncGroup--> stable
//
// and back to preparing_rebalance when a member joins, leaves, changes its
// protocols or misses its session timeout. A JoinGroup is answered only when
// the rebalance completes (the barrier), a follower's SyncGroup only once the
// leader's assignment arrives: such calls reply later, from another call or
// from tick(), through the Reply list each call returns.

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace spate::groups {

enum class GroupState : std::uint8_t {
  empty,
  preparing_rebalance,
  completing_rebalance,
  stable,
  dead
};
[[nodiscard]] const char* state_name(GroupState state);

// The outcomes a client can see; the broker maps them to Kafka error codes.
enum class GroupError : std::uint8_t {
  none,
  unknown_member_id,
  illegal_generation,
  rebalance_in_progress,
  member_id_required,  // JoinGroup v4+: rejoin with the member id carried in the reply
  inconsistent_group_protocol,
  invalid_session_timeout,
  group_max_size_reached,
  fenced_instance_id,  // another process joined with this group.instance.id since
  // The coordinator's (issue 14), beyond the state machine's:
  coordinator_loading,         // replaying __consumer_offsets; retry
  coordinator_not_available,   // stopping, or the offsets log refused a write; retry
  request_timed_out,           // the write was not durable by the deadline; retry
  invalid_group_id,            // empty (where a group is needed) or too long
  group_id_not_found,          // DeleteGroups of a group that does not exist
  non_empty_group,             // DeleteGroups of a group with members
  offset_metadata_too_large,   // past offset.metadata.max.bytes
  unknown_topic_or_partition,  // a commit for a partition that does not exist
  too_many_groups,             // past the coordinator's group limit
  offsets_full,                // past the coordinator's limit on committed offsets' bytes
  not_coordinator,             // the group's partition is not led here (any more); find again
};
[[nodiscard]] const char* error_name(GroupError error);

// Which request a reply answers: chosen by the caller, echoed back.
using RequestId = std::uint64_t;

struct Protocol {
  std::string name;
  std::vector<std::byte> metadata;
  bool operator==(const Protocol&) const = default;
};

struct JoinRequest {
  RequestId id = 0;
  std::string member_id;  // empty: a new member
  // group.instance.id (JoinGroup v5+): a static member, which keeps its
  // assignment across restarts without a rebalance.
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = -1;  // -1 (JoinGroup v0): the session timeout
  std::string protocol_type;
  std::vector<Protocol> protocols;
  // JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id.
  bool require_known_member_id = false;
};

struct JoinMember {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::vector<std::byte> metadata;  // for the chosen protocol
  bool operator==(const JoinMember&) const = default;
};

struct JoinResult {
  GroupError error = GroupError::none;
  std::int32_t generation = -1;
  std::string protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<JoinMember> members;  // the leader's reply only
};

struct SyncRequest {
  RequestId id = 0;
  std::string member_id;
  std::int32_t generation = -1;
  std::map<std::string, std::vector<std::byte>> assignments;  // from the leader
};

struct SyncResult {
  GroupError error = GroupError::none;
  std::vector<std::byte> assignment;
};

// A reply for a request made earlier (or now).
struct Reply {
  RequestId id = 0;
  std::optional<JoinResult> join;
  std::optional<SyncResult> sync;
};

struct GroupLimits {
  std::int32_t session_timeout_min_ms = 6'000;  // group.min.session.timeout.ms
  std::int32_t session_timeout_max_ms = 1'800'000;
  std::size_t members_max = 1'000;  // group.max.size (pending members included)
};

struct MemberInfo {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = 0;
  std::vector<Protocol> protocols;
  std::vector<std::byte> assignment;
};

class Group {
 public:
  // `new_member_id` names a member: the caller makes it unique (client id
  // plus a random suffix, as Kafka does); the group never reads randomness.
  Group(std::string group_id, GroupLimits limits);

  [[nodiscard]] const std::string& group_id() const { return group_id_; }
  [[nodiscard]] GroupState state() const { return state_; }
  [[nodiscard]] std::int32_t generation() const { return generation_; }
  [[nodiscard]] const std::string& protocol_type() const { return protocol_type_; }
  [[nodiscard]] const std::string& protocol_name() const { return protocol_name_; }
  [[nodiscard]] const std::string& leader() const { return leader_; }
  [[nodiscard]] std::vector<MemberInfo> members() const;
  [[nodiscard]] std::size_t pending_members() const { return pending_.size(); }
  [[nodiscard]] std::size_t member_count() const { return members_.size(); }
  // The member a static member's instance id names now, if any.
  [[nodiscard]] std::optional<std::string> static_member(const std::string& instance_id) const {
    auto it = static_members_.find(instance_id);
    if (it == static_members_.end()) return std::nullopt;
    return it->second;
  }
  // What the members hold in memory (protocol metadata, assignments, ids).
  [[nodiscard]] std::size_t member_bytes() const;

  // `fresh_id` is used when the request has no member id.
  std::vector<Reply> join(const JoinRequest& request, const std::string& fresh_id,
                          std::int64_t now_ms);
  std::vector<Reply> sync(const SyncRequest& request, std::int64_t now_ms);
  // Errors: unknown_member_id, illegal_generation, rebalance_in_progress.
  GroupError heartbeat(const std::string& member_id, std::int32_t generation, std::int64_t now_ms);
  // Errors: unknown_member_id. A leaving member starts a rebalance of the rest.
  std::pair<GroupError, std::vector<Reply>> leave(const std::string& member_id,
                                                  std::int64_t now_ms);
  // Whether an OffsetCommit from this member may store offsets, as Kafka's
  // classic coordinator decides: generation < 0 in an empty group is a
  // simple consumer's commit (assign() plus a group id); otherwise the
  // member must be known, in the current generation, and the group not
  // waiting for its assignment. An accepted commit counts as a heartbeat.
  // Errors: rebalance_in_progress, fenced_instance_id, unknown_member_id,
  // illegal_generation.
  GroupError commit_allowed(const std::string& member_id, std::int32_t generation,
                            const std::optional<std::string>& instance_id, std::int64_t now_ms);
  // An empty group recreated after a restart continues from the generation
  // its last record held, so that generations never repeat.
  // REQUIRES: state() == empty.
  void restore_generation(std::int32_t generation) { generation_ = generation; }
  // The group is being deleted: every member request now sees it gone.
  void mark_dead() { state_ = GroupState::dead; }

  // Expires members past their session timeout and pending ids past theirs,
  // and ends a rebalance whose timeout passed.
  std::vector<Reply> tick(std::int64_t now_ms);

  // Checks what must always hold; returns the first broken invariant, or
  // nothing. The tests call it after every call.
  [[nodiscard]] std::optional<std::string> check_invariants() const;

 private:
  struct Member {
    MemberInfo info;
    std::int64_t last_heard_ms = 0;
    std::optional<RequestId> awaiting_join;
    std::optional<RequestId> awaiting_sync;
  };

  void prepare_rebalance(std::int64_t now_ms, std::vector<Reply>& out);
  void maybe_complete_join(std::int64_t now_ms, std::vector<Reply>& out, bool timed_out);
  void complete_join(std::vector<Reply>& out);
  void remove_member(const std::string& member_id, std::int64_t now_ms, std::vector<Reply>& out);
  [[nodiscard]] std::string choose_protocol() const;
  [[nodiscard]] bool supports_protocols(const JoinRequest& request) const;
  [[nodiscard]] GroupError validate_join(const JoinRequest& request) const;
  void fail_pending_syncs(GroupError error, std::vector<Reply>& out);
  // A static member's join: true if answered (in `out`); false when it goes
  // on as an ordinary join, with `member_id` set to the member it is.
  bool join_static(const JoinRequest& request, const std::string& fresh_id, std::string& member_id,
                   std::int64_t now_ms, std::vector<Reply>& out);
  // A static member leaving the group frees its instance id.
  void forget_instance(const MemberInfo& info, const std::string& member_id);
  [[nodiscard]] JoinResult current_join_result(const std::string& member_id) const;

  std::string group_id_;
  GroupLimits limits_;
  GroupState state_ = GroupState::empty;
  std::int32_t generation_ = 0;
  std::string protocol_type_;
  std::string protocol_name_;
  std::string leader_;
  std::map<std::string, Member> members_;
  // Ids handed out with MEMBER_ID_REQUIRED, by when they expire.
  std::map<std::string, std::int64_t> pending_;
  // group.instance.id -> the member id it has now.
  std::map<std::string, std::string> static_members_;
  std::int64_t rebalance_deadline_ms_ = 0;
};

}  // namespace spate::groups
