// SPDX-License-Identifier: Apache-2.0
//
// The classic hard cases, driven step by step: the figure-8 commit scenario
// of the Raft paper, a leader isolated with a minority, a node with a longer
// but uncommitted log, a disrupting rejoiner (blocked by pre-vote), repeated
// leader churn, leadership transfer. Membership changes are in
// raft_membership_test.cpp; the harness is sim/harness.h.

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "sim/harness.h"

namespace spate::raft {
namespace {

using sim::bytes;
using sim::Harness;

const std::set<int> kAll5 = {0, 1, 2, 3, 4};

TEST(RaftScenario, Figure8AnEntryOfAnEarlierTermIsNotCommittedByCounting) {
  Harness h(5, false, false);
  h.elect(0, kAll5);                        // term 1, no-op at 1 everywhere
  ASSERT_TRUE(h.r(0).propose(bytes("a")));  // index 2, term 1
  h.deliver({0, 1});                        // (a) only node 1 gets it
  h.crash(0);
  h.elect(4, {2, 3, 4}, false);  // (b) term 2; its no-op takes index 2 on node 4 only
  h.crash(4);
  h.start(0);
  h.elect(0, {0, 1, 2}, false);  // (c) a later term; index 2 (term 1) reaches node 2, 3 does not
  ASSERT_TRUE(h.r(0).propose(bytes("c")));
  for (int t = 0; t < 3; ++t) h.r(0).tick();  // heartbeats make node 0 resend from the match
  h.deliver({0, 1, 2}, [](Message& m) {
    std::erase_if(m.entries, [](const Entry& e) { return e.index > 2; });
    return true;
  });
  EXPECT_EQ(h.log(2).last_index(), 2);
  EXPECT_EQ(h.log(2).at(2).term, Term(1));
  EXPECT_EQ(h.r(0).commit(), 1) << "index 2 is on a majority but of an earlier term (§5.4.2)";
  h.crash(0);
  h.start(4);
  h.elect(4, {1, 2, 3, 4});  // (d) term 4: overwrites index 2 with its own
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.log(1).at(2).term, Term(2));
  EXPECT_GE(h.r(4).commit(), 3);
}

TEST(RaftScenario, ALeaderIsolatedWithAMinorityNeverCommitsAndStepsDown) {
  Harness h(5, true, true);
  h.elect(0, kAll5);
  ASSERT_TRUE(h.r(0).propose(bytes("before")));
  h.deliver(kAll5);
  const Index committed = h.r(0).commit();
  // 0 and 1 on one side, 2, 3, 4 on the other.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.r(0).propose(bytes("lost-" + std::to_string(i))));
  for (int t = 0; t < 40; ++t) {
    h.tick({0, 1});
    h.tick({2, 3, 4});
  }
  EXPECT_EQ(h.r(0).commit(), committed) << "the minority leader committed";
  EXPECT_NE(h.r(0).role(), Role::leader) << "check-quorum: it must step down";
  int leaders = 0;
  for (int i : {2, 3, 4}) leaders += h.r(i).role() == Role::leader ? 1 : 0;
  EXPECT_EQ(leaders, 1);
  // Heal: the minority's extra entries are replaced, the committed one kept.
  for (int t = 0; t < 40; ++t) h.tick(kAll5);
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.log(0).last_index(), h.log(2).last_index());
  for (int i = 1; i <= h.log(0).last_index(); ++i) {
    EXPECT_NE(h.log(0).at(i).data, bytes("lost-0")) << "an uncommitted minority entry survived";
  }
}

