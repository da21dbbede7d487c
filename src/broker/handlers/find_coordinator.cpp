// SPDX-License-Identifier: Apache-2.0
//
// FindCoordinator (v0-v2). A single node coordinates every group, so the
// answer is this broker's advertised address. In a cluster the coordinator
// of a group is the leader of its partition of __consumer_offsets
// (docs/groups.md, "In a cluster"), as the controller's metadata names it;
// the topic is created through the controller when first needed (two
// brokers racing to create it: the second finds it exists). No live leader
// yet: COORDINATOR_NOT_AVAILABLE, which clients retry. Transaction
// coordinators (key type 1) are refused: transactions are not supported
// (InitProducerId says the same to a transactional producer).

#include "spate/cluster/controller.h"
#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/groups.h"

#include "cluster_admin.h"
#include "common.h"

namespace spate::broker {
namespace {

// How long a FindCoordinator waits for the offsets topic's creation and
// first leaders at most (the client asks again after that).
constexpr auto kCreateWaitMax = std::chrono::seconds(5);

// Creates __consumer_offsets through the controller. Errors: the
// controller's; already_exists is not one (another broker created it).
awaitable<Status> create_offsets_topic(HandlerContext& ctx) {
  ClusterTopicSpec spec;
  spec.topic.name = std::string(groups::kOffsetsTopic);
  spec.topic.partitions = ctx.coordinator->config().offsets_partitions;
  spec.topic.overrides = groups::offsets_topic_configs();
  std::vector<ClusterTopicSpec> specs;
  specs.push_back(std::move(spec));
  auto out = co_await cluster_create_topics(ctx, std::move(specs), false,
                                            ctx.clock.steady_now() + kCreateWaitMax);
  if (!out.at(0) && out[0].error().code() != Errc::already_exists) co_return out[0];
  co_return Status{};
}

}  // namespace

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
  if (ctx.controller == nullptr) {
    r.node_id = ctx.config.node_id;
    r.host = ctx.config.advertised_host;
    r.port = ctx.config.advertised_port;
    co_return r;
  }
  if (ctx.controller->state().topic(groups::kOffsetsTopic) == nullptr) {
    if (auto s = co_await create_offsets_topic(ctx); !s) {
      co_return fail(
          ErrorCode::coordinator_not_available,
          fmt::format("cannot create {}: {}", groups::kOffsetsTopic, s.error().detail()));
    }
  }
  const auto& state = ctx.controller->state();
  const auto* topic = state.topic(groups::kOffsetsTopic);
  if (topic == nullptr || topic->partitions.empty()) {
    co_return fail(ErrorCode::coordinator_not_available,
                   fmt::format("{} is being created", groups::kOffsetsTopic));
  }
  const auto p =
      groups::offsets_partition(request.key, static_cast<std::int32_t>(topic->partitions.size()));
  const auto leader = topic->partitions[static_cast<std::size_t>(p)].leader;
  const auto* broker = state.broker(leader);
  if (leader == cluster::kNoLeader || broker == nullptr || !state.alive(leader)) {
    co_return fail(ErrorCode::coordinator_not_available,
                   fmt::format("{}-{} has no leader yet", groups::kOffsetsTopic, p));
  }
  r.node_id = leader.value();
  r.host = broker->advertised.host;
  r.port = broker->advertised.port;
  co_return r;
}

}  // namespace spate::broker
