// SPDX-License-Identifier: Apache-2.0
//
// Leadership transfer (partition.h, Partition::transfer_leadership; raft's
// §3.10 in docs/raft.md): a broker that stops hands over the partitions it
// leads first, so that producers see a retriable NOT_LEADER_OR_FOLLOWER and
// a new leader within a few ticks instead of an election timeout.

#include <algorithm>

#include "spate/cluster/partition.h"
#include "spate/cluster/partition_manager.h"
#include "spate/common/log.h"

namespace spate::cluster {

bool Partition::transferring() const {
  if (!replica_ || raft_failed_) return false;
  return transfer_to_ != raft::kNoNode || replica_->transfer_target() != raft::kNoNode;
}

NodeId Partition::most_caught_up_voter() const {
  // A follower heard from since the last quorum check first (a stopped one
  // may have the longest log), then the longest log, then the lowest id.
  const auto followers = replica_->followers();
  const raft::FollowerStatus* best = nullptr;
  for (const auto& f : followers) {
    if (!f.voter) continue;
    if (best == nullptr || (f.active && !best->active) ||
        (f.active == best->active && f.match > best->match)) {
      best = &f;
    }
  }
  return best == nullptr ? raft::kNoNode : best->id;
}

Result<NodeId> Partition::transfer_leadership(NodeId target) {
  if (closed_) {
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  }
  if (raft_failed_) {
    return Error::fenced(fmt::format("partition {}: replication stopped", id_.dir_name()));
  }
  if (!confirmed_leader()) {
    return Error(Errc::not_leader,
                 fmt::format("partition {}: this replica is not its leader", id_.dir_name()));
  }
  if (replica_->sole_voter()) return raft::kNoNode;
  if (target == raft::kNoNode) {
    target = most_caught_up_voter();
    if (target == raft::kNoNode) return raft::kNoNode;
  }
  const auto& voters = replica_->membership().voters;
  if (target == replica_->id() || std::find(voters.begin(), voters.end(), target) == voters.end()) {
    return Error::invalid(fmt::format(
        "partition {}: cannot hand leadership to {}, not another voter", id_.dir_name(), target));
  }
  log::get(log::Module::cluster)
      ->info("[{}] handing leadership to node {} (term {})", id_.dir_name(), target,
             replica_->term());
  transfer_to_ = target;
  // With a Ready in flight, what was queued before this call is proposed
  // first (complete_ready), so that the target receives it too.
  if (!pending_) {
    start_transfer();
    process_ready();
  }
  return target;
}

void Partition::start_transfer() {
  const NodeId target = transfer_to_;
  transfer_to_ = raft::kNoNode;
  if (target == raft::kNoNode || replica_->role() != raft::Role::leader) return;
  if (auto s = replica_->transfer_leadership(target); !s) {
    log::get(log::Module::cluster)
        ->warn("[{}] leadership transfer to {} not started: {}", id_.dir_name(), target,
               s.error().message());
  }
}

awaitable<std::size_t> transfer_leaderships(std::vector<std::shared_ptr<Partition>> partitions,
                                            const Clock& clock, Clock::SteadyTime deadline) {
  // Only the partitions this node leads with someone to hand over to.
  std::vector<std::shared_ptr<Partition>> moving;
  for (auto& p : partitions) {
    if (p && !p->closed() && p->leader() && !p->sole_voter()) moving.push_back(std::move(p));
  }
  auto moved = [](const Partition& p) {
    if (p.closed()) return false;
    const NodeId leader = p.status().leader;
    return leader != raft::kNoNode && leader != p.node();
  };
  auto logger = log::get(log::Module::cluster);
  // Bounded by the deadline: each pass waits for a change or 10 ms.
  while (true) {
    std::size_t left = 0;
    Partition* waiting = nullptr;
    for (auto& p : moving) {
      if (p->closed() || moved(*p)) continue;
      ++left;
      // Not started yet, or raft gave up (the target did not catch up or
      // campaign in time): try again, perhaps with another target.
      if (p->leader() && !p->transferring()) {
        if (auto t = p->transfer_leadership(); !t) {
          logger->debug("[{}] leadership transfer: {}", p->id().dir_name(), t.error().message());
        }
      }
      if (waiting == nullptr) waiting = p.get();
    }
    const auto now = clock.steady_now();
    if (left == 0 || now >= deadline) break;
    co_await waiting->committed().wait_at_most(
        std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(10)));
  }
  std::size_t count = 0;
  for (auto& p : moving) {
    if (moved(*p)) ++count;
  }
  if (count < moving.size()) {
    logger->warn("leadership of {} of {} partitions not handed over before the deadline",
                 moving.size() - count, moving.size());
  }
  co_return count;
}

awaitable<std::size_t> PartitionManager::transfer_leaderships(Deadline deadline) {
  std::vector<std::shared_ptr<Partition>> all;
  for (const auto& [name, topic] : topics_) {
    for (const auto& p : topic.partitions) {
      if (p) p->refuse_leadership();  // this broker is stopping
      all.push_back(p);
    }
  }
  co_return co_await cluster::transfer_leaderships(std::move(all), clock_, deadline);
}

}  // namespace spate::cluster
