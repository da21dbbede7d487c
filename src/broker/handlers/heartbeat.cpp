// SPDX-License-Identifier: Apache-2.0
//
// Heartbeat (v0-v3): keeps a member's session alive; REBALANCE_IN_PROGRESS
// tells it to rejoin.

#include "spate/protocol/messages/heartbeat.h"

#include "spate/groups/coordinator.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::HeartbeatResponse>> heartbeat(
    HandlerContext& ctx, protocol::HeartbeatRequest& request) {
  protocol::HeartbeatResponse r;
  if (ctx.coordinator == nullptr) {
    r.error_code = ctx.code(ErrorCode::coordinator_not_available);
    co_return r;
  }
  r.error_code = ctx.code(error_code_for(ctx.coordinator->heartbeat(
      request.group_id, request.member_id, request.generation_id, request.group_instance_id)));
  co_return r;
}

}  // namespace spate::broker
