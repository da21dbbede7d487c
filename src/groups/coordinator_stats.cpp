// SPDX-License-Identifier: Apache-2.0
//
// Coordinator::group_stats, for /metrics (kept apart from coordinator.cpp,
// which is the group protocol's).

#include "spate/groups/coordinator.h"

namespace spate::groups {

std::vector<Coordinator::GroupStats> Coordinator::group_stats() const {
  std::vector<GroupStats> out;
  if (!started_) return out;
  for (const auto& [id, g] : groups_) {
    out.push_back({id, g->state(), g->member_count(), g->generation()});
  }
  for (const auto& [id, entry] : offsets_.groups()) {
    if (groups_.contains(id)) continue;
    out.push_back({id, GroupState::empty, 0, entry.summary ? entry.summary->generation : 0});
  }
  return out;
}

}  // namespace spate::groups
