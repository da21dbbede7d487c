// SPDX-License-Identifier: Apache-2.0
//
// DeleteTopics.

#include "spate/protocol/messages/delete_topics.h"

#include "common.h"

namespace spate::broker {
namespace {

awaitable<std::optional<protocol::DeleteTopicsResponse>> delete_topics(
    HandlerContext& ctx, protocol::DeleteTopicsRequest& request) {
  protocol::DeleteTopicsResponse r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  for (const auto& name : request.topic_names) {
    auto& tr = r.responses.emplace_back();
    tr.name = name;
    auto s = co_await ctx.partitions.delete_topic(name, deadline);
    if (!s) {
      const auto c = s.error().code();
      tr.error_code = ctx.code(c == Errc::not_found ? ErrorCode::unknown_topic_or_partition
                               : c == Errc::timeout ? ErrorCode::request_timed_out
                                                    : ErrorCode::kafka_storage_error);
    }
  }
  co_return r;
}

}  // namespace

awaitable<Result<Frame>> serve_delete_topics(HandlerContext& ctx, const protocol::ApiInfo& api,
                                             std::span<const std::byte> body) {
  co_return co_await run(ctx, api, body, &delete_topics);
}

}  // namespace spate::broker
