// SPDX-License-Identifier: Apache-2.0
//
// Replica movement (reassignment.h): next_move_step's order, then four
// cluster::Partition replicas of one partition moving from {0,1,2} to
// {1,2,3} under produce load, the steps chosen by next_move_step as the
// MetadataApplier does and "the controller" a PartitionMeta completed here:
// no acknowledged batch is lost, the leader leaving hands over first, and a
// move survives its leader's death midway.

#include <algorithm>
#include <array>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "spate/cluster/partition.h"
#include "spate/cluster/reassignment.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"

#include "metadata_samples.h"

namespace spate::cluster {
namespace {

using Type = raft::MembershipChange::Type;

using testing::ids;

MoveStep change(Type type, int node) {
  MoveStep s;
  s.kind = MoveStep::Kind::change;
  s.change = {type, NodeId(node)};
  return s;
}

raft::FollowerStatus follower(int id, bool voter, raft::Index match) {
  raft::FollowerStatus f;
  f.id = NodeId(id);
  f.voter = voter;
  f.match = match;
  f.active = true;
  return f;
}

TEST(NextMoveStep, FollowsTheOrderOfAMove) {
  PartitionMeta meta;
  meta.replicas = ids({0, 1, 2});
  meta.target = ids({1, 2, 3});
  MoveView v;
  v.self = NodeId(0);
  v.membership = {ids({0, 1, 2}), {}};
  v.last_index = 100;
  v.followers = {follower(1, true, 100), follower(2, true, 100)};
  EXPECT_EQ(next_move_step(meta, v), change(Type::add_learner, 3));
  v.committed = false;
  EXPECT_EQ(next_move_step(meta, v), MoveStep{}) << "one change at a time";
  v.committed = true;
  v.membership = {ids({0, 1, 2}), ids({3})};
  v.followers.push_back(follower(3, false, 0));
  v.last_index = 100'000;
  EXPECT_EQ(next_move_step(meta, v), MoveStep{}) << "a learner far behind is not promoted";
  v.followers.back().match = 99'000;
  EXPECT_EQ(next_move_step(meta, v), change(Type::promote, 3));
  v.membership = {ids({0, 1, 2, 3}), {}};
  v.followers.back().voter = true;
  // The others leave first; this leader last, by handing over.
  meta.target = ids({2, 3});
  EXPECT_EQ(next_move_step(meta, v), change(Type::remove, 1));
  v.membership = {ids({0, 2, 3}), {}};
  v.followers.erase(v.followers.begin());
  MoveStep transfer = next_move_step(meta, v);
  EXPECT_EQ(transfer.kind, MoveStep::Kind::transfer);
  EXPECT_TRUE(transfer.to == NodeId(2) || transfer.to == NodeId(3));
  // The next leader (2) removes 0, then completes.
  v.self = NodeId(2);
  v.followers = {follower(0, true, 100'000), follower(3, true, 100'000)};
  EXPECT_EQ(next_move_step(meta, v), change(Type::remove, 0));
  v.membership = {ids({2, 3}), {}};
  EXPECT_EQ(next_move_step(meta, v).kind, MoveStep::Kind::complete);
  // Completed: nothing more.
  meta.replicas = meta.target;
  meta.target.clear();
  EXPECT_EQ(next_move_step(meta, v), MoveStep{});
}

TEST(NextMoveStep, CancelledMoveShrinksBackToTheReplicas) {
  PartitionMeta meta;
  meta.replicas = ids({0, 1, 2});  // target cleared: the move was cancelled
  MoveView v;
  v.self = NodeId(0);
  v.membership = {ids({0, 1, 2}), ids({3, 4})};
  v.followers = {follower(1, true, 5), follower(2, true, 5), follower(3, false, 5)};
  v.last_index = 5;
  EXPECT_EQ(next_move_step(meta, v), change(Type::remove, 3));
  v.membership = {ids({0, 1, 2, 4}), {}};  // 4 was promoted before the cancel
  EXPECT_EQ(next_move_step(meta, v), change(Type::remove, 4));
  v.membership = {ids({0, 1, 2}), {}};
  EXPECT_EQ(next_move_step(meta, v), MoveStep{});
  EXPECT_EQ(partition_members(PartitionMeta{ids({0, 1}), NodeId(0), Term(1), {}, ids({1, 2})}),
            ids({0, 1, 2}));
}

TEST(NextMoveStep, OnlyAVoterLeaderActs) {
  PartitionMeta meta;
  meta.replicas = ids({0, 1, 2});
  meta.target = ids({1, 2, 3});
  MoveView v;
  v.self = NodeId(0);
  v.membership = {ids({1, 2, 3}), {}};  // it removed itself, the change is not committed
  EXPECT_EQ(next_move_step(meta, v), MoveStep{});
}

constexpr int kNodes = 4;

class PartitionReassign : public ::testing::Test {
 protected:
  PartitionReassign() {
    log::set_level(spdlog::level::critical);
    for (int i = 0; i < kNodes; ++i) EXPECT_TRUE(mem_.create_directories(fmt::format("/n{}", i)));
    EXPECT_TRUE(mem_.sync_directory("/"));
    meta_.replicas = ids({0, 1, 2});
  }
  ~PartitionReassign() override {
    for (auto& p : nodes_) {
      if (p) (void)wait(p->close());
    }
  }

