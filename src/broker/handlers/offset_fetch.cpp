// SPDX-License-Identifier: Apache-2.0
//
// OffsetFetch (v1-v7): a group's committed offsets, of the partitions asked
// for (-1 where none is committed) or, with a null topic list (v2+), of every
// partition it committed. v1 has no top-level error: a request-wide one
// (loading, a bad group id) goes on each partition. require_stable (v7)
// needs nothing: without transactions no offset is pending.

#include <map>

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/offsets.h"

#include "common.h"

namespace spate::broker {
namespace {

using Committed = std::map<groups::PartitionKey, groups::CommittedOffset>;

protocol::OffsetFetchResponse from_map(Committed& committed) {
  protocol::OffsetFetchResponse r;
  for (auto& [key, value] : committed) {
    if (r.topics.empty() || r.topics.back().name != key.topic) {
      r.topics.emplace_back().name = key.topic;
    }
    protocol::OffsetFetchPartitionResponse p;
    p.partition_index = key.partition;
    p.committed_offset = value.offset;
    p.committed_leader_epoch = value.leader_epoch;
    p.metadata = std::move(value.metadata);
    r.topics.back().partitions.push_back(std::move(p));
  }
  return r;
}

// The partitions asked for, in the request's order (repeats kept).
protocol::OffsetFetchResponse in_request_order(const std::vector<protocol::OffsetFetchTopic>& asked,
                                               const Committed& committed, ErrorCode each) {
  protocol::OffsetFetchResponse r;
  r.topics.reserve(asked.size());
  for (const auto& t : asked) {
    auto& out = r.topics.emplace_back();
    out.name = t.name;
    out.partitions.reserve(t.partition_indexes.size());
    for (auto index : t.partition_indexes) {
      protocol::OffsetFetchPartitionResponse p;
      p.partition_index = index;
      p.metadata = "";
      p.error_code = static_cast<std::int16_t>(each);
      auto it = committed.find({t.name, index});
      if (it != committed.end()) {
        p.committed_offset = it->second.offset;
        p.committed_leader_epoch = it->second.leader_epoch;
        p.metadata = it->second.metadata;
      }
      out.partitions.push_back(std::move(p));
    }
  }
  return r;
}

}  // namespace

awaitable<std::optional<protocol::OffsetFetchResponse>> offset_fetch(
    HandlerContext& ctx, protocol::OffsetFetchRequest& request) {
  Committed committed;
  std::optional<std::vector<groups::PartitionKey>> wanted;
  if (request.topics) {
    wanted.emplace();
    for (const auto& t : *request.topics) {
      for (auto index : t.partition_indexes) wanted->push_back({t.name, index});
    }
  }
  auto error = groups::GroupError::coordinator_not_available;
  if (ctx.coordinator != nullptr) {
    error = ctx.coordinator->fetch(request.group_id, wanted, committed);
  }
  const ErrorCode code = error_code_for(error);
  protocol::OffsetFetchResponse r;
  if (error == groups::GroupError::none) {
    r = request.topics ? in_request_order(*request.topics, committed, ErrorCode::none)
                       : from_map(committed);
  } else if (ctx.version() < 2 && request.topics) {
    r = in_request_order(*request.topics, {}, code);
  }
  r.error_code = ctx.code(code);
  co_return r;
}

}  // namespace spate::broker
