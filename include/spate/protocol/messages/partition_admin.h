// SPDX-License-Identifier: Apache-2.0
//
// CreatePartitions (37, v0-v1) and DeleteRecords (21, v0-v1), none flexible
// (kafka-protocol.md §4.19-4.20).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct CreatePartitionsAssignment {
  std::vector<std::int32_t> broker_ids;
  bool operator==(const CreatePartitionsAssignment&) const = default;
};

struct CreatePartitionsTopic {
  std::string name;
  std::int32_t count = 0;
  std::optional<std::vector<CreatePartitionsAssignment>> assignments;
  bool operator==(const CreatePartitionsTopic&) const = default;
};

struct CreatePartitionsRequest {
  std::vector<CreatePartitionsTopic> topics;
  std::int32_t timeout_ms = 0;
  bool validate_only = false;
  bool operator==(const CreatePartitionsRequest&) const = default;
};

template <class Io>
void fields(Io& io, CreatePartitionsRequest& m, std::int16_t /*version*/) {
  io.array(m.topics, false, 10, "topics", [&](CreatePartitionsTopic& t) {
    io.string(t.name, false, "topics[].name");
    io.i32(t.count, "topics[].count");
    io.nullable_array(t.assignments, false, 4, "topics[].assignments",
                      [&](CreatePartitionsAssignment& a) {
                        io.array(a.broker_ids, false, 4, "assignments[].broker_ids",
                                 [&](std::int32_t& b) { io.i32(b, "broker_id"); });
                      });
  });
  io.i32(m.timeout_ms, "timeout_ms");
  io.boolean(m.validate_only, "validate_only");
}

struct CreatePartitionsResult {
  std::string name;
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  bool operator==(const CreatePartitionsResult&) const = default;
};

struct CreatePartitionsResponse {
  std::int32_t throttle_time_ms = 0;
  std::vector<CreatePartitionsResult> results;
  bool operator==(const CreatePartitionsResponse&) const = default;
};

template <class Io>
void fields(Io& io, CreatePartitionsResponse& m, std::int16_t /*version*/) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.results, false, 6, "results", [&](CreatePartitionsResult& r) {
    io.string(r.name, false, "results[].name");
    io.i16(r.error_code, "results[].error_code");
    io.nullable_string(r.error_message, false, "results[].error_message");
  });
}

struct DeleteRecordsPartition {
  std::int32_t partition_index = 0;
  std::int64_t offset = 0;
  bool operator==(const DeleteRecordsPartition&) const = default;
};

struct DeleteRecordsTopic {
  std::string name;
  std::vector<DeleteRecordsPartition> partitions;
  bool operator==(const DeleteRecordsTopic&) const = default;
};

struct DeleteRecordsRequest {
  std::vector<DeleteRecordsTopic> topics;
  std::int32_t timeout_ms = 0;
  bool operator==(const DeleteRecordsRequest&) const = default;
};

template <class Io>
void fields(Io& io, DeleteRecordsRequest& m, std::int16_t /*version*/) {
  io.array(m.topics, false, 6, "topics", [&](DeleteRecordsTopic& t) {
    io.string(t.name, false, "topics[].name");
    io.array(t.partitions, false, 12, "partitions", [&](DeleteRecordsPartition& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.i64(p.offset, "partitions[].offset");
    });
  });
  io.i32(m.timeout_ms, "timeout_ms");
}

struct DeleteRecordsPartitionResult {
  std::int32_t partition_index = 0;
  std::int64_t low_watermark = 0;
  std::int16_t error_code = 0;
  bool operator==(const DeleteRecordsPartitionResult&) const = default;
};

struct DeleteRecordsTopicResult {
  std::string name;
  std::vector<DeleteRecordsPartitionResult> partitions;
  bool operator==(const DeleteRecordsTopicResult&) const = default;
};

struct DeleteRecordsResponse {
  std::int32_t throttle_time_ms = 0;
  std::vector<DeleteRecordsTopicResult> topics;
  bool operator==(const DeleteRecordsResponse&) const = default;
};

template <class Io>
void fields(Io& io, DeleteRecordsResponse& m, std::int16_t /*version*/) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.topics, false, 6, "topics", [&](DeleteRecordsTopicResult& t) {
    io.string(t.name, false, "topics[].name");
    io.array(t.partitions, false, 14, "partitions", [&](DeleteRecordsPartitionResult& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.i64(p.low_watermark, "partitions[].low_watermark");
      io.i16(p.error_code, "partitions[].error_code");
    });
  });
}

}  // namespace spate::protocol
