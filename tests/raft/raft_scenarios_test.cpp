// SPDX-License-Identifier: Apache-2.0
//
// The classic hard cases, driven step by step: the figure-8 commit scenario
// of the Raft paper, a leader isolated with a minority, a node with a longer
// but uncommitted log, a disrupting rejoiner (blocked by pre-vote), repeated
// leader churn, leadership transfer.

#include <deque>
#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "sim/raft_sim.h"

namespace spate::raft {
namespace {

using sim::MemLog;

std::vector<std::byte> bytes(const std::string& s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

class Harness {
 public:
  // Nodes 0..voters-1 form the group; the others are spares that run outside
  // it until added (voters < 0: every node is a voter).
  Harness(int n, bool pre_vote, bool check_quorum, int voters = -1)
      : logs_(static_cast<std::size_t>(n)), voters_(voters < 0 ? n : voters) {
    for (int i = 0; i < n; ++i) {
      rngs_.push_back(std::make_unique<Rng>(static_cast<std::uint64_t>(100 + i)));
      states_.emplace_back();
      replicas_.emplace_back();
    }
    pre_vote_ = pre_vote;
    check_quorum_ = check_quorum;
    for (int i = 0; i < n; ++i) start(i);
  }

  Config config(int i) const {
    Config c;
    c.id = NodeId(i);
    for (int k = 0; k < voters_; ++k) c.voters.emplace_back(k);
    c.election_ticks = 10;
    c.max_promote_lag = 5;
    c.heartbeat_ticks = 1;
    c.pre_vote = pre_vote_;
    c.check_quorum = check_quorum_;
    return c;
  }

  void start(int i) {
    replicas_[u(i)] =
        std::make_unique<Replica>(config(i), logs_[u(i)], *rngs_[u(i)], states_[u(i)]);
  }
  void crash(int i) {
    replicas_[u(i)].reset();
    std::erase_if(queue_,
                  [&](const Message& m) { return m.to.value() == i || m.from.value() == i; });
  }
  Replica& r(int i) { return *replicas_[u(i)]; }
  const HardState& state(int i) const { return states_[u(i)]; }
  // A crash part way through node i's next Ready: the hard state reaches the
  // disk, then the node dies before touching its log. Returns that Ready.
  Ready tear(int i) {
    Ready ready = r(i).ready();
    if (ready.hard_state) states_[u(i)] = *ready.hard_state;
    crash(i);
    return ready;
  }
  const MemLog& log(int i) const { return logs_[u(i)]; }
  // Retention on node i: deletes up to `upto`, keeping what raft needs.
  void compact(int i, Index upto, const std::string& snapshot) {
    logs_[u(i)].compact(upto, r(i).membership_at(upto), bytes(snapshot));
  }

  // Persists every node's Ready and queues its messages.
  void flush() {
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      auto& rep = replicas_[i];
      for (int guard = 0; rep && rep->has_ready() && guard < 100; ++guard) {
        Ready ready = rep->ready();
        if (ready.hard_state) states_[i] = *ready.hard_state;
        if (ready.restart) {
          restarts.push_back(*ready.restart);
          logs_[i].restart(*ready.restart, 0);
        }
        if (ready.truncate_from) logs_[i].truncate_from(*ready.truncate_from);
        logs_[i].append(ready.entries);
        for (auto& m : ready.messages) queue_.push_back(std::move(m));
        rep->advance(ready);
        check_commit(static_cast<int>(i), ready.commit);
      }
    }
  }

  // Delivers queued messages between nodes of `alive` (others are dropped),
  // passing each through `filter` (which may edit it or return false to drop).
  void deliver(
      const std::set<int>& alive,
      const std::function<bool(Message&)>& filter = [](Message&) { return true; }) {
    flush();
    for (int guard = 0; !queue_.empty() && guard < 100000; ++guard) {
      Message m = std::move(queue_.front());
      queue_.pop_front();
      const int from = m.from.value();
      const int to = m.to.value();
      if (!alive.contains(from) || !alive.contains(to) || !replicas_[u(to)] || !filter(m)) continue;
      ASSERT_TRUE(replicas_[u(to)]->step(m));
      flush();
    }
  }

  // A TimeoutNow from `from`: `i` campaigns at once, once, among `alive`.
  void campaign_now(int i, int from, const std::set<int>& alive) {
    Message m;
    m.type = MessageType::timeout_now;
    m.from = NodeId(from);
    m.to = NodeId(i);
    m.term = r(i).term();
    ASSERT_TRUE(r(i).step(m));
    deliver(alive);
  }

  // Makes `i` campaign at once (a TimeoutNow) among `alive`, retrying in a
  // higher term if it loses one (its term may be stale). With `replicate`
  // false the new leader's first appends are dropped (it won, then nothing).
  void elect(int i, const std::set<int>& alive, bool replicate = true) {
    for (int attempt = 0; attempt < 3 && r(i).role() != Role::leader; ++attempt) {
      Message m;
      m.type = MessageType::timeout_now;
      m.from = NodeId(i == 0 ? 1 : 0);
      m.to = NodeId(i);
      m.term = r(i).term();
      ASSERT_TRUE(r(i).step(m));
      deliver(alive, [&](Message& msg) {
        return replicate || (msg.type != MessageType::append && msg.type != MessageType::heartbeat);
      });
    }
    ASSERT_EQ(r(i).role(), Role::leader) << "node " << i << " did not win";
  }

  void tick(const std::set<int>& alive) {
    for (int i : alive) {
      if (replicas_[u(i)]) r(i).tick();
    }
    deliver(alive);
  }

  std::map<Index, Entry> committed;
  std::string violation;
  std::vector<LogRestart> restarts;

 private:
  static std::size_t u(int i) { return static_cast<std::size_t>(i); }
  void check_commit(int i, Index commit) {
    for (const Entry& e : logs_[u(i)].all()) {
      if (e.index > commit) break;
      const Index k = e.index;
      auto [it, inserted] = committed.try_emplace(k, e);
      if (!inserted && !(it->second == e) && violation.empty()) {
        violation =
            "committed entry " + std::to_string(k) + " changed on node " + std::to_string(i);
      }
    }
  }

  std::vector<MemLog> logs_;
  std::vector<HardState> states_;
  std::vector<std::unique_ptr<Rng>> rngs_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::deque<Message> queue_;
  int voters_;
  bool pre_vote_ = true;
  bool check_quorum_ = true;
};

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

// ---------------------------------------------------------------- membership

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
