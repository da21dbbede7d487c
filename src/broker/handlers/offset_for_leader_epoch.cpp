// SPDX-License-Identifier: Apache-2.0
//
// OffsetForLeaderEpoch (KIP-101, KIP-320): where an epoch ends on this
// partition's leader, so that a consumer that read up to some offset in that
// epoch can tell whether the log it read was since truncated (end offset
// below its position). The answer follows Kafka's rules (cluster::
// epoch_end_offset, leader_epochs.h); only the confirmed leader answers.
// Followers never ask: Raft replicates the partitions.

#include "spate/protocol/messages/offset_for_leader_epoch.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::OffsetForLeaderEpochResponse>> offset_for_leader_epoch(
    HandlerContext& ctx, protocol::OffsetForLeaderEpochRequest& request) {
  protocol::OffsetForLeaderEpochResponse r;
  // Bounded by the request (its element count is checked when decoded).
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition = p.partition;
      // (current_leader_epoch: v2+, -1 before.)
      auto named = named_partition(ctx, t.topic, p.partition, p.current_leader_epoch);
      if (named.error != ErrorCode::none) {
        pr.error_code = ctx.code(named.error);
        continue;
      }
      const auto& partition = named.partition;
      auto end = partition->end_offset_for_epoch(p.leader_epoch);
      if (!end) {
        pr.error_code = ctx.code(error_code_for(end.error().code()));
        continue;
      }
      pr.leader_epoch = wire_epoch(end->epoch);
      pr.end_offset = end->end_offset;
    }
  }
  co_return r;
}

}  // namespace spate::broker
