// SPDX-License-Identifier: Apache-2.0

#include "common.h"

#include <limits>

#include <fmt/format.h>

#include "spate/cluster/controller.h"
#include "spate/groups/coordinator.h"

namespace spate::broker {

std::string shorten(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  std::size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0U) == 0x80U) --n;
  return fmt::format("{}...", text.substr(0, n));
}

bool internal_topic(std::string_view name) { return name == groups::kOffsetsTopic; }

ErrorCode missing_partition(const HandlerContext& ctx, const std::string& topic,
                            std::int32_t partition) {
  if (ctx.controller == nullptr) return ErrorCode::unknown_topic_or_partition;
  const auto* t = ctx.controller->state().topic(topic);
  if (t == nullptr || partition < 0 ||
      static_cast<std::size_t>(partition) >= t->partitions.size()) {
    return ErrorCode::unknown_topic_or_partition;
  }
  return ErrorCode::not_leader_or_follower;
}

ErrorCode leader_epoch_error(const cluster::Partition& partition,
                             std::optional<std::int64_t> requested) {
  switch (cluster::check_current_epoch(partition.term(), requested)) {
    case cluster::EpochFence::ok:
      return ErrorCode::none;
    case cluster::EpochFence::fenced:
      return ErrorCode::fenced_leader_epoch;
    case cluster::EpochFence::unknown:
      return ErrorCode::unknown_leader_epoch;
  }
  return ErrorCode::none;
}

NamedPartition named_partition(const HandlerContext& ctx, const std::string& topic,
                               std::int32_t index, std::int32_t current_leader_epoch) {
  NamedPartition out;
  out.partition = ctx.partitions.partition(topic, index);
  if (!out.partition || out.partition->closed()) {
    out.error =
        out.partition ? ErrorCode::not_leader_or_follower : missing_partition(ctx, topic, index);
    return out;
  }
  // Only -1 means none for these APIs (Kafka's UNKNOWN_EPOCH).
  out.error =
      leader_epoch_error(*out.partition, current_leader_epoch == -1
                                             ? std::nullopt
                                             : std::optional<std::int64_t>(current_leader_epoch));
  return out;
}

std::int32_t wire_epoch(std::int64_t epoch) {
  if (epoch < std::numeric_limits<std::int32_t>::min() ||
      epoch > std::numeric_limits<std::int32_t>::max()) {
    return -1;
  }
  return static_cast<std::int32_t>(epoch);
}

SteadyTime deadline_after(const HandlerContext& ctx, std::int32_t timeout_ms) {
  const std::int32_t max = std::min(kRequestTimeoutMaxMs, ctx.config.request_wait_max_ms);
  return ctx.clock.steady_now() +
         std::chrono::milliseconds(std::clamp(timeout_ms, 0, std::max(max, 0)));
}

}  // namespace spate::broker
