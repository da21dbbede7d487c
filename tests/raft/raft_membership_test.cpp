// SPDX-License-Identifier: Apache-2.0
//
// Membership changes driven step by step: a learner that replicates but
// neither votes nor counts until promoted, every refusal, the 2015 flaw of
// single-server changes, a leader removing itself, a truncated membership
// entry, a follower restarted from a compacted leader's start.

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/harness.h"

namespace spate::raft {
namespace {

using sim::bytes;
using sim::Harness;
using Change = MembershipChange;
using Type = MembershipChange::Type;

}  // namespace

void PrintTo(const Membership& m, std::ostream* out) { *out << m.describe(); }

namespace {

Membership members(std::vector<std::int32_t> voters, std::vector<std::int32_t> learners = {}) {
  Membership m;
  for (auto v : voters) m.voters.emplace_back(v);
  for (auto l : learners) m.learners.emplace_back(l);
  return m;
}

// Proposes a change and delivers among `alive`; the change must commit.
void change(Harness& h, int leader, Change c, const std::set<int>& alive) {
  auto index = h.r(leader).propose_change(c);
  ASSERT_TRUE(index) << index.error();
  h.deliver(alive);
  ASSERT_GE(h.r(leader).commit(), *index);
}

TEST(RaftMembership, ALearnerReplicatesButNeitherVotesNorCountsUntilPromoted) {
  Harness h(4, true, true, 3);  // voters 0 1 2, node 3 a spare
  const std::set<int> all = {0, 1, 2, 3};
  h.elect(0, all);
  EXPECT_EQ(h.r(3).membership(), members({0, 1, 2})) << "a spare starts from the initial members";
  change(h, 0, {Type::add_learner, NodeId(3)}, all);
  for (int i : all) EXPECT_EQ(h.r(i).membership(), members({0, 1, 2}, {3})) << i;
  ASSERT_TRUE(h.r(0).propose(bytes("x")));
  h.deliver(all);
  EXPECT_EQ(h.log(3).last_index(), h.log(0).last_index()) << "the learner replicates";
  const auto status = h.r(0).followers();
  ASSERT_EQ(status.size(), 3U);
  EXPECT_EQ(status[2].id, NodeId(3));
  EXPECT_FALSE(status[2].voter);
  EXPECT_TRUE(status[0].voter);
  for (const auto& f : status) EXPECT_EQ(f.match, h.log(0).last_index()) << f.id;
  EXPECT_TRUE(h.r(1).followers().empty()) << "only a leader tracks followers";
  // The learner and the leader alone are no majority: nothing commits.
  const Index before = h.r(0).commit();
  ASSERT_TRUE(h.r(0).propose(bytes("needs a voter")));
  h.deliver({0, 3});
  EXPECT_EQ(h.r(0).commit(), before);
  for (int t = 0; t < 5; ++t) h.tick(all);  // heartbeats: 1 and 2 ask for what they missed
  EXPECT_GT(h.r(0).commit(), before);
  // Cut off, the learner never campaigns, however long it waits.
  const Term term = h.r(3).term();
  for (int t = 0; t < 100; ++t) h.tick({3});
  EXPECT_EQ(h.r(3).role(), Role::follower);
  EXPECT_EQ(h.r(3).term(), term);
  for (int t = 0; t < 5; ++t) h.tick(all);
  // Promoted, it counts: {0, 1} is no longer a majority of four voters.
  change(h, 0, {Type::promote, NodeId(3)}, all);
  EXPECT_EQ(h.r(1).membership(), members({0, 1, 2, 3}));
  const Index promoted = h.r(0).commit();
  ASSERT_TRUE(h.r(0).propose(bytes("three of four")));
  h.deliver({0, 1});
  EXPECT_EQ(h.r(0).commit(), promoted);
  for (int t = 0; t < 5; ++t) h.tick(all);
  EXPECT_GT(h.r(0).commit(), promoted);
  EXPECT_EQ(h.violation, "");
}

TEST(RaftMembership, ChangesAreRefusedWhenUnsafeOrNonsensical) {
  Harness h(4, true, true, 3);
  const std::set<int> all = {0, 1, 2, 3};
  h.elect(0, all);
  auto code = [&](int node, Change c) {
    auto r = h.r(node).propose_change(c);
    return r ? Errc::ok : r.error().code();
  };
  EXPECT_EQ(code(1, {Type::add_learner, NodeId(3)}), Errc::not_leader);
  EXPECT_EQ(code(0, {Type::add_learner, NodeId(1)}), Errc::invalid_argument) << "already a voter";
  EXPECT_EQ(code(0, {Type::promote, NodeId(3)}), Errc::invalid_argument) << "not a learner";
  EXPECT_EQ(code(0, {Type::remove, NodeId(3)}), Errc::invalid_argument) << "not a member";
  EXPECT_EQ(code(0, {Type::add_learner, NodeId(-5)}), Errc::invalid_argument);
  // One change at a time: the next waits for the first to commit.
  ASSERT_TRUE(h.r(0).propose_change({Type::add_learner, NodeId(3)}));
  EXPECT_EQ(code(0, {Type::remove, NodeId(2)}), Errc::busy);
  h.deliver({0});  // the leader's own disk only
  EXPECT_EQ(code(0, {Type::remove, NodeId(2)}), Errc::busy);
  h.deliver(all);
  // A learner too far behind is not promoted (it would stall commits).
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.r(0).propose(bytes("while 3 is away")));
  h.deliver({0, 1, 2});
  auto lagging = h.r(0).propose_change({Type::promote, NodeId(3)});
  ASSERT_FALSE(lagging);
  EXPECT_NE(lagging.error().message().find("behind"), std::string::npos) << lagging.error();
  for (int t = 0; t < 5; ++t) h.tick(all);
  EXPECT_TRUE(h.r(0).propose_change({Type::promote, NodeId(3)})) << "caught up now";
  h.deliver(all);
  // Down to one voter, but never none.
  change(h, 0, {Type::remove, NodeId(3)}, all);
  change(h, 0, {Type::remove, NodeId(2)}, all);
  change(h, 0, {Type::remove, NodeId(1)}, all);
  EXPECT_EQ(h.r(0).membership(), members({0}));
  EXPECT_EQ(code(0, {Type::remove, NodeId(0)}), Errc::invalid_argument) << "the last voter";
  // A membership entry that does not decode is refused before it is appended.
  Message bad;
  bad.type = MessageType::append;
  bad.from = NodeId(0);
  bad.to = NodeId(1);
  bad.term = h.r(1).term();
  bad.log_index = h.log(1).last_index();
  bad.log_term = h.r(1).term_at(bad.log_index);
  bad.entries.push_back(Entry{bad.log_index + 1, bad.term, {std::byte{1}}, EntryKind::membership});
  EXPECT_EQ(h.r(1).step(bad).error().code(), Errc::invalid_argument);
  // So are negative terms, which no replica sends.
  bad.entries.front().kind = EntryKind::normal;
  bad.entries.front().term = Term(-1);
  EXPECT_EQ(h.r(1).step(bad).error().code(), Errc::invalid_argument);
  bad.entries.clear();
  bad.log_term = Term(-1);
  EXPECT_EQ(h.r(1).step(bad).error().code(), Errc::invalid_argument);
  EXPECT_EQ(h.log(1).last_index(), bad.log_index) << "nothing appended";
  // A group of one commits alone.
  ASSERT_TRUE(h.r(0).propose(bytes("alone")));
  h.deliver({0});
  EXPECT_EQ(h.r(0).commit(), h.log(0).last_index());
  EXPECT_EQ(h.violation, "");
}

// The flaw of single-server changes found in 2015 (Ongaro, raft-dev): a new
// leader that changes the membership before committing an entry of its own
// term can let an older change's leader come back and overwrite it.
TEST(RaftMembership, ANewLeaderChangesNothingBeforeItCommitsAnEntryOfItsTerm) {
  Harness h(5, true, false, 4);  // voters 0 1 2 3, node 4 a spare
  const std::set<int> all = {0, 1, 2, 3, 4};
  h.elect(0, all);
  change(h, 0, {Type::add_learner, NodeId(4)}, all);
  // Leader 0 promotes 4; only 4 gets it (uncommitted: 2 of 5 hold it).
  ASSERT_TRUE(h.r(0).propose_change({Type::promote, NodeId(4)}));
  h.deliver({0, 4});
  EXPECT_EQ(h.r(4).membership(), members({0, 1, 2, 3, 4}));
  h.crash(0);
  // Node 1 wins term 2 with 2 and 3, but its no-op reaches nobody yet.
  h.elect(1, {1, 2, 3}, false);
  EXPECT_EQ(h.r(1).membership(), members({0, 1, 2, 3}, {4}));
  auto early = h.r(1).propose_change({Type::remove, NodeId(0)});
  ASSERT_FALSE(early) << "changed the membership before committing an entry of its term";
  EXPECT_EQ(early.error().code(), Errc::busy);
  // Once the no-op commits on 1, 2 and 3, the change is safe: node 0, back
  // with the old promotion, cannot win 3's vote any more.
  for (int t = 0; t < 3; ++t) h.tick({1, 2, 3});
  change(h, 1, {Type::remove, NodeId(0)}, {1, 2});
  h.start(0);
  h.campaign_now(0, 4, {0, 3, 4});
  EXPECT_NE(h.r(0).role(), Role::leader);
  for (int t = 0; t < 40; ++t) h.tick({1, 2, 3, 4});
  EXPECT_EQ(h.violation, "");
}

TEST(RaftMembership, ALeaderRemovingItselfLeadsUntilTheChangeCommitsThenHandsOver) {
  Harness h(3, true, true);
  const std::set<int> all = {0, 1, 2};
  h.elect(0, all);
  ASSERT_TRUE(h.r(0).propose_change({Type::remove, NodeId(0)}));
  EXPECT_EQ(h.r(0).role(), Role::leader);
  EXPECT_EQ(h.r(0).membership(), members({1, 2}));
  h.deliver(all);
  EXPECT_NE(h.r(0).role(), Role::leader);
  int leader = -1;
  for (int i : {1, 2}) {
    if (h.r(i).role() == Role::leader) leader = i;
  }
  ASSERT_GE(leader, 0) << "the removed leader handed over at once";
  ASSERT_TRUE(h.r(leader).propose(bytes("after")));
  const Term term = h.r(0).term();
  for (int t = 0; t < 60; ++t) h.tick(all);
  EXPECT_EQ(h.r(0).term(), term) << "a removed node never campaigns";
  EXPECT_EQ(h.r(leader).commit(), h.log(leader).last_index());
  EXPECT_EQ(h.violation, "");
}

TEST(RaftMembership, ATruncatedMembershipEntryNoLongerApplies) {
  Harness h(4, true, false, 3);
  h.elect(0, {0, 1, 2, 3});
  ASSERT_TRUE(h.r(0).propose_change({Type::add_learner, NodeId(3)}));
  h.deliver({0});  // durable on the leader only
  h.crash(0);
  h.elect(1, {1, 2});
  h.start(0);  // from its log: the change applies as soon as appended
  EXPECT_EQ(h.r(0).membership(), members({0, 1, 2}, {3}));
  for (int t = 0; t < 5; ++t) h.tick({0, 1, 2});  // the new leader's entries replace it
  EXPECT_EQ(h.r(0).membership(), members({0, 1, 2}));
  EXPECT_EQ(h.r(0).membership_at(h.log(0).last_index()), members({0, 1, 2}));
  EXPECT_EQ(h.log(0).last_index(), h.log(1).last_index());
  EXPECT_EQ(h.violation, "");
}

TEST(RaftMembership, AFollowerBehindTheLeadersStartGetsItsMembershipAndSnapshot) {
  Harness h(4, true, true, 3);
  const std::set<int> all = {0, 1, 2, 3};
  h.elect(0, all);
  change(h, 0, {Type::add_learner, NodeId(3)}, all);
  change(h, 0, {Type::promote, NodeId(3)}, all);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.r(0).propose(bytes("e" + std::to_string(i))));
  h.deliver({0, 1, 3});  // node 2 misses everything since
  const Index upto = h.r(0).commit() - 1;
  h.compact(0, upto, "state at " + std::to_string(upto));
  h.crash(0);
  h.start(0);  // restarted from the compacted log: the membership survives
  EXPECT_EQ(h.r(0).membership(), members({0, 1, 2, 3}));
  h.elect(0, all);
  for (int t = 0; t < 10; ++t) h.tick(all);
  ASSERT_FALSE(h.restarts.empty()) << "node 2 was not told to restart from the leader's start";
  const LogRestart& restart = h.restarts.back();
  EXPECT_EQ(restart.index, upto);
  EXPECT_EQ(restart.membership, members({0, 1, 2, 3}));
  EXPECT_EQ(restart.snapshot, bytes("state at " + std::to_string(upto)));
  EXPECT_EQ(h.log(2).first_index(), upto + 1);
  EXPECT_EQ(h.log(2).start_snapshot(), restart.snapshot);
  EXPECT_EQ(h.r(2).membership(), members({0, 1, 2, 3}));
  EXPECT_EQ(h.log(2).last_index(), h.log(0).last_index());
  EXPECT_EQ(h.violation, "");
}

}  // namespace
}  // namespace spate::raft

