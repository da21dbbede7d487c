// SPDX-License-Identifier: Apache-2.0
//
// JoinGroup (v0-v5): a member joins, or rejoins at a rebalance, and waits at
// the barrier until every known member has rejoined or the rebalance timeout
// passed (groups::Group). v0 has no rebalance timeout: the session timeout
// is used. v4+ without a group.instance.id: a new member first gets
// MEMBER_ID_REQUIRED carrying its id and joins again with it (KIP-394).

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/groups.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::JoinGroupResponse>> join_group(
    HandlerContext& ctx, protocol::JoinGroupRequest& request) {
  protocol::JoinGroupResponse r;
  if (ctx.coordinator == nullptr) {
    r.error_code = ctx.code(ErrorCode::coordinator_not_available);
    co_return r;
  }
  groups::JoinRequest join;
  join.member_id = std::move(request.member_id);
  join.instance_id = std::move(request.group_instance_id);
  join.client_id = ctx.header.client_id.value_or("");
  join.client_host = std::string(ctx.client_host);
  join.session_timeout_ms = request.session_timeout_ms;
  join.rebalance_timeout_ms = ctx.version() >= 1 ? request.rebalance_timeout_ms : -1;
  join.protocol_type = std::move(request.protocol_type);
  join.protocols.reserve(request.protocols.size());
  for (auto& p : request.protocols) {
    join.protocols.push_back({std::move(p.name), std::move(p.metadata)});
  }
  join.require_known_member_id = ctx.version() >= 4 && !join.instance_id;
  auto result = co_await ctx.coordinator->join(std::move(request.group_id), std::move(join));
  r.error_code = ctx.code(error_code_for(result.error));
  r.generation_id = result.generation;
  r.protocol_name = std::move(result.protocol_name);
  r.leader = std::move(result.leader);
  r.member_id = std::move(result.member_id);
  r.members.reserve(result.members.size());
  for (auto& m : result.members) {
    r.members.push_back({std::move(m.member_id), std::move(m.instance_id), std::move(m.metadata)});
  }
  co_return r;
}

}  // namespace spate::broker
