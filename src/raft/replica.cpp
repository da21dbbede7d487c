// SPDX-License-Identifier: Apache-2.0
//
// The Raft state machine. Section numbers refer to the Raft paper (Ongaro &
// Ousterhout, 2014) and Ongaro's thesis (pre-vote §9.6, check-quorum §6.2,
// leadership transfer §3.10).

#include <algorithm>

#include <fmt/format.h>

#include "spate/common/assert.h"
#include "spate/raft/raft.h"
#include "spate/raft/wire.h"

namespace spate::raft {

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::pre_vote:
      return "PreVote";
    case MessageType::pre_vote_reply:
      return "PreVoteReply";
    case MessageType::vote:
      return "Vote";
    case MessageType::vote_reply:
      return "VoteReply";
    case MessageType::append:
      return "Append";
    case MessageType::append_reply:
      return "AppendReply";
    case MessageType::heartbeat:
      return "Heartbeat";
    case MessageType::heartbeat_reply:
      return "HeartbeatReply";
    case MessageType::timeout_now:
      return "TimeoutNow";
    case MessageType::restart:
      return "Restart";
  }
  return "?";
}

const char* role_name(Role role) {
  switch (role) {
    case Role::follower:
      return "follower";
    case Role::pre_candidate:
      return "pre-candidate";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
  }
  return "?";
}

bool Membership::is_voter(NodeId id) const {
  return std::find(voters.begin(), voters.end(), id) != voters.end();
}

