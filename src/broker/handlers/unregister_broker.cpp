// SPDX-License-Identifier: Apache-2.0
//
// UnregisterBroker (docs/cluster.md, "Removing a broker"): an
// unregister_broker command committed through the controller. The state
// refuses a broker that is not registered (BROKER_ID_NOT_REGISTERED) or still
// holds a replica (POLICY_VIOLATION); the controller refuses a voter, a
// --seeds broker (INVALID_REQUEST). A single node has no other broker.

#include "spate/protocol/messages/unregister_broker.h"

#include "spate/cluster/controller.h"

#include "common.h"

namespace spate::broker {
namespace {

using protocol::ErrorCode;

// A proposal may take this long (the request has no timeout of its own).
constexpr auto kCommitTimeout = std::chrono::seconds(10);

struct Answer {
  ErrorCode code = ErrorCode::none;
  std::string message;
};

awaitable<Answer> unregister(HandlerContext& ctx, std::int32_t id) {
  if (ctx.controller == nullptr) {
    co_return Answer{ErrorCode::invalid_request,
                     "this broker is a single node (no --seeds): there is no other broker to "
                     "remove"};
  }
  cluster::Command command = cluster::UnregisterBroker{NodeId(id)};
  auto out =
      co_await ctx.controller->propose(std::move(command), ctx.clock.steady_now() + kCommitTimeout);
  if (!out) co_return Answer{error_code_for(out.error().code()), out.error().detail()};
  if (out->outcome.applied()) co_return Answer{};
  const auto code = out->outcome.error == Errc::not_found ? ErrorCode::broker_id_not_registered
                                                          : error_code_for(out->outcome.error);
  co_return Answer{code, out->outcome.message};
}

}  // namespace

awaitable<std::optional<protocol::UnregisterBrokerResponse>> unregister_broker(
    HandlerContext& ctx, protocol::UnregisterBrokerRequest& request) {
  protocol::UnregisterBrokerResponse r;
  auto a = co_await unregister(ctx, request.broker_id);
  r.error_code = ctx.code(a.code);
  if (a.code != ErrorCode::none) r.error_message = bounded(a.message);
  co_return r;
}

}  // namespace spate::broker
