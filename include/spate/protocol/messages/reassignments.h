// SPDX-License-Identifier: Apache-2.0
//
// AlterPartitionReassignments (45, v0) and ListPartitionReassignments (46,
// v0), both flexible from v0 (KIP-455): compact strings and arrays, a tag
// section after every struct.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct ReassignablePartition {
  std::int32_t partition_index = 0;
  // The new replicas; null cancels the partition's pending reassignment.
  std::optional<std::vector<std::int32_t>> replicas;
  bool operator==(const ReassignablePartition&) const = default;
};

struct ReassignableTopic {
  std::string name;
  std::vector<ReassignablePartition> partitions;
  bool operator==(const ReassignableTopic&) const = default;
};

struct AlterPartitionReassignmentsRequest {
  std::int32_t timeout_ms = 60'000;
  std::vector<ReassignableTopic> topics;
  bool operator==(const AlterPartitionReassignmentsRequest&) const = default;
};

template <class Io>
void fields(Io& io, AlterPartitionReassignmentsRequest& m, std::int16_t /*version*/) {
  io.i32(m.timeout_ms, "timeout_ms");
  // Least sizes: a topic is a name length, a partition count and a tag
  // section; a partition an index, a replica count and a tag section.
  io.array(m.topics, true, 3, "topics", [&](ReassignableTopic& t) {
    io.string(t.name, true, "topics[].name");
    io.array(t.partitions, true, 6, "topics[].partitions", [&](ReassignablePartition& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.nullable_array(p.replicas, true, 4, "partitions[].replicas",
                        [&](std::int32_t& r) { io.i32(r, "replicas[]"); });
      io.tagged_fields("partitions[].tagged_fields");
    });
    io.tagged_fields("topics[].tagged_fields");
  });
  io.tagged_fields();
}

struct ReassignablePartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  bool operator==(const ReassignablePartitionResponse&) const = default;
};

struct ReassignableTopicResponse {
  std::string name;
  std::vector<ReassignablePartitionResponse> partitions;
  bool operator==(const ReassignableTopicResponse&) const = default;
};

struct AlterPartitionReassignmentsResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;  // for the whole request
  std::optional<std::string> error_message;
  std::vector<ReassignableTopicResponse> responses;
  bool operator==(const AlterPartitionReassignmentsResponse&) const = default;
};

template <class Io>
void fields(Io& io, AlterPartitionReassignmentsResponse& m, std::int16_t /*version*/) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.nullable_string(m.error_message, true, "error_message");
  io.array(m.responses, true, 3, "responses", [&](ReassignableTopicResponse& t) {
    io.string(t.name, true, "responses[].name");
    io.array(t.partitions, true, 8, "responses[].partitions",
             [&](ReassignablePartitionResponse& p) {
               io.i32(p.partition_index, "partitions[].partition_index");
               io.i16(p.error_code, "partitions[].error_code");
               io.nullable_string(p.error_message, true, "partitions[].error_message");
               io.tagged_fields("partitions[].tagged_fields");
             });
    io.tagged_fields("responses[].tagged_fields");
  });
  io.tagged_fields();
}

struct ListPartitionReassignmentsTopic {
  std::string name;
  std::vector<std::int32_t> partition_indexes;
  bool operator==(const ListPartitionReassignmentsTopic&) const = default;
};

struct ListPartitionReassignmentsRequest {
  std::int32_t timeout_ms = 60'000;
  // Null: every pending reassignment.
  std::optional<std::vector<ListPartitionReassignmentsTopic>> topics;
  bool operator==(const ListPartitionReassignmentsRequest&) const = default;
};

template <class Io>
void fields(Io& io, ListPartitionReassignmentsRequest& m, std::int16_t /*version*/) {
  io.i32(m.timeout_ms, "timeout_ms");
  io.nullable_array(m.topics, true, 3, "topics", [&](ListPartitionReassignmentsTopic& t) {
    io.string(t.name, true, "topics[].name");
    io.array(t.partition_indexes, true, 4, "topics[].partition_indexes",
             [&](std::int32_t& p) { io.i32(p, "partition_indexes[]"); });
    io.tagged_fields("topics[].tagged_fields");
  });
  io.tagged_fields();
}

struct OngoingPartitionReassignment {
  std::int32_t partition_index = 0;
  std::vector<std::int32_t> replicas;  // the current replicas and the target's
  std::vector<std::int32_t> adding_replicas;
  std::vector<std::int32_t> removing_replicas;
  bool operator==(const OngoingPartitionReassignment&) const = default;
};

struct OngoingTopicReassignment {
  std::string name;
  std::vector<OngoingPartitionReassignment> partitions;
  bool operator==(const OngoingTopicReassignment&) const = default;
};

struct ListPartitionReassignmentsResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  std::vector<OngoingTopicReassignment> topics;
  bool operator==(const ListPartitionReassignmentsResponse&) const = default;
};

template <class Io>
void fields(Io& io, ListPartitionReassignmentsResponse& m, std::int16_t /*version*/) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.nullable_string(m.error_message, true, "error_message");
  auto ids = [&](std::vector<std::int32_t>& v, std::string_view field) {
    io.array(v, true, 4, field, [&](std::int32_t& id) { io.i32(id, "replica"); });
  };
  io.array(m.topics, true, 3, "topics", [&](OngoingTopicReassignment& t) {
    io.string(t.name, true, "topics[].name");
    io.array(t.partitions, true, 8, "topics[].partitions", [&](OngoingPartitionReassignment& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      ids(p.replicas, "partitions[].replicas");
      ids(p.adding_replicas, "partitions[].adding_replicas");
      ids(p.removing_replicas, "partitions[].removing_replicas");
      io.tagged_fields("partitions[].tagged_fields");
    });
    io.tagged_fields("topics[].tagged_fields");
  });
  io.tagged_fields();
}

}  // namespace spate::protocol