namespace spate::raft {
namespace {

// A group of one (every single-node partition): elected again after a
// restart, it commits its whole durable log at once without appending a
// no-op; a membership change still waits for an entry of its own term.
TEST(RaftMembership, ASoleVoterCommitsItsLogOnElectionWithoutANoOp) {
  Harness h(2, true, true, 1);  // voter 0, node 1 a spare
  const std::set<int> all = {0, 1};
  h.elect(0, all);
  EXPECT_EQ(h.log(0).last_index(), 0) << "no no-op";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.r(0).propose(bytes("x")));
  h.deliver(all);
  const Index last = h.log(0).last_index();
  ASSERT_EQ(last, 3);
  EXPECT_EQ(h.r(0).commit(), last);
  h.crash(0);
  h.start(0);
  const Term before = h.r(0).term();
  h.elect(0, all);
  EXPECT_GT(h.r(0).term(), before);
  EXPECT_EQ(h.log(0).last_index(), last) << "no no-op after a restart either";
  EXPECT_EQ(h.r(0).commit(), last) << "entries of earlier terms commit at once";
  // A change needs an entry of this term first (the 2015 single-server flaw).
  auto busy = h.r(0).propose_change({MembershipChange::Type::add_learner, NodeId(1)});
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), Errc::busy);
  ASSERT_TRUE(h.r(0).propose({}));  // the driver's empty entry
  h.deliver(all);
  auto added = h.r(0).propose_change({MembershipChange::Type::add_learner, NodeId(1)});
  ASSERT_TRUE(added) << added.error();
  h.deliver(all);
  EXPECT_GE(h.r(0).commit(), *added);
  EXPECT_EQ(h.violation, "");
}

}  // namespace
}  // namespace spate::raft
