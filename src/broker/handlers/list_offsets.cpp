// SPDX-License-Identifier: Apache-2.0
//
// ListOffsets: earliest, latest (the high watermark) and by timestamp.

#include "spate/protocol/messages/list_offsets.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::ListOffsetsResponse>> list_offsets(
    HandlerContext& ctx, protocol::ListOffsetsRequest& request) {
  protocol::ListOffsetsResponse r;
  Slicer slicer(ctx.clock);
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      auto partition = ctx.partitions.partition(t.name, p.partition_index);
      if (!partition) {
        pr.error_code = ctx.code(missing_partition(ctx, t.name, p.partition_index));
        continue;
      }
      if (p.timestamp == protocol::kListOffsetsLatest) {
        pr.offset = partition->high_watermark().value();
      } else if (p.timestamp == protocol::kListOffsetsEarliest) {
        pr.offset = partition->start_offset().value();
      } else if (p.timestamp < 0) {
        pr.error_code = ctx.code(ErrorCode::invalid_request);
      } else {
        // Each lookup may read and decode a batch: let others in between.
        co_await slicer.maybe_yield();
        // The topic may have gone (or been made again) meanwhile.
        partition = ctx.partitions.partition(t.name, p.partition_index);
        if (!partition) {
          pr.error_code = ctx.code(missing_partition(ctx, t.name, p.partition_index));
          continue;
        }
        auto hit = partition->find_offset_by_timestamp(p.timestamp);
        if (!hit) {
          pr.error_code = ctx.code(error_code_for(hit.error().code()));
        } else if (*hit) {
          pr.offset = (*hit)->offset.value();
          pr.timestamp = (*hit)->timestamp;
        }
      }
    }
  }
  co_return r;
}

}  // namespace spate::broker
