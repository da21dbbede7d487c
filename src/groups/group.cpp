// SPDX-License-Identifier: Apache-2.0

#include "spate/groups/group.h"

#include <algorithm>

#include <fmt/format.h>

namespace spate::groups {
namespace {

bool has_protocol(const std::vector<Protocol>& protocols, const std::string& name) {
  return std::any_of(protocols.begin(), protocols.end(),
                     [&](const Protocol& p) { return p.name == name; });
}

const std::vector<std::byte>* metadata_for(const std::vector<Protocol>& protocols,
                                           const std::string& name) {
  for (const auto& p : protocols) {
    if (p.name == name) return &p.metadata;
  }
  return nullptr;
}

Reply join_error(RequestId id, GroupError error, std::string member_id = {}) {
  JoinResult r;
  r.error = error;
  r.member_id = std::move(member_id);
  return Reply{id, std::move(r), std::nullopt};
}

Reply sync_reply(RequestId id, GroupError error, std::vector<std::byte> assignment = {}) {
  return Reply{id, std::nullopt, SyncResult{error, std::move(assignment)}};
}

}  // namespace

const char* state_name(GroupState state) {
  switch (state) {
    case GroupState::empty:
      return "Empty";
    case GroupState::preparing_rebalance:
      return "PreparingRebalance";
    case GroupState::completing_rebalance:
      return "CompletingRebalance";
    case GroupState::stable:
      return "Stable";
    case GroupState::dead:
      return "Dead";
  }
  return "?";
}

const char* error_name(GroupError error) {
  switch (error) {
    case GroupError::none:
      return "NONE";
    case GroupError::unknown_member_id:
      return "UNKNOWN_MEMBER_ID";
    case GroupError::illegal_generation:
      return "ILLEGAL_GENERATION";
    case GroupError::rebalance_in_progress:
      return "REBALANCE_IN_PROGRESS";
    case GroupError::member_id_required:
      return "MEMBER_ID_REQUIRED";
    case GroupError::inconsistent_group_protocol:
      return "INCONSISTENT_GROUP_PROTOCOL";
    case GroupError::invalid_session_timeout:
      return "INVALID_SESSION_TIMEOUT";
    case GroupError::group_max_size_reached:
      return "GROUP_MAX_SIZE_REACHED";
    case GroupError::fenced_instance_id:
      return "FENCED_INSTANCE_ID";
    case GroupError::coordinator_loading:
      return "COORDINATOR_LOAD_IN_PROGRESS";
    case GroupError::coordinator_not_available:
      return "COORDINATOR_NOT_AVAILABLE";
    case GroupError::request_timed_out:
      return "REQUEST_TIMED_OUT";
    case GroupError::invalid_group_id:
      return "INVALID_GROUP_ID";
    case GroupError::group_id_not_found:
      return "GROUP_ID_NOT_FOUND";
    case GroupError::non_empty_group:
      return "NON_EMPTY_GROUP";
    case GroupError::offset_metadata_too_large:
      return "OFFSET_METADATA_TOO_LARGE";
    case GroupError::unknown_topic_or_partition:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case GroupError::too_many_groups:
      return "TOO_MANY_GROUPS";
    case GroupError::offsets_full:
      return "OFFSETS_FULL";
    case GroupError::not_coordinator:
      return "NOT_COORDINATOR";
  }
  return "?";
}

Group::Group(std::string group_id, GroupLimits limits)
    : group_id_(std::move(group_id)), limits_(limits) {}

std::vector<MemberInfo> Group::members() const {
  std::vector<MemberInfo> out;
  out.reserve(members_.size());
  for (const auto& [id, m] : members_) out.push_back(m.info);
  return out;
}

GroupError Group::validate_join(const JoinRequest& request) const {
  if (request.session_timeout_ms < limits_.session_timeout_min_ms ||
      request.session_timeout_ms > limits_.session_timeout_max_ms) {
    return GroupError::invalid_session_timeout;
  }
  if (request.protocol_type.empty() || request.protocols.empty() || !supports_protocols(request)) {
    return GroupError::inconsistent_group_protocol;
  }
  return GroupError::none;
}

// Every other member must support at least one of the request's protocols,
// under the same protocol type.
bool Group::supports_protocols(const JoinRequest& request) const {
  bool others = false;
  for (const auto& [id, m] : members_) {
    if (id != request.member_id) others = true;
  }
  if (!others) return true;
  if (request.protocol_type != protocol_type_) return false;
  return std::any_of(request.protocols.begin(), request.protocols.end(), [&](const Protocol& p) {
    return std::all_of(members_.begin(), members_.end(), [&](const auto& entry) {
      return entry.first == request.member_id || has_protocol(entry.second.info.protocols, p.name);
    });
  });
}

std::vector<Reply> Group::join(const JoinRequest& request, const std::string& fresh_id,
                               std::int64_t now_ms) {
  std::vector<Reply> out;
  if (state_ == GroupState::dead) {
    out.push_back(join_error(request.id, GroupError::unknown_member_id, request.member_id));
    return out;
  }
  if (auto error = validate_join(request); error != GroupError::none) {
    out.push_back(join_error(request.id, error, request.member_id));
    return out;
  }
  std::string member_id = request.member_id;
  if (request.instance_id) {
    if (join_static(request, fresh_id, member_id, now_ms, out)) return out;
  } else if (member_id.empty()) {
    if (members_.size() + pending_.size() >= limits_.members_max) {
      out.push_back(join_error(request.id, GroupError::group_max_size_reached));
      return out;
    }
    member_id = fresh_id;
    if (request.require_known_member_id) {
      // The id is kept for one session timeout: a client that never comes
      // back (a duplicated handshake) leaves nothing behind.
      pending_[member_id] = now_ms + request.session_timeout_ms;
      out.push_back(join_error(request.id, GroupError::member_id_required, member_id));
      return out;
    }
  } else if (pending_.erase(member_id) == 0 && !members_.contains(member_id)) {
    out.push_back(join_error(request.id, GroupError::unknown_member_id, member_id));
    return out;
  }

  const bool known = members_.contains(member_id);
  Member& m = members_[member_id];
  const bool changed = !known || m.info.protocols != request.protocols;
  m.info.member_id = member_id;
  m.info.instance_id = request.instance_id;
  m.info.client_id = request.client_id;
  m.info.client_host = request.client_host;
  m.info.session_timeout_ms = request.session_timeout_ms;
  m.info.rebalance_timeout_ms =
      request.rebalance_timeout_ms < 0 ? request.session_timeout_ms : request.rebalance_timeout_ms;
  m.info.protocols = request.protocols;
  m.last_heard_ms = now_ms;
  if (members_.size() == 1) protocol_type_ = request.protocol_type;

  if (known && !changed && member_id != leader_ &&
      (state_ == GroupState::stable || state_ == GroupState::completing_rebalance)) {
    // A follower rejoining with nothing changed gets the current generation.
    out.push_back(Reply{request.id, current_join_result(member_id), std::nullopt});
    return out;
  }
  if (m.awaiting_join) {
    // A second join while one waits: the earlier one is answered as stale.
    out.push_back(join_error(*m.awaiting_join, GroupError::unknown_member_id, member_id));
  }
  m.awaiting_join = request.id;
  if (state_ != GroupState::preparing_rebalance) prepare_rebalance(now_ms, out);
  maybe_complete_join(now_ms, out, false);
  return out;
}

void Group::forget_instance(const MemberInfo& info, const std::string& member_id) {
  if (!info.instance_id) return;
  auto s = static_members_.find(*info.instance_id);
  if (s != static_members_.end() && s->second == member_id) static_members_.erase(s);
}

JoinResult Group::current_join_result(const std::string& member_id) const {
  JoinResult r;
  r.generation = generation_;
  r.protocol_name = protocol_name_;
  r.leader = leader_;
  r.member_id = member_id;
  return r;
}

bool Group::join_static(const JoinRequest& request, const std::string& fresh_id,
                        std::string& member_id, std::int64_t now_ms, std::vector<Reply>& out) {
  auto known = static_members_.find(*request.instance_id);
  if (!request.member_id.empty()) {
    // Only the process that has the instance id now may use it.
    if (known != static_members_.end() && known->second != request.member_id) {
      out.push_back(join_error(request.id, GroupError::fenced_instance_id, request.member_id));
      return true;
    }
    if (!members_.contains(request.member_id)) {
      out.push_back(join_error(request.id, GroupError::unknown_member_id, request.member_id));
      return true;
    }
    return false;
  }
  if (known == static_members_.end()) {
    if (members_.size() + pending_.size() >= limits_.members_max) {
      out.push_back(join_error(request.id, GroupError::group_max_size_reached));
      return true;
    }
    member_id = fresh_id;  // static members skip MEMBER_ID_REQUIRED
    static_members_[*request.instance_id] = member_id;
    return false;
  }
  // A restarted static member: a new member id replaces the old one, which
  // is fenced from now on; its waiting calls are answered as fenced.
  auto node = members_.extract(known->second);
  Member& old = node.mapped();
  if (old.awaiting_join) {
    out.push_back(join_error(*old.awaiting_join, GroupError::fenced_instance_id, known->second));
  }
  if (old.awaiting_sync) {
    out.push_back(sync_reply(*old.awaiting_sync, GroupError::fenced_instance_id));
  }
  old.awaiting_join.reset();
  old.awaiting_sync.reset();
  if (leader_ == known->second) leader_ = fresh_id;
  node.key() = fresh_id;
  old.info.member_id = fresh_id;
  members_.insert(std::move(node));
  known->second = fresh_id;
  member_id = fresh_id;
  Member& m = members_.at(fresh_id);
  if (state_ == GroupState::stable && m.info.protocols == request.protocols) {
    // Same protocols, group stable: its old assignment, no rebalance.
    m.last_heard_ms = now_ms;
    out.push_back(Reply{request.id, current_join_result(fresh_id), std::nullopt});
    return true;
  }
  return false;
}

void Group::prepare_rebalance(std::int64_t now_ms, std::vector<Reply>& out) {
  if (state_ == GroupState::completing_rebalance) {
    fail_pending_syncs(GroupError::rebalance_in_progress, out);
  }
  state_ = GroupState::preparing_rebalance;
  std::int32_t timeout = 0;
  for (const auto& [id, m] : members_) timeout = std::max(timeout, m.info.rebalance_timeout_ms);
  rebalance_deadline_ms_ = now_ms + timeout;
}

void Group::maybe_complete_join(std::int64_t now_ms, std::vector<Reply>& out, bool timed_out) {
  if (state_ != GroupState::preparing_rebalance) return;
  const bool all_joined = std::all_of(members_.begin(), members_.end(),
                                      [](const auto& e) { return e.second.awaiting_join; });
  if (!all_joined && !timed_out) return;
  // At the rebalance timeout, members that did not rejoin are out.
  std::erase_if(members_, [this](const auto& e) {
    if (e.second.awaiting_join) return false;
    forget_instance(e.second.info, e.first);
    return true;
  });
  ++generation_;
  if (members_.empty()) {
    state_ = GroupState::empty;
    leader_.clear();
    protocol_name_.clear();
    protocol_type_.clear();
    return;
  }
  protocol_name_ = choose_protocol();
  if (!members_.contains(leader_)) leader_ = members_.begin()->first;
  state_ = GroupState::completing_rebalance;
  for (auto& [id, m] : members_) {
    JoinResult r;
    r.generation = generation_;
    r.protocol_name = protocol_name_;
    r.leader = leader_;
    r.member_id = id;
    if (id == leader_) {
      for (const auto& [other_id, other] : members_) {
        const auto* metadata = metadata_for(other.info.protocols, protocol_name_);
        r.members.push_back({other_id, other.info.instance_id,
                             metadata != nullptr ? *metadata : std::vector<std::byte>{}});
      }
    }
    out.push_back(Reply{*m.awaiting_join, std::move(r), std::nullopt});
    m.awaiting_join.reset();
    m.info.assignment.clear();
    m.last_heard_ms = now_ms;
  }
}

// Kafka's vote: among the protocols every member supports, each member votes
// for the first it lists; the most votes wins (ties: the earliest in the
// leader's, else the first member's, preference).
std::string Group::choose_protocol() const {
  const auto& reference = members_.contains(leader_) ? members_.at(leader_).info.protocols
                                                     : members_.begin()->second.info.protocols;
  std::vector<std::string> candidates;
  for (const auto& p : reference) {
    const bool everyone = std::all_of(members_.begin(), members_.end(), [&](const auto& e) {
      return has_protocol(e.second.info.protocols, p.name);
    });
    if (everyone) candidates.push_back(p.name);
  }
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members_) {
    for (const auto& p : m.info.protocols) {
      if (std::find(candidates.begin(), candidates.end(), p.name) != candidates.end()) {
        ++votes[p.name];
        break;
      }
    }
  }
  std::string best;
  int best_votes = -1;
  for (const auto& name : candidates) {
    if (votes[name] > best_votes) {
      best = name;
      best_votes = votes[name];
    }
  }
  return best;
}

