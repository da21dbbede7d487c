// SPDX-License-Identifier: Apache-2.0
//
// Preferred-leader balancing (leader_balancer.h).

#include "spate/cluster/leader_balancer.h"

#include <algorithm>

#include "spate/common/log.h"

namespace spate::cluster {
namespace {

// Heartbeats go every tick (100 ms): a live follower is never silent this long.
constexpr auto kPreferredSilentMax = std::chrono::milliseconds(1'000);

}  // namespace

std::size_t restore_preferred_leaders(const std::vector<LeaderMove>& moves,
                                      const PartitionLookup& lookup, std::size_t max) {
  auto logger = log::get(log::Module::cluster);
  std::size_t started = 0;
  for (const auto& m : moves) {
    if (started >= max) break;
    auto p = lookup(m);
    if (!p || p->closed() || !p->leader() || p->transferring() || p->node() == m.preferred) {
      continue;
    }
    // The metadata's ISR may be a report old; the leader's own view decides:
    // in sync, and heard from just now (a broker that died a moment ago is
    // in sync for the lag time, and a transfer to it would stall produce
    // for an election timeout).
    const auto followers = p->followers_progress();
    auto f = std::find_if(followers.begin(), followers.end(),
                          [&](const FollowerProgress& x) { return x.node == m.preferred; });
    if (f == followers.end() || !f->voter || !f->in_sync || f->silent > kPreferredSilentMax) {
      continue;
    }
    auto target = p->transfer_leadership(m.preferred);
    if (!target) {
      logger->debug("[{}] moving leadership to the preferred replica {}: {}", p->id().dir_name(),
                    m.preferred, target.error().message());
      continue;
    }
    logger->info("[{}] moving leadership back to its preferred replica {}", p->id().dir_name(),
                 m.preferred);
    ++started;
  }
  return started;
}

LeaderBalancer::LeaderBalancer(const Controller& controller, const PartitionManager& partitions,
                               asio::any_io_executor shard, LeaderBalanceConfig config)
    : controller_(controller), partitions_(partitions), shard_(std::move(shard)), config_(config) {}

void LeaderBalancer::start() {
  if (config_.interval.count() <= 0) return;
  task_.spawn(shard_, run());
}

awaitable<void> LeaderBalancer::stop() {
  stopping_ = true;
  wake_.notify_all();
  co_await task_.ended();
}

std::size_t LeaderBalancer::round() {
  if (partitions_.closing()) return 0;
  const PartitionLookup lookup = [this](const LeaderMove& m) {
    return partitions_.partition(RaftGroupId{m.topic, m.partition});
  };
  const std::size_t n = restore_preferred_leaders(controller_.state().preferred_leader_moves(),
                                                  lookup, config_.max_transfers);
  started_ += n;
  return n;
}

awaitable<void> LeaderBalancer::run() {
  // Bounded: until stop().
  while (!stopping_) {
    co_await wake_.wait_at_most(config_.interval);
    if (stopping_) break;
    (void)round();
  }
}

}  // namespace spate::cluster
