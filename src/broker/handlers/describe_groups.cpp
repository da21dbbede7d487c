// SPDX-License-Identifier: Apache-2.0
//
// DescribeGroups (v0-v4): each group's state, protocol and members (their
// client id and host, their metadata for the chosen protocol and their
// assignment). A group this broker does not know is shown Dead, as in Kafka.
// The descriptions of one response are bounded (describe_groups_bytes_max).

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

// The bytes a group's description puts in the response (strings and bytes
// fields, plus a little for each member's framing).
std::size_t description_bytes(const groups::GroupView& view) {
  std::size_t n = 64 + view.group_id.size() + view.protocol_type.size() + view.protocol_name.size();
  for (const auto& m : view.members) {
    n += 32 + m.member_id.size() + m.client_id.size() + m.client_host.size() + m.assignment.size() +
         (m.instance_id ? m.instance_id->size() : 0);
    for (const auto& p : m.protocols) {
      if (p.name == view.protocol_name) n += p.metadata.size();
    }
  }
  return n;
}

}  // namespace

awaitable<std::optional<protocol::DescribeGroupsResponse>> describe_groups(
    HandlerContext& ctx, protocol::DescribeGroupsRequest& request) {
  protocol::DescribeGroupsResponse r;
  r.groups.reserve(request.groups.size());
  std::size_t bytes = 0;
  for (auto& id : request.groups) {
    auto& out = r.groups.emplace_back();
    out.group_id = std::move(id);
    if (ctx.coordinator == nullptr) {
      out.error_code = ctx.code(ErrorCode::coordinator_not_available);
      continue;
    }
    // Loading, or (in a cluster) coordinated by another broker.
    if (auto e = ctx.coordinator->route(out.group_id); e != groups::GroupError::none) {
      out.error_code = ctx.code(error_code_for(e));
      continue;
    }
    if (bytes > ctx.config.describe_groups_bytes_max) {
      out.error_code = ctx.code(ErrorCode::coordinator_not_available);
      continue;
    }
    auto view = ctx.coordinator->describe(out.group_id);
    if (!view) {
      out.group_state = groups::state_name(groups::GroupState::dead);
      continue;
    }
    const auto size = description_bytes(*view);
    if (bytes > 0 && bytes + size > ctx.config.describe_groups_bytes_max) {
      bytes = ctx.config.describe_groups_bytes_max + 1;  // the groups after it wait too
      out.error_code = ctx.code(ErrorCode::coordinator_not_available);
      continue;
    }
    bytes += size;
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
