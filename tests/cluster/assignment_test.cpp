// SPDX-License-Identifier: Apache-2.0
//
// assign_replicas: distinct live brokers, balance within one replica across
// brokers over many topics, leaders spread, racks spread, and the refusals.

#include "spate/cluster/assignment.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "cluster/metadata_samples.h"

namespace spate::cluster {
namespace {

using testing::ids;

std::vector<BrokerSlot> slots(int n, int racks = 0) {
  std::vector<BrokerSlot> out;
  for (int i = 1; i <= n; ++i) {
    BrokerSlot b{NodeId(i), std::nullopt, false};
    if (racks > 0) b.rack = fmt::format("rack{}", i % racks);
    out.push_back(b);
  }
  return out;
}

void add(LoadMap& load, const ReplicaAssignment& a) {
  for (const auto& replicas : a) {
    for (auto r : replicas) ++load[r].replicas;
    ++load[replicas.front()].leaders;
  }
}

void expect_distinct(const ReplicaAssignment& a, std::size_t rf) {
  for (const auto& replicas : a) {
    ASSERT_EQ(replicas.size(), rf);
    ASSERT_EQ(std::set<NodeId>(replicas.begin(), replicas.end()).size(), rf);
  }
}

// max - min over the live brokers.
std::int64_t spread(const LoadMap& load, const std::vector<BrokerSlot>& brokers, bool leaders) {
  std::int64_t lo = INT64_MAX;
  std::int64_t hi = 0;
  for (const auto& b : brokers) {
    if (b.fenced) continue;
    auto it = load.find(b.id);
    const auto v = it == load.end() ? 0 : (leaders ? it->second.leaders : it->second.replicas);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return hi - lo;
}

TEST(Assignment, OneTopicRoundRobins) {
  auto a = assign_replicas(slots(3), {}, 3, 3);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(*a, (ReplicaAssignment{ids({1, 2, 3}), ids({2, 1, 3}), ids({3, 1, 2})}));
  a = assign_replicas(slots(3), {}, 6, 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (ReplicaAssignment{ids({1}), ids({2}), ids({3}), ids({1}), ids({2}), ids({3})}));
}

// Topics of 1 to 12 partitions created one after another, each placed
// knowing the load of the ones before: replicas and preferred leaders stay
// within one of each other on every broker, after every topic.
TEST(Assignment, ReplicasAndLeadersStayWithinOneAcrossManyTopics) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    for (int brokers = 1; brokers <= 9; ++brokers) {
      for (int rf = 1; rf <= std::min(brokers, 4); ++rf) {
        const auto live = slots(brokers);
        LoadMap load;
        Rng rng(seed * 1000 + static_cast<std::uint64_t>(brokers * 10 + rf));
        for (int topic = 0; topic < 60; ++topic) {
          const auto partitions = static_cast<std::int32_t>(rng.range(1, 12));
          auto a = assign_replicas(live, load, partitions, rf);
          ASSERT_TRUE(a) << a.error();
          ASSERT_EQ(a->size(), static_cast<std::size_t>(partitions));
          ASSERT_NO_FATAL_FAILURE(expect_distinct(*a, static_cast<std::size_t>(rf)));
          add(load, *a);
          ASSERT_LE(spread(load, live, false), 1)
              << "seed " << seed << ", " << brokers << " brokers, rf " << rf;
          ASSERT_LE(spread(load, live, true), 1)
              << "seed " << seed << ", " << brokers << " brokers, rf " << rf;
        }
      }
    }
  }
}

TEST(Assignment, NewPartitionsOfATopicGoWhereTheLoadIsLowest) {
  const auto live = slots(4);
  LoadMap load;
  load[NodeId(1)] = {10, 5};
  load[NodeId(2)] = {10, 5};
  auto a = assign_replicas(live, load, 2, 2, 6);
  ASSERT_TRUE(a);
  for (const auto& replicas : *a) {
    for (auto r : replicas) EXPECT_TRUE(r == NodeId(3) || r == NodeId(4));
  }
  EXPECT_NE((*a)[0].front(), (*a)[1].front());  // and the two leaders differ
}

TEST(Assignment, FencedBrokersAreSkipped) {
  auto live = slots(4);
  live[1].fenced = true;  // broker 2
  LoadMap load;
  for (int topic = 0; topic < 10; ++topic) {
    auto a = assign_replicas(live, load, 5, 3);
    ASSERT_TRUE(a);
    for (const auto& replicas : *a) {
      EXPECT_EQ(std::count(replicas.begin(), replicas.end(), NodeId(2)), 0);
    }
    add(load, *a);
  }
  EXPECT_LE(spread(load, live, false), 1);
  auto a = assign_replicas(live, load, 1, 4);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::invalid_replication_factor);
}