bool Membership::is_learner(NodeId id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

std::string Membership::describe() const {
  return fmt::format("voters [{}] learners [{}]", fmt::join(voters, " "), fmt::join(learners, " "));
}

std::string Message::describe() const {
  std::string text =
      fmt::format("{} {}->{} term={} idx={} logterm={} commit={}", message_type_name(type), from,
                  to, term, log_index, log_term, commit);
  if (!entries.empty()) {
    text += fmt::format(" entries=[{}..{}]", entries.front().index, entries.back().index);
  }
  if (reject) text += fmt::format(" REJECT hint={}", hint);
  if (force) text += " force";
  for (const auto& s : start) {
    text += fmt::format(" {} snapshot={}B", s.membership.describe(), s.snapshot.size());
  }
  return text;
}

Replica::Replica(Config config, const LogView& log, Rng& rng, HardState state)
    : config_(std::move(config)), log_(log), rng_(rng), persisted_(state) {
  SPATE_ASSERT(config_.election_ticks > config_.heartbeat_ticks && config_.heartbeat_ticks > 0,
               "election_ticks {} must exceed heartbeat_ticks {}", config_.election_ticks,
               config_.heartbeat_ticks);
  term_ = state.term;
  vote_ = state.vote;
  // The durable commit can be ahead of the durable log only if the log lost
  // its tail, which the log's own recovery rules out for synced data. A log
  // that restarted after the commit was persisted starts committed.
  commit_ = std::max(std::min(state.commit, log_.last_index()), log_.first_index() - 1);
  ready_commit_ = commit_;
  unstable_first_ = log_.last_index() + 1;
  base_index_ = log_.first_index() - 1;
  if (auto start = log_.start_membership()) {
    base_ = std::move(*start);
  } else {
    base_.voters = config_.voters;
    base_.learners = config_.learners;
    std::sort(base_.voters.begin(), base_.voters.end());
    std::sort(base_.learners.begin(), base_.learners.end());
  }
  for (Index i : log_.membership_indexes()) {
    auto entries = log_.entries(i, i, 0);
    SPATE_ASSERT(entries.size() == 1 && entries[0].kind == EntryKind::membership,
                 "node {}: the log has no membership entry at {}", config_.id, i);
    auto members = decode_membership(entries[0].data);
    SPATE_ASSERT(members.has_value(), "node {}: membership entry {} does not decode: {}",
                 config_.id, i, members.error().message());
    changes_[i] = std::move(*members);
  }
  refresh_membership();
  reset_timers();
}

// ---------------------------------------------------------------- membership

Membership Replica::membership_at(Index index) const {
  auto it = changes_.upper_bound(index);
  if (it == changes_.begin()) return base_;
  return std::prev(it)->second;
}

Index Replica::membership_index() const {
  return changes_.empty() ? base_index_ : changes_.rbegin()->first;
}

std::vector<FollowerStatus> Replica::followers() const {
  std::vector<FollowerStatus> out;
  if (role_ != Role::leader) return out;
  for (const auto& [id, p] : progress_) {
    if (id == config_.id) continue;
    out.push_back({id, is_voter(id), p.match, p.next, p.probing, p.inflight, p.active});
  }
  return out;
}

void Replica::refresh_membership() {
  members_ = changes_.empty() ? base_ : changes_.rbegin()->second;
  if (role_ == Role::leader) {
    // Learners and voters both replicate; a new member starts as a probe.
    std::erase_if(progress_, [&](const auto& kv) {
      return kv.first != config_.id && !members_.contains(kv.first);
    });
    for (const auto& ids : {members_.voters, members_.learners}) {
      for (auto id : ids) {
        if (progress_.contains(id)) continue;
        Progress p;
        p.next = std::max<Index>(last_index(), 1);  // the probe carries the last entry
        p.active = true;  // give it an election timeout before check-quorum counts it
        progress_[id] = p;
      }
    }
  } else if (role_ != Role::follower && !is_voter(config_.id)) {
    become_follower(term_, kNoNode);
  }
}

void Replica::maybe_hand_over() {
  if (role_ != Role::leader || is_voter(config_.id) || commit_ < membership_index()) return;
  // Our own removal is committed: hand over to the most caught-up voter (it
  // campaigns at once, ignoring leases) and stop leading.
  NodeId best = kNoNode;
  Index best_match = -1;
  for (auto id : members_.voters) {
    const auto it = progress_.find(id);
    if (it != progress_.end() && it->second.match > best_match) {
      best = id;
      best_match = it->second.match;
    }
  }
  if (best != kNoNode) {
    Message m;
    m.type = MessageType::timeout_now;
    m.to = best;
    m.term = term_;
    send(std::move(m));
  }
  become_follower(term_, kNoNode);
}

// ---------------------------------------------------------------- the log

namespace {

// The first entry of `entries` (which cover the indexes from `first` on)
// whose index is at least `index`. Every entry covers at least one index, so
// it is at or before position index - first: with entries of one index each
// (the common case) that guess is the answer.
std::vector<Entry>::const_iterator lower(const std::vector<Entry>& entries, Index first,
                                         Index index) {
  const auto guess = static_cast<std::size_t>(std::max<Index>(index - first, 0));
  if (guess < entries.size() && entries[guess].index >= index &&
      (guess == 0 || entries[guess - 1].index < index)) {
    return entries.begin() + static_cast<std::ptrdiff_t>(guess);
  }
  const auto end =
      entries.begin() + static_cast<std::ptrdiff_t>(std::min(guess + 1, entries.size()));
  return std::lower_bound(entries.begin(), end, index,
                          [](const Entry& e, Index i) { return e.index < i; });
}

}  // namespace

Index Replica::last_index() const {
  return unstable_.empty() ? unstable_first_ - 1 : unstable_.back().index;
}

Term Replica::term_at(Index index) const {
  if (index == 0 && log_.first_index() <= 1 && !pending_restart_) return Term(0);
  if (pending_restart_ && index < unstable_first_) {
    return index == pending_restart_->index ? pending_restart_->term : Term(-1);
  }
  if (index >= unstable_first_) {
    const auto it = lower(unstable_, unstable_first_, index);
    return it != unstable_.end() && it->index == index ? it->term : Term(-1);
  }
  if (index < log_.first_index() - 1 || index > log_.last_index()) return Term(-1);
  return log_.term(index);
}

Index Replica::previous_index(Index index) const {
  if (index >= unstable_first_) {
    const auto it = lower(unstable_, unstable_first_, index);
    SPATE_ASSERT(it != unstable_.end() && it->index == index, "node {}: no entry at {}", config_.id,
                 index);
    return it->first() - 1;
  }
  return log_.previous_index(index);
}

Index Replica::floor_index(Index index) const {
  index = std::min(index, last_index());
  if (term_at(index) >= Term(0)) return index;
  if (index >= unstable_first_) {
    // Inside an unstable entry: the one before it ends where this one starts.
    return lower(unstable_, unstable_first_, index)->first() - 1;
  }
  if (pending_restart_ || index < log_.first_index()) return -1;
  return log_.previous_index(index);
}

Index Replica::durable_last() const {
  if (pending_restart_) return pending_restart_->index;
  return pending_truncate_ ? std::min(*pending_truncate_ - 1, log_.last_index())
                           : log_.last_index();
}

std::vector<Entry> Replica::entries_from(Index from, std::size_t max_bytes) const {
  std::vector<Entry> out;
  std::size_t bytes = 0;
  const Index durable_end = std::min(unstable_first_ - 1, log_.last_index());
  if (!pending_restart_ && from <= durable_end) {
    out = log_.entries(from, durable_end, max_bytes);
    for (const auto& e : out) bytes += e.data.size();
    if (out.empty() || out.back().index < durable_end) return out;
  }
  for (auto it = lower(unstable_, unstable_first_, from); it != unstable_.end(); ++it) {
    const Entry& e = *it;
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

void Replica::append_local(std::vector<Entry> entries) {
  if (entries.empty()) return;
  // The entries replace everything after `first - 1`, which must be where an
  // entry of ours ends (or the end of our log).
  const Index first = entries.front().first();
  SPATE_ASSERT(first >= 1 && first <= last_index() + 1 &&
                   (first - 1 == last_index() || term_at(first - 1) >= Term(0)),
               "node {}: append at {} is not after an entry (log ends at {})", config_.id, first,
               last_index());
  SPATE_ASSERT(first > commit_, "node {} would overwrite committed entry {} (commit {})",
               config_.id, first, commit_);
  bool members_changed = false;
  if (first <= last_index()) {
    if (first >= unstable_first_) {
      unstable_.erase(lower(unstable_, unstable_first_, first), unstable_.end());
    } else {
      // Replaces durable entries: the driver truncates before appending.
      pending_truncate_ = std::min(pending_truncate_.value_or(first), first);
      unstable_.clear();
      unstable_first_ = first;
    }
    // A truncated membership entry no longer applies: fall back.
    members_changed =
        std::erase_if(changes_, [&](const auto& kv) { return kv.first >= first; }) > 0;
  }
  for (auto& e : entries) {
    if (e.kind == EntryKind::membership) {
      auto members = decode_membership(e.data);
      SPATE_ASSERT(members.has_value(), "node {}: membership entry {} does not decode: {}",
                   config_.id, e.index, members.error().message());
      changes_[e.index] = std::move(*members);
      members_changed = true;
    }
    unstable_.push_back(std::move(e));
  }
  if (members_changed) refresh_membership();
}

bool Replica::log_up_to_date(Index last, Term last_term) const {
  const Term mine = term_at(last_index());
  return last_term > mine || (last_term == mine && last >= last_index());
}

// ---------------------------------------------------------------- roles

void Replica::reset_timers() {
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_timeout_ =
      config_.election_ticks +
      static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(config_.election_ticks)));
}

void Replica::become_follower(Term term, NodeId leader) {
  if (term > term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::follower;
  leader_ = leader;
  transfer_target_ = kNoNode;
  progress_.clear();
  votes_.clear();
  reset_timers();
}

void Replica::become_pre_candidate() {
  // §9.6: no term change, so a node that cannot win disturbs nobody.
  role_ = Role::pre_candidate;
  leader_ = kNoNode;
  votes_ = {{config_.id, true}};
  reset_timers();
}

void Replica::become_candidate(bool /*force*/) {
  role_ = Role::candidate;
  term_ = term_ + 1;
  vote_ = config_.id;
  leader_ = kNoNode;
  votes_ = {{config_.id, true}};
  reset_timers();
}

void Replica::become_leader() {
  role_ = Role::leader;
  leader_ = config_.id;
  transfer_target_ = kNoNode;
  progress_.clear();
  for (const auto& ids : {members_.voters, members_.learners}) {
    for (auto id : ids) {
      Progress p;
      p.next = last_index() + 1;
      p.active = id == config_.id;
      progress_[id] = p;
    }
  }
  progress_[config_.id].active = true;
  reset_timers();
  // §5.4.2: entries of earlier terms commit only once an entry of this term
  // does; the no-op makes that happen without waiting for a client.
  append_local({Entry{last_index() + 1, term_, {}}});
  progress_[config_.id].match = durable_last();
  broadcast_append();
}

void Replica::campaign(bool pre, bool force) {
  if (pre) {
    become_pre_candidate();
  } else {
    become_candidate(force);
  }
  if (votes_.size() >= quorum()) {  // a cluster of one
    if (pre) {
      campaign(false, force);
    } else {
      become_leader();
    }
    return;
  }
  for (const auto& id : members_.voters) {
    if (id == config_.id) continue;
    Message m;
    m.type = pre ? MessageType::pre_vote : MessageType::vote;
    m.to = id;
    m.term = pre ? term_ + 1 : term_;
    m.log_index = last_index();
    m.log_term = term_at(last_index());
    m.force = force;
    send(std::move(m));
  }
}

// ---------------------------------------------------------------- inputs

void Replica::tick() {
  if (role_ == Role::leader) {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (transfer_target_ != kNoNode && ++transfer_elapsed_ >= config_.election_ticks) {
      transfer_target_ = kNoNode;  // the transfer did not happen in time: carry on
    }
    if (election_elapsed_ >= config_.election_ticks) {
      election_elapsed_ = 0;
      if (config_.check_quorum) {
        std::size_t active = 0;
        for (auto& [id, p] : progress_) {
          if (is_voter(id) && (p.active || id == config_.id)) ++active;
          if (id != config_.id) p.active = false;
        }
        if (active < quorum()) {
          become_follower(term_, kNoNode);  // §6.2: cut off from a majority
          return;
        }
      }
    }
    if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      broadcast_heartbeat();
    }
    return;
  }
  // A node outside the voters (a learner, or removed) never campaigns.
  if (++election_elapsed_ >= randomized_timeout_ && is_voter(config_.id)) {
    campaign(config_.pre_vote, false);
  }
}

Status Replica::check_accepting() const {
  if (role_ != Role::leader) {
    return Error(Errc::not_leader,
                 fmt::format("node {} is not the leader (leader: {})", config_.id, leader_));
  }
  if (transfer_target_ != kNoNode) {
    return Error(Errc::shutting_down,
                 fmt::format("node {} is handing leadership to {}", config_.id, transfer_target_));
  }
  return {};
}

Result<Index> Replica::propose(std::vector<std::byte> data, std::int32_t span) {
  if (auto s = check_accepting(); !s) return s.error();
  if (span < 1) return Error::invalid(fmt::format("an entry spanning {} indexes", span));
  const Index index = last_index() + span;
  append_local({Entry{index, term_, std::move(data), EntryKind::normal, span}});
  broadcast_append();
  return index;
}

Result<Index> Replica::propose_change(MembershipChange change) {
  using Type = MembershipChange::Type;
  if (auto s = check_accepting(); !s) return s.error();
  if (membership_index() > commit_) {
    return Error(Errc::busy, fmt::format("the membership change at {} is not committed yet",
                                         membership_index()));
  }
  if (term_at(commit_) != term_) {
    // Thesis §4.1 (the 2015 erratum): a new leader may still hold an
    // uncommitted change of an earlier term in a follower's log.
    return Error(Errc::busy, fmt::format("leader {} has not committed an entry of term {} yet",
                                         config_.id, term_));
  }
  const NodeId node = change.node;
  Membership next = members_;
  switch (change.type) {
    case Type::add_learner:
      if (node.value() < 0 || members_.contains(node)) {
        return Error::invalid(
            fmt::format("node {} cannot be added: {}", node, members_.describe()));
      }
      next.learners.push_back(node);
      break;
    case Type::promote: {
      if (!members_.is_learner(node)) {
        return Error::invalid(
            fmt::format("node {} is not a learner: {}", node, members_.describe()));
      }
      const Index lag = last_index() - progress_.at(node).match;
      if (lag > config_.max_promote_lag) {
        return Error::invalid(fmt::format("learner {} is {} behind the leader (at most {})", node,
                                          lag, config_.max_promote_lag));
      }
      std::erase(next.learners, node);
      next.voters.push_back(node);
      break;
    }
    case Type::remove:
      if (!members_.contains(node)) {
        return Error::invalid(
            fmt::format("node {} is not a member: {}", node, members_.describe()));
      }
      if (members_.is_voter(node) && members_.voters.size() == 1) {
        return Error::invalid(fmt::format("node {} is the last voter", node));
      }
      std::erase(next.voters, node);
      std::erase(next.learners, node);
      break;
  }
  std::sort(next.voters.begin(), next.voters.end());
  std::sort(next.learners.begin(), next.learners.end());
  const Index index = last_index() + 1;
  append_local({Entry{index, term_, encode_membership(next), EntryKind::membership}});
  // Removing a voter can complete a majority at once.
  if (maybe_commit()) {
    broadcast_append();
    maybe_hand_over();
  } else {
    broadcast_append();
  }
  return index;
}

Status Replica::transfer_leadership(NodeId target) {
  if (role_ != Role::leader) return Error(Errc::not_leader, "only the leader can transfer");
  if (target == config_.id || !is_voter(target)) {
    return Error::invalid(fmt::format("cannot transfer leadership to {}", target));
  }
  transfer_target_ = target;
  transfer_elapsed_ = 0;
  if (progress_[target].match == last_index()) {
    Message m;
    m.type = MessageType::timeout_now;
    m.to = target;
    m.term = term_;
    send(std::move(m));
  } else {
    send_append(target, true);
  }
  return {};
}

Status Replica::step(Message m) {
  if (m.to != config_.id) {
    return Error::invalid(fmt::format("message for {} stepped into {}", m.to, config_.id));
  }
  if (m.from.value() < 0 || m.from == config_.id) {
    return Error::invalid(fmt::format("message from node {} stepped into {}", m.from, config_.id));
  }
  if (m.term < Term(0) || m.log_term < Term(0)) {
    return Error::invalid(fmt::format("message with term {}, log term {}", m.term, m.log_term));
  }
  Index before = m.log_index;
  for (const auto& e : m.entries) {
    if (e.term < Term(0))
      return Error::invalid(fmt::format("entry {} of term {}", e.index, e.term));
    if (e.kind == EntryKind::membership && !decode_membership(e.data)) {
      return Error::invalid(fmt::format("membership entry {} does not decode", e.index));
    }
    if (e.span < 1 || e.first() != before + 1) {
      return Error::invalid(
          fmt::format("entry {} (span {}) does not follow {}", e.index, e.span, before));
    }
    before = e.index;
  }
  const bool vote_request = m.type == MessageType::vote || m.type == MessageType::pre_vote;
  if (m.term > term_) {
    const bool in_lease =
        config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_ticks;
    if (vote_request && in_lease && !m.force) {
      // §6 "disruptive servers": we heard from a leader within the minimum
      // election timeout, so this candidate cannot be needed. Ignore it.
      return {};
    }
    if (m.type == MessageType::pre_vote) {
      // Answered below without changing our term.
    } else if (m.type == MessageType::pre_vote_reply && !m.reject) {
      // A granted pre-vote carries the term we asked for.
    } else {
      const bool from_leader = m.type == MessageType::append || m.type == MessageType::heartbeat ||
                               m.type == MessageType::timeout_now || m.type == MessageType::restart;
      become_follower(m.term, from_leader ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if (m.type == MessageType::append || m.type == MessageType::heartbeat ||
        m.type == MessageType::restart) {
      // A stale leader: tell it our term so that it steps down.
      Message r;
      r.type = MessageType::append_reply;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      r.log_index = -1;
      send(std::move(r));
    } else if (m.type == MessageType::pre_vote) {
      Message r;
      r.type = MessageType::pre_vote_reply;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return {};
  }
  switch (m.type) {
    case MessageType::pre_vote:
    case MessageType::vote:
      handle_vote_request(m);
      break;
    case MessageType::pre_vote_reply:
    case MessageType::vote_reply:
      handle_vote_reply(m);
      break;
    case MessageType::append:
      handle_append(m);
      break;
    case MessageType::append_reply:
      if (role_ == Role::leader) handle_append_reply(m);
      break;
    case MessageType::heartbeat:
      handle_heartbeat(m);
      break;
    case MessageType::heartbeat_reply:
      if (role_ == Role::leader) handle_heartbeat_reply(m);
      break;
    case MessageType::timeout_now:
      if (role_ != Role::leader && is_voter(config_.id)) campaign(false, true);
      break;
    case MessageType::restart:
      handle_restart(m);
      break;
  }
  return {};
}

void Replica::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::pre_vote;
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  const bool in_lease = pre && config_.check_quorum && leader_ != kNoNode &&
                        election_elapsed_ < config_.election_ticks && !m.force;
  const bool grant = can_vote && !in_lease && log_up_to_date(m.log_index, m.log_term);
  Message r;
  r.type = pre ? MessageType::pre_vote_reply : MessageType::vote_reply;
  r.to = m.from;
  r.term = grant && pre ? m.term : term_;
  r.reject = !grant;
  send(std::move(r));
  if (grant && !pre) {
    vote_ = m.from;
    election_elapsed_ = 0;
  }
}

void Replica::handle_vote_reply(const Message& m) {
  const bool pre = m.type == MessageType::pre_vote_reply;
  if ((pre && role_ != Role::pre_candidate) || (!pre && role_ != Role::candidate)) return;
  if (pre && !m.reject && m.term != term_ + 1) return;  // an answer to an older campaign
  if (!is_voter(m.from)) return;  // counted against our own (latest) membership
  votes_[m.from] = !m.reject;
  std::size_t granted = 0;
  std::size_t rejected = 0;
  for (const auto& [id, yes] : votes_) (yes ? granted : rejected)++;
  if (granted >= quorum()) {
    if (pre) {
      campaign(false, false);
    } else {
      become_leader();
    }
  } else if (rejected >= quorum()) {
    become_follower(term_, kNoNode);
  }
}

void Replica::handle_append(Message& m) {
  if (role_ != Role::follower) become_follower(m.term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  Message r;
  r.type = MessageType::append_reply;
  r.to = m.from;
  r.term = term_;
  Index prev = m.log_index;
  // The entries to consider: [begin, m.entries.end()) (indexes are consecutive).
  auto begin = m.entries.begin();
  if (prev < commit_) {
    // Everything up to our commit index is committed, hence identical to the
    // leader's (§5.4): skip it.
    while (begin != m.entries.end() && begin->index <= commit_) ++begin;
    prev = commit_;
  } else if (prev > last_index()) {
    r.reject = true;
    r.log_index = m.log_index;
    r.hint = last_index() + 1;
    send(std::move(r));
    return;
  } else if (term_at(prev) != m.log_term) {
    r.reject = true;
    r.log_index = m.log_index;
    const Term conflict = term_at(prev);
    if (conflict < Term(0)) {
      // `prev` falls inside one of our entries (logs that diverged cut their
      // entries differently): try from where ours starts.
      r.hint = floor_index(prev) + 1;
    } else {
      // §5.3 optimization: skip back over the whole conflicting term.
      Index first = prev;
      for (Index before = previous_index(first); before > commit_ && term_at(before) == conflict;
           before = previous_index(first)) {
        first = before;
      }
      r.log_term = conflict;
      r.hint = previous_index(first) + 1;
    }
    send(std::move(r));
    return;
  }
  // Bounded by the message: each entry is either present (skip), conflicting
  // (truncate there and append the rest), or new (append the rest).
  for (auto it = begin; it != m.entries.end(); ++it) {
    if (it->index <= last_index() && term_at(it->index) == it->term) continue;
    append_local(
        std::vector<Entry>(std::make_move_iterator(it), std::make_move_iterator(m.entries.end())));
    break;
  }
  const Index matched = begin == m.entries.end() ? prev : std::max(prev, m.entries.back().index);
  commit_ = std::max(commit_, std::min(m.commit, matched));
  r.log_index = matched;
  send(std::move(r));
}

void Replica::handle_append_reply(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  p.active = true;
  if (m.reject) {
    if (m.log_index < p.match) return;  // stale: about a position already matched
    Index next = m.hint;
    if (m.log_term > Term(0)) {
      // Jump past the follower's conflicting term: to just after our last
      // entry of that term if we have one, else to the follower's first.
      Index k = floor_index(std::min(m.log_index, last_index()));
      while (k > p.match && k >= log_.first_index() && term_at(k) > m.log_term) {
        k = previous_index(k);
      }
      if (k > p.match && term_at(k) == m.log_term) next = k + 1;
    }
    p.next = std::max(p.match + 1, std::min(next, p.next - 1 >= p.match + 1 ? p.next - 1 : p.next));
    p.probing = true;
    p.inflight = 0;
    send_append(m.from, true);
    return;
  }
  if (m.log_index > p.match) {
    p.match = m.log_index;
    p.next = std::max(p.next, p.match + 1);
    if (p.probing) {
      p.probing = false;
      p.inflight = 0;
    } else if (p.inflight > 0) {
      --p.inflight;
    }
    if (maybe_commit()) {
      broadcast_append();
      maybe_hand_over();
      if (role_ != Role::leader) return;  // `p` is gone with the progress map
    } else {
      send_append(m.from, false);
    }
  } else if (p.inflight > 0 && !p.probing) {
    --p.inflight;
  }
  if (transfer_target_ == m.from && p.match == last_index()) {
    Message t;
    t.type = MessageType::timeout_now;
    t.to = m.from;
    t.term = term_;
    send(std::move(t));
  }
}

void Replica::handle_heartbeat(const Message& m) {
  if (role_ != Role::follower) become_follower(m.term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  // The leader sends min(our match, its commit): we hold those entries.
  commit_ = std::max(commit_, std::min(m.commit, last_index()));
  Message r;
  r.type = MessageType::heartbeat_reply;
  r.to = m.from;
  r.term = term_;
  send(std::move(r));
}

void Replica::handle_heartbeat_reply(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  p.active = true;
  // Behind, and not one entry further since the last heartbeat reply: the
  // appends in flight were lost, or rejected by a reply we had to take for
  // stale. Resend from what is known to match.
  const bool stalled = p.match == p.match_at_beat;
  p.match_at_beat = p.match;
  if (p.match < last_index()) {
    if (p.probing || p.inflight >= config_.max_inflight || stalled) {
      p.probing = true;
      p.inflight = 0;
      p.next = p.match + 1;
    }
    send_append(m.from, false);
  }
}

void Replica::handle_restart(const Message& m) {
  if (role_ != Role::follower) become_follower(m.term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  Message r;
  r.type = MessageType::append_reply;
  r.to = m.from;
  r.term = term_;
  if (m.log_index <= commit_ || term_at(m.log_index) == m.log_term) {
    // Not behind after all (a late or duplicated message): we match up to
    // our commit, or up to the leader's start if we hold it.
    r.log_index = term_at(m.log_index) == m.log_term ? std::max(commit_, m.log_index) : commit_;
    r.log_index = std::min(r.log_index, last_index());
    send(std::move(r));
    return;
  }
  // Everything up to the leader's start is committed (a leader only deletes
  // committed entries), so the log restarts after it.
  const LogStart start = m.start.empty() ? LogStart{} : m.start.front();
  pending_restart_ = LogRestart{m.log_index, m.log_term, start.membership, start.snapshot};
  pending_truncate_.reset();
  unstable_.clear();
  unstable_first_ = m.log_index + 1;
  commit_ = m.log_index;
  base_index_ = m.log_index;
  base_ = start.membership;
  changes_.clear();
  refresh_membership();
  r.log_index = m.log_index;
  send(std::move(r));
}

// ---------------------------------------------------------------- output

void Replica::send(Message m) {
  m.from = config_.id;
  outbox_.push_back(std::move(m));
}

void Replica::send_append(NodeId to, bool allow_empty) {
  Progress& p = progress_.at(to);
  if (p.probing && p.inflight > 0) return;
  if (!p.probing && p.inflight >= config_.max_inflight) return;
  Message m;
  m.type = MessageType::append;
  m.to = to;
  m.term = term_;
  // After the entry that ends at or before next - 1 (next may fall inside
  // an entry after a follower's hint).
  m.log_index = p.next - 1;
  m.log_term = term_at(m.log_index);
  if (m.log_term < Term(0)) {
    m.log_index = floor_index(m.log_index);
    m.log_term = m.log_index < 0 ? Term(-1) : term_at(m.log_index);
  }
  if (m.log_term < Term(0)) {
    // The follower needs entries we no longer have (retention deleted
    // them): it restarts its log at our start.
    m.type = MessageType::restart;
    m.log_index = log_.first_index() - 1;
    m.log_term = term_at(m.log_index);
    m.commit = commit_;
    m.start.push_back(LogStart{membership_at(m.log_index), log_.start_snapshot()});
    p.probing = true;
    p.inflight = 1;
    send(std::move(m));
    return;
  }
  m.entries = entries_from(m.log_index + 1, config_.max_append_bytes);
  if (m.entries.empty() && !allow_empty) return;
  m.commit = commit_;
  if (p.probing) {
    p.inflight = 1;
  } else {
    p.next = m.entries.empty() ? p.next : m.entries.back().index + 1;
    ++p.inflight;
  }
  send(std::move(m));
}

void Replica::broadcast_append() {
  for (const auto& [id, p] : progress_) {
    if (id != config_.id) send_append(id, false);
  }
}

void Replica::broadcast_heartbeat() {
  for (const auto& [id, p] : progress_) {
    if (id == config_.id) continue;
    Message m;
    m.type = MessageType::heartbeat;
    m.to = id;
    m.term = term_;
    m.commit = std::min(p.match, commit_);
    send(std::move(m));
  }
}

bool Replica::maybe_commit() {
  // Voters of the latest membership only: a leader that removed itself does
  // not count itself, learners never count.
  std::vector<Index> matches;
  for (const auto& id : members_.voters) {
    const auto it = progress_.find(id);
    matches.push_back(id == config_.id        ? durable_last()
                      : it == progress_.end() ? 0
                                              : it->second.match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const Index q = matches[quorum() - 1];
  // §5.4.2: count replicas only for an entry of the current term.
  if (q > commit_ && term_at(q) == term_) {
    commit_ = q;
    return true;
  }
  return false;
}

bool Replica::has_ready() const {
  return !outbox_.empty() || !unstable_.empty() || pending_truncate_.has_value() ||
         pending_restart_.has_value() || commit_ != ready_commit_ || term_ != persisted_.term ||
         vote_ != persisted_.vote || persistable_commit() != persisted_.commit;
}

Index Replica::persistable_commit() const {
  // Before a restart the old log is still there, and all of it after the
  // persisted commit may be replaced; otherwise the log is durable and kept up
  // to unstable_first_ - 1 (truncation and unstable entries start there).
  const Index kept =
      pending_restart_ ? persisted_.commit : std::min(log_.last_index(), unstable_first_ - 1);
  return std::max(persisted_.commit, std::min(commit_, kept));
}

Ready Replica::ready() {
  Ready r;
  const HardState now{term_, vote_, persistable_commit()};
  if (now != persisted_) r.hard_state = now;
  r.restart = pending_restart_;
  r.truncate_from = pending_truncate_;
  r.entries = unstable_;
  r.messages = std::move(outbox_);
  outbox_.clear();
  r.commit = commit_;
  return r;
}

void Replica::advance(const Ready& r) {
  if (r.hard_state) persisted_ = *r.hard_state;
  ready_commit_ = r.commit;
  unstable_.clear();
  pending_truncate_.reset();
  pending_restart_.reset();
  unstable_first_ = log_.last_index() + 1;
  SPATE_ASSERT(r.entries.empty() || log_.last_index() == r.entries.back().index,
               "node {}: the driver did not append the ready entries (log ends at {}, want {})",
               config_.id, log_.last_index(), r.entries.back().index);
  if (role_ == Role::leader) {
    progress_[config_.id].match = durable_last();
    if (maybe_commit()) {
      broadcast_append();
      maybe_hand_over();
    }
  }
}

Status Replica::check_invariants() const {
  auto broken = [&](std::string what) {
    return Error::invalid(fmt::format("node {}: invariant broken: {}", config_.id, what));
  };
  const Index last = last_index();
  if (commit_ > last) return broken(fmt::format("commit {} past the last index {}", commit_, last));
  if ((role_ == Role::leader) != (leader_ == config_.id)) {
    return broken(fmt::format("role {} with leader {}", static_cast<int>(role_), leader_));
  }
  if (persisted_.term > term_) {
    return broken(fmt::format("persisted term {} past the term {}", persisted_.term, term_));
  }
  if (persisted_.commit > commit_ || ready_commit_ > commit_) {
    return broken(fmt::format("persisted commit {} or handed-out commit {} past the commit {}",
                              persisted_.commit, ready_commit_, commit_));
  }
  Index next = unstable_first_;
  Term previous{0};
  for (const auto& e : unstable_) {
    if (e.span < 1 || e.first() != next) {
      return broken(
          fmt::format("unstable entry {} (span {}) does not start at {}", e.index, e.span, next));
    }
    if (e.term < previous || e.term > term_) {
      return broken(fmt::format("unstable entry {} has term {} (previous {}, current {})", e.index,
                                e.term, previous, term_));
    }
    previous = e.term;
    next = e.index + 1;
  }
  if (role_ == Role::leader) {
    for (const auto& [id, p] : progress_) {
      if (id == config_.id) continue;  // its own entry tracks only what is durable here
      if (p.match > last || p.next > last + 1 || p.match >= p.next) {
        return broken(fmt::format("follower {} match {} next {} with last index {}", id, p.match,
                                  p.next, last));
      }
    }
  }
  return {};
}

}  // namespace spate::raft
