// SPDX-License-Identifier: Apache-2.0
//
// The Raft state machine: its life cycle, the Ready it hands out and what
// every role shares. Section numbers refer to the Raft paper (Ongaro &
// Ousterhout, 2014) and Ongaro's thesis (pre-vote §9.6, check-quorum §6.2,
// leadership transfer §3.10). The roles' steps are in step_*.cpp.

#include "spate/raft/replica.h"

#include <algorithm>

#include <fmt/format.h>

#include "spate/common/assert.h"

#include "membership.h"
#include "progress.h"
#include "unstable_log.h"

namespace spate::raft {

Replica::Replica(Config config, const LogView& log, Rng& rng, HardState state)
    : config_(std::move(config)),
      rng_(rng),
      persisted_(state),
      log_(std::make_unique<UnstableLog>(log, config_.id)),
      members_(std::make_unique<MembershipLog>(config_, log)),
      progress_(std::make_unique<ProgressTracker>()) {
  SPATE_ASSERT(config_.election_ticks > config_.heartbeat_ticks && config_.heartbeat_ticks > 0,
               "election_ticks {} must exceed heartbeat_ticks {}", config_.election_ticks,
               config_.heartbeat_ticks);
  term_ = state.term;
  vote_ = state.vote;
  // The durable commit can be ahead of the durable log only if the log lost
  // its tail, which the log's own recovery rules out for synced data. A log
  // that restarted after the commit was persisted starts committed.
  commit_ = std::max(std::min(state.commit, log.last_index()), log.first_index() - 1);
  ready_commit_ = commit_;
  refresh_membership();
  reset_timers();
}

Replica::~Replica() = default;

// ---------------------------------------------------------------- queries

Index Replica::last_index() const { return log_->last_index(); }

Term Replica::term_at(Index index) const { return log_->term_at(index); }

const Membership& Replica::membership() const { return members_->latest(); }

Membership Replica::membership_at(Index index) const { return members_->at(index); }

Index Replica::membership_index() const { return members_->latest_index(); }

std::vector<FollowerStatus> Replica::followers() const {
  if (role_ != Role::leader) return {};
  return progress_->statuses(members_->latest(), config_.id);
}

std::size_t Replica::quorum() const { return members_->latest().quorum(); }

bool Replica::is_voter(NodeId id) const { return members_->latest().is_voter(id); }

bool Replica::log_up_to_date(Index last, Term last_term) const {
  const Term mine = term_at(last_index());
  return last_term > mine || (last_term == mine && last >= last_index());
}

// ---------------------------------------------------------------- shared by the roles

void Replica::reset_timers() {
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomize_timeout();
}

void Replica::randomize_timeout() {
  expedited_ = false;
  randomized_timeout_ =
      config_.election_ticks +
      static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(config_.election_ticks)));
}

void Replica::leader_unreachable(NodeId node) {
  if (node == kNoNode || role_ != Role::follower || leader_ != node || !is_voter(config_.id)) {
    return;
  }
  // Our place among the voters that may succeed the leader, by id: the same
  // order on every node, so that the first campaigns alone.
  int rank = 0;
  for (const NodeId v : membership().voters) {
    if (v != node && v < config_.id) ++rank;
  }
  const int stagger = std::min(rank * kUnreachableStaggerTicks, config_.election_ticks - 1);
  randomized_timeout_ = std::min(randomized_timeout_, config_.election_ticks + stagger);
  expedited_ = true;
}

void Replica::become_follower(Term term, NodeId leader) {
  if (term > term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::follower;
  leader_ = leader;
  transfer_target_ = kNoNode;
  progress_->clear();
  votes_.clear();
  reset_timers();
}

void Replica::tick() {
  if (role_ == Role::leader) {
    tick_leader();
  } else {
    tick_election();
  }
}

void Replica::append_local(std::vector<Entry> entries) {
  if (entries.empty()) return;
  // The entries replace everything after `first - 1`, which must be where an
  // entry of ours ends (or the end of our log).
  const Index first = entries.front().first();
  SPATE_ASSERT(first > commit_, "node {} would overwrite committed entry {} (commit {})",
               config_.id, first, commit_);
  // A truncated membership entry no longer applies: fall back.
  bool members_changed = first <= last_index() && members_->truncate_from(first);
  for (const auto& e : entries) {
    if (e.kind != EntryKind::membership) continue;
    members_->add(e);
    members_changed = true;
  }
  log_->append(std::move(entries));
  if (members_changed) refresh_membership();
}

void Replica::refresh_membership() {
  if (role_ == Role::leader) {
    progress_->sync(members_->latest(), config_.id, std::max<Index>(last_index(), 1));
  } else if (role_ != Role::follower && !is_voter(config_.id)) {
    become_follower(term_, kNoNode);
  }
}

// ---------------------------------------------------------------- output

bool Replica::has_ready() const {
  return !outbox_.empty() || log_->has_changes() || commit_ != ready_commit_ ||
         term_ != persisted_.term || vote_ != persisted_.vote ||
         persistable_commit() != persisted_.commit;
}

Index Replica::persistable_commit() const {
  return std::max(persisted_.commit, std::min(commit_, log_->kept_end(persisted_.commit)));
}

Ready Replica::ready() {
  Ready r;
  const HardState now{term_, vote_, persistable_commit()};
  if (now != persisted_) r.hard_state = now;
  log_->fill(r);
  r.messages = std::move(outbox_);
  outbox_.clear();
  r.commit = commit_;
  return r;
}

void Replica::advance(const Ready& r) {
  if (r.hard_state) persisted_ = *r.hard_state;
  ready_commit_ = r.commit;
  log_->advance(r);
  if (role_ == Role::leader) {
    (*progress_)[config_.id].match = log_->durable_last();
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
  if (auto what = log_->check(term_); !what.empty()) return broken(std::move(what));
  if (role_ == Role::leader) {
    if (auto what = progress_->check(config_.id, last); !what.empty()) {
      return broken(std::move(what));
    }
  }
  return {};
}

}  // namespace spate::raft
