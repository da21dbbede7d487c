// SPDX-License-Identifier: Apache-2.0
//
// The one list of what this broker serves: the dispatch, the ApiVersions
// answer, the "is it served" check and /metrics all read it. SASL joins it
// in the issue that adds it.

#include <array>
#include <vector>

#include "spate/broker/metrics.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/group_admin.h"
#include "spate/protocol/messages/groups.h"
#include "spate/protocol/messages/heartbeat.h"
#include "spate/protocol/messages/init_producer_id.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/offset_for_leader_epoch.h"
#include "spate/protocol/messages/offsets.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/messages/reassignments.h"
#include "spate/protocol/messages/unregister_broker.h"

#include "common.h"

namespace spate::broker {
namespace {

using protocol::ApiKey;

struct ServedApi {
  ApiKey key;
  std::int16_t min_version;
  std::int16_t max_version;
  ApiHandler handle;
};

constexpr std::array<ServedApi, 27> kServedApis = {{
    {ApiKey::produce, 0, 7, &serve<&produce>},
    {ApiKey::fetch, 4, 11, &serve_fetch},
    {ApiKey::list_offsets, 1, 5, &serve<&list_offsets>},
    {ApiKey::metadata, 0, 7, &serve<&metadata>},
    {ApiKey::offset_commit, 0, 7, &serve<&offset_commit>},
    {ApiKey::offset_fetch, 1, 7, &serve<&offset_fetch>},
    {ApiKey::find_coordinator, 0, 2, &serve<&find_coordinator>},
    {ApiKey::join_group, 0, 5, &serve<&join_group>},
    {ApiKey::heartbeat, 0, 3, &serve<&heartbeat>},
    {ApiKey::leave_group, 0, 3, &serve<&leave_group>},
    {ApiKey::sync_group, 0, 3, &serve<&sync_group>},
    {ApiKey::describe_groups, 0, 4, &serve<&describe_groups>},
    {ApiKey::list_groups, 0, 4, &serve<&list_groups>},
    {ApiKey::api_versions, 0, 3, &serve<&api_versions>},
    {ApiKey::create_topics, 0, 4, &serve<&create_topics>},
    {ApiKey::delete_topics, 0, 3, &serve<&delete_topics>},
    {ApiKey::delete_records, 0, 1, &serve<&delete_records>},
    {ApiKey::describe_configs, 0, 2, &serve<&describe_configs>},
    {ApiKey::alter_configs, 0, 1, &serve<&alter_configs>},
    {ApiKey::create_partitions, 0, 1, &serve<&create_partitions>},
    {ApiKey::delete_groups, 0, 1, &serve<&delete_groups>},
    {ApiKey::incremental_alter_configs, 0, 1, &serve<&incremental_alter_configs>},
    {ApiKey::init_producer_id, 0, 4, &serve<&init_producer_id>},
    {ApiKey::offset_for_leader_epoch, 0, 3, &serve<&offset_for_leader_epoch>},
    {ApiKey::alter_partition_reassignments, 0, 0, &serve<&alter_partition_reassignments>},
    {ApiKey::list_partition_reassignments, 0, 0, &serve<&list_partition_reassignments>},
    {ApiKey::unregister_broker, 0, 0, &serve<&unregister_broker>},
}};

// Metrics keep one slot per API key (metrics_text.cpp indexes them by key).
static_assert([] {
  for (const auto& s : kServedApis) {
    if (static_cast<std::size_t>(s.key) >= kApiKeySlots) return false;
  }
  return true;
}());

// The table as ApiInfo (name and first flexible version from the codec's
// table, the range from ours), in the table's order; built once.
const std::vector<protocol::ApiInfo>& infos() {
  static const std::vector<protocol::ApiInfo> built = [] {
    std::vector<protocol::ApiInfo> out;
    out.reserve(kServedApis.size());
    for (const auto& s : kServedApis) {
      auto codec = protocol::api_info(static_cast<std::int16_t>(s.key));
      // The codec decodes every version it lists; we serve a part of that.
      SPATE_ASSERT(
          codec && codec->min_version <= s.min_version && s.max_version <= codec->max_version,
          "served API {} is outside the codec's versions", static_cast<int>(s.key));
      protocol::ApiInfo info = *codec;
      info.min_version = s.min_version;
      info.max_version = s.max_version;
      out.push_back(info);
    }
    return out;
  }();
  return built;
}

}  // namespace

std::span<const protocol::ApiInfo> served_apis() { return infos(); }

std::optional<ServedHandler> served_handler(std::int16_t key) {
  for (std::size_t i = 0; i < kServedApis.size(); ++i) {
    if (static_cast<std::int16_t>(kServedApis[i].key) == key) {
      return ServedHandler{&infos()[i], kServedApis[i].handle};
    }
  }
  return std::nullopt;
}

}  // namespace spate::broker
