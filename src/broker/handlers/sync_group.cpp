// SPDX-License-Identifier: Apache-2.0
//
// SyncGroup (v0-v3): the leader sends every member's assignment; each member
// (the leader too) gets its own once the leader's has arrived.

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/groups.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::SyncGroupResponse>> sync_group(
    HandlerContext& ctx, protocol::SyncGroupRequest& request) {
  protocol::SyncGroupResponse r;
  if (ctx.coordinator == nullptr) {
    r.error_code = ctx.code(ErrorCode::coordinator_not_available);
    co_return r;
  }
  groups::SyncRequest sync;
  sync.member_id = std::move(request.member_id);
  sync.generation = request.generation_id;
  for (auto& a : request.assignments) {
    // A member named twice: the first assignment counts (as in Kafka, whose
    // map keeps one).
    sync.assignments.try_emplace(std::move(a.member_id), std::move(a.assignment));
  }
  auto result = co_await ctx.coordinator->sync(std::move(request.group_id), std::move(sync),
                                               std::move(request.group_instance_id));
  r.error_code = ctx.code(error_code_for(result.error));
  r.assignment = std::move(result.assignment);
  co_return r;
}

}  // namespace spate::broker