void Group::fail_pending_syncs(GroupError error, std::vector<Reply>& out) {
  for (auto& [id, m] : members_) {
    if (m.awaiting_sync) out.push_back(sync_reply(*m.awaiting_sync, error));
    m.awaiting_sync.reset();
  }
}

std::vector<Reply> Group::sync(const SyncRequest& request, std::int64_t now_ms) {
  std::vector<Reply> out;
  auto it = members_.find(request.member_id);
  if (it == members_.end() || state_ == GroupState::empty || state_ == GroupState::dead) {
    out.push_back(sync_reply(request.id, GroupError::unknown_member_id));
    return out;
  }
  if (request.generation != generation_) {
    out.push_back(sync_reply(request.id, GroupError::illegal_generation));
    return out;
  }
  Member& m = it->second;
  m.last_heard_ms = now_ms;
  if (state_ == GroupState::preparing_rebalance) {
    out.push_back(sync_reply(request.id, GroupError::rebalance_in_progress));
    return out;
  }
  if (state_ == GroupState::stable) {
    out.push_back(sync_reply(request.id, GroupError::none, m.info.assignment));
    return out;
  }
  // completing_rebalance: wait for the leader's assignment.
  if (m.awaiting_sync) out.push_back(sync_reply(*m.awaiting_sync, GroupError::unknown_member_id));
  m.awaiting_sync = request.id;
  if (request.member_id != leader_) return out;
  for (auto& [id, member] : members_) {
    auto a = request.assignments.find(id);
    member.info.assignment = a != request.assignments.end() ? a->second : std::vector<std::byte>{};
  }
  state_ = GroupState::stable;
  for (auto& [id, member] : members_) {
    if (member.awaiting_sync)
      out.push_back(sync_reply(*member.awaiting_sync, GroupError::none, member.info.assignment));
    member.awaiting_sync.reset();
  }
  return out;
}

