// SPDX-License-Identifier: Apache-2.0
//
// InitProducerId (v0-v4): producer ids and epochs for idempotent producers
// (docs/idempotence.md). Without a transactional id, as in Kafka: a new id
// with epoch 0. KIP-360 (v3+): a producer that sends the id and epoch it has
// gets the same id with the epoch bumped, or a new id once the epoch is
// exhausted. Transactions are not supported: a transactional id is refused
// with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which every client treats as
// fatal and not retriable (librdkafka, the Java client, KafkaJS), instead of
// an answer that would let it believe it is transactional.

#include "spate/protocol/messages/init_producer_id.h"

#include <limits>

#include "spate/cluster/controller.h"
#include "spate/common/log.h"

#include "common.h"

namespace spate::broker {
namespace {

// Kafka's TransactionMetadata.isProducerEpochExhausted: the last epoch a bump
// may reach is Short.MaxValue - 1.
constexpr std::int16_t kEpochExhausted = std::numeric_limits<std::int16_t>::max() - 1;

// In a cluster the ids come from blocks the controller allocates, so no two
// brokers hand out the same id.
awaitable<std::optional<protocol::InitProducerIdResponse>> cluster_init_producer_id(
    HandlerContext& ctx, const protocol::InitProducerIdRequest& request) {
  protocol::InitProducerIdResponse r;
  auto& controller = *ctx.controller;
  if (request.producer_id >= 0 && controller.issued_producer_id(request.producer_id) &&
      request.producer_epoch < kEpochExhausted) {
    r.producer_id = request.producer_id;
    r.producer_epoch = static_cast<std::int16_t>(request.producer_epoch + 1);
    co_return r;
  }
  const auto deadline = ctx.clock.steady_now() + std::chrono::seconds(10);
  auto id = co_await controller.allocate_producer_id(deadline);
  if (!id) {
    log::get(log::Module::broker)
        ->warn("InitProducerId: no producer id from the controller: {}", id.error().message());
    r.producer_id = -1;
    r.producer_epoch = -1;
    r.error_code = ctx.code(ErrorCode::coordinator_not_available);
    co_return r;
  }
  r.producer_id = *id;
  r.producer_epoch = 0;
  co_return r;
}

}  // namespace

awaitable<std::optional<protocol::InitProducerIdResponse>> init_producer_id(
    HandlerContext& ctx, protocol::InitProducerIdRequest& request) {
  protocol::InitProducerIdResponse r;
  r.producer_id = -1;
  r.producer_epoch = -1;
  if (request.transactional_id) {
    log::get(log::Module::broker)
        ->info("InitProducerId with transactional id '{}' refused: transactions are not supported",
               quote_name(*request.transactional_id));
    r.error_code = ctx.code(ErrorCode::transactional_id_authorization_failed);
    co_return r;
  }
  // Both or neither (Kafka's KafkaApis.handleInitProducerIdRequest).
  if ((request.producer_id < 0) != (request.producer_epoch < 0)) {
    r.error_code = ctx.code(ErrorCode::invalid_request);
    co_return r;
  }
  if (ctx.controller != nullptr) co_return co_await cluster_init_producer_id(ctx, request);
  auto& ids = ctx.partitions.producer_ids();
  // An id this node handed out, with an epoch that can still grow: bumped.
  // An id it never handed out is not taken over (another producer may get it).
  if (request.producer_id >= 0 && ids.issued(request.producer_id) &&
      request.producer_epoch < kEpochExhausted) {
    r.producer_id = request.producer_id;
    r.producer_epoch = static_cast<std::int16_t>(request.producer_epoch + 1);
    co_return r;
  }
  auto id = co_await ids.allocate();
  if (!id) {
    log::get(log::Module::broker)
        ->error("InitProducerId: no producer id: {}", id.error().message());
    // Retriable for every client: the id block could not be written now.
    r.error_code = ctx.code(ErrorCode::coordinator_not_available);
    co_return r;
  }
  r.producer_id = *id;
  r.producer_epoch = 0;
  co_return r;
}

}  // namespace spate::broker
