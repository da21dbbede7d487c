// SPDX-License-Identifier: Apache-2.0
//
// Kafka API keys, the version ranges Spate advertises (kafka-protocol.md §0),
// the first flexible version of each API (§1.4) and the header versions.

#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace spate::protocol {

enum class ApiKey : std::int16_t {
  produce = 0,
  fetch = 1,
  list_offsets = 2,
  metadata = 3,
  offset_commit = 8,
  offset_fetch = 9,
  find_coordinator = 10,
  join_group = 11,
  heartbeat = 12,
  leave_group = 13,
  sync_group = 14,
  describe_groups = 15,
  list_groups = 16,
  sasl_handshake = 17,
  api_versions = 18,
  create_topics = 19,
  delete_topics = 20,
  delete_records = 21,
  init_producer_id = 22,
  offset_for_leader_epoch = 23,
  describe_configs = 32,
  alter_configs = 33,
  sasl_authenticate = 36,
  create_partitions = 37,
  delete_groups = 42,
  incremental_alter_configs = 44,
  alter_partition_reassignments = 45,
  list_partition_reassignments = 46,
  unregister_broker = 64,
};

struct ApiInfo {
  ApiKey key;
  std::string_view name;
  std::int16_t min_version;  // advertised range (kafka-protocol.md §0)
  std::int16_t max_version;
  std::int16_t flexible_from;  // first flexible version (may be above the range)
};

// Every API of the table in kafka-protocol.md §0, plus AlterConfigs,
// DeleteGroups, IncrementalAlterConfigs, OffsetForLeaderEpoch, the
// partition reassignment APIs (KIP-455) and UnregisterBroker, by key.
[[nodiscard]] std::span<const ApiInfo> api_table();
[[nodiscard]] std::optional<ApiInfo> api_info(std::int16_t key);

[[nodiscard]] inline bool is_flexible(const ApiInfo& api, std::int16_t version) {
  return version >= api.flexible_from;
}

// Request header v2 for flexible versions, else v1 (§1.4).
[[nodiscard]] std::int16_t request_header_version(const ApiInfo& api, std::int16_t version);
// Response header v1 for flexible versions, else v0; ApiVersions always v0 (KIP-511).
[[nodiscard]] std::int16_t response_header_version(const ApiInfo& api, std::int16_t version);

// The same for any (api_key, api_version), including keys outside the table:
// ControlledShutdown (7) v0 is the one request with header v0 (§1.2); any
// other unknown key is read as header v1 / answered with header v0, so that
// its correlation id is known.
inline constexpr std::int16_t kControlledShutdownKey = 7;
[[nodiscard]] std::int16_t request_header_version(std::int16_t api_key, std::int16_t api_version);
[[nodiscard]] std::int16_t response_header_version(std::int16_t api_key, std::int16_t api_version);

}  // namespace spate::protocol
