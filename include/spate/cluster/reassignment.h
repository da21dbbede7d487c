// SPDX-License-Identifier: Apache-2.0
//
// Replica movement (docs/cluster.md, "Reassignment"): what a partition's
// leader does next to bring its Raft group's membership to what the
// controller's metadata asks — the target replicas during a reassignment,
// the replicas otherwise. Pure: the MetadataApplier calls it on every pass
// for each partition this broker leads and carries the step out, so a move
// resumes from the metadata and the membership in the log after any
// leader's death (the controller's or the partition's).
//
// The order (KIP-455's, one Raft change at a time):
//   1. learners outside the goal are removed;
//   2. goal brokers that are not members join as learners;
//   3. each learner of the goal is promoted once it is caught up;
//   4. voters outside the goal are removed, this leader last: it hands its
//      leadership to a voter of the goal first, and the next leader removes it;
//   5. once the voters are the goal and no learner is left, a pending
//      reassignment is completed (CompleteReassignment).

#pragma once

#include <cstdint>
#include <vector>

#include "spate/cluster/metadata.h"
#include "spate/raft/config.h"
#include "spate/raft/replica.h"

namespace spate::cluster {

struct MoveStep {
  enum class Kind : std::uint8_t {
    none,      // nothing to do now (done, or waiting: a change to commit, a learner to catch up)
    change,    // propose `change` (Partition::change_membership)
    transfer,  // hand leadership to `to` (Partition::transfer_leadership)
    complete,  // propose CompleteReassignment with the partition's target
  };
  Kind kind = Kind::none;
  raft::MembershipChange change{};
  NodeId to = raft::kNoNode;
  bool operator==(const MoveStep& o) const {
    return kind == o.kind && change.type == o.change.type && change.node == o.change.node &&
           to == o.to;
  }
};

// What the leader needs to know about its group.
struct MoveView {
  NodeId self = raft::kNoNode;
  raft::Membership membership;  // the latest in the log
  bool committed = true;        // that membership is committed
  std::vector<raft::FollowerStatus> followers;
  raft::Index last_index = 0;
  // A learner is promoted when at most this many indexes behind the
  // leader's log (raft refuses past Config::max_promote_lag).
  raft::Index promote_lag = 5'000;
};

[[nodiscard]] MoveStep next_move_step(const PartitionMeta& meta, const MoveView& view);

// The brokers that hold partition `p`: its replicas, then the target's
// brokers that are not replicas yet (they join as learners).
[[nodiscard]] std::vector<NodeId> partition_members(const PartitionMeta& p);

}  // namespace spate::cluster
