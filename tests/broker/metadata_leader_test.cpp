// SPDX-License-Identifier: Apache-2.0
//
// The leader and leader epoch a cluster broker's Metadata names for a
// partition (handlers/cluster_metadata.cpp, metadata_leader): the controller's
// reported leader or a newer serving leader known here, none during an
// election, and never an epoch older than one this broker named before
// (LeaderEpochFloors), through leader changes, a replica closing here and a
// topic created again.

#include <algorithm>
#include <optional>
#include <random>

#include <gtest/gtest.h>

#include "spate/broker/leader_epoch_floors.h"

#include "broker/handlers/cluster_admin.h"

namespace spate::broker {
namespace {

using cluster::PartitionMeta;
using cluster::PartitionStatus;

constexpr cluster::TopicId kTopic = 7;
const MetadataLeader kNone{-1, -1};

PartitionMeta reported(std::int32_t leader, std::int64_t epoch) {
  PartitionMeta m;
  m.replicas = {NodeId(1), NodeId(2), NodeId(3)};
  m.leader = NodeId(leader);
  m.leader_epoch = Term(epoch);
  return m;
}

PartitionStatus replica(std::int64_t term, std::int32_t leader, bool serving) {
  PartitionStatus s;
  s.leader_epoch = Term(term);
  s.leader = NodeId(leader);
  s.serving_leader = serving ? NodeId(leader) : NodeId(-1);
  return s;
}

bool all_alive(NodeId) { return true; }

class MetadataLeaderTest : public ::testing::Test {
 protected:
  MetadataLeader name(const PartitionMeta& meta, std::optional<PartitionStatus> local,
                      cluster::TopicId topic = kTopic, std::size_t index = 0) {
    return metadata_leader(meta, local, alive_, floors_, topic, index);
  }

