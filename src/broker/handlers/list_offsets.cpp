// SPDX-License-Identifier: Apache-2.0
//
// ListOffsets: earliest, latest (the high watermark) and by timestamp, on the
// confirmed leader only. v4+ (KIP-320): a current leader epoch other than the
// partition's is FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH, and each answer
// carries the epoch of the offset it names (Kafka's: the current epoch for
// latest, the epoch of the batch holding the offset otherwise).
// As in Kafka, a request with the debugging replica id (-2) is answered by
// any replica, latest being its own log end (`spate cluster info` reads the
// followers' lag from it).

#include "spate/protocol/messages/list_offsets.h"

#include "common.h"

namespace spate::broker {
namespace {

// The epoch of `offset` as ListOffsets reports it: the batch's, or for the
// log's end (an empty log) the current one; -1 where none is known.
std::int32_t epoch_of(const cluster::Partition& partition, Offset offset) {
  if (offset >= partition.end_offset()) return wire_epoch(partition.term().value());
  auto epoch = partition.epoch_at(offset);
  return epoch ? wire_epoch(epoch->value()) : -1;
}

// Kafka's ListOffsetsRequest.DEBUGGING_REPLICA_ID.
constexpr std::int32_t kDebuggingReplicaId = -2;

}  // namespace

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
      auto named = named_partition(ctx, t.name, p.partition_index, p.current_leader_epoch);
      if (named.error != ErrorCode::none) {
        pr.error_code = ctx.code(named.error);
        continue;
      }
      auto partition = std::move(named.partition);
      if (request.replica_id == kDebuggingReplicaId &&
          p.timestamp == protocol::kListOffsetsLatest) {
        pr.offset = partition->end_offset().value();
        pr.leader_epoch = wire_epoch(partition->term().value());
      } else if (p.timestamp == protocol::kListOffsetsLatest ||
                 p.timestamp == protocol::kListOffsetsEarliest) {
        if (!partition->leader()) {
          pr.error_code = ctx.code(ErrorCode::not_leader_or_follower);
          continue;
        }
        const Offset at = p.timestamp == protocol::kListOffsetsLatest
                              ? partition->client_high_watermark()
                              : partition->start_offset();
        pr.offset = at.value();
        pr.leader_epoch = p.timestamp == protocol::kListOffsetsLatest
                              ? wire_epoch(partition->term().value())
                              : epoch_of(*partition, at);
      } else if (p.timestamp < 0) {
        pr.error_code = ctx.code(ErrorCode::invalid_request);
      } else {
        // Each lookup may read and decode a batch: let others in between.
        co_await slicer.maybe_yield();
        // The topic may have gone (or been made again) meanwhile.
        partition = ctx.partitions.partition(t.name, p.partition_index);
        if (!partition || partition->closed()) {
          pr.error_code = ctx.code(partition ? ErrorCode::not_leader_or_follower
                                             : missing_partition(ctx, t.name, p.partition_index));
          continue;
        }
        auto hit = partition->find_offset_by_timestamp(p.timestamp);
        if (!hit) {
          pr.error_code = ctx.code(error_code_for(hit.error().code()));
        } else if (*hit) {
          pr.offset = (*hit)->offset.value();
          pr.timestamp = (*hit)->timestamp;
          pr.leader_epoch = epoch_of(*partition, (*hit)->offset);
        }
      }
    }
  }
  co_return r;
}

}  // namespace spate::broker
