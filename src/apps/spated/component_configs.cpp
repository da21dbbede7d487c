// SPDX-License-Identifier: Apache-2.0
//
// The settings each component starts from, taken from the daemon's settings:
// the table of broker-level configs that DescribeConfigs shows, the broker's
// limits and the Kafka listener's.

#include <string>

#include "options.h"

namespace spate::apps {

broker::BrokerConfig broker_config(const DaemonConfig& c, std::string cluster_id) {
  broker::BrokerConfig bc;
  bc.node_id = c.node_id;
  bc.cluster_id = std::move(cluster_id);
  bc.auto_create_topics = c.auto_create_topics;
  bc.default_partitions = c.num_partitions;
  bc.frame_bytes_max = c.max_frame_bytes;
  bc.fetch_bytes_max = c.fetch_max_bytes;
  bc.request_decompressed_bytes_max = static_cast<std::size_t>(c.max_request_decompressed_bytes);
  bc.decode_limits.items_total_max = c.max_request_entries;
  bc.broker_configs = {
      {"auto.create.topics.enable", c.auto_create_topics ? "true" : "false"},
      {"num.partitions", std::to_string(c.num_partitions)},
      {"log.dirs", c.data_dir},
      {"log.segment.bytes", std::to_string(c.segment_bytes_max)},
      {"log.roll.ms", std::to_string(c.segment_ms)},
      {"log.retention.ms", std::to_string(c.retention_ms)},
      {"log.retention.bytes", std::to_string(c.retention_bytes)},
      {"message.max.bytes", std::to_string(c.max_message_bytes)},
      {"spate.flush.policy", c.flush_policy},
      {"log.flush.interval.ms", std::to_string(c.flush_interval_ms)},
      {"socket.request.max.bytes", std::to_string(c.max_frame_bytes)},
      {"fetch.max.bytes", std::to_string(c.fetch_max_bytes)},
      {"connections.max.idle.ms", std::to_string(c.idle_timeout_ms)},
      {"max.connections", std::to_string(c.max_connections)},
      {"queued.max.request.bytes", std::to_string(c.max_queued_bytes)},
      {"default.replication.factor", "1"},
      {"transactional.id.expiration.ms", std::to_string(c.producer_id_expiration_ms)},
      {"spate.max.producer.ids.per.partition", std::to_string(c.max_producer_ids_per_partition)},
  };
  return bc;
}

server::ServerConfig server_config(const DaemonConfig& c, const HostPort& listen) {
  server::ServerConfig sc;
  sc.host = listen.host;
  sc.port = listen.port;
  sc.frame_bytes_max = c.max_frame_bytes;
  sc.connections_max = c.max_connections;
  sc.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  sc.inflight_requests_max = c.max_inflight_requests;
  sc.queued_bytes_max = c.max_queued_bytes;
  sc.queued_response_bytes_max = c.max_queued_response_bytes;
  sc.write_timeout = std::chrono::milliseconds(c.write_timeout_ms);
  return sc;
}

}  // namespace spate::apps
