// SPDX-License-Identifier: Apache-2.0
//
// DeleteGroups (v0-v1): removes groups without members and their committed
// offsets (tombstones in __consumer_offsets, durable before the answer).

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/alter_configs.h"

#include "common.h"

namespace spate::broker {
namespace {

constexpr std::int32_t kDeleteTimeoutMs = 5000;

}  // namespace

awaitable<std::optional<protocol::DeleteGroupsResponse>> delete_groups(
    HandlerContext& ctx, protocol::DeleteGroupsRequest& request) {
  protocol::DeleteGroupsResponse r;
  std::vector<groups::GroupError> errors(request.groups_names.size(),
                                         groups::GroupError::coordinator_not_available);
  if (ctx.coordinator != nullptr) {
    errors = co_await ctx.coordinator->delete_groups(request.groups_names,
                                                     deadline_after(ctx, kDeleteTimeoutMs));
  }
  r.results.reserve(errors.size());
  for (std::size_t i = 0; i < errors.size(); ++i) {
    r.results.push_back({std::move(request.groups_names[i]), ctx.code(error_code_for(errors[i]))});
  }
  co_return r;
}

}  // namespace spate::broker
