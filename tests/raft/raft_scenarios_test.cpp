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
  Harness(int n, bool pre_vote, bool check_quorum) : logs_(static_cast<std::size_t>(n)) {
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
    for (std::size_t k = 0; k < logs_.size(); ++k)
      c.voters.emplace_back(static_cast<std::int32_t>(k));
    c.election_ticks = 10;
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
  const MemLog& log(int i) const { return logs_[u(i)]; }

  // Persists every node's Ready and queues its messages.
  void flush() {
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      auto& rep = replicas_[i];
      for (int guard = 0; rep && rep->has_ready() && guard < 100; ++guard) {
        Ready ready = rep->ready();
        if (ready.hard_state) states_[i] = *ready.hard_state;
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

 private:
  static std::size_t u(int i) { return static_cast<std::size_t>(i); }
  void check_commit(int i, Index commit) {
    for (Index k = 1; k <= std::min(commit, logs_[u(i)].last_index()); ++k) {
      auto [it, inserted] = committed.try_emplace(k, logs_[u(i)].at(k));
      if (!inserted && !(it->second == logs_[u(i)].at(k)) && violation.empty()) {
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
  Message m;
  m.type = MessageType::timeout_now;
  m.from = NodeId(1);
  m.to = NodeId(0);
  m.term = h.r(0).term();
  ASSERT_TRUE(h.r(0).step(m));
  h.deliver({0, 1, 2});
  EXPECT_NE(h.r(0).role(), Role::leader);
  for (int t = 0; t < 40; ++t) h.tick({0, 1, 2});
  EXPECT_EQ(h.violation, "");
  EXPECT_EQ(h.log(0).last_index(), h.log(1).last_index());
  EXPECT_EQ(h.log(0).at(h.log(0).last_index()), h.log(1).at(h.log(1).last_index()));
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
