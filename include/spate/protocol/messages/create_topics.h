// SPDX-License-Identifier: Apache-2.0
//
// CreateTopics (key 19), v0-v4, none flexible (kafka-protocol.md §4.6).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct CreateTopicsAssignment {
  std::int32_t partition_index = 0;
  std::vector<std::int32_t> broker_ids;
  bool operator==(const CreateTopicsAssignment&) const = default;
};

struct CreateTopicsConfig {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const CreateTopicsConfig&) const = default;
};

struct CreateTopicsTopic {
  std::string name;
  std::int32_t num_partitions = -1;      // -1: broker default
  std::int16_t replication_factor = -1;  // -1: broker default
  std::vector<CreateTopicsAssignment> assignments;
  std::vector<CreateTopicsConfig> configs;
  bool operator==(const CreateTopicsTopic&) const = default;
};

struct CreateTopicsRequest {
  std::vector<CreateTopicsTopic> topics;
  std::int32_t timeout_ms = 60000;
  bool validate_only = false;  // v1+
  bool operator==(const CreateTopicsRequest&) const = default;
};

template <class Io>
void fields(Io& io, CreateTopicsRequest& m, std::int16_t version) {
  io.array(m.topics, false, 16, "topics", [&](CreateTopicsTopic& t) {
    io.string(t.name, false, "topics[].name");
    io.i32(t.num_partitions, "topics[].num_partitions");
    io.i16(t.replication_factor, "topics[].replication_factor");
    io.array(t.assignments, false, 8, "assignments", [&](CreateTopicsAssignment& a) {
      io.i32(a.partition_index, "assignments[].partition_index");
      io.array(a.broker_ids, false, 4, "assignments[].broker_ids",
               [&](std::int32_t& b) { io.i32(b, "broker_id"); });
    });
    io.array(t.configs, false, 4, "configs", [&](CreateTopicsConfig& c) {
      io.string(c.name, false, "configs[].name");
      io.nullable_string(c.value, false, "configs[].value");
    });
  });
  io.i32(m.timeout_ms, "timeout_ms");
  if (version >= 1) io.boolean(m.validate_only, "validate_only");
}

struct CreateTopicsTopicResult {
  std::string name;
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;  // v1+
  bool operator==(const CreateTopicsTopicResult&) const = default;
};

struct CreateTopicsResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::vector<CreateTopicsTopicResult> topics;
  bool operator==(const CreateTopicsResponse&) const = default;
};

template <class Io>
void fields(Io& io, CreateTopicsResponse& m, std::int16_t version) {
  if (version >= 2) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.topics, false, 4, "topics", [&](CreateTopicsTopicResult& t) {
    io.string(t.name, false, "topics[].name");
    io.i16(t.error_code, "topics[].error_code");
    if (version >= 1) io.nullable_string(t.error_message, false, "topics[].error_message");
  });
}

}  // namespace spate::protocol