  std::function<bool(NodeId)> alive_ = all_alive;
  LeaderEpochFloors floors_;
};

TEST_F(MetadataLeaderTest, TheReportedLeaderWithItsEpoch) {
  EXPECT_EQ(name(reported(1, 4), std::nullopt), (MetadataLeader{1, 4}));
  EXPECT_EQ(floors_.floor(kTopic, 0), 4);
  // A replica here at the same term, or behind the report, changes nothing.
  EXPECT_EQ(name(reported(1, 4), replica(4, 1, true)), (MetadataLeader{1, 4}));
  EXPECT_EQ(name(reported(1, 4), replica(3, 2, true)), (MetadataLeader{1, 4}));
  EXPECT_EQ(name(reported(1, 4), replica(4, -1, false)), (MetadataLeader{1, 4}));
}

TEST_F(MetadataLeaderTest, NoLeaderNamesNoEpoch) {
  EXPECT_EQ(name(reported(-1, -1), std::nullopt), kNone);  // never reported yet
  alive_ = [](NodeId id) { return id != NodeId(1); };
  EXPECT_EQ(name(reported(1, 4), std::nullopt), kNone);  // its broker is fenced
  EXPECT_EQ(floors_.floor(kTopic, 0), -1);               // nothing named
}

TEST_F(MetadataLeaderTest, ANewerServingLeaderHereIsNamedWithItsTerm) {
  EXPECT_EQ(name(reported(1, 4), replica(5, 2, true)), (MetadataLeader{2, 5}));
  EXPECT_EQ(floors_.floor(kTopic, 0), 5);
}

TEST_F(MetadataLeaderTest, ANewerTermWithoutAServingLeaderNamesNone) {
  // Elected, not serving yet: clients must not be sent to it.
  EXPECT_EQ(name(reported(1, 4), replica(5, 2, false)), kNone);
  // An election under way here: the reported leader is deposed.
  EXPECT_EQ(name(reported(1, 4), replica(6, -1, false)), kNone);
}

TEST_F(MetadataLeaderTest, NeverBelowAnEpochNamedBeforeAcrossALeaderChange) {
  EXPECT_EQ(name(reported(1, 4), std::nullopt), (MetadataLeader{1, 4}));
  // Leader 1 dies; broker 2 wins term 5 and serves; the report is not in.
  EXPECT_EQ(name(reported(1, 4), replica(5, 2, true)), (MetadataLeader{2, 5}));
  // The replica here closes (moved away, say) before the report lands: the
  // metadata alone would name leader 1 at epoch 4 again.
  EXPECT_EQ(name(reported(1, 4), std::nullopt), kNone);
  // The report lands: named again, at the epoch named before.
  EXPECT_EQ(name(reported(2, 5), std::nullopt), (MetadataLeader{2, 5}));
  // The next leader change goes forward as usual.
  EXPECT_EQ(name(reported(3, 6), std::nullopt), (MetadataLeader{3, 6}));
  EXPECT_EQ(floors_.floor(kTopic, 0), 6);
}

TEST_F(MetadataLeaderTest, FloorsAreByTopicIdAndPartition) {
  EXPECT_EQ(name(reported(1, 9), std::nullopt, kTopic, 2), (MetadataLeader{1, 9}));
  // Another partition, and the same name created again (a new id), start over.
  EXPECT_EQ(name(reported(2, 1), std::nullopt, kTopic, 0), (MetadataLeader{2, 1}));
  EXPECT_EQ(name(reported(2, 1), std::nullopt, kTopic + 1, 2), (MetadataLeader{2, 1}));
  EXPECT_EQ(floors_.floor(kTopic, 1), -1);
  EXPECT_EQ(floors_.topics(), 2U);
  floors_.prune([](std::uint64_t id) { return id != kTopic; });
  EXPECT_EQ(floors_.topics(), 1U);
  EXPECT_EQ(floors_.floor(kTopic, 2), -1);
  EXPECT_EQ(floors_.floor(kTopic + 1, 2), 1);
}

TEST_F(MetadataLeaderTest, ATermPastTheWiresRangeIsNeverNamedBelowAFloor) {
  const std::int64_t huge = std::int64_t{1} << 40;
  EXPECT_EQ(name(reported(1, 4), std::nullopt), (MetadataLeader{1, 4}));
  EXPECT_EQ(name(reported(1, huge), std::nullopt), kNone);  // reads as -1: below 4
}

// A random walk of reports, terms, elections and the replica here opening and
// closing, with only what Raft allows (terms and reports only grow, one
// leader per term): the epochs named never go down, and each is the epoch of
// the leader named at that moment.
TEST_F(MetadataLeaderTest, RandomLeaderChangesNeverNameAnOlderEpoch) {
  std::size_t named_count = 0;
  std::int32_t highest = -1;
  for (std::uint32_t seed = 1; seed <= 50; ++seed) {
    std::mt19937 rng(seed);
    LeaderEpochFloors floors;
    std::int64_t term = 1;         // the group's latest term
    std::int32_t term_leader = 1;  // its leader (-1: election under way)
    std::int64_t report = -1;      // the controller's reported epoch
    std::int32_t report_leader = -1;
    std::int64_t local_term = 0;  // the replica here (-1: not open here)
    bool local_serving = false;
    std::int32_t last = -1;
    std::vector<std::int32_t> leader_of(1, -1);  // by term
    leader_of.push_back(1);
    for (int step = 0; step < 300; ++step) {
      switch (rng() % 6) {
        case 0:  // an election starts
          ++term;
          term_leader = -1;
          leader_of.push_back(-1);
          break;
        case 1:  // and is won
          if (term_leader < 0) {
            term_leader = static_cast<std::int32_t>(1 + rng() % 3);
            leader_of.back() = term_leader;
          }
          break;
        case 2:  // the current leader reports
          if (term_leader >= 0) {
            report = term;
            report_leader = term_leader;
          }
          break;
        case 3:  // the replica here catches up (maybe not yet serving)
          if (local_term >= 0) {
            local_term = term;
            local_serving = term_leader >= 0 && rng() % 2 == 0;
          }
          break;
        case 4:  // it closes, or opens again at its persisted term or later
          local_term = local_term >= 0 ? -1 : term;
          local_serving = false;
          break;
        default:
          break;
      }
      std::optional<PartitionStatus> local;
      if (local_term >= 0) {
        const std::int32_t known = leader_of[static_cast<std::size_t>(local_term)];
        local = replica(local_term, known, local_serving && known >= 0);
      }
      const auto named =
          metadata_leader(reported(report_leader, report), local, alive_, floors, kTopic, 0);
      if (named.leader_id < 0) {
        EXPECT_EQ(named.leader_epoch, -1);
        continue;
      }
      ASSERT_GE(named.leader_epoch, last) << "seed " << seed << " step " << step;
      EXPECT_EQ(leader_of.at(static_cast<std::size_t>(named.leader_epoch)), named.leader_id)
          << "seed " << seed << " step " << step;
      last = named.leader_epoch;
      ++named_count;
      highest = std::max(highest, last);
    }
  }
  EXPECT_GT(named_count, 1000U);  // the walk names leaders, through many terms
  EXPECT_GT(highest, 10);
}

}  // namespace
}  // namespace spate::broker