  // Every node opens with the replicas as the voters: node 3 is no voter
  // (with `learners`, as a broker opens a joining replica: one of them).
  void start(int id, std::vector<NodeId> learners = {}) {
    auto log = storage::PartitionLog::open(mem_, fmt::format("/n{}/t-0", id), config_, clock_);
    ASSERT_TRUE(log) << log.error();
    PartitionRaftConfig raft;
    raft.self = NodeId(id);
    raft.voters = ids({0, 1, 2});
    raft.learners = std::move(learners);
    auto p = std::make_shared<Partition>(storage::TopicPartition{"t", 0}, std::move(*log),
                                         io_.get_executor(), *disks_[static_cast<std::size_t>(id)],
                                         raft);
    p->set_sender([this](raft::Message m) { route(std::move(m)); });
    nodes_[static_cast<std::size_t>(id)] = std::move(p);
  }

  void route(raft::Message m) {
    const auto to = static_cast<std::size_t>(m.to.value());
    if (to >= kNodes || dead_.contains(to)) return;
    asio::post(io_, [this, to, m = std::move(m)]() mutable {
      if (nodes_[to]) nodes_[to]->step(std::move(m));
    });
  }

  void kill(int id) {
    dead_.insert(static_cast<std::size_t>(id));
    auto& p = nodes_[static_cast<std::size_t>(id)];
    (void)wait(p->close());
    p.reset();
  }

  void round() {
    for (auto& p : nodes_) {
      if (p) p->tick();
    }
    io_.run_for(std::chrono::milliseconds(1));
  }

  template <typename Done>
  bool rounds_until(int max, Done done) {
    for (int i = 0; i < max; ++i) {
      if (done()) return true;
      round();
    }
    return done();
  }

  int leader() const {
    for (std::size_t i = 0; i < kNodes; ++i) {
      if (nodes_[i] && nodes_[i]->leader()) return static_cast<int>(i);
    }
    return -1;
  }

  // What the MetadataApplier does on the leader's pass; the controller's
  // completion applied at once. Returns the step taken.
  MoveStep move_step() {
    const int l = leader();
    if (l < 0) return {};
    auto& p = *nodes_[static_cast<std::size_t>(l)];
    MoveView v;
    v.self = NodeId(l);
    v.membership = p.membership();
    v.committed = p.membership_committed();
    v.followers = p.followers();
    v.last_index = p.last_index();
    const MoveStep step = next_move_step(meta_, v);
    switch (step.kind) {
      case MoveStep::Kind::none:
        break;
      case MoveStep::Kind::change:
        (void)p.change_membership(step.change);
        break;
      case MoveStep::Kind::transfer:
        if (!p.transferring()) (void)p.transfer_leadership(step.to);
        break;
      case MoveStep::Kind::complete:
        meta_.replicas = meta_.target;
        meta_.target.clear();
        break;
    }
    return step;
  }

  struct Sent {
    storage::AppendResult result;
    std::shared_ptr<std::optional<Status>> ack;
    std::vector<std::byte> stored;
  };

  void produce_some() {
    const int l = leader();
    if (l < 0) return;
    auto p = nodes_[static_cast<std::size_t>(l)];
    auto batch = spate::testing::make_varied_batch(rng_, 3, 100, ts_);
    ts_ += 3;
    auto r = p->append(batch);
    if (!r) return;  // not_leader while handing over: the producer retries
    auto ack = std::make_shared<std::optional<Status>>();
    const auto deadline = clock_.steady_now() + std::chrono::hours(1);
    asio::co_spawn(
        io_,
        [p, r = *r, ack, deadline]() -> awaitable<void> {
          *ack = co_await p->wait_committed(r.last_offset + 1, deadline, r.term);
        },
        asio::detached);
    sent_.push_back({*r, ack, {}});
  }