GroupError Group::heartbeat(const std::string& member_id, std::int32_t generation,
                            std::int64_t now_ms) {
  auto it = members_.find(member_id);
  if (it == members_.end() || state_ == GroupState::empty || state_ == GroupState::dead) {
    return GroupError::unknown_member_id;
  }
  if (generation != generation_) return GroupError::illegal_generation;
  it->second.last_heard_ms = now_ms;
  // As Kafka: a member that has its JoinGroup answer may heartbeat before its
  // SyncGroup (CompletingRebalance answers NONE); only a rebalance that
  // waits for joins asks members to rejoin.
  return state_ == GroupState::preparing_rebalance ? GroupError::rebalance_in_progress
                                                   : GroupError::none;
}

std::size_t Group::member_bytes() const {
  std::size_t n = 0;
  for (const auto& [id, m] : members_) {
    n += 256 + id.size() + m.info.client_id.size() + m.info.client_host.size() +
         m.info.assignment.size() + (m.info.instance_id ? m.info.instance_id->size() : 0);
    for (const auto& p : m.info.protocols) n += p.name.size() + p.metadata.size();
  }
  return n;
}

GroupError Group::commit_allowed(const std::string& member_id, std::int32_t generation,
                                 const std::optional<std::string>& instance_id,
                                 std::int64_t now_ms) {
  if (state_ == GroupState::dead) return GroupError::unknown_member_id;
  if (generation < 0 && state_ == GroupState::empty) return GroupError::none;
  if (state_ == GroupState::completing_rebalance) return GroupError::rebalance_in_progress;
  if (instance_id) {
    auto s = static_members_.find(*instance_id);
    if (s != static_members_.end() && s->second != member_id) {
      return GroupError::fenced_instance_id;
    }
  }
  auto it = members_.find(member_id);
  if (it == members_.end()) return GroupError::unknown_member_id;
  if (generation != generation_) return GroupError::illegal_generation;
  it->second.last_heard_ms = now_ms;
  return GroupError::none;
}