TEST(RaftScenario, ALongerButUncommittedLogDoesNotWinOverAnUpToDateOne) {
  Harness h(3, false, false);
  h.elect(0, {0, 1, 2});
  ASSERT_TRUE(h.r(0).propose(bytes("x")));
  h.deliver({0, 1, 2});
  // Node 0 appends three more that nobody else gets, then crashes.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.r(0).propose(bytes("tail")));
  h.deliver({0});
  h.crash(0);
  h.elect(1, {1, 2});
  ASSERT_TRUE(h.r(1).propose(bytes("y")));
  h.deliver({1, 2});
  h.start(0);
  // Node 0's log is longer but its last term is older: it cannot win.
  h.campaign_now(0, 1, {0, 1, 2});
  EXPECT_NE(h.r(0).role(), Role::leader);
  for (int t = 0; t < 40; ++t) h.tick({0, 1, 2});
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.log(0).last_index(), h.log(1).last_index());
  EXPECT_EQ(h.log(0).at(h.log(0).last_index()), h.log(1).at(h.log(1).last_index()));
}

TEST(RaftScenario, ACrashBetweenPersistingStateAndTruncatingCommitsNoDivergentEntry) {
  Harness h(3, false, false);
  h.elect(0, {0, 1, 2});
  ASSERT_TRUE(h.r(0).propose(bytes("x")));
  h.deliver({0, 1, 2});
  const Index agreed = h.r(0).commit();  // 2: the no-op and x, everywhere
  ASSERT_EQ(agreed, 2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.r(0).propose(bytes("tail")));
  h.deliver({0});  // node 0 alone holds 3..5 of term 1
  h.crash(0);
  h.elect(1, {1, 2});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.r(1).propose(bytes("y")));
  h.deliver({1, 2});
  ASSERT_GE(h.r(1).commit(), 5);
  h.start(0);
  // Node 1's append replaces 3..5 and says they are committed (its own).
  Message m;
  m.type = MessageType::append;
  m.from = NodeId(1);
  m.to = NodeId(0);
  m.term = h.r(1).term();
  m.log_index = agreed;
  m.log_term = h.log(1).at(agreed).term;
  m.commit = h.r(1).commit();
  for (const Entry& e : h.log(1).all()) {
    if (e.index > agreed) m.entries.push_back(e);
  }
  ASSERT_TRUE(h.r(0).step(m));
  ASSERT_EQ(h.r(0).commit(), m.commit);
  const Ready ready = h.tear(0);
  ASSERT_EQ(ready.truncate_from, agreed + 1);
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->term, m.term) << "the term must still be made durable first";
  EXPECT_EQ(ready.hard_state->commit, agreed) << "the durable commit covers entries it replaces";
  // Restarted over its old log (3..5 of term 1): none of that is committed.
  h.start(0);
  EXPECT_EQ(h.log(0).at(3).term, Term(1));
  EXPECT_EQ(h.r(0).commit(), agreed);
  for (int t = 0; t < 20; ++t) h.tick({0, 1, 2});
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.log(0).last_index(), h.log(1).last_index());
  EXPECT_EQ(h.log(0).at(3), h.log(1).at(3));
  EXPECT_GE(h.state(0).commit, 5) << "the commit is persisted once the log holds it";
}

TEST(RaftScenario, AFollowerThatCaughtUpPersistsItsCommitWithoutFurtherTraffic) {
  Harness h(3, false, false);
  h.elect(0, {0, 1, 2});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(h.r(0).propose(bytes("x")));
  h.deliver({0, 2});  // node 1 misses all of it
  const Index commit = h.r(0).commit();
  ASSERT_EQ(commit, 5);
  ASSERT_LT(h.state(1).commit, commit);
  // Heartbeats until node 1 catches up: it learns the commit in the same
  // append that brings the entries, so that Ready cannot persist it (the
  // entries are not durable yet).
  for (int t = 0; t < 20 && h.r(1).commit() < commit; ++t) h.tick({0, 1, 2});
  ASSERT_EQ(h.r(1).commit(), commit);
  // Then the leader dies: nothing more reaches node 1, yet the commit it
  // handed out must already be durable.
  h.crash(0);
  EXPECT_FALSE(h.r(1).has_ready());
  EXPECT_EQ(h.state(1).commit, commit) << "the commit must reach the disk without more traffic";
  h.crash(1);
  h.start(1);
  EXPECT_EQ(h.r(1).commit(), commit) << "a restart keeps the commit it had";
  EXPECT_EQ(h.violation, "");
}

