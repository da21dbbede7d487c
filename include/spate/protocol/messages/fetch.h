// SPDX-License-Identifier: Apache-2.0
//
// Fetch (key 1), v4-v11, none flexible (kafka-protocol.md §4.4). Response
// records stay raw bytes; the broker writes them from file regions with
// encode_fetch_response, which derives from the same `fields` as the codec.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct FetchPartition {
  std::int32_t partition = 0;
  std::int32_t current_leader_epoch = -1;  // v9+
  std::int64_t fetch_offset = 0;
  std::int64_t log_start_offset = -1;  // v5+
  std::int32_t partition_max_bytes = 0;
  bool operator==(const FetchPartition&) const = default;
};

struct FetchTopic {
  std::string topic;
  std::vector<FetchPartition> partitions;
  bool operator==(const FetchTopic&) const = default;
};

struct FetchForgottenTopic {
  std::string topic;
  std::vector<std::int32_t> partitions;
  bool operator==(const FetchForgottenTopic&) const = default;
};

struct FetchRequest {
  std::int32_t replica_id = -1;
  std::int32_t max_wait_ms = 0;
  std::int32_t min_bytes = 0;
  std::int32_t max_bytes = 0x7fffffff;
  std::int8_t isolation_level = 0;
  std::int32_t session_id = 0;      // v7+
  std::int32_t session_epoch = -1;  // v7+
  std::vector<FetchTopic> topics;
  std::vector<FetchForgottenTopic> forgotten_topics_data;  // v7+
  std::string rack_id;                                     // v11+
  bool operator==(const FetchRequest&) const = default;
};

template <class Io>
void fields(Io& io, FetchRequest& m, std::int16_t version) {
  io.i32(m.replica_id, "replica_id");
  io.i32(m.max_wait_ms, "max_wait_ms");
  io.i32(m.min_bytes, "min_bytes");
  io.i32(m.max_bytes, "max_bytes");
  io.i8(m.isolation_level, "isolation_level");
  if (version >= 7) {
    io.i32(m.session_id, "session_id");
    io.i32(m.session_epoch, "session_epoch");
  }
  io.array(m.topics, false, 6, "topics", [&](FetchTopic& t) {
    io.string(t.topic, false, "topics[].topic");
    io.array(t.partitions, false, 16, "partitions", [&](FetchPartition& p) {
      io.i32(p.partition, "partitions[].partition");
      if (version >= 9) io.i32(p.current_leader_epoch, "current_leader_epoch");
      io.i64(p.fetch_offset, "partitions[].fetch_offset");
      if (version >= 5) io.i64(p.log_start_offset, "partitions[].log_start_offset");
      io.i32(p.partition_max_bytes, "partitions[].partition_max_bytes");
    });
  });
  if (version >= 7) {
    io.array(m.forgotten_topics_data, false, 6, "forgotten_topics_data",
             [&](FetchForgottenTopic& t) {
               io.string(t.topic, false, "forgotten_topics_data[].topic");
               io.array(t.partitions, false, 4, "forgotten_topics_data[].partitions",
                        [&](std::int32_t& p) { io.i32(p, "forgotten partition"); });
             });
  }
  if (version >= 11) io.string(m.rack_id, false, "rack_id");
}

struct FetchAbortedTransaction {
  std::int64_t producer_id = 0;
  std::int64_t first_offset = 0;
  bool operator==(const FetchAbortedTransaction&) const = default;
};

struct FetchPartitionData {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
  std::int64_t high_watermark = 0;
  std::int64_t last_stable_offset = -1;
  std::int64_t log_start_offset = -1;  // v5+
  std::optional<std::vector<FetchAbortedTransaction>> aborted_transactions;
  std::int32_t preferred_read_replica = -1;  // v11+
  std::optional<std::vector<std::byte>> records;
  bool operator==(const FetchPartitionData&) const = default;
};

struct FetchTopicResponse {
  std::string topic;
  std::vector<FetchPartitionData> partitions;
  bool operator==(const FetchTopicResponse&) const = default;
};

struct FetchResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;  // v7+
  std::int32_t session_id = 0;  // v7+
  std::vector<FetchTopicResponse> responses;
  bool operator==(const FetchResponse&) const = default;
};

// A partition's records (Kafka's RECORDS type): nullable bytes for the
// codec's Decoder and Encoder; an Io that writes records from elsewhere (the
// one of encode_fetch_response) provides `records`.
template <class Io>
void records_field(Io& io, std::optional<std::vector<std::byte>>& records, std::string_view field) {
  if constexpr (requires { io.records(records, field); }) {
    io.records(records, field);
  } else {
    io.nullable_bytes(records, false, field);
  }
}

template <class Io>
void fields(Io& io, FetchResponse& m, std::int16_t version) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  if (version >= 7) {
    io.i16(m.error_code, "error_code");
    io.i32(m.session_id, "session_id");
  }
  io.array(m.responses, false, 6, "responses", [&](FetchTopicResponse& t) {
    io.string(t.topic, false, "responses[].topic");
    // Smallest partition at v4: 4 + 2 + 8 + 8 + 4 (null aborted) + 4 (null records) = 30.
    io.array(t.partitions, false, 30, "partitions", [&](FetchPartitionData& p) {
      io.i32(p.partition_index, "partitions[].partition_index");
      io.i16(p.error_code, "partitions[].error_code");
      io.i64(p.high_watermark, "partitions[].high_watermark");
      io.i64(p.last_stable_offset, "partitions[].last_stable_offset");
      if (version >= 5) io.i64(p.log_start_offset, "partitions[].log_start_offset");
      io.nullable_array(p.aborted_transactions, false, 16, "aborted_transactions",
                        [&](FetchAbortedTransaction& a) {
                          io.i64(a.producer_id, "aborted_transactions[].producer_id");
                          io.i64(a.first_offset, "aborted_transactions[].first_offset");
                        });
      if (version >= 11) io.i32(p.preferred_read_replica, "preferred_read_replica");
      records_field(io, p.records, "partitions[].records");
    });
  });
}

// Records that a Fetch response carries from elsewhere (file regions the
// broker sends with sendfile), by the index of the partition in the response
// (topics, then their partitions, in order, from 0).
struct FetchRecordRegions {
  // The size of partition k's region, or nullopt: its `records` are written.
  std::function<std::optional<std::int32_t>(std::size_t k)> size;
  // Called right after the region's INT32 length is written: region k goes
  // here, after the bytes written so far (the caller takes them from `out`).
  std::function<void(std::size_t k)> splice;
};

// Writes the body of `response` at `version` to `out` exactly as
// encode_message does, from the same `fields`, except that the records of each
// partition with a region are that region (their length written here, their
// bytes spliced in by the caller) and its `records` member is ignored.
void encode_fetch_response(ByteWriter& out, const FetchResponse& response, std::int16_t version,
                           const FetchRecordRegions& regions);

}  // namespace spate::protocol
