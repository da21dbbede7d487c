// SPDX-License-Identifier: Apache-2.0
//
// OffsetCommit (v0-v7): committed offsets, durable in __consumer_offsets
// before the answer. A member of a group commits with its generation; a
// commit without one (v0, or generation -1: a consumer that assigns its
// partitions itself) is accepted while the group has no members. The
// retention time of v2-v4 and the commit timestamp of v1 are ignored, as in
// Kafka 2.1+ (offsets expire offsets.retention.minutes after the group
// empties).

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/offsets.h"

#include "common.h"

namespace spate::broker {
namespace {

// How long a commit waits to be durable (Kafka's offsets.commit.timeout.ms).
constexpr std::int32_t kCommitTimeoutMs = 5000;

}  // namespace

awaitable<std::optional<protocol::OffsetCommitResponse>> offset_commit(
    HandlerContext& ctx, protocol::OffsetCommitRequest& request) {
  std::vector<groups::CommitEntry> entries;
  for (auto& t : request.topics) {
    for (auto& p : t.partitions) {
      groups::CommitEntry e;
      e.partition = {t.name, p.partition_index};
      e.value.offset = p.committed_offset;
      e.value.leader_epoch = p.committed_leader_epoch;
      e.value.metadata = p.committed_metadata.value_or("");
      if (ctx.coordinator == nullptr) e.error = groups::GroupError::coordinator_not_available;
      entries.push_back(std::move(e));
    }
  }
  if (ctx.coordinator != nullptr) {
    const std::int32_t generation = ctx.version() >= 1 ? request.generation_id_or_member_epoch : -1;
    co_await ctx.coordinator->commit(request.group_id, request.member_id, generation,
                                     request.group_instance_id, entries,
                                     deadline_after(ctx, kCommitTimeoutMs));
  }
  protocol::OffsetCommitResponse r;
  r.topics.reserve(request.topics.size());
  std::size_t i = 0;
  for (auto& t : request.topics) {
    auto& out = r.topics.emplace_back();
    out.name = std::move(t.name);
    out.partitions.reserve(t.partitions.size());
    for (const auto& p : t.partitions) {
      out.partitions.push_back({p.partition_index, ctx.code(error_code_for(entries[i++].error))});
    }
  }
  co_return r;
}

}  // namespace spate::broker
