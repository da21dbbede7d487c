// SPDX-License-Identifier: Apache-2.0
//
// Replica movement on a partition (partition.h, change_membership): Raft
// membership changes proposed in order with the batches queued around them.

#include <algorithm>

#include "spate/cluster/partition.h"
#include "spate/common/log.h"

namespace spate::cluster {

Result<raft::Index> Partition::change_membership(raft::MembershipChange change) {
  if (closed_) {
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  }
  if (raft_failed_ || log_->fenced()) {
    return Error::fenced(fmt::format("partition {}: replication stopped", id_.dir_name()));
  }
  if (!confirmed_leader()) {
    return Error(Errc::not_leader,
                 fmt::format("partition {}: this replica is not its leader", id_.dir_name()));
  }
  if (transferring()) {
    return Error(Errc::busy, fmt::format("partition {}: handing leadership over", id_.dir_name()));
  }
  if (!membership_committed() ||
      std::any_of(queued_.begin(), queued_.end(), [](const Proposal& p) { return p.change; })) {
    return Error(Errc::busy, fmt::format("partition {}: a membership change is not committed yet",
                                         id_.dir_name()));
  }
  if (!pending_ && queued_.empty()) {
    // Nothing promised after it: raft's refusal goes to the caller.
    auto index = replica_->propose_change(change);
    if (!index) return index.error();
    process_ready();
    return index;
  }
  // Behind the Ready in flight: the batches appended from now on were
  // promised the indexes after this entry's.
  const raft::Index index = next_index() + 1;
  Proposal proposal{{}, 1, index, change};
  queued_.push_back(std::move(proposal));
  queued_span_ += 1;
  return index;
}

Result<raft::Index> Partition::propose_change(const raft::MembershipChange& change) {
  auto index = replica_->propose_change(change);
  if (index || index.error().code() == Errc::not_leader ||
      index.error().code() == Errc::shutting_down) {
    return index;
  }
  // Refused (the membership moved on meanwhile): an empty entry keeps the
  // index, so the batches queued behind it keep theirs.
  log::get(log::Module::cluster)
      ->info("[{}] membership change not proposed: {}", id_.dir_name(), index.error().message());
  return replica_->propose({}, 1);
}

raft::Membership Partition::membership() const {
  if (!replica_) return {};
  return replica_->membership();
}

bool Partition::membership_committed() const {
  return replica_ && replica_->membership_index() <= replica_->commit();
}

Offset Partition::retention_bound(Offset keep) {
  // Replication failed before the log was read: what it holds is unknown.
  if (!view_) return log_->start_offset();
  auto first = view_->first_unrecorded_membership();
  if (!first || *first > keep.value()) return keep;
  // No segment holding that entry goes before raft.state records it.
  const Offset bound(*first - 1);
  // A raft.state write on the disk thread holds a copy made before the
  // record: landing after it, it would erase it. The next tick records.
  if (state_write_in_flight()) return bound;
  const Offset target = log_->retention_start(keep);
  if (target.value() < *first) return bound;
  if (auto s = record_deleted_memberships(target.value()); !s) {
    log::get(log::Module::cluster)
        ->error("[{}] retention waits: raft.state not written: {}", id_.dir_name(), s.error());
    return bound;
  }
  auto next = view_->first_unrecorded_membership();
  return next ? std::min(keep, Offset(*next - 1)) : keep;
}

Status Partition::keep_start_membership(Offset to) {
  if (!view_) {
    return Error::fenced(fmt::format("partition {}: replication stopped", id_.dir_name()));
  }
  auto first = view_->first_unrecorded_membership();
  // An entry ending below `to` leaves raft's log (its start is the base of
  // the batch holding `to`).
  if (!first || *first > to.value()) return {};
  if (state_write_in_flight()) {
    return Error(Errc::busy,
                 fmt::format("partition {}: a raft.state write is in flight", id_.dir_name()));
  }
  return record_deleted_memberships(to.value());
}

Status Partition::record_deleted_memberships(raft::Index through) {
  auto before = view_->state().deleted_memberships;
  if (!view_->record_memberships_through(through)) return {};
  // On the shard, like a truncation: a deletion that takes a membership
  // entry is as rare as membership changes.
  if (auto s = write_raft_state(log_->filesystem(), log_->dir(), view_->state()); !s) {
    view_->state().deleted_memberships = std::move(before);
    return s;
  }
  persisted_ = view_->state().hard;
  log::get(log::Module::cluster)
      ->info("[{}] raft.state keeps the membership entries up to offset {} before their deletion",
             id_.dir_name(), through - 1);
  return {};
}

std::vector<raft::FollowerStatus> Partition::followers() const {
  if (!replica_ || raft_failed_) return {};
  return replica_->followers();
}

}  // namespace spate::cluster