TEST(RaftScenario, ARejoiningNodeDoesNotDisruptAHealthyLeaderWithPreVote) {
  for (bool pre_vote : {true, false}) {
    Harness h(3, pre_vote, pre_vote);
    h.elect(0, {0, 1, 2});
    const Term term = h.r(0).term();
    for (int t = 0; t < 100; ++t) {
      h.tick({0, 1});  // node 2 cut off: it times out again and again
      h.tick({2});
    }
    for (int t = 0; t < 30; ++t) h.tick({0, 1, 2});
    if (pre_vote) {
      EXPECT_EQ(h.r(0).role(), Role::leader);
      EXPECT_EQ(h.r(0).term(), term) << "the rejoiner disrupted the leader";
      EXPECT_EQ(h.r(2).term(), term) << "pre-vote must keep the isolated node's term";
    } else {
      EXPECT_GT(h.r(2).term(), term) << "without pre-vote the isolated node's term grows";
    }
  }
}

TEST(RaftScenario, RepeatedLeaderChurnLosesNothingCommitted) {
  Harness h(5, true, true);
  Index last_commit = 0;
  for (int round = 0; round < 20; ++round) {
    const int leader = round % 5;
    h.elect(leader, kAll5);
    ASSERT_TRUE(h.r(leader).propose(bytes("r" + std::to_string(round))));
    h.deliver(kAll5);
    EXPECT_GT(h.r(leader).commit(), last_commit);
    last_commit = h.r(leader).commit();
  }
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.committed.size(), static_cast<std::size_t>(last_commit));
}

// Entries are batches: an entry covers `span` indexes and is known by its
// last. Logs that diverged can cut the same indexes into different entries.
TEST(RaftScenario, LogsThatCutTheirEntriesDifferentlyConvergeOnTheLeaders) {
  Harness h(3, true, true);
  h.elect(0, {0, 1, 2});  // the no-op at 1
  auto big = h.r(0).propose(bytes("covers 2-4"), 3);
  ASSERT_TRUE(big);
  EXPECT_EQ(*big, 4);
  EXPECT_FALSE(h.r(0).propose(bytes("no span"), 0));
  h.deliver({0});  // node 0 only
  h.crash(0);
  h.elect(1, {1, 2});  // its no-op takes index 2
  ASSERT_EQ(h.r(1).propose(bytes("covers 3-4"), 2).value(), 4);
  ASSERT_EQ(h.r(1).propose(bytes("5"), 1).value(), 5);
  h.deliver({1, 2});
  h.start(0);
  // Node 0's entry 4 covers index 2, where the leader's entry 2 ends: the
  // leader's appends after 2 miss, and node 0 answers from where its entry starts.
  EXPECT_EQ(h.r(0).term_at(2), Term(-1));
  for (int t = 0; t < 40; ++t) h.tick({0, 1, 2});
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.log(0).all(), h.log(1).all());
  EXPECT_EQ(h.log(0).at(4).data, bytes("covers 3-4"));
  EXPECT_EQ(h.log(0).at(4).span, 2);
  EXPECT_EQ(h.r(0).commit(), 5);
}

TEST(RaftScenario, LeadershipTransferHandsOverToACaughtUpVoter) {
  Harness h(3, true, true);
  h.elect(0, {0, 1, 2});
  ASSERT_TRUE(h.r(0).propose(bytes("x")));
  h.deliver({0, 1, 2});
  ASSERT_TRUE(h.r(0).transfer_leadership(NodeId(2)));
  EXPECT_FALSE(h.r(0).propose(bytes("refused during the transfer")));
  h.deliver({0, 1, 2});
  EXPECT_EQ(h.r(2).role(), Role::leader);
  EXPECT_EQ(h.r(0).role(), Role::follower);
  EXPECT_EQ(h.r(0).leader(), NodeId(2));
}

}  // namespace
}  // namespace spate::raft
