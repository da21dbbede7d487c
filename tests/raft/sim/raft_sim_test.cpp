// SPDX-License-Identifier: Apache-2.0
//
// Randomized runs of the raft simulator over many seeds, 3 and 5 nodes,
// every kind of fault. The same environment as every simulator:
// SPATE_SIM_SEED=n replays one seed with its trace, SPATE_SIM_SEEDS=n runs
// seeds 1..n (default 1000), SPATE_SIM_TRACE=1 prints every event as it
// happens; SPATE_RAFT_TICKS=n runs n ticks of faults per seed (600).

#include "sim/raft_sim.h"

#include <cstdlib>

#include <gtest/gtest.h>

namespace spate::raft::sim {
namespace {

std::uint64_t env(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(RaftSim, RandomFaultsKeepEverySafetyInvariantAndHealedClustersMakeProgress) {
  std::vector<std::uint64_t> seeds;
  if (std::getenv("SPATE_SIM_SEED") != nullptr) {
    seeds.push_back(env("SPATE_SIM_SEED", 1));
  } else {
    for (std::uint64_t s = 1; s <= env("SPATE_SIM_SEEDS", 1000); ++s) seeds.push_back(s);
  }
  SimStats stats;
  int failures = 0;
  for (auto seed : seeds) {
    // 3 or 5 voters, and 2 spare nodes that the leader may add.
    Cluster cluster(seed, seed % 2 == 0 ? 5 : 3, Faults{}, stats, 2);
    auto failure = cluster.run(static_cast<int>(env("SPATE_RAFT_TICKS", 600)));
    if (failure.empty()) continue;
    if (++failures <= 2) ADD_FAILURE() << failure;
  }
  std::printf(
      "[ raft sim ] %llu seeds, %llu ticks, %llu messages (%llu dropped), %llu crashes (%llu "
      "torn Readies), %llu partitions, %llu elections, %llu proposals, %llu entries committed, "
      "%llu compactions, "
      "%llu followers restarted from a leader's start, membership changes: %llu learners added, "
      "%llu promoted, %llu removed (%llu leaders removing themselves), %llu committed, %llu "
      "refused; %d failing seeds\n",
      static_cast<unsigned long long>(stats.seeds), static_cast<unsigned long long>(stats.ticks),
      static_cast<unsigned long long>(stats.messages),
      static_cast<unsigned long long>(stats.dropped),
      static_cast<unsigned long long>(stats.crashes),
      static_cast<unsigned long long>(stats.torn_readies),
      static_cast<unsigned long long>(stats.partitions),
      static_cast<unsigned long long>(stats.elections),
      static_cast<unsigned long long>(stats.proposals),
      static_cast<unsigned long long>(stats.committed),
      static_cast<unsigned long long>(stats.compactions),
      static_cast<unsigned long long>(stats.restarts_from_leader),
      static_cast<unsigned long long>(stats.learners_added),
      static_cast<unsigned long long>(stats.promotions),
      static_cast<unsigned long long>(stats.removals),
      static_cast<unsigned long long>(stats.leaders_removing_themselves),
      static_cast<unsigned long long>(stats.membership_changes),
      static_cast<unsigned long long>(stats.membership_refused), failures);
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace spate::raft::sim
