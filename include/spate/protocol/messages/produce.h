// SPDX-License-Identifier: Apache-2.0
//
// Produce (key 0), v0-v7, none flexible (kafka-protocol.md §4.3). Records stay
// raw bytes here; record_batch.h validates them.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct ProducePartitionData {
  std::int32_t index = 0;
  std::optional<std::vector<std::byte>> records;
  bool operator==(const ProducePartitionData&) const = default;
};

struct ProduceTopicData {
  std::string name;
  std::vector<ProducePartitionData> partition_data;
  bool operator==(const ProduceTopicData&) const = default;
};

struct ProduceRequest {
  std::optional<std::string> transactional_id;  // v3+
  std::int16_t acks = 0;
  std::int32_t timeout_ms = 0;
  std::vector<ProduceTopicData> topic_data;
  bool operator==(const ProduceRequest&) const = default;
};

template <class Io>
void fields(Io& io, ProduceRequest& m, std::int16_t version) {
  if (version >= 3) io.nullable_string(m.transactional_id, false, "transactional_id");
  io.i16(m.acks, "acks");
  io.i32(m.timeout_ms, "timeout_ms");
  io.array(m.topic_data, false, 6, "topic_data", [&](ProduceTopicData& t) {
    io.string(t.name, false, "topic_data[].name");
    io.array(t.partition_data, false, 8, "partition_data", [&](ProducePartitionData& p) {
      io.i32(p.index, "partition_data[].index");
      io.nullable_bytes(p.records, false, "partition_data[].records");
    });
  });
}

struct ProducePartitionResponse {
  std::int32_t index = 0;
  std::int16_t error_code = 0;
  std::int64_t base_offset = 0;
  std::int64_t log_append_time_ms = -1;  // v2+
  std::int64_t log_start_offset = -1;    // v5+
  bool operator==(const ProducePartitionResponse&) const = default;
};

struct ProduceTopicResponse {
  std::string name;
  std::vector<ProducePartitionResponse> partition_responses;
  bool operator==(const ProduceTopicResponse&) const = default;
};

struct ProduceResponse {
  std::vector<ProduceTopicResponse> responses;
  std::int32_t throttle_time_ms = 0;  // v1+
  bool operator==(const ProduceResponse&) const = default;
};

template <class Io>
void fields(Io& io, ProduceResponse& m, std::int16_t version) {
  io.array(m.responses, false, 6, "responses", [&](ProduceTopicResponse& t) {
    io.string(t.name, false, "responses[].name");
    io.array(t.partition_responses, false, 14, "partition_responses",
             [&](ProducePartitionResponse& p) {
               io.i32(p.index, "partition_responses[].index");
               io.i16(p.error_code, "partition_responses[].error_code");
               io.i64(p.base_offset, "partition_responses[].base_offset");
               if (version >= 2) io.i64(p.log_append_time_ms, "log_append_time_ms");
               if (version >= 5) io.i64(p.log_start_offset, "log_start_offset");
             });
  });
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
}

}  // namespace spate::protocol