std::pair<GroupError, std::vector<Reply>> Group::leave(const std::string& member_id,
                                                       std::int64_t now_ms) {
  std::vector<Reply> out;
  if (!members_.contains(member_id)) return {GroupError::unknown_member_id, std::move(out)};
  remove_member(member_id, now_ms, out);
  return {GroupError::none, std::move(out)};
}

void Group::remove_member(const std::string& member_id, std::int64_t now_ms,
                          std::vector<Reply>& out) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return;
  if (it->second.awaiting_join) {
    out.push_back(join_error(*it->second.awaiting_join, GroupError::unknown_member_id, member_id));
  }
  if (it->second.awaiting_sync) {
    out.push_back(sync_reply(*it->second.awaiting_sync, GroupError::unknown_member_id));
  }
  forget_instance(it->second.info, member_id);
  members_.erase(it);
  if (state_ == GroupState::stable || state_ == GroupState::completing_rebalance) {
    prepare_rebalance(now_ms, out);
  }
  // The rest may all have rejoined already; with nobody left, the group is empty.
  maybe_complete_join(now_ms, out, false);
}

std::vector<Reply> Group::tick(std::int64_t now_ms) {
  std::vector<Reply> out;
  std::erase_if(pending_, [&](const auto& e) { return e.second <= now_ms; });
  std::vector<std::string> expired;
  for (const auto& [id, m] : members_) {
    // A member whose JoinGroup waits at the barrier is not expected to heartbeat.
    if (!m.awaiting_join && now_ms - m.last_heard_ms > m.info.session_timeout_ms) {
      expired.push_back(id);
    }
  }
  for (const auto& id : expired) remove_member(id, now_ms, out);
  if (state_ == GroupState::preparing_rebalance && now_ms >= rebalance_deadline_ms_) {
    maybe_complete_join(now_ms, out, true);
  }
  return out;
}

