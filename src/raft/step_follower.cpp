// SPDX-License-Identifier: Apache-2.0
//
// A follower's step: appends (§5.3), heartbeats, a restart from a leader
// that no longer has the entries this node lacks, and a leadership transfer's
// TimeoutNow. A candidate or leader that hears from a leader of its term
// handles the message here too, as a follower.

#include "spate/raft/replica.h"

#include "membership.h"
#include "unstable_log.h"

namespace spate::raft {

void Replica::step_follower(Message& m) {
  switch (m.type) {
    case MessageType::append:
      handle_append(m);
      break;
    case MessageType::heartbeat:
      handle_heartbeat(m);
      break;
    case MessageType::restart:
      handle_restart(m);
      break;
    case MessageType::timeout_now:
      if (is_voter(config_.id)) campaign(false, true);
      break;
    default:
      break;  // replies to a role this node no longer has
  }
}

Message Replica::follow(const Message& m, MessageType reply) {
  if (role_ != Role::follower) become_follower(m.term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  if (expedited_) randomize_timeout();  // the leader is back (leader_unreachable)
  Message r;
  r.type = reply;
  r.to = m.from;
  r.term = term_;
  return r;
}

void Replica::handle_append(Message& m) {
  Message r = follow(m, MessageType::append_reply);
  Index prev = m.log_index;
  // The entries to consider: [begin, m.entries.end()) (indexes are consecutive).
  auto begin = m.entries.begin();
  if (prev < commit_) {
    // Everything up to our commit index is committed, hence identical to the
    // leader's (§5.4): skip it.
    while (begin != m.entries.end() && begin->index <= commit_) ++begin;
    prev = commit_;
  } else if (prev > last_index() || term_at(prev) != m.log_term) {
    reject_append(m, std::move(r));
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

void Replica::reject_append(const Message& m, Message r) {
  r.reject = true;
  r.log_index = m.log_index;
  const Index prev = m.log_index;
  if (prev > last_index()) {
    r.hint = last_index() + 1;
    send(std::move(r));
    return;
  }
  const Term conflict = term_at(prev);
  if (conflict < Term(0)) {
    // `prev` falls inside one of our entries (logs that diverged cut their
    // entries differently): try from where ours starts.
    r.hint = log_->floor_index(prev) + 1;
  } else {
    // §5.3 optimization: skip back over the whole conflicting term.
    Index first = prev;
    for (Index before = log_->previous_index(first);
         before > commit_ && term_at(before) == conflict; before = log_->previous_index(first)) {
      first = before;
    }
    r.log_term = conflict;
    r.hint = log_->previous_index(first) + 1;
  }
  send(std::move(r));
}

void Replica::handle_heartbeat(const Message& m) {
  Message r = follow(m, MessageType::heartbeat_reply);
  // The leader sends min(our match, its commit): we hold those entries.
  commit_ = std::max(commit_, std::min(m.commit, last_index()));
  send(std::move(r));
}

void Replica::handle_restart(const Message& m) {
  Message r = follow(m, MessageType::append_reply);
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
  log_->restart(LogRestart{m.log_index, m.log_term, start.membership, start.snapshot});
  commit_ = m.log_index;
  members_->restart(m.log_index, start.membership);
  refresh_membership();
  r.log_index = m.log_index;
  send(std::move(r));
}

}  // namespace spate::raft
