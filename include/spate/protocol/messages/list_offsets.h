// SPDX-License-Identifier: Apache-2.0
//
// ListOffsets (key 2), v1-v3, none flexible (kafka-protocol.md §4.5).

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
      io.i64(p.timestamp, "partitions[].timestamp");
    });
  });
}

struct ListOffsetsPartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
  std::int64_t timestamp = -1;
  std::int64_t offset = -1;
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
    });
  });
}

}  // namespace spate::protocol