std::optional<std::string> Group::check_invariants() const {
  const bool rebalancing = state_ == GroupState::preparing_rebalance;
  if ((state_ == GroupState::empty) != members_.empty() && !rebalancing) {
    return fmt::format("state {} with {} members", state_name(state_), members_.size());
  }
  if ((state_ == GroupState::stable || state_ == GroupState::completing_rebalance) &&
      !members_.contains(leader_)) {
    return fmt::format("leader '{}' is not a member in {}", leader_, state_name(state_));
  }
  for (const auto& [id, m] : members_) {
    if (m.awaiting_join && !rebalancing) {
      return fmt::format("member {} awaits a join in {}", id, state_name(state_));
    }
    if (m.awaiting_sync && state_ != GroupState::completing_rebalance) {
      return fmt::format("member {} awaits a sync in {}", id, state_name(state_));
    }
    if (pending_.contains(id)) return fmt::format("member {} is also pending", id);
    if (!protocol_name_.empty() && !rebalancing &&
        !has_protocol(m.info.protocols, protocol_name_)) {
      return fmt::format("member {} does not support the chosen protocol {}", id, protocol_name_);
    }
  }
  for (const auto& [instance, id] : static_members_) {
    auto m = members_.find(id);
    if (m == members_.end() || m->second.info.instance_id != instance) {
      return fmt::format("instance {} maps to {}, which is not its member", instance, id);
    }
  }
  return std::nullopt;
}

}  // namespace spate::groups
