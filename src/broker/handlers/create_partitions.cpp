// SPDX-License-Identifier: Apache-2.0
//
// CreatePartitions.

#include "spate/protocol/messages/partition_admin.h"

#include "cluster_admin.h"
#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::CreatePartitionsResponse>> create_partitions(
    HandlerContext& ctx, protocol::CreatePartitionsRequest& request) {
  protocol::CreatePartitionsResponse r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  std::map<std::string_view, std::size_t> count;
  for (const auto& t : request.topics) ++count[t.name];
  for (const auto& t : request.topics) {
    auto& tr = r.results.emplace_back();
    tr.name = t.name;
    if (count[t.name] > 1) {
      tr.error_code = ctx.code(ErrorCode::invalid_request);
      tr.error_message = "topic named more than once in the request";
      continue;
    }
    if (internal_topic(t.name)) {
      // Groups are placed by a hash over its partition count.
      tr.error_code = ctx.code(ErrorCode::invalid_topic_exception);
      tr.error_message = "the partitions of an internal topic cannot be changed";
      continue;
    }
    Status s;
    if (ctx.controller != nullptr) {
      s = co_await cluster_add_partitions(ctx, t.name, t.count, request.validate_only, deadline);
    } else {
      s = co_await ctx.partitions.add_partitions(t.name, t.count, request.validate_only, deadline);
    }
    if (!s) {
      tr.error_code = ctx.code(error_code_for(s.error().code()));
      tr.error_message = bounded(s.error().detail());
    }
  }
  co_return r;
}

}  // namespace spate::broker
