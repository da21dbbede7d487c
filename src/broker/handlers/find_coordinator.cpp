// SPDX-License-Identifier: Apache-2.0
//
// FindCoordinator (v0-v2): a single node coordinates every group, so the
// answer is this broker's advertised address. Transaction coordinators (key
// type 1) are refused: transactions are not supported (InitProducerId says
// the same to a transactional producer).

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/groups.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::FindCoordinatorResponse>> find_coordinator(
    HandlerContext& ctx, protocol::FindCoordinatorRequest& request) {
  protocol::FindCoordinatorResponse r;
  r.node_id = -1;
  r.port = -1;
  auto fail = [&](ErrorCode code, std::string message) {
    r.error_code = ctx.code(code);
    if (ctx.version() >= 1) r.error_message = bounded(message);
    return r;
  };
  if (request.key_type == 1) {
    co_return fail(ErrorCode::coordinator_not_available, "transactions are not supported");
  }
  if (request.key_type != 0) {
    co_return fail(ErrorCode::invalid_request,
                   fmt::format("unknown coordinator key type {}", request.key_type));
  }
  if (ctx.coordinator == nullptr) {
    co_return fail(ErrorCode::coordinator_not_available, "this broker coordinates no groups");
  }
  const std::size_t max = ctx.coordinator->config().group_id_bytes_max;
  if (request.key.empty() || request.key.size() > max) {
    co_return fail(ErrorCode::invalid_group_id,
                   fmt::format("a group id is 1 to {} bytes, not {}", max, request.key.size()));
  }
  r.node_id = ctx.config.node_id;
  r.host = ctx.config.advertised_host;
  r.port = ctx.config.advertised_port;
  co_return r;
}

}  // namespace spate::broker
