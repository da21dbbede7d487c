// SPDX-License-Identifier: Apache-2.0
//
// spated's settings: one name in three spellings (--flag, SPATE_FLAG, TOML
// key), defaults in the struct, parsed with CLI11 and validated before the
// data directory is touched (style.md §3.9, design.md "Processes, ports").

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/broker/broker.h"
#include "spate/common/result.h"
#include "spate/groups/coordinator.h"
#include "spate/server/kafka_server.h"
#include "spate/storage/partition_log.h"

namespace spate::apps {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// Parses "HOST:PORT" (IPv6 hosts in brackets). Errors name `setting`.
[[nodiscard]] Result<HostPort> parse_host_port(const std::string& text, const std::string& setting);

// One controller voter of --seeds: ID@HOST:PORT (its cluster address).
struct Seed {
  std::int32_t id = 0;
  HostPort address;
};
inline constexpr std::size_t kSeedsMax = 15;
// Parses --seeds. Empty text: no seeds (a single node). Errors name the bad
// entry: not ID@HOST:PORT, an id repeated, more than kSeedsMax.
[[nodiscard]] Result<std::vector<Seed>> parse_seeds(const std::string& text);

struct DaemonConfig {
  std::int32_t node_id = 0;
  std::string data_dir = "./spate-data";
  std::string listen = "0.0.0.0:9092";
  std::string advertise;  // default: the listen address, 127.0.0.1 for 0.0.0.0
  std::string cluster_listen = "0.0.0.0:9093";
  std::string admin_listen = "0.0.0.0:9094";
  std::string seeds;  // ID@HOST:PORT,...; default: this node alone
  // Replication (docs/cluster.md).
  std::int64_t replica_lag_time_max_ms = 30000;       // replica.lag.time.max.ms
  std::int64_t leader_rebalance_interval_ms = 30000;  // 0: no preferred-leader balancing
  std::int64_t broker_session_timeout_ms = 9000;      // broker.session.timeout.ms
  std::string log_level = "info";
  std::string ready_file;  // written once serving (tests)
  // Broker behaviour.
  bool auto_create_topics = true;             // auto.create.topics.enable
  std::int32_t num_partitions = 1;            // partitions of an auto-created or default topic
  std::uint32_t max_topics = 10000;           // topics on this broker
  std::uint32_t max_partitions = 10000;       // partitions on this broker, all topics together
  std::uint32_t max_request_entries = 20000;  // array items in one request
  std::int64_t fetch_max_bytes = 57671680;    // fetch.max.bytes
  std::int64_t max_request_decompressed_bytes = 32 << 20;
  // Connection limits.
  std::uint32_t max_connections = 10000;
  std::int64_t idle_timeout_ms = 600000;                 // connections.max.idle.ms
  std::uint32_t max_frame_bytes = 100U << 20U;           // socket.request.max.bytes
  std::uint32_t max_inflight_requests = 64;              // per connection
  std::uint64_t max_queued_bytes = 100U << 20U;          // broker-wide (queued.max.request.bytes)
  std::uint64_t max_queued_response_bytes = 16U << 20U;  // unsent, per connection
  std::int64_t write_timeout_ms = 30000;  // peer reads nothing (or stops mid-request)
  std::int64_t shutdown_grace_ms = 10000;
  // Storage defaults for every topic (topic configs override them).
  std::uint64_t segment_bytes_max = std::uint64_t{1} << 30U;
  std::int64_t segment_ms = 7LL * 24 * 3600 * 1000;
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  std::int64_t retention_bytes = -1;
  std::uint32_t max_message_bytes = 1048588;
  std::uint32_t index_interval_bytes = 4096;
  std::string flush_policy = "always";
  std::int64_t flush_interval_ms = 1000;
  // Sealed segment files kept open across all partitions (docs/limits.md);
  // lowered at start to a quarter of RLIMIT_NOFILE if that is smaller.
  std::uint32_t max_open_segment_files = 1000;
  // Idempotent producers remembered per partition (docs/idempotence.md).
  std::uint32_t max_producer_ids_per_partition = 10'000;
  std::int64_t producer_id_expiration_ms =
      7LL * 24 * 3600 * 1000;  // transactional.id.expiration.ms
  // Consumer groups (docs/groups.md).
  std::int32_t offsets_topic_partitions = 8;       // offsets.topic.num.partitions
  std::int64_t offsets_retention_minutes = 10080;  // offsets.retention.minutes
  std::int32_t group_min_session_timeout_ms = 6000;
  std::int32_t group_max_session_timeout_ms = 1'800'000;
  std::uint32_t group_max_size = 1000;
  std::uint32_t max_groups = 10'000;
  std::uint64_t max_offsets_bytes = 256ULL << 20U;
};

enum class ParseOutcome : std::uint8_t { run, exit_ok, exit_error };

struct Parsed {
  ParseOutcome outcome = ParseOutcome::run;
  DaemonConfig config;
  std::string message;  // for exit_ok (help, printed config) or exit_error
};

// Parses argv, the SPATE_* environment and --config FILE.
[[nodiscard]] Parsed parse_options(int argc, char** argv);

// Range and cross-field checks. Errors name the setting by its flag spelling.
[[nodiscard]] Status validate(const DaemonConfig& config);

// The storage::LogConfig that every partition starts from.
[[nodiscard]] storage::LogConfig log_config(const DaemonConfig& config);
[[nodiscard]] groups::CoordinatorConfig coordinator_config(const DaemonConfig& config);
// The broker's settings and its broker-level config table (DescribeConfigs).
[[nodiscard]] broker::BrokerConfig broker_config(const DaemonConfig& config,
                                                 std::string cluster_id);
// The Kafka listener's settings.
[[nodiscard]] server::ServerConfig server_config(const DaemonConfig& config,
                                                 const HostPort& listen);

}  // namespace spate::apps
