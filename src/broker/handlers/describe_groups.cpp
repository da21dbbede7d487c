// SPDX-License-Identifier: Apache-2.0
//
// DescribeGroups (v0-v4): each group's state, protocol and members (their
// client id and host, their metadata for the chosen protocol and their
// assignment). A group this broker does not know is shown Dead, as in Kafka.

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/group_admin.h"

#include "common.h"

namespace spate::broker {
namespace {

protocol::DescribeGroupsMember member_of(groups::MemberInfo& m, const std::string& protocol) {
  protocol::DescribeGroupsMember out;
  out.member_id = std::move(m.member_id);
  out.group_instance_id = std::move(m.instance_id);
  out.client_id = std::move(m.client_id);
  out.client_host = std::move(m.client_host);
  for (auto& p : m.protocols) {
    if (p.name == protocol) out.member_metadata = std::move(p.metadata);
  }
  out.member_assignment = std::move(m.assignment);
  return out;
}

}  // namespace

awaitable<std::optional<protocol::DescribeGroupsResponse>> describe_groups(
    HandlerContext& ctx, protocol::DescribeGroupsRequest& request) {
  protocol::DescribeGroupsResponse r;
  r.groups.reserve(request.groups.size());
  for (auto& id : request.groups) {
    auto& out = r.groups.emplace_back();
    out.group_id = std::move(id);
    if (ctx.coordinator == nullptr || !ctx.coordinator->loaded()) {
      out.error_code =
          ctx.code(ctx.coordinator == nullptr ? ErrorCode::coordinator_not_available
                                              : ErrorCode::coordinator_load_in_progress);
      continue;
    }
    auto view = ctx.coordinator->describe(out.group_id);
    if (!view) {
      out.group_state = groups::state_name(groups::GroupState::dead);
      continue;
    }
    out.group_state = groups::state_name(view->state);
    out.protocol_type = std::move(view->protocol_type);
    // The chosen protocol only while members follow it.
    if (view->state == groups::GroupState::stable ||
        view->state == groups::GroupState::completing_rebalance) {
      out.protocol_data = view->protocol_name;
    }
    out.members.reserve(view->members.size());
    for (auto& m : view->members) out.members.push_back(member_of(m, view->protocol_name));
  }
  co_return r;
}

}  // namespace spate::broker
