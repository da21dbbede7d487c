// SPDX-License-Identifier: Apache-2.0
//
// Metadata (key 3), v0-v7, none flexible (kafka-protocol.md §4.2). v7 changes
// only the response (each partition's leader epoch); its request is v6's.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct MetadataRequestTopic {
  std::string name;
  bool operator==(const MetadataRequestTopic&) const = default;
};

struct MetadataRequest {
  // v1+: null means "all topics"; v0: an empty array means all topics.
  std::optional<std::vector<MetadataRequestTopic>> topics;
  bool allow_auto_topic_creation = true;  // v4+
  bool operator==(const MetadataRequest&) const = default;
};

template <class Io>
void fields(Io& io, MetadataRequest& m, std::int16_t version) {
  auto topic = [&](MetadataRequestTopic& t) { io.string(t.name, false, "topics[].name"); };
  if (version >= 1) {
    io.nullable_array(m.topics, false, kStringBytesMin, "topics", topic);
  } else {
    // v0 has no null: an empty array asks for every topic.
    std::vector<MetadataRequestTopic> none;
    auto& list = m.topics ? *m.topics : (Io::kDecoding ? m.topics.emplace() : none);
    io.array(list, false, kStringBytesMin, "topics", topic);
  }
  if (version >= 4) io.boolean(m.allow_auto_topic_creation, "allow_auto_topic_creation");
}

struct MetadataResponseBroker {
  std::int32_t node_id = 0;
  std::string host;
  std::int32_t port = 0;
  std::optional<std::string> rack;  // v1+
  bool operator==(const MetadataResponseBroker&) const = default;
};

struct MetadataResponsePartition {
  std::int16_t error_code = 0;
  std::int32_t partition_index = 0;
  std::int32_t leader_id = 0;
  std::int32_t leader_epoch = -1;  // v7+; -1: unknown (clients then do not fence with it)
  std::vector<std::int32_t> replica_nodes;
  std::vector<std::int32_t> isr_nodes;
  std::vector<std::int32_t> offline_replicas;  // v5+
  bool operator==(const MetadataResponsePartition&) const = default;
};

struct MetadataResponseTopic {
  std::int16_t error_code = 0;
  std::string name;
  bool is_internal = false;  // v1+
  std::vector<MetadataResponsePartition> partitions;
  bool operator==(const MetadataResponseTopic&) const = default;
};

struct MetadataResponse {
  std::int32_t throttle_time_ms = 0;  // v3+
  std::vector<MetadataResponseBroker> brokers;
  std::optional<std::string> cluster_id;  // v2+
  std::int32_t controller_id = -1;        // v1+
  std::vector<MetadataResponseTopic> topics;
  bool operator==(const MetadataResponse&) const = default;
};

template <class Io>
void int32_array(Io& io, std::vector<std::int32_t>& v, std::string_view field) {
  io.array(v, false, 4, field, [&](std::int32_t& x) { io.i32(x, field); });
}

template <class Io>
void fields(Io& io, MetadataResponse& m, std::int16_t version) {
  if (version >= 3) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.brokers, false, 10, "brokers", [&](MetadataResponseBroker& b) {
    io.i32(b.node_id, "brokers[].node_id");
    io.string(b.host, false, "brokers[].host");
    io.i32(b.port, "brokers[].port");
    if (version >= 1) io.nullable_string(b.rack, false, "brokers[].rack");
  });
  if (version >= 2) io.nullable_string(m.cluster_id, false, "cluster_id");
  if (version >= 1) io.i32(m.controller_id, "controller_id");
  // A partition's smallest encoding: error, index, leader, two empty arrays,
  // then the empty offline array (v5+) and the epoch (v7+).
  const std::size_t partition_min = 18U + (version >= 5 ? 4U : 0U) + (version >= 7 ? 4U : 0U);
  io.array(m.topics, false, 8, "topics", [&](MetadataResponseTopic& t) {
    io.i16(t.error_code, "topics[].error_code");
    io.string(t.name, false, "topics[].name");
    if (version >= 1) io.boolean(t.is_internal, "topics[].is_internal");
    io.array(t.partitions, false, partition_min, "topics[].partitions",
             [&](MetadataResponsePartition& p) {
               io.i16(p.error_code, "partitions[].error_code");
               io.i32(p.partition_index, "partitions[].partition_index");
               io.i32(p.leader_id, "partitions[].leader_id");
               if (version >= 7) io.i32(p.leader_epoch, "partitions[].leader_epoch");
               int32_array(io, p.replica_nodes, "partitions[].replica_nodes");
               int32_array(io, p.isr_nodes, "partitions[].isr_nodes");
               if (version >= 5)
                 int32_array(io, p.offline_replicas, "partitions[].offline_replicas");
             });
  });
}

}  // namespace spate::protocol
