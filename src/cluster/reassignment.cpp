// SPDX-License-Identifier: Apache-2.0
//
// next_move_step (reassignment.h).

#include "spate/cluster/reassignment.h"

#include <algorithm>
#include <tuple>

#include "module_shared.h"

namespace spate::cluster {
namespace {

MoveStep change(raft::MembershipChange::Type type, NodeId node) {
  MoveStep s;
  s.kind = MoveStep::Kind::change;
  s.change = raft::MembershipChange{type, node};
  return s;
}

const raft::FollowerStatus* follower(const MoveView& view, NodeId id) {
  for (const auto& f : view.followers) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

// The voter of the goal to hand leadership to: one heard from lately first,
// then one of the current replicas (the metadata accepts its leader report
// before the move completes), then the longest log.
NodeId successor(const std::vector<NodeId>& goal, const PartitionMeta& meta, const MoveView& view) {
  const raft::FollowerStatus* best = nullptr;
  auto rank = [&](const raft::FollowerStatus& f) {
    return std::make_tuple(f.active, contains(meta.replicas, f.id), f.match);
  };
  for (const NodeId id : goal) {
    const auto* f = follower(view, id);
    if (f == nullptr || !view.membership.is_voter(id)) continue;
    if (best == nullptr || rank(*f) > rank(*best)) best = f;
  }
  return best == nullptr ? raft::kNoNode : best->id;
}

}  // namespace

std::vector<NodeId> partition_members(const PartitionMeta& p) {
  std::vector<NodeId> out = p.replicas;
  for (const NodeId id : p.target) {
    if (!contains(out, id)) out.push_back(id);
  }
  return out;
}

MoveStep next_move_step(const PartitionMeta& meta, const MoveView& view) {
  using Type = raft::MembershipChange::Type;
  const auto& goal = meta.target.empty() ? meta.replicas : meta.target;
  const auto& m = view.membership;
  // One change at a time: the last one commits first.
  if (goal.empty() || !view.committed || !m.is_voter(view.self)) return {};
  for (const NodeId id : m.learners) {
    if (!contains(goal, id)) return change(Type::remove, id);
  }
  for (const NodeId id : goal) {
    if (!m.contains(id)) return change(Type::add_learner, id);
  }
  bool waiting = false;
  for (const NodeId id : goal) {
    if (!m.is_learner(id)) continue;
    const auto* f = follower(view, id);
    if (f != nullptr && !f->probing && f->match + view.promote_lag >= view.last_index) {
      return change(Type::promote, id);
    }
    waiting = true;
  }
  // The replicas leave only once every new one votes: the group never has
  // fewer voters than it should.
  if (waiting) return {};
  for (const NodeId id : m.voters) {
    if (id != view.self && !contains(goal, id)) return change(Type::remove, id);
  }
  if (!contains(goal, view.self)) {
    MoveStep s;
    s.kind = MoveStep::Kind::transfer;
    s.to = successor(goal, meta, view);
    if (s.to == raft::kNoNode) return {};
    return s;
  }
  if (!meta.target.empty()) {
    MoveStep s;
    s.kind = MoveStep::Kind::complete;
    return s;
  }
  return {};
}

}  // namespace spate::cluster
