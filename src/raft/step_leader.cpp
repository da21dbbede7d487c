// SPDX-License-Identifier: Apache-2.0
//
// A leader: replicates its log to every member (with the flow control in
// progress.h), commits what a quorum of voters holds (§5.3, §5.4.2), steps
// down without a quorum (check-quorum, §6.2), hands leadership over on
// request (§3.10) or when it removed itself, and takes proposals and
// membership changes (§4.1).

#include <fmt/format.h>

#include "spate/raft/replica.h"
#include "spate/raft/wire.h"

#include "membership.h"
#include "progress.h"
#include "unstable_log.h"

namespace spate::raft {

void Replica::step_leader(Message& m) {
  switch (m.type) {
    case MessageType::append_reply:
      handle_append_reply(m);
      break;
    case MessageType::heartbeat_reply:
      handle_heartbeat_reply(m);
      break;
    case MessageType::append:
    case MessageType::heartbeat:
    case MessageType::restart:
      step_follower(m);  // another leader of this term (never in a correct group)
      break;
    default:
      break;  // votes for an election already won; TimeoutNow to a leader
  }
}

void Replica::tick_leader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (transfer_target_ != kNoNode && ++transfer_elapsed_ >= config_.election_ticks) {
    transfer_target_ = kNoNode;  // the transfer did not happen in time: carry on
  }
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum && progress_->take_active(membership(), config_.id) < quorum()) {
      become_follower(term_, kNoNode);  // §6.2: cut off from a majority
      return;
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }
}

void Replica::become_leader() {
  role_ = Role::leader;
  leader_ = config_.id;
  transfer_target_ = kNoNode;
  progress_->reset(membership(), config_.id, last_index() + 1);
  reset_timers();
  if (sole_voter()) {
    // A group of one: its durable log is a majority by itself and no other
    // leader can exist in this membership, so everything durable commits now
    // and no no-op is needed (a partition's would cost an offset on every
    // restart of a single node). A membership change still waits for an
    // entry of this term (check_change): the driver proposes an empty one.
    (*progress_)[config_.id].match = log_->durable_last();
    maybe_commit();
    broadcast_append();
    return;
  }
  // §5.4.2: entries of earlier terms commit only once an entry of this term
  // does; the no-op makes that happen without waiting for a client.
  append_local({Entry{last_index() + 1, term_, {}}});
  (*progress_)[config_.id].match = log_->durable_last();
  broadcast_append();
}

void Replica::handle_append_reply(const Message& m) {
  Progress* p = progress_->find(m.from);
  if (p == nullptr) return;
  p->active = true;
  if (m.reject) {
    if (m.log_index < p->match) return;  // stale: about a position already matched
    Index next = m.hint;
    if (m.log_term > Term(0)) {
      // Jump past the follower's conflicting term: to just after our last
      // entry of that term if we have one, else to the follower's first.
      Index k = log_->floor_index(std::min(m.log_index, last_index()));
      while (k > p->match && k >= log_->durable().first_index() && term_at(k) > m.log_term) {
        k = log_->previous_index(k);
      }
      if (k > p->match && term_at(k) == m.log_term) next = k + 1;
    }
    p->rejected(next);
    send_append(m.from, true);
    return;
  }
  if (p->acknowledged(m.log_index)) {
    if (maybe_commit()) {
      broadcast_append();
      maybe_hand_over();
      if (role_ != Role::leader) return;  // `p` is gone with the progress map
    } else {
      send_append(m.from, false);
    }
  }
  if (transfer_target_ == m.from && p->match == last_index()) send_timeout_now(m.from);
}

void Replica::handle_heartbeat_reply(const Message& m) {
  Progress* p = progress_->find(m.from);
  if (p == nullptr) return;
  p->active = true;
  if (p->heartbeat_replied(last_index(), config_.max_inflight)) send_append(m.from, false);
}

void Replica::send_append(NodeId to, bool allow_empty) {
  Progress& p = progress_->at(to);
  if (p.paused(config_.max_inflight)) return;
  Message m;
  m.type = MessageType::append;
  m.to = to;
  m.term = term_;
  // After the entry that ends at or before next - 1 (next may fall inside
  // an entry after a follower's hint).
  m.log_index = p.next - 1;
  m.log_term = term_at(m.log_index);
  if (m.log_term < Term(0)) {
    m.log_index = log_->floor_index(m.log_index);
    m.log_term = m.log_index < 0 ? Term(-1) : term_at(m.log_index);
  }
  if (m.log_term < Term(0)) {
    // The follower needs entries we no longer have (retention deleted
    // them): it restarts its log at our start.
    m.type = MessageType::restart;
    m.log_index = log_->durable().first_index() - 1;
    m.log_term = term_at(m.log_index);
    m.commit = commit_;
    m.start.push_back(LogStart{membership_at(m.log_index), log_->durable().start_snapshot()});
    p.sent_restart();
    send(std::move(m));
    return;
  }
  m.entries = log_->entries_from(m.log_index + 1, config_.max_append_bytes);
  if (m.entries.empty() && !allow_empty) return;
  m.commit = commit_;
  p.sent(m.entries);
  send(std::move(m));
}

void Replica::send_timeout_now(NodeId to) {
  Message m;
  m.type = MessageType::timeout_now;
  m.to = to;
  m.term = term_;
  send(std::move(m));
}

void Replica::broadcast_append() {
  for (const auto& [id, p] : progress_->all()) {
    if (id != config_.id) send_append(id, false);
  }
}

void Replica::broadcast_heartbeat() {
  for (const auto& [id, p] : progress_->all()) {
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
  // A leader that removed itself does not count itself.
  const Index q = progress_->quorum_match(membership(), config_.id, log_->durable_last());
  // §5.4.2: count replicas only for an entry of the current term (a sole
  // voter's entries of earlier terms cannot be overwritten by anyone).
  if (q > commit_ && (term_at(q) == term_ || sole_voter())) {
    commit_ = q;
    return true;
  }
  return false;
}

void Replica::maybe_hand_over() {
  if (role_ != Role::leader || is_voter(config_.id) || commit_ < membership_index()) return;
  // Our own removal is committed: hand over to the most caught-up voter (it
  // campaigns at once, ignoring leases) and stop leading.
  const NodeId best = progress_->most_caught_up(membership().voters);
  if (best != kNoNode) send_timeout_now(best);
  become_follower(term_, kNoNode);
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
  // Moved in: an initializer list would copy the batch.
  std::vector<Entry> entries;
  entries.push_back(Entry{index, term_, std::move(data), EntryKind::normal, span});
  append_local(std::move(entries));
  broadcast_append();
  return index;
}

Result<Index> Replica::propose_change(MembershipChange change) {
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
  const bool promote =
      change.type == MembershipChange::Type::promote && membership().is_learner(change.node);
  const Index lag = promote ? last_index() - progress_->at(change.node).match : 0;
  auto next = apply_change(membership(), change, lag, config_.max_promote_lag);
  if (!next) return next.error();
  const Index index = last_index() + 1;
  append_local({Entry{index, term_, encode_membership(*next), EntryKind::membership}});
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
  if ((*progress_)[target].match == last_index()) {
    send_timeout_now(target);
  } else {
    send_append(target, true);
  }
  return {};
}

}  // namespace spate::raft