  std::vector<std::byte> batch_at(int id, Offset base) {
    auto r = nodes_[static_cast<std::size_t>(id)]->read_local(base, 1);
    if (!r) return {};
    auto bytes = r->bytes.read_all();
    return bytes ? *bytes : std::vector<std::byte>{};
  }

  template <typename T>
  T wait(awaitable<T> task) {
    std::optional<T> out;
    asio::co_spawn(
        io_, [&]() -> awaitable<void> { out = co_await std::move(task); }, asio::detached);
    for (int i = 0; i < 2000 && !out; ++i) round();
    return out.value_or(T(Error(Errc::timeout, "test: not done")));
  }

  // Runs the move under load until the metadata completes it. Calls
  // `midway(step)` after each step taken.
  template <typename Midway>
  void move_under_load(int rounds_max, Midway midway) {
    for (int i = 0; i < rounds_max && !meta_.target.empty(); ++i) {
      produce_some();
      if (i % 5 == 0) {
        const MoveStep step = move_step();
        if (step.kind != MoveStep::Kind::none) midway(step);
      }
      round();
    }
  }

  // Every acknowledged batch is on every replica of the final group, at
  // its offset, as the leader stored it.
  void expect_no_acknowledged_loss(const std::vector<int>& group) {
    ASSERT_TRUE(rounds_until(2000, [&] {
      for (auto& s : sent_) {
        if (!s.ack->has_value()) return false;
      }
      return true;
    }));
    const int l = leader();
    ASSERT_GE(l, 0);
    const Offset hw = nodes_[static_cast<std::size_t>(l)]->high_watermark();
    ASSERT_TRUE(rounds_until(2000, [&] {
      for (int n : group) {
        if (nodes_[static_cast<std::size_t>(n)]->high_watermark() < hw) return false;
      }
      return true;
    }));
    std::size_t acked = 0;
    for (const auto& s : sent_) {
      if (!**s.ack) continue;
      ++acked;
      const auto reference = batch_at(group.front(), s.result.base_offset);
      ASSERT_FALSE(reference.empty()) << "acknowledged batch at " << s.result.base_offset;
      EXPECT_EQ(nodes_[static_cast<std::size_t>(group.front())]->epoch_at(s.result.last_offset),
                s.result.term)
          << "acknowledged batch at " << s.result.base_offset << " replaced";
      for (int n : group) {
        EXPECT_EQ(batch_at(n, s.result.base_offset), reference)
            << "batch at " << s.result.base_offset << " on node " << n;
      }
    }
    EXPECT_GT(acked, 50U);
  }

