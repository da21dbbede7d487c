// SPDX-License-Identifier: Apache-2.0
//
// The advertised version table (kafka-protocol.md §0) and header versions (§1.4).

#include "spate/protocol/api_key.h"

#include <array>

namespace spate::protocol {
namespace {

constexpr std::int16_t kNeverFlexible = 0x7FFF;

constexpr std::array<ApiInfo, 29> kApis = {{
    {ApiKey::produce, "Produce", 0, 7, 9},
    {ApiKey::fetch, "Fetch", 4, 11, 12},
    {ApiKey::list_offsets, "ListOffsets", 1, 5, 6},
    {ApiKey::metadata, "Metadata", 0, 7, 9},
    {ApiKey::offset_commit, "OffsetCommit", 0, 7, 8},
    {ApiKey::offset_fetch, "OffsetFetch", 1, 7, 6},
    {ApiKey::find_coordinator, "FindCoordinator", 0, 2, 3},
    {ApiKey::join_group, "JoinGroup", 0, 5, 6},
    {ApiKey::heartbeat, "Heartbeat", 0, 3, 4},
    {ApiKey::leave_group, "LeaveGroup", 0, 3, 4},
    {ApiKey::sync_group, "SyncGroup", 0, 3, 4},
    {ApiKey::describe_groups, "DescribeGroups", 0, 4, 5},
    {ApiKey::list_groups, "ListGroups", 0, 4, 3},
    {ApiKey::sasl_handshake, "SaslHandshake", 0, 1, kNeverFlexible},
    {ApiKey::api_versions, "ApiVersions", 0, 3, 3},
    {ApiKey::create_topics, "CreateTopics", 0, 4, 5},
    {ApiKey::delete_topics, "DeleteTopics", 0, 3, 4},
    {ApiKey::delete_records, "DeleteRecords", 0, 1, 2},
    {ApiKey::init_producer_id, "InitProducerId", 0, 4, 2},
    {ApiKey::offset_for_leader_epoch, "OffsetForLeaderEpoch", 0, 3, 4},
    {ApiKey::describe_configs, "DescribeConfigs", 0, 2, 4},
    {ApiKey::alter_configs, "AlterConfigs", 0, 1, 2},
    {ApiKey::sasl_authenticate, "SaslAuthenticate", 0, 1, 2},
    {ApiKey::create_partitions, "CreatePartitions", 0, 1, 2},
    {ApiKey::delete_groups, "DeleteGroups", 0, 1, 2},
    {ApiKey::incremental_alter_configs, "IncrementalAlterConfigs", 0, 1, 1},
    {ApiKey::alter_partition_reassignments, "AlterPartitionReassignments", 0, 0, 0},
    {ApiKey::list_partition_reassignments, "ListPartitionReassignments", 0, 0, 0},
    {ApiKey::unregister_broker, "UnregisterBroker", 0, 0, 0},
}};

}  // namespace

std::span<const ApiInfo> api_table() { return kApis; }

std::optional<ApiInfo> api_info(std::int16_t key) {
  for (const auto& api : kApis) {
    if (static_cast<std::int16_t>(api.key) == key) return api;
  }
  return std::nullopt;
}

std::int16_t request_header_version(const ApiInfo& api, std::int16_t version) {
  return is_flexible(api, version) ? 2 : 1;
}

std::int16_t response_header_version(const ApiInfo& api, std::int16_t version) {
  if (api.key == ApiKey::api_versions) return 0;
  return is_flexible(api, version) ? 1 : 0;
}

std::int16_t request_header_version(std::int16_t api_key, std::int16_t api_version) {
  if (api_key == kControlledShutdownKey && api_version == 0) return 0;
  const auto api = api_info(api_key);
  return api ? request_header_version(*api, api_version) : 1;
}

std::int16_t response_header_version(std::int16_t api_key, std::int16_t api_version) {
  const auto api = api_info(api_key);
  return api ? response_header_version(*api, api_version) : 0;
}

}  // namespace spate::protocol
