// SPDX-License-Identifier: Apache-2.0
//
// In-sync replicas from the followers' progress (Partition::in_sync_replicas,
// replica.lag.time.max.ms), the lag a leader sees per follower, the election
// counters, and preferred-leader balancing (restore_preferred_leaders), over
// three Partition replicas (replication_rig.h) with a manual clock.

#include <algorithm>
#include <optional>

#include <gtest/gtest.h>

#include "spate/cluster/leader_balancer.h"

#include "support/producer_batches.h"

#include "cluster/replication_rig.h"
#include "metadata_samples.h"

namespace spate::cluster {
namespace {

class PartitionSync : public PartitionReplication {
 protected:
  PartitionSync() { lag_max_ = std::chrono::milliseconds(1'000); }

  void start_all() {
    for (int id = 0; id < 3; ++id) start(id);
    ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  }

  Partition& node(int id) { return *nodes_[static_cast<std::size_t>(id)]; }

  // Rounds with the clock moving 100 ms each.
  void pass(std::chrono::milliseconds time) {
    for (auto t = std::chrono::milliseconds(0); t < time; t += std::chrono::milliseconds(100)) {
      clock_.advance(std::chrono::milliseconds(100));
      round();
    }
  }

  std::vector<NodeId> isr(int id) { return node(id).in_sync_replicas(); }

  std::optional<FollowerProgress> progress_of(int leader_id, int follower) {
    for (const auto& f : node(leader_id).followers_progress()) {
      if (f.node == NodeId(follower)) return f;
    }
    return std::nullopt;
  }

  // Produces `n` batches on `id` and waits until they commit.
  void produce_committed(int id, int n) {
    Offset end;
    for (int i = 0; i < n; ++i) {
      auto r = produce(id);
      ASSERT_TRUE(r) << r.error();
      end = r->last_offset + 1;
    }
    ASSERT_TRUE(rounds_until(500, [&] { return node(id).high_watermark() >= end; }));
  }
};

using testing::ids;

TEST_F(PartitionSync, FollowerLeavesTheIsrAfterTheLagTimeAndComesBack) {
  start_all();
  const int l = leader();
  const int f = (l + 1) % 3;
  const int other = (l + 2) % 3;
  produce_committed(l, 3);
  pass(std::chrono::milliseconds(300));
  EXPECT_EQ(isr(l), ids({0, 1, 2}));
  ASSERT_TRUE(progress_of(l, f));
  EXPECT_EQ(progress_of(l, f)->lag, 0);
  EXPECT_TRUE(progress_of(l, f)->in_sync);
  // Followers have no view of the ISR.
  EXPECT_TRUE(isr(f).empty());
  EXPECT_TRUE(node(f).followers_progress().empty());

  // Stopped (as SIGSTOP): nothing is written, yet it stops answering, and
  // leaves once the lag time has passed since it was last heard from.
  cut_.insert(static_cast<std::size_t>(f));
  pass(std::chrono::milliseconds(600));
  EXPECT_EQ(isr(l).size(), 3U) << "still within the lag time";
  pass(std::chrono::milliseconds(700));
  const auto without = isr(l);
  EXPECT_EQ(without.size(), 2U);
  EXPECT_EQ(std::count(without.begin(), without.end(), NodeId(f)), 0);
  EXPECT_EQ(std::count(without.begin(), without.end(), NodeId(other)), 1);
  // Writes go on without it: its lag grows by what the majority commits.
  const std::int64_t before = node(l).end_offset().value();
  produce_committed(l, 2);
  const auto p = progress_of(l, f);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->in_sync);
  EXPECT_GE(p->lag, node(l).end_offset().value() - before);
  EXPECT_GT(p->silent, std::chrono::milliseconds(1'000));
  EXPECT_EQ(progress_of(l, other)->lag, 0);

  // Back: it catches up and rejoins.
  cut_.erase(static_cast<std::size_t>(f));
  ASSERT_TRUE(rounds_until(200, [&] {
    clock_.advance(std::chrono::milliseconds(100));
    return isr(l).size() == 3U;
  }));
  EXPECT_EQ(progress_of(l, f)->lag, 0);
}

TEST_F(PartitionSync, AFollowerWhoseDiskStallsLeaves) {
  start_all();
  const int l = leader();
  const int f = (l + 1) % 3;
  produce_committed(l, 2);
  // Its disk is held: its log end stays behind (and, a Ready in flight, it
  // steps nothing meanwhile).
  auto held = hold_disk(f);
  held_.push_back(held);
  for (int i = 0; i < 15; ++i) {
    ASSERT_TRUE(produce(l));
    pass(std::chrono::milliseconds(100));
  }
  const auto now = isr(l);
  EXPECT_EQ(std::count(now.begin(), now.end(), NodeId(f)), 0);
  EXPECT_GT(progress_of(l, f)->lag, 0);
  held->set_value();
  held_.clear();
  ASSERT_TRUE(rounds_until(300, [&] {
    clock_.advance(std::chrono::milliseconds(100));
    return isr(l).size() == 3U;
  }));
}

TEST_F(PartitionSync, ElectionsAndLeaderChangesAreCounted) {
  start_all();
  // Every replica learned of the first leader; someone campaigned for it.
  ASSERT_TRUE(rounds_until(100, [&] { return counters_.leader_changes.load() >= 3; }));
  const auto elections = counters_.elections.load();
  const auto changes = counters_.leader_changes.load();
  EXPECT_GE(elections, 1U);
  pass(std::chrono::milliseconds(500));
  EXPECT_EQ(counters_.elections.load(), elections) << "no election while the leader is fine";
  EXPECT_EQ(counters_.leader_changes.load(), changes);

  const int l = leader();
  const int target = (l + 1) % 3;
  ASSERT_TRUE(node(l).transfer_leadership(NodeId(target)));
  ASSERT_TRUE(rounds_until(500, [&] { return leader() == target; }));
  pass(std::chrono::milliseconds(200));
  EXPECT_EQ(counters_.elections.load(), elections + 1) << "the target campaigned once";
  EXPECT_GE(counters_.leader_changes.load(), changes + 3) << "each replica saw the new leader";
}

// A leader stopped (as by SIGSTOP: its clock moves, it runs nothing) serves
// no reads once its lease is over, and is named nowhere as serving: a
// successor may be serving offsets past its log end meanwhile. Replies that
// waited while it was stopped do not renew the lease before it ticks again.
TEST_F(PartitionSync, AStoppedLeaderServesNoReadsPastItsLease) {
  read_lease_ = std::chrono::milliseconds(750);
  start_all();
  const int l = leader();
  produce_committed(l, 3);
  pass(std::chrono::milliseconds(300));
  const Offset hw = node(l).high_watermark();
  ASSERT_TRUE(node(l).read(hw, 1 << 20));
  EXPECT_EQ(node(l).status().serving_leader, NodeId(l));

  // It sends its heartbeats and stops before their answers come back.
  node(l).tick();
  clock_.advance(std::chrono::milliseconds(500));
  EXPECT_TRUE(node(l).read(hw, 1 << 20)) << "within the lease";
  clock_.advance(std::chrono::milliseconds(300));
  auto stale = node(l).read(hw, 1 << 20);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), Errc::not_leader) << stale.error();
  EXPECT_FALSE(node(l).read_for_client(hw, 1 << 20));
  EXPECT_FALSE(node(l).end_offset_for_epoch(node(l).status().leader_epoch.value()));
  EXPECT_FALSE(node(l).find_offset_by_timestamp(0));
  EXPECT_EQ(node(l).status().serving_leader, NodeId(-1));
  EXPECT_TRUE(node(l).leader()) << "still the Raft leader: only its reads stop";

  // The answers to its last heartbeats, which waited while it was stopped,
  // arrive before it ticks again: no renewal from those.
  const auto delivered = delivered_;
  settle();
  EXPECT_GT(delivered_, delivered);
  EXPECT_FALSE(node(l).read(hw, 1 << 20));
  // Its first tick after the stall: what is answered up to the next one may
  // have waited out the stall, and renews nothing.
  round();
  EXPECT_FALSE(node(l).read(hw, 1 << 20));
  // It runs again: heartbeats and their answers renew the lease.
  ASSERT_TRUE(rounds_until(50, [&] { return node(l).read(hw, 1 << 20).has_value(); }));
  EXPECT_EQ(node(l).status().serving_leader, NodeId(l));
}

// Cut off from both followers while it keeps running, a leader stops serving
// reads within the lease, before check_quorum makes it step down.
TEST_F(PartitionSync, ALeaderCutOffStopsServingReadsWithinItsLease) {
  read_lease_ = std::chrono::milliseconds(750);
  start_all();
  const int l = leader();
  produce_committed(l, 2);
  pass(std::chrono::milliseconds(300));
  for (int i = 0; i < 3; ++i) {
    if (i != l) cut_.insert(static_cast<std::size_t>(i));
  }
  const Offset hw = node(l).high_watermark();
  // The followers stop hearing it and ask each other (and it) for pre-votes:
  // a pre-vote is no answer to the leader and renews nothing.
  for (int step = 0; step < 9; ++step) {
    clock_.advance(std::chrono::milliseconds(100));
    round();
    for (int i = 0; i < 3; ++i) {
      if (i == l) continue;
      raft::Message pre;
      pre.type = raft::MessageType::pre_vote;
      pre.from = NodeId(i);
      pre.to = NodeId(l);
      pre.term = Term(node(l).status().leader_epoch.value() + 1);
      pre.log_index = static_cast<raft::Index>(node(l).end_offset().value());
      pre.log_term = node(l).status().leader_epoch;
      node(l).step(pre);
    }
  }
  EXPECT_FALSE(node(l).read(hw, 1 << 20));
  EXPECT_EQ(node(l).status().serving_leader, NodeId(-1));
}

// A client's pipelined idempotent batches: the first refused by a replica
// not leading yet, the next arriving just after it took over. Its sequence
// gap is answered NOT_LEADER (retriable: the client re-sends both in order),
// not OUT_OF_ORDER_SEQUENCE_NUMBER (fatal to librdkafka 2.0.2), for a short
// while; a gap long after a refusal still gets OUT_OF_ORDER.
TEST_F(PartitionSync, AGapRightAfterARefusalAsNotLeaderIsAnsweredNotLeader) {
  start_all();
  const int l = leader();
  const int next = (l + 1) % 3;
  constexpr std::int64_t kProducer = 4242;
  auto first = spate::testing::producer_batch(kProducer, 0, 0, 1, ts_);
  ASSERT_TRUE(node(l).append(first));
  ASSERT_TRUE(rounds_until(500, [&] { return node(next).high_watermark() >= Offset(1); }));
  auto second = spate::testing::producer_batch(kProducer, 0, 1, 1, ts_);
  auto refused = node(next).append(second);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::not_leader);
  ASSERT_TRUE(node(l).transfer_leadership(NodeId(next)));
  ASSERT_TRUE(rounds_until(500, [&] {
    auto probe = spate::testing::producer_batch(kProducer + 1, 0, 0, 1, ts_);
    return leader() == next && node(next).append(probe).has_value();
  }));
  auto third = spate::testing::producer_batch(kProducer, 0, 2, 1, ts_);
  auto gap = node(next).append(third);
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().code(), Errc::not_leader) << gap.error();
  clock_.advance(std::chrono::milliseconds(1'100));
  auto later = node(next).append(third);
  ASSERT_FALSE(later);
  EXPECT_EQ(later.error().code(), Errc::out_of_order_sequence) << later.error();
  // In order, both are taken.
  EXPECT_TRUE(node(next).append(second));
  EXPECT_TRUE(node(next).append(third));
}

TEST_F(PartitionSync, LeadershipGoesBackToThePreferredReplicaWhenInSync) {
  start_all();
  const int l = leader();
  const int preferred = (l + 1) % 3;
  produce_committed(l, 2);
  pass(std::chrono::milliseconds(200));
  const std::vector<LeaderMove> moves{{1, 0, NodeId(preferred)}};
  auto broker = [this](int id) {
    return PartitionLookup(
        [this, id](const LeaderMove&) { return nodes_[static_cast<std::size_t>(id)]; });
  };
  // Only the leader moves it, and only within the bound.
  EXPECT_EQ(restore_preferred_leaders(moves, broker(preferred), 10), 0U);
  EXPECT_EQ(restore_preferred_leaders(moves, broker(l), 0), 0U);
  // Not in sync (stopped past the lag time): left alone.
  cut_.insert(static_cast<std::size_t>(preferred));
  pass(std::chrono::milliseconds(1'500));
  EXPECT_EQ(restore_preferred_leaders(moves, broker(l), 10), 0U);
  EXPECT_EQ(leader(), l);
  // Back and caught up: moved to it.
  cut_.erase(static_cast<std::size_t>(preferred));
  ASSERT_TRUE(rounds_until(300, [&] {
    clock_.advance(std::chrono::milliseconds(100));
    return isr(l).size() == 3U;
  }));
  EXPECT_EQ(restore_preferred_leaders(moves, broker(l), 10), 1U);
  EXPECT_TRUE(node(l).transferring());
  // A second round while it is under way starts nothing more.
  EXPECT_EQ(restore_preferred_leaders(moves, broker(l), 10), 0U);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() == preferred; }));
  // The preferred replica leads: nothing to do.
  EXPECT_EQ(restore_preferred_leaders(moves, broker(preferred), 10), 0U);
}

TEST_F(PartitionSync, AStoppingBrokerRefusesLeadershipHandedToIt) {
  start_all();
  const int l = leader();
  const int target = (l + 1) % 3;
  node(target).refuse_leadership();
  ASSERT_TRUE(node(l).transfer_leadership(NodeId(target)));
  // Raft gives up after an election timeout and the old leader leads on.
  ASSERT_TRUE(rounds_until(500, [&] {
    clock_.advance(std::chrono::milliseconds(100));
    return !node(l).transferring();
  }));
  EXPECT_EQ(leader(), l);
  EXPECT_TRUE(produce(l));
}

}  // namespace
}  // namespace spate::cluster
