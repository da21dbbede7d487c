// SPDX-License-Identifier: Apache-2.0
//
// Elections: a follower whose election timeout runs out campaigns, first as a
// pre-candidate (§9.6: no term change, so a node that cannot win disturbs
// nobody), then as a candidate; the step of both counts the replies.

#include "spate/raft/replica.h"

namespace spate::raft {

void Replica::tick_election() {
  // A node outside the voters (a learner, or removed) never campaigns.
  if (++election_elapsed_ >= randomized_timeout_ && is_voter(config_.id)) {
    campaign(config_.pre_vote, false);
  }
}

void Replica::step_candidate(Message& m) {
  switch (m.type) {
    case MessageType::pre_vote_reply:
    case MessageType::vote_reply:
      handle_vote_reply(m);
      break;
    case MessageType::append:
    case MessageType::heartbeat:
    case MessageType::restart:
    case MessageType::timeout_now:
      step_follower(m);  // a leader of this term: follow it
      break;
    default:
      break;  // replies to a leader
  }
}

void Replica::become_pre_candidate() {
  role_ = Role::pre_candidate;
  leader_ = kNoNode;
  votes_ = {{config_.id, true}};
  reset_timers();
}

void Replica::become_candidate() {
  role_ = Role::candidate;
  term_ = term_ + 1;
  vote_ = config_.id;
  leader_ = kNoNode;
  votes_ = {{config_.id, true}};
  reset_timers();
}

void Replica::campaign(bool pre, bool force) {
  if (pre) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  if (votes_.size() >= quorum()) {  // a cluster of one
    if (pre) {
      campaign(false, force);
    } else {
      become_leader();
    }
    return;
  }
  for (const auto& id : membership().voters) {
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

}  // namespace spate::raft
