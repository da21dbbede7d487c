// SPDX-License-Identifier: Apache-2.0

#include "common.h"

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

SteadyTime deadline_after(const HandlerContext& ctx, std::int32_t timeout_ms) {
  const std::int32_t max = std::min(kRequestTimeoutMaxMs, ctx.config.request_wait_max_ms);
  return ctx.clock.steady_now() +
         std::chrono::milliseconds(std::clamp(timeout_ms, 0, std::max(max, 0)));
}

}  // namespace spate::broker
