// SPDX-License-Identifier: Apache-2.0
//
// Replica::leader_unreachable: a follower told that its connection to the
// leader closed campaigns at the minimum election timeout, the voters in id
// order; a follower told so while the others still hear the leader disturbs
// nothing. The simulator (sim/raft_sim.cpp) tells nodes at random, after
// crashes and cuts and spuriously, under every safety check.

#include <set>

#include <gtest/gtest.h>

#include "sim/harness.h"

namespace spate::raft {
namespace {

using sim::Harness;

int leader_among(Harness& h, const std::set<int>& nodes) {
  for (int i : nodes) {
    if (h.r(i).role() == Role::leader) return i;
  }
  return -1;
}

TEST(RaftUnreachable, ACrashedLeaderIsSucceededAtTheMinimumTimeoutByTheFirstVoterInOrder) {
  Harness h(3, true, true);
  const int election_ticks = h.config(0).election_ticks;
  h.elect(0, {0, 1, 2});
  int leader = 0;
  // Without the word, each round's election waits a random 10-19 ticks and
  // either survivor may win: ten rounds within 11 ticks, each won by the
  // lower id, would be chance about once in 10^9.
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round << ", leader " << leader);
    for (int t = 0; t < 3; ++t) h.tick({0, 1, 2});
    const Term term = h.r(leader).term();
    h.crash(leader);
    std::set<int> survivors;
    for (int i = 0; i < 3; ++i) {
      if (i == leader) continue;
      survivors.insert(i);
      h.r(i).leader_unreachable(NodeId(leader));
    }
    int ticks = 0;
    while (leader_among(h, survivors) < 0 && ticks < 4 * election_ticks) {
      h.tick(survivors);
      ++ticks;
    }
    const int successor = leader_among(h, survivors);
    ASSERT_GE(successor, 0) << "no leader";
    EXPECT_LE(ticks, election_ticks + 1);
    EXPECT_EQ(successor, *survivors.begin()) << "the lower id goes first";
    EXPECT_EQ(h.r(successor).term(), term + 1) << "a split vote or a lost round";
    h.start(leader);
    for (int t = 0; t < 3 * election_ticks; ++t) h.tick({0, 1, 2});
    ASSERT_EQ(h.r(successor).role(), Role::leader);
    leader = successor;
  }
  EXPECT_EQ(h.violation, "");
}

TEST(RaftUnreachable, AFollowerCutFromALeaderTheOthersHearDisturbsNothing) {
  Harness h(3, true, true);
  h.elect(0, {0, 1, 2});
  const Term term = h.r(0).term();
  // The link between 0 and 1 broke; 2 still hears the leader.
  h.r(1).leader_unreachable(NodeId(0));
  h.r(0).leader_unreachable(NodeId(1));  // a leader: nothing to do
  const auto cut = [](Message& m) {
    const auto a = m.from.value();
    const auto b = m.to.value();
    return !((a == 0 && b == 1) || (a == 1 && b == 0));
  };
  for (int t = 0; t < 60; ++t) {
    for (int i = 0; i < 3; ++i) h.r(i).tick();
    h.deliver({0, 1, 2}, cut);
  }
  EXPECT_EQ(h.r(0).role(), Role::leader);
  EXPECT_EQ(h.r(0).term(), term) << "node 2 must refuse while it hears the leader";
  EXPECT_EQ(h.r(2).term(), term);
  // Healed: node 1 follows again, in the same term (it only pre-voted).
  for (int t = 0; t < 60; ++t) h.tick({0, 1, 2});
  EXPECT_EQ(h.r(0).role(), Role::leader);
  EXPECT_EQ(h.r(0).term(), term);
  EXPECT_EQ(h.r(1).leader(), NodeId(0));
  EXPECT_EQ(h.violation, "");
}

TEST(RaftUnreachable, AWordAboutANodeThatIsNotTheLeaderChangesNothing) {
  Harness h(3, true, true);
  h.elect(0, {0, 1, 2});
  const Term term = h.r(0).term();
  h.r(1).leader_unreachable(NodeId(2));
  h.r(2).leader_unreachable(kNoNode);
  h.r(1).leader_unreachable(NodeId(0));  // the link flapped; the leader is heard again
  for (int t = 0; t < 200; ++t) h.tick({0, 1, 2});
  EXPECT_EQ(h.r(0).role(), Role::leader);
  EXPECT_EQ(h.r(0).term(), term);
  EXPECT_EQ(h.violation, "");
}

}  // namespace
}  // namespace spate::raft
