// SPDX-License-Identifier: Apache-2.0
//
// A replica's raft.state names a membership entry before its log holds it
// (docs/cluster.md): a crash can never leave a durable membership entry that
// the reopened replica does not know about. And a deletion of the log's
// prefix (retention, DeleteRecords) that takes membership entries records
// them in raft.state first: a reopened replica keeps the membership, not the
// one it was configured with (the metadata's replicas).

#include <gtest/gtest.h>

#include "spate/cluster/raft_state.h"
#include "spate/raft/wire.h"

#include "cluster/replication_rig.h"

namespace spate::cluster {
namespace {

TEST_F(PartitionReplication, RaftStateNamesAMembershipEntryBeforeTheLogHoldsIt) {
  start(0);
  // The follower's disk stands still: nothing it appends becomes durable.
  held_.push_back(hold_disk(0));
  raft::Message m;
  m.type = raft::MessageType::append;
  m.from = NodeId(1);
  m.to = NodeId(0);
  m.term = Term(1);
  m.log_index = 0;
  m.log_term = Term(0);
  const raft::Membership next{{NodeId(0), NodeId(1), NodeId(2)}, {NodeId(3)}};
  m.entries.push_back(
      raft::Entry{1, Term(1), raft::encode_membership(next), raft::EntryKind::membership, 1});
  nodes_[0]->step(std::move(m));
  ASSERT_EQ(nodes_[0]->end_offset(), Offset(1)) << "the membership entry was not appended";
  EXPECT_EQ(nodes_[0]->status().durable_end, Offset(0));
  auto state = read_raft_state(mem_, "/n0/t-0");
  ASSERT_TRUE(state) << state.error();
  EXPECT_EQ(state->membership_indexes, std::vector<raft::Index>{1});
  EXPECT_EQ(state->hard.term, Term(1));
}

class PartitionPrefixMembership : public PartitionReplication {
 protected:
  std::shared_ptr<Partition>& node(int id) { return nodes_[static_cast<std::size_t>(id)]; }

  void ack(int l) {
    auto r = produce(l);
    ASSERT_TRUE(r) << r.error();
    auto acked = wait_acked(l, *r);
    ASSERT_TRUE(rounds_until(300, [&] { return acked->has_value(); }));
    ASSERT_TRUE(acked->value()) << acked->value().error();
  }

  // Three replicas configured with voters {0,1,2} (what the metadata
  // says); the leader adds node 3 as a learner, committed everywhere.
  // Returns the membership entry's index.
  raft::Index add_learner() {
    for (int id = 0; id < 3; ++id) start(id);
    EXPECT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
    const int l = leader();
    ack(l);
    auto index = node(l)->change_membership({raft::MembershipChange::Type::add_learner, NodeId(3)});
    EXPECT_TRUE(index) << index.error();
    EXPECT_TRUE(rounds_until(300, [&] {
      for (auto& p : nodes_) {
        if (p->membership() != changed_ || p->high_watermark().value() < *index) return false;
      }
      return true;
    }));
    return index ? *index : 0;
  }

  // Every replica, closed and reopened from its files, has the membership
  // with the learner; and the group still takes writes.
  void expect_membership_after_reopen(const std::vector<int>& reopened) {
    for (int id : reopened) {
      stop(id);
      start(id);
      EXPECT_EQ(node(id)->membership(), changed_)
          << "replica " << id << " reopened with " << node(id)->membership().describe();
    }
    ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
    ack(leader());
    for (auto& p : nodes_) EXPECT_EQ(p->membership(), changed_) << p->membership().describe();
  }

  const raft::Membership changed_{{NodeId(0), NodeId(1), NodeId(2)}, {NodeId(3)}};
};

TEST_F(PartitionPrefixMembership, RetentionKeepsTheMembershipOfTheSegmentsItDeletes) {
  config_.segment_bytes_max = 2048;  // a few batches per segment
  config_.retention_bytes = 4096;
  const raft::Index index = add_learner();
  ASSERT_GT(index, 0);
  const int l = leader();
  // Retention deletes the segments holding the change on every replica.
  for (int i = 0; i < 40; ++i) ack(l);
  ASSERT_TRUE(rounds_until(100, [&] {
    for (auto& p : nodes_) {
      if (p->start_offset().value() < index) return false;
    }
    return true;
  })) << "retention did not delete the membership entry";
  for (int id = 0; id < 3; ++id) {
    auto state = read_raft_state(mem_, fmt::format("/n{}/t-0", id));
    ASSERT_TRUE(state) << state.error();
    ASSERT_FALSE(state->deleted_memberships.empty()) << "replica " << id;
    EXPECT_EQ(state->deleted_memberships.back(), std::make_pair(index, changed_));
  }
  expect_membership_after_reopen({0, 1, 2});
}

TEST_F(PartitionPrefixMembership, DeleteRecordsKeepsTheMembershipAtTheNewStart) {
  config_.segment_bytes_max = 2048;
  const raft::Index index = add_learner();
  ASSERT_GT(index, 0);
  const int l = leader();
  for (int i = 0; i < 20; ++i) ack(l);
  // Into the middle of the log, past the change: raft's start moves too.
  const Offset to = node(l)->high_watermark() - 2;
  auto moved = wait(node(l)->advance_start(to));
  ASSERT_TRUE(moved) << moved.error();
  ASSERT_GT(node(l)->start_offset().value(), index);
  // On disk before any close: the record came first.
  auto state = read_raft_state(mem_, fmt::format("/n{}/t-0", l));
  ASSERT_TRUE(state) << state.error();
  ASSERT_FALSE(state->deleted_memberships.empty());
  EXPECT_EQ(state->deleted_memberships.back(), std::make_pair(index, changed_));
  expect_membership_after_reopen({l});
}

}  // namespace
}  // namespace spate::cluster
