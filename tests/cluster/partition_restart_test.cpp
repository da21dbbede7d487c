// SPDX-License-Identifier: Apache-2.0
//
// A follower behind its leader's log start (the leader deleted the prefix the
// follower lacks) restarts its log empty there (raft's Ready::restart), keeps
// the start in raft.state, and replicates on: every replica ends with the
// leader's log from that start. A restart a crash interrupted (raft.state
// written, the log not yet restarted) is finished when the partition opens.

#include <gtest/gtest.h>

#include "spate/cluster/raft_state.h"
#include "spate/common/bytes.h"

#include "cluster/replication_rig.h"

namespace spate::cluster {
namespace {

class PartitionRestart : public PartitionReplication {
 protected:
  // Replica `id`'s batches from `from` up to its high watermark.
  std::vector<std::byte> read_from(int id, Offset from) {
    auto& p = nodes_[static_cast<std::size_t>(id)];
    std::vector<std::byte> out;
    Offset at = from;
    for (int guard = 0; at < p->high_watermark() && guard < 1000; ++guard) {
      auto r = p->read_local(at, 1 << 20);
      EXPECT_TRUE(r) << r.error();
      if (!r || r->bytes.empty()) break;
      auto bytes = r->bytes.read_all();
      out.insert(out.end(), bytes->begin(), bytes->end());
      at = r->next_offset;
    }
    return out;
  }

  std::shared_ptr<Partition>& node(int id) { return nodes_[static_cast<std::size_t>(id)]; }

  Offset ack(int l) {
    auto r = produce(l);
    EXPECT_TRUE(r) << r.error();
    if (!r) return Offset(-1);
    auto acked = wait_acked(l, *r);
    EXPECT_TRUE(rounds_until(300, [&] { return acked->has_value(); }));
    EXPECT_TRUE(acked->has_value() && acked->value()) << "not acknowledged";
    return r->base_offset;
  }

  // Every replica holds the same batches from the latest start of any.
  void expect_equal_logs() {
    Offset from(0);
    for (auto& p : nodes_) from = std::max(from, p->start_offset());
    const auto reference = read_from(0, from);
    EXPECT_FALSE(reference.empty());
    for (int id = 1; id < 3; ++id) EXPECT_EQ(read_from(id, from), reference) << "replica " << id;
  }

