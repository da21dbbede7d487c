// SPDX-License-Identifier: Apache-2.0
//
// DeleteTopics.

#include "spate/protocol/messages/delete_topics.h"

#include "cluster_admin.h"
#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::DeleteTopicsResponse>> delete_topics(
    HandlerContext& ctx, protocol::DeleteTopicsRequest& request) {
  protocol::DeleteTopicsResponse r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  for (const auto& name : request.topic_names) {
    auto& tr = r.responses.emplace_back();
    tr.name = name;
    if (internal_topic(name)) {
      tr.error_code = ctx.code(ErrorCode::invalid_topic_exception);
      continue;
    }
    Status s;
    if (ctx.controller != nullptr) {
      s = co_await cluster_delete_topic(ctx, name, deadline);
    } else {
      s = co_await ctx.partitions.delete_topic(name, deadline);
    }
    if (!s) {
      tr.error_code = ctx.code(error_code_for(s.error().code()));
    }
  }
  co_return r;
}

}  // namespace spate::broker
