// SPDX-License-Identifier: Apache-2.0
//
// Committed offsets: OffsetCommit (8, v0-v7, not flexible in range) and
// OffsetFetch (9, v1-v7, flexible from v6) (kafka-protocol.md §4.13-4.14).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct OffsetCommitPartition {
  std::int32_t partition_index = 0;
  std::int64_t committed_offset = 0;
  std::int32_t committed_leader_epoch = -1;  // v6+
  std::int64_t commit_timestamp = -1;        // v1 only
  std::optional<std::string> committed_metadata;
  bool operator==(const OffsetCommitPartition&) const = default;
};

struct OffsetCommitTopic {
  std::string name;
  std::vector<OffsetCommitPartition> partitions;
  bool operator==(const OffsetCommitTopic&) const = default;
};

struct OffsetCommitRequest {
  std::string group_id;
  std::int32_t generation_id_or_member_epoch = -1;  // v1+
  std::string member_id;                            // v1+
  std::optional<std::string> group_instance_id;     // v7+
  std::int64_t retention_time_ms = -1;              // v2-v4
  std::vector<OffsetCommitTopic> topics;
  bool operator==(const OffsetCommitRequest&) const = default;
};

template <class Io>
void fields(Io& io, OffsetCommitRequest& m, std::int16_t version) {
  io.string(m.group_id, false, "group_id");
  if (version >= 1) {
    io.i32(m.generation_id_or_member_epoch, "generation_id_or_member_epoch");
    io.string(m.member_id, false, "member_id");
  }
  if (version >= 7) io.nullable_string(m.group_instance_id, false, "group_instance_id");
  if (version >= 2 && version <= 4) io.i64(m.retention_time_ms, "retention_time_ms");
  io.array(m.topics, false, 6, "topics", [&](OffsetCommitTopic& t) {
    io.string(t.name, false, "topics[].name");
    io.array(t.partitions, false, 14, "partitions", [&](OffsetCommitPartition& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.i64(p.committed_offset, "partitions[].committed_offset");
      if (version >= 6) io.i32(p.committed_leader_epoch, "committed_leader_epoch");
      if (version == 1) io.i64(p.commit_timestamp, "commit_timestamp");
      io.nullable_string(p.committed_metadata, false, "committed_metadata");
    });
  });
}

struct OffsetCommitPartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
  bool operator==(const OffsetCommitPartitionResponse&) const = default;
};

struct OffsetCommitTopicResponse {
  std::string name;
  std::vector<OffsetCommitPartitionResponse> partitions;
  bool operator==(const OffsetCommitTopicResponse&) const = default;
};

struct OffsetCommitResponse {
  std::int32_t throttle_time_ms = 0;  // v3+
  std::vector<OffsetCommitTopicResponse> topics;
  bool operator==(const OffsetCommitResponse&) const = default;
};

template <class Io>
void fields(Io& io, OffsetCommitResponse& m, std::int16_t version) {
  if (version >= 3) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.topics, false, 6, "topics", [&](OffsetCommitTopicResponse& t) {
    io.string(t.name, false, "topics[].name");
    io.array(t.partitions, false, 6, "partitions", [&](OffsetCommitPartitionResponse& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.i16(p.error_code, "partitions[].error_code");
    });
  });
}

struct OffsetFetchTopic {
  std::string name;
  std::vector<std::int32_t> partition_indexes;
  bool operator==(const OffsetFetchTopic&) const = default;
};

struct OffsetFetchRequest {
  std::string group_id;
  std::optional<std::vector<OffsetFetchTopic>> topics;  // null (v2+): all topics
  bool require_stable = false;                          // v7+
  bool operator==(const OffsetFetchRequest&) const = default;
};

template <class Io>
void fields(Io& io, OffsetFetchRequest& m, std::int16_t version) {
  const bool flex = version >= 6;
  io.string(m.group_id, flex, "group_id");
  auto topic = [&](OffsetFetchTopic& t) {
    io.string(t.name, flex, "topics[].name");
    io.array(t.partition_indexes, flex, 4, "topics[].partition_indexes",
             [&](std::int32_t& p) { io.i32(p, "partition_index"); });
    if (flex) io.tagged_fields("topics[].tagged_fields");
  };
  const std::size_t topic_min = flex ? 3 : 6;
  if (version >= 2) {
    io.nullable_array(m.topics, flex, topic_min, "topics", topic);
  } else {
    std::vector<OffsetFetchTopic> none;
    auto& list = m.topics ? *m.topics : (Io::kDecoding ? m.topics.emplace() : none);
    io.array(list, flex, topic_min, "topics", topic);
  }
  if (version >= 7) io.boolean(m.require_stable, "require_stable");
  if (flex) io.tagged_fields();
}

struct OffsetFetchPartitionResponse {
  std::int32_t partition_index = 0;
  std::int64_t committed_offset = -1;
  std::int32_t committed_leader_epoch = -1;  // v5+
  std::optional<std::string> metadata;
  std::int16_t error_code = 0;
  bool operator==(const OffsetFetchPartitionResponse&) const = default;
};

struct OffsetFetchTopicResponse {
  std::string name;
  std::vector<OffsetFetchPartitionResponse> partitions;
  bool operator==(const OffsetFetchTopicResponse&) const = default;
};

struct OffsetFetchResponse {
  std::int32_t throttle_time_ms = 0;  // v3+
  std::vector<OffsetFetchTopicResponse> topics;
  std::int16_t error_code = 0;  // v2+
  bool operator==(const OffsetFetchResponse&) const = default;
};

template <class Io>
void fields(Io& io, OffsetFetchResponse& m, std::int16_t version) {
  const bool flex = version >= 6;
  if (version >= 3) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.topics, flex, flex ? 3 : 6, "topics", [&](OffsetFetchTopicResponse& t) {
    io.string(t.name, flex, "topics[].name");
    io.array(t.partitions, flex, flex ? 16 : 16, "partitions",
             [&](OffsetFetchPartitionResponse& p) {
               io.i32(p.partition_index, "partitions[].partition_index");
               io.i64(p.committed_offset, "partitions[].committed_offset");
               if (version >= 5) io.i32(p.committed_leader_epoch, "committed_leader_epoch");
               io.nullable_string(p.metadata, flex, "partitions[].metadata");
               io.i16(p.error_code, "partitions[].error_code");
               if (flex) io.tagged_fields("partitions[].tagged_fields");
             });
    if (flex) io.tagged_fields("topics[].tagged_fields");
  });
  if (version >= 2) io.i16(m.error_code, "error_code");
  if (flex) io.tagged_fields();
}

}  // namespace spate::protocol
