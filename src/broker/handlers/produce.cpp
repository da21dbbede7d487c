// SPDX-License-Identifier: Apache-2.0
//
// Produce: validates and appends each partition's batch, then waits for acks.

#include "spate/protocol/messages/produce.h"

#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::ProduceResponse>> produce(HandlerContext& ctx,
                                                            protocol::ProduceRequest& request) {
  protocol::ProduceResponse r;
  const bool acks_valid = request.acks == 0 || request.acks == 1 || request.acks == -1;
  struct Pending {
    std::shared_ptr<cluster::Partition> partition;
    Offset end;
    protocol::ProducePartitionResponse* response;
    Term term;  // proposed in (acks=all is never answered after it changed uncommitted)
  };
  std::vector<Pending> pending;
  // Validation decompresses on the shard: bounded per request, so that one
  // request of decompression bombs cannot hold every other client up.
  protocol::DecompressBudget budget{.left = ctx.config.request_decompressed_bytes_max};
  // Everything is appended before the first suspension, so pipelined
  // requests on one connection append in their order.
  r.responses.reserve(request.topic_data.size());
  for (auto& topic : request.topic_data) {
    auto& tr = r.responses.emplace_back();
    tr.name = topic.name;
    tr.partition_responses.reserve(topic.partition_data.size());
    for (auto& data : topic.partition_data) {
      auto& pr = tr.partition_responses.emplace_back();
      pr.index = data.index;
      pr.base_offset = -1;
      if (!acks_valid) {
        pr.error_code = ctx.code(ErrorCode::invalid_required_acks);
        continue;
      }
      auto partition = ctx.partitions.partition(topic.name, data.index);
      if (!partition) {
        pr.error_code = ctx.code(missing_partition(ctx, topic.name, data.index));
        continue;
      }
      if (internal_topic(topic.name)) {
        pr.error_code = ctx.code(ErrorCode::invalid_topic_exception);
        continue;
      }
      pr.log_start_offset = partition->start_offset().value();
      if (!data.records || data.records->empty()) {
        pr.error_code = ctx.code(ErrorCode::corrupt_message);
        continue;
      }
      auto appended = partition->append(*data.records, &budget);
      if (!appended) {
        pr.error_code = ctx.code(error_code_for(appended.error().code()));
        log::get(log::Module::broker)
            ->debug("produce to {}-{} refused: {}", topic.name, data.index,
                    appended.error().message());
        continue;
      }
      pr.base_offset = appended->base_offset.value();
      pr.log_append_time_ms = appended->log_append_time_ms;
      pending.push_back({partition, appended->last_offset + 1, &pr, appended->term});
    }
  }
  if (request.acks == 0) co_return std::nullopt;
  if (request.acks == -1) {
    const auto deadline = deadline_after(ctx, request.timeout_ms);
    for (auto& p : pending) {
      auto s = co_await p.partition->wait_committed(p.end, deadline, p.term);
      if (!s) p.response->error_code = ctx.code(error_code_for(s.error().code()));
    }
  }
  co_return r;
}

}  // namespace spate::broker
