// SPDX-License-Identifier: Apache-2.0
//
// ListGroups (v0-v4): every group this broker coordinates, with members or
// with committed offsets; v4 filters by state (case-insensitive, as Kafka).

#include <algorithm>
#include <cctype>

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/group_admin.h"

#include "common.h"

namespace spate::broker {
namespace {

bool same_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

awaitable<std::optional<protocol::ListGroupsResponse>> list_groups(
    HandlerContext& ctx, protocol::ListGroupsRequest& request) {
  protocol::ListGroupsResponse r;
  if (ctx.coordinator == nullptr || !ctx.coordinator->loaded()) {
    r.error_code = ctx.code(ctx.coordinator == nullptr ? ErrorCode::coordinator_not_available
                                                       : ErrorCode::coordinator_load_in_progress);
    co_return r;
  }
  for (auto& g : ctx.coordinator->list()) {
    const std::string_view state = groups::state_name(g.state);
    if (!request.states_filter.empty() &&
        std::none_of(request.states_filter.begin(), request.states_filter.end(),
                     [&](const std::string& s) { return same_ignoring_case(s, state); })) {
      continue;
    }
    r.groups.push_back({std::move(g.group_id), std::move(g.protocol_type), std::string(state)});
  }
  co_return r;
}

}  // namespace spate::broker
