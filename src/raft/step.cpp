// SPDX-License-Identifier: Apache-2.0
//
// What every role does with a message before its own step function: checks
// that it is well formed, the term rules (§5.1; §6 "disruptive servers";
// §9.6 pre-vote) and vote requests, which every role answers the same way.

#include <fmt/format.h>

#include "spate/raft/replica.h"
#include "spate/raft/wire.h"

namespace spate::raft {

Status Replica::step(Message m) {
  // Well formed: for this node, from another, terms and entries in order.
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
  if (!step_term(m)) return {};
  switch (m.type) {
    case MessageType::pre_vote:
    case MessageType::vote:
      handle_vote_request(m);
      return {};
    default:
      break;
  }
  switch (role_) {
    case Role::leader:
      step_leader(m);
      break;
    case Role::pre_candidate:
    case Role::candidate:
      step_candidate(m);
      break;
    case Role::follower:
      step_follower(m);
      break;
  }
  return {};
}

bool Replica::step_term(const Message& m) {
  const bool vote_request = m.type == MessageType::vote || m.type == MessageType::pre_vote;
  if (m.term > term_) {
    const bool in_lease =
        config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_ticks;
    if (vote_request && in_lease && !m.force) {
      // §6 "disruptive servers": we heard from a leader within the minimum
      // election timeout, so this candidate cannot be needed. Ignore it.
      return false;
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
    return true;
  }
  if (m.term == term_) return true;
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
  return false;
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

}  // namespace spate::raft