TEST(Assignment, RacksSpreadEachPartition) {
  // 6 brokers on 3 racks (1,4 / 2,5 / 3,6), RF 3: every partition on 3 racks.
  const auto live = slots(6, 3);
  LoadMap load;
  for (int topic = 0; topic < 20; ++topic) {
    auto a = assign_replicas(live, load, 7, 3);
    ASSERT_TRUE(a);
    for (const auto& replicas : *a) {
      std::set<int> racks;
      for (auto r : replicas) racks.insert(r.value() % 3);
      EXPECT_EQ(racks.size(), 3U);
    }
    add(load, *a);
  }
  EXPECT_LE(spread(load, live, false), 1);
  EXPECT_LE(spread(load, live, true), 1);
  // RF 4 on 2 racks: two replicas on each.
  const auto two = slots(4, 2);
  auto a = assign_replicas(two, {}, 5, 4);
  ASSERT_TRUE(a);
  for (const auto& replicas : *a) {
    EXPECT_EQ(std::count_if(replicas.begin(), replicas.end(),
                            [](NodeId r) { return r.value() % 2 == 0; }),
              2);
  }
  // Uneven racks: 3 brokers on rack0, 1 on rack1; RF 2 always uses both.
  std::vector<BrokerSlot> uneven = {{NodeId(1), "x", false},
                                    {NodeId(2), "x", false},
                                    {NodeId(3), "x", false},
                                    {NodeId(4), "y", false}};
  a = assign_replicas(uneven, {}, 6, 2);
  ASSERT_TRUE(a);
  for (const auto& replicas : *a) {
    EXPECT_EQ(std::count(replicas.begin(), replicas.end(), NodeId(4)), 1);
  }
}

TEST(Assignment, RacksAreIgnoredUnlessEveryLiveBrokerHasOne) {
  std::vector<BrokerSlot> live = {{NodeId(1), std::nullopt, false},
                                  {NodeId(2), "x", false},
                                  {NodeId(3), "y", false},
                                  {NodeId(4), "y", false}};
  auto a = assign_replicas(live, {}, 4, 2);
  ASSERT_TRUE(a);
  // The same as with no rack at all; with racks, 3 and 4 would never pair.
  EXPECT_EQ(*a, *assign_replicas(slots(4), {}, 4, 2));
  live[0].rack = "x";
  EXPECT_NE(*a, *assign_replicas(live, {}, 4, 2));
}

TEST(Assignment, Refusals) {
  auto a = assign_replicas(slots(3), {}, 1, 4);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::invalid_replication_factor);
  a = assign_replicas(slots(3), {}, 1, 0);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::invalid_replication_factor);
  a = assign_replicas({}, {}, 1, 1);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::invalid_replication_factor);
  a = assign_replicas(slots(3), {}, 0, 1);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::invalid_partitions);
  auto twice = slots(2);
  twice.push_back(twice[0]);
  a = assign_replicas(twice, {}, 1, 1);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::invalid_argument);
}

TEST(Assignment, FromAStateAndBackIntoIt) {
  MetadataState s;
  std::int64_t index = 0;
  for (int id = 1; id <= 5; ++id) {
    ASSERT_TRUE(s.apply(testing::broker_cmd(id, fmt::format("r{}", id % 2)), ++index));
  }
  ASSERT_TRUE(s.apply(FenceBroker{NodeId(5), -1}, ++index));
  for (int topic = 0; topic < 12; ++topic) {
    auto a = assign_replicas(broker_slots(s), broker_load(s), 5, 2);
    ASSERT_TRUE(a) << a.error();
    auto out = s.apply(CreateTopic{fmt::format("t{}", topic), 0, *a, {}}, ++index);
    ASSERT_TRUE(out && out->applied()) << out->message;
  }
  const auto load = broker_load(s);
  EXPECT_EQ(load.count(NodeId(5)), 0U);
  EXPECT_LE(spread(load, broker_slots(s), false), 1);
  EXPECT_LE(spread(load, broker_slots(s), true), 1);
  auto more = assign_replicas(broker_slots(s), broker_load(s), 3, 2, 5);
  ASSERT_TRUE(more);
  auto out = s.apply(CreatePartitions{"t0", *more}, ++index);
  ASSERT_TRUE(out && out->applied());
  EXPECT_LE(spread(broker_load(s), broker_slots(s), false), 1);
}

}  // namespace
}  // namespace spate::cluster
