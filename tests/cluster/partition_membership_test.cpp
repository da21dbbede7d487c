// SPDX-License-Identifier: Apache-2.0
//
// A replica's raft.state names a membership entry before its log holds it
// (docs/cluster.md): a crash can never leave a durable membership entry that
// the reopened replica does not know about.

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

}  // namespace
}  // namespace spate::cluster
