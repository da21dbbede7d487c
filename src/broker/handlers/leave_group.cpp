// SPDX-License-Identifier: Apache-2.0
//
// LeaveGroup (v0-v3): one member leaves (v0-v2), or several, each with its
// own outcome (v3+, KIP-345: a static member may be named by its
// group.instance.id alone).

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/groups.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::LeaveGroupResponse>> leave_group(
    HandlerContext& ctx, protocol::LeaveGroupRequest& request) {
  protocol::LeaveGroupResponse r;
  if (ctx.coordinator == nullptr) {
    r.error_code = ctx.code(ErrorCode::coordinator_not_available);
    co_return r;
  }
  auto& coordinator = *ctx.coordinator;
  if (ctx.version() <= 2) {
    r.error_code = ctx.code(
        error_code_for(coordinator.leave(request.group_id, request.member_id, std::nullopt)));
    co_return r;
  }
  r.members.reserve(request.members.size());
  for (auto& m : request.members) {
    const auto e = coordinator.leave(request.group_id, m.member_id, m.group_instance_id);
    // Errors of the whole request (loading, a bad group id) go at the top.
    if (e == groups::GroupError::coordinator_loading ||
        e == groups::GroupError::coordinator_not_available ||
        e == groups::GroupError::not_coordinator || e == groups::GroupError::invalid_group_id) {
      r.members.clear();
      r.error_code = ctx.code(error_code_for(e));
      co_return r;
    }
    r.members.push_back(
        {std::move(m.member_id), std::move(m.group_instance_id), ctx.code(error_code_for(e))});
  }
  co_return r;
}

}  // namespace spate::broker
