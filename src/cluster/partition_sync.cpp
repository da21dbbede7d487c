// SPDX-License-Identifier: Apache-2.0
//
// In-sync replicas from the followers' progress, and the election counters
// (partition.h, Partition::in_sync_replicas; docs/cluster.md). Kafka's rule
// (replica.lag.time.max.ms): a follower is in sync while it caught up with
// the leader's log end within the lag time. Here "caught up" is sampled at
// each tick: a follower whose match reached the leader's log end as of the
// previous tick (so a steady stream of writes does not keep a healthy
// follower out) is caught up as of the last message heard from it (so a
// stopped follower of an idle partition leaves too).

#include <algorithm>

#include "spate/cluster/partition.h"
#include "spate/common/log.h"

namespace spate::cluster {

void Partition::note_heard(const raft::Message& message) {
  if (sync_term_ < Term(0)) return;  // not leading: nothing to track
  // Only a follower's answer to this leader (its appends and heartbeats, in
  // its term) says the follower still follows it: a pre-vote request says
  // the opposite, and must not renew the read lease (lease_held).
  if ((message.type != raft::MessageType::append_reply &&
       message.type != raft::MessageType::heartbeat_reply) ||
      message.term != sync_term_) {
    return;
  }
  auto it = sync_.find(message.from);
  if (it == sync_.end()) return;
  // As of this replica's last tick, not now: an answer that waited in a
  // socket while this process was stopped is read right after it resumes
  // (before or after its first tick, tick() marks that one as stalled_tick_)
  // and must not renew the lease of a leader that others may have replaced.
  it->second.heard = std::min(log_->clock().steady_now(), last_tick_);
  it->second.heard_tick = ticks_;
}

void Partition::sample_followers() {
  if (!replica_ || replica_->role() != raft::Role::leader) {
    sync_.clear();
    sync_term_ = Term(-1);
    return;
  }
  const auto now = log_->clock().steady_now();
  const raft::Index end = replica_->last_index();
  if (sync_term_ != replica_->term()) {
    // A new leader: every follower gets the lag time to show itself.
    sync_.clear();
    sync_term_ = replica_->term();
    sync_end_ = end;
  }
  const auto followers = replica_->followers();
  // Members gone are forgotten; new ones start caught up now (a whole lag time).
  for (auto it = sync_.begin(); it != sync_.end();) {
    const bool member =
        std::any_of(followers.begin(), followers.end(),
                    [&](const raft::FollowerStatus& f) { return f.id == it->first; });
    it = member ? std::next(it) : sync_.erase(it);
  }
  for (const auto& f : followers) {
    auto [it, added] = sync_.try_emplace(f.id, FollowerSync{now, now, f.voter, ticks_});
    it->second.voter = f.voter;
    if (added) continue;
    if (f.match >= std::min(sync_end_, end)) {
      it->second.caught_up = std::max(it->second.caught_up, it->second.heard);
    }
  }
  sync_end_ = end;
}

std::vector<NodeId> Partition::in_sync_replicas() const {
  std::vector<NodeId> out;
  if (!confirmed_leader()) return out;
  out.push_back(replica_->id());
  for (const auto& f : followers_progress()) {
    if (f.voter && f.in_sync) out.push_back(f.node);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<FollowerProgress> Partition::followers_progress() const {
  std::vector<FollowerProgress> out;
  if (!replica_ || raft_failed_ || replica_->role() != raft::Role::leader) return out;
  const auto now = log_->clock().steady_now();
  const raft::Index end = replica_->last_index();
  for (const auto& f : replica_->followers()) {
    FollowerProgress p{f.id, f.voter, f.match, end - f.match, false};
    auto it = sync_.find(f.id);
    // Not sampled yet (the first tick of a term): in sync, as a new leader
    // takes its followers to be.
    p.in_sync = sync_term_ != replica_->term() || it == sync_.end() ||
                now - it->second.caught_up <= replica_lag_max_;
    if (sync_term_ == replica_->term() && it != sync_.end() && now > it->second.heard) {
      p.silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.heard);
    }
    out.push_back(p);
  }
  return out;
}

void Partition::count_raft_events() {
  if (counters_ == nullptr || !replica_) return;
  const Term term = replica_->term();
  if (replica_->role() == raft::Role::candidate && counted_candidate_ != term) {
    counted_candidate_ = term;
    counters_->elections.fetch_add(1, std::memory_order_relaxed);
  }
  const NodeId leader = replica_->leader();
  if (leader != raft::kNoNode && (leader != counted_leader_ || term != counted_leader_term_)) {
    // This replica's own leaderships, for the operator (and for reading a
    // chaos run's elections back): one line per change here, not per peer.
    if (leader == replica_->id()) {
      log::get(log::Module::cluster)->info("[{}] leading in term {}", id_.dir_name(), term);
    } else if (counted_leader_ == replica_->id()) {
      log::get(log::Module::cluster)
          ->info("[{}] node {} leads in term {}", id_.dir_name(), leader, term);
    }
    counted_leader_ = leader;
    counted_leader_term_ = term;
    counters_->leader_changes.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace spate::cluster
