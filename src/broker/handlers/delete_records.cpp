// SPDX-License-Identifier: Apache-2.0
//
// DeleteRecords: raises start offsets; the file work runs on the disk thread.

#include "spate/protocol/messages/partition_admin.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::DeleteRecordsResponse>> delete_records(
    HandlerContext& ctx, protocol::DeleteRecordsRequest& request) {
  protocol::DeleteRecordsResponse r;
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      pr.low_watermark = -1;
      auto partition = ctx.partitions.partition(t.name, p.partition_index);
      if (!partition) {
        pr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
        continue;
      }
      if (internal_topic(t.name)) {
        pr.error_code = ctx.code(ErrorCode::invalid_topic_exception);
        continue;
      }
      const Offset hw = partition->high_watermark();
      const Offset to = p.offset == -1 ? hw : Offset(p.offset);
      if (to < Offset(0) || to > hw) {
        pr.error_code = ctx.code(ErrorCode::offset_out_of_range);
        continue;
      }
      if (to > partition->start_offset()) {
        // The file work runs on the disk thread: other clients go on meanwhile.
        if (auto s = co_await partition->advance_start(to); !s) {
          pr.error_code = ctx.code(error_code_for(s.error().code()));
          continue;
        }
      }
      pr.low_watermark = partition->start_offset().value();
    }
  }
  co_return r;
}

}  // namespace spate::broker
