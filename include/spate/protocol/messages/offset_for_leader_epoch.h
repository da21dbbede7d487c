// SPDX-License-Identifier: Apache-2.0
//
// OffsetForLeaderEpoch (key 23), v0-v3, none flexible (kafka-protocol.md
// §4.23): a consumer (KIP-320) or follower (KIP-101) asks where an epoch
// ends. v1 adds the answer's leader epoch, v2 the current leader epoch
// (fencing) and the throttle time, v3 the replica id (-1: a consumer).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct OffsetForLeaderPartition {
  std::int32_t partition = 0;
  std::int32_t current_leader_epoch = -1;  // v2+
  std::int32_t leader_epoch = 0;
  bool operator==(const OffsetForLeaderPartition&) const = default;
};

struct OffsetForLeaderTopic {
  std::string topic;
  std::vector<OffsetForLeaderPartition> partitions;
  bool operator==(const OffsetForLeaderTopic&) const = default;
};

struct OffsetForLeaderEpochRequest {
  std::int32_t replica_id = -2;  // v3+; older versions mean "a debugging consumer"
  std::vector<OffsetForLeaderTopic> topics;
  bool operator==(const OffsetForLeaderEpochRequest&) const = default;
};

template <class Io>
void fields(Io& io, OffsetForLeaderEpochRequest& m, std::int16_t version) {
  if (version >= 3) io.i32(m.replica_id, "replica_id");
  io.array(m.topics, false, 6, "topics", [&](OffsetForLeaderTopic& t) {
    io.string(t.topic, false, "topics[].topic");
    io.array(t.partitions, false, 8, "partitions", [&](OffsetForLeaderPartition& p) {
      io.i32(p.partition, "partitions[].partition");
      if (version >= 2) io.i32(p.current_leader_epoch, "partitions[].current_leader_epoch");
      io.i32(p.leader_epoch, "partitions[].leader_epoch");
    });
  });
}

struct EpochEndOffset {
  std::int16_t error_code = 0;
  std::int32_t partition = 0;
  std::int32_t leader_epoch = -1;  // v1+
  std::int64_t end_offset = -1;
  bool operator==(const EpochEndOffset&) const = default;
};

struct OffsetForLeaderTopicResult {
  std::string topic;
  std::vector<EpochEndOffset> partitions;
  bool operator==(const OffsetForLeaderTopicResult&) const = default;
};

struct OffsetForLeaderEpochResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::vector<OffsetForLeaderTopicResult> topics;
  bool operator==(const OffsetForLeaderEpochResponse&) const = default;
};

template <class Io>
void fields(Io& io, OffsetForLeaderEpochResponse& m, std::int16_t version) {
  if (version >= 2) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.topics, false, 6, "topics", [&](OffsetForLeaderTopicResult& t) {
    io.string(t.topic, false, "topics[].topic");
    io.array(t.partitions, false, 14, "partitions", [&](EpochEndOffset& p) {
      io.i16(p.error_code, "partitions[].error_code");
      io.i32(p.partition, "partitions[].partition");
      if (version >= 1) io.i32(p.leader_epoch, "partitions[].leader_epoch");
      io.i64(p.end_offset, "partitions[].end_offset");
    });
  });
}

}  // namespace spate::protocol