  // Follower `behind` misses 40 batches, then the leader deletes the prefix
  // it lacks: by retention (whole segments, as tick() applies it) or by
  // DeleteRecords (into the middle of a batch). Then it is healed.
  void run(bool by_retention);
};

void PartitionRestart::run(bool by_retention) {
  config_.segment_bytes_max = 2048;  // a few batches per segment
  if (by_retention) config_.retention_bytes = 4096;
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  const int behind = (l + 1) % 3;
  const int other = (l + 2) % 3;
  (void)ack(l);
  ASSERT_TRUE(rounds_until(100, [&] { return node(behind)->end_offset() > Offset(0); }));
  cut_.insert(static_cast<std::size_t>(behind));
  for (int i = 0; i < 40; ++i) (void)ack(l);
  const Offset behind_end = node(behind)->end_offset();
  const Offset hw = node(l)->high_watermark();
  if (by_retention) {
    ASSERT_TRUE(rounds_until(50, [&] { return node(l)->start_offset() > behind_end; }))
        << "retention did not delete the prefix";
  } else {
    ASSERT_TRUE(wait(node(l)->advance_start(hw - 5)));
  }
  const Offset leader_start = node(l)->start_offset();
  ASSERT_GT(leader_start, behind_end);
  // Raft's start: the base of the leader's first batch (DeleteRecords may
  // put the start inside it).
  const auto first = read_from(l, leader_start);
  ASSERT_GE(first.size(), 8U);
  const Offset raft_start(load_be<std::int64_t>(first.data()));
  ASSERT_LE(raft_start, leader_start);
  ASSERT_GT(raft_start, behind_end);

  cut_.clear();
  ASSERT_TRUE(rounds_until(500, [&] { return node(behind)->high_watermark() >= hw; }))
      << "the follower did not catch up";
  // (Its own retention may have moved its start on since.)
  if (!by_retention) {
    EXPECT_EQ(node(behind)->start_offset(), raft_start);
  }
  EXPECT_GE(node(behind)->start_offset(), raft_start);
  ASSERT_TRUE(rounds_until(100, [&] {
    for (auto& p : nodes_) {
      if (p->high_watermark() < hw) return false;
    }
    return true;
  }));
  expect_equal_logs();
  auto state = read_raft_state(mem_, fmt::format("/n{}/t-0", behind));
  ASSERT_TRUE(state) << state.error();
  EXPECT_EQ(state->start_index, raft_start.value());
  EXPECT_EQ(state->start_term, node(l)->term());

  // It replicates on: with the third replica cut off, its acknowledgement
  // makes the majority.
  cut_.insert(static_cast<std::size_t>(other));
  const Offset base = ack(l);
  EXPECT_GT(node(behind)->end_offset(), base);
  cut_.clear();

  // Reopened, it starts from its restarted log and raft.state, and catches
  // up without another restart.
  const Offset start_before = node(behind)->start_offset();
  stop(behind);
  start(behind);
  EXPECT_EQ(node(behind)->start_offset(), start_before);
  (void)ack(leader());
  const int now = leader();
  const Offset hw2 = node(now)->high_watermark();
  ASSERT_TRUE(rounds_until(500, [&] {
    for (auto& p : nodes_) {
      if (p->high_watermark() < hw2) return false;
    }
    return true;
  }));
  EXPECT_GE(node(behind)->start_offset(), raft_start);
  expect_equal_logs();
}

TEST_F(PartitionRestart, AFollowerBehindTheLeadersRetentionRestartsItsLog) { run(true); }

TEST_F(PartitionRestart, AFollowerBehindTheLeadersDeleteRecordsRestartsItsLog) { run(false); }

// DeleteRecords up to the high watermark empties the leader's log (start ==
// end: no batch is left to read the start's term from). It still
// replicates, its followers still accept it, and after a failover and the
// old leader's return every replica agrees.
TEST_F(PartitionRestart, ALogEmptiedByDeleteRecordsReplicatesAndFailsOver) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  for (int i = 0; i < 5; ++i) (void)ack(l);
  ASSERT_TRUE(rounds_until(100, [&] {
    for (auto& p : nodes_) {
      if (p->high_watermark() < node(l)->high_watermark()) return false;
    }
    return true;
  }));
  const Offset hw = node(l)->high_watermark();
  ASSERT_TRUE(wait(node(l)->advance_start(hw)));
  ASSERT_EQ(node(l)->start_offset(), node(l)->end_offset());
  const Offset next = ack(l);
  EXPECT_EQ(next, hw);
  // The leader goes; one of the others takes over and takes writes.
  stop(l);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0 && leader() != l; }));
  (void)ack(leader());
  // The old leader returns (its emptied log reopened) and catches up.
  start(l);
  (void)ack(leader());
  const Offset hw2 = node(leader())->high_watermark();
  ASSERT_TRUE(rounds_until(500, [&] {
    for (auto& p : nodes_) {
      if (p->high_watermark() < hw2) return false;
    }
    return true;
  })) << "a replica did not catch up";
  expect_equal_logs();
}

// A crash after raft.state named the new start but before the log restarted:
// the open finishes the restart.
TEST_F(PartitionRestart, AnInterruptedRestartIsFinishedOnOpen) {
  {
    auto log = storage::PartitionLog::open(mem_, "/n0/t-0", config_, clock_);
    ASSERT_TRUE(log) << log.error();
    for (int i = 0; i < 5; ++i) {
      auto batch = spate::testing::make_varied_batch(rng_, 3, 100, ts_);
      ASSERT_TRUE((*log)->append(batch, Term(1)));
    }
    ASSERT_TRUE((*log)->close());
  }
  RaftState state;
  state.hard = raft::HardState{Term(2), raft::kNoNode, 0};
  state.start_index = 40;
  state.start_term = Term(2);
  ASSERT_TRUE(write_raft_state(mem_, "/n0/t-0", state));
  start(0);
  EXPECT_EQ(node(0)->start_offset(), Offset(40));
  EXPECT_EQ(node(0)->end_offset(), Offset(40));
  EXPECT_FALSE(node(0)->status().fenced);
  // Reopened, nothing more happens.
  stop(0);
  start(0);
  EXPECT_EQ(node(0)->start_offset(), Offset(40));
}

}  // namespace
}  // namespace spate::cluster
