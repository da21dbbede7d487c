// SPDX-License-Identifier: Apache-2.0
//
// ListOffsets (key 2), v1-v5, none flexible (kafka-protocol.md §4.5); v4
// adds the current leader epoch (KIP-320) and the answer's leader epoch, v5
// is v4 (it allows OFFSET_NOT_AVAILABLE, which Spate never needs: only a
// confirmed leader answers).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

inline constexpr std::int64_t kListOffsetsLatest = -1;
inline constexpr std::int64_t kListOffsetsEarliest = -2;

struct ListOffsetsPartition {
  std::int32_t partition_index = 0;
  std::int64_t timestamp = 0;
  // v4+; after the timestamp here (not on the wire) so that {index, timestamp} still reads so.
  std::int32_t current_leader_epoch = -1;
  bool operator==(const ListOffsetsPartition&) const = default;
};

struct ListOffsetsTopic {
  std::string name;
  std::vector<ListOffsetsPartition> partitions;
  bool operator==(const ListOffsetsTopic&) const = default;
};

struct ListOffsetsRequest {
  std::int32_t replica_id = -1;
  std::int8_t isolation_level = 0;  // v2+
  std::vector<ListOffsetsTopic> topics;
  bool operator==(const ListOffsetsRequest&) const = default;
};

template <class Io>
void fields(Io& io, ListOffsetsRequest& m, std::int16_t version) {
  io.i32(m.replica_id, "replica_id");
  if (version >= 2) io.i8(m.isolation_level, "isolation_level");
  io.array(m.topics, false, 6, "topics", [&](ListOffsetsTopic& t) {
    io.string(t.name, false, "topics[].name");
    io.array(t.partitions, false, 12, "partitions", [&](ListOffsetsPartition& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      if (version >= 4) io.i32(p.current_leader_epoch, "partitions[].current_leader_epoch");
      io.i64(p.timestamp, "partitions[].timestamp");
    });
  });
}

struct ListOffsetsPartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
  std::int64_t timestamp = -1;
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;  // v4+
  bool operator==(const ListOffsetsPartitionResponse&) const = default;
};

struct ListOffsetsTopicResponse {
  std::string name;
  std::vector<ListOffsetsPartitionResponse> partitions;
  bool operator==(const ListOffsetsTopicResponse&) const = default;
};

struct ListOffsetsResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::vector<ListOffsetsTopicResponse> topics;
  bool operator==(const ListOffsetsResponse&) const = default;
};

template <class Io>
void fields(Io& io, ListOffsetsResponse& m, std::int16_t version) {
  if (version >= 2) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.topics, false, 6, "topics", [&](ListOffsetsTopicResponse& t) {
    io.string(t.name, false, "topics[].name");
    io.array(t.partitions, false, 22, "partitions", [&](ListOffsetsPartitionResponse& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.i16(p.error_code, "partitions[].error_code");
      io.i64(p.timestamp, "partitions[].timestamp");
      io.i64(p.offset, "partitions[].offset");
      if (version >= 4) io.i32(p.leader_epoch, "partitions[].leader_epoch");
    });
  });
}

}  // namespace spate::protocol