  storage::MemFs mem_;
  ManualClock clock_;
  storage::LogConfig config_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::array<std::unique_ptr<DiskThread>, kNodes> disks_{
      std::make_unique<DiskThread>(), std::make_unique<DiskThread>(),
      std::make_unique<DiskThread>(), std::make_unique<DiskThread>()};
  std::array<std::shared_ptr<Partition>, kNodes> nodes_;
  std::set<std::size_t> dead_;
  PartitionMeta meta_;
  std::vector<Sent> sent_;
  Rng rng_{5};
  std::int64_t ts_ = 1'700'000'000'000;
};

TEST_F(PartitionReassign, MovesUnderLoadWithoutLosingAnAcknowledgedBatch) {
  for (int id = 0; id < kNodes; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  // Node 0 leads, so that the move removes its leader (handed over first).
  if (leader() != 0) {
    ASSERT_TRUE(nodes_[static_cast<std::size_t>(leader())]->transfer_leadership(NodeId(0)));
    ASSERT_TRUE(rounds_until(500, [&] { return leader() == 0; }));
  }
  for (int i = 0; i < 50; ++i) {
    produce_some();
    round();
  }
  meta_.target = ids({1, 2, 3});
  std::vector<MoveStep> steps;
  std::vector<int> takers;  // the leader that took each step
  move_under_load(5000, [&](const MoveStep& s) {
    steps.push_back(s);
    takers.push_back(leader());
  });
  ASSERT_TRUE(meta_.target.empty()) << "the move did not complete";
  EXPECT_EQ(meta_.replicas, ids({1, 2, 3}));
  const int l = leader();
  ASSERT_GE(l, 1) << "node 0 still leads";
  EXPECT_EQ(nodes_[static_cast<std::size_t>(l)]->membership(),
            (raft::Membership{ids({1, 2, 3}), {}}));
  // Add, promote, hand over, remove, complete: each taken at least once.
  auto taken = [&](MoveStep::Kind kind, std::optional<Type> type = std::nullopt) {
    return std::any_of(steps.begin(), steps.end(), [&](const MoveStep& s) {
      return s.kind == kind && (!type || s.change.type == *type);
    });
  };
  EXPECT_TRUE(taken(MoveStep::Kind::change, Type::add_learner));
  EXPECT_TRUE(taken(MoveStep::Kind::change, Type::promote));
  // Node 0 never removes itself: it hands over first (unless an election,
  // when a slow disk thread delays heartbeats, moved the leadership before).
  for (std::size_t k = 0; k < steps.size(); ++k) {
    EXPECT_FALSE(takers[k] == 0 && steps[k].kind == MoveStep::Kind::change &&
                 steps[k].change.node == NodeId(0));
  }
  EXPECT_TRUE(taken(MoveStep::Kind::transfer) ||
              std::any_of(takers.begin(), takers.end(), [](int t) { return t != 0; }));
  EXPECT_TRUE(taken(MoveStep::Kind::change, Type::remove));
  // The old replica goes away (the applier removes its folder); the rest
  // keep taking writes.
  kill(0);
  for (int i = 0; i < 50; ++i) {
    produce_some();
    round();
  }
  expect_no_acknowledged_loss({1, 2, 3});
}

TEST_F(PartitionReassign, ResumesAfterTheLeaderDiesMidway) {
  for (int id = 0; id < kNodes; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int first = leader();
  for (int i = 0; i < 30; ++i) {
    produce_some();
    round();
  }
  meta_.target = ids({0, 1, 2, 3});
  meta_.target.erase(meta_.target.begin() + first);  // the leader leaves: e.g. {1,2,3}
  bool killed = false;
  move_under_load(8000, [&](const MoveStep& s) {
    // Right after the learner joined, its leader dies: the next leader
    // (elected by the two voters left) carries on from the log.
    if (!killed && s.kind == MoveStep::Kind::change && s.change.type == Type::add_learner) {
      killed = true;
      kill(first);
    }
    for (int i = 0; i < 40; ++i) clock_.advance(std::chrono::milliseconds(1));
  });
  ASSERT_TRUE(killed);
  ASSERT_TRUE(meta_.target.empty()) << "the move did not complete after its leader died";
  std::vector<int> group;
  for (const NodeId n : meta_.replicas) group.push_back(n.value());
  ASSERT_EQ(group.size(), 3U);
  for (int i = 0; i < 50; ++i) {
    produce_some();
    round();
  }
  expect_no_acknowledged_loss(group);
}

// A joining replica restarted while it is a learner (docs/cluster.md,
// "Reassignment"): before its log holds any membership it opens with the
// membership the broker keeps for it (topics.meta: the replicas vote, the
// target's joining brokers learn), and once its log holds the change, with
// that; either way it comes back a learner, never a voter, and the move
// completes.
TEST_F(PartitionReassign, AJoiningReplicaRestartedMidMoveComesBackALearner) {
  for (int id = 0; id < 3; ++id) start(id);
  start(3, ids({3}));
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  for (int i = 0; i < 30; ++i) {
    produce_some();
    round();
  }
  meta_.target = ids({1, 2, 3});
  const auto restart_learner = [&] {
    kill(3);
    dead_.erase(3);
    start(3, ids({3}));
    const raft::Membership m = nodes_[3]->membership();
    EXPECT_FALSE(m.is_voter(NodeId(3))) << m.describe();
    EXPECT_FALSE(nodes_[3]->leader());
  };
  int restarts = 0;
  move_under_load(8000, [&](const MoveStep& s) {
    if (s.kind != MoveStep::Kind::change) return;
    if (s.change.type == Type::add_learner && restarts == 0) {
      // The change is only proposed: node 3's log holds no membership yet.
      ++restarts;
      restart_learner();
      EXPECT_TRUE(nodes_[3]->membership().is_learner(NodeId(3)));
    } else if (s.change.type == Type::promote && restarts == 1) {
      // Caught up: its log holds the change that added it.
      ++restarts;
      restart_learner();
      EXPECT_TRUE(nodes_[3]->membership().is_learner(NodeId(3)));
    }
    for (int i = 0; i < 40; ++i) clock_.advance(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(restarts, 2);
  ASSERT_TRUE(meta_.target.empty()) << "the move did not complete after the learner's restarts";
  EXPECT_EQ(meta_.replicas, ids({1, 2, 3}));
  ASSERT_TRUE(rounds_until(500, [&] {
    return nodes_[3]->membership() == raft::Membership{ids({1, 2, 3}), {}};
  })) << nodes_[3]->membership().describe();
  kill(0);
  for (int i = 0; i < 50; ++i) {
    produce_some();
    round();
  }
  expect_no_acknowledged_loss({1, 2, 3});
}

}  // namespace
}  // namespace spate::cluster
