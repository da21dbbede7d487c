// SPDX-License-Identifier: Apache-2.0
//
// decode_request_body: one case per API of the §0 table.

#include "spate/protocol/requests.h"

#include "spate/protocol/api_key.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/fetch.h"
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
#include "spate/protocol/messages/sasl_handshake.h"
#include "spate/protocol/messages/unregister_broker.h"

namespace spate::protocol {
namespace {

template <typename Msg>
Status decode_and_check(std::span<const std::byte> body, std::int16_t version,
                        const DecodeLimits& limits) {
  auto decoded = decode_message<Msg>(body, version, limits);
  if (!decoded) return decoded.error();
  // Re-encoding what was decoded and decoding again must give the same value.
  ByteWriter again;
  encode_message(again, *decoded, version);
  auto second = decode_message<Msg>(again.view(), version, limits);
  SPATE_ASSERT(second.has_value(), "re-encoded request does not decode: {}", second.error());
  SPATE_ASSERT(*second == *decoded, "request changed across a round trip");
  return {};
}

template <typename Msg>
Status decode_exactly(std::span<const std::byte> body, std::int16_t version,
                      const DecodeLimits& limits) {
  auto decoded = decode_message<Msg>(body, version, limits);
  if (!decoded) return decoded.error();
  return {};
}

// The one list of message types by API: calls
// f.template operator()<Request, Response>() for `key`.
template <typename F>
Status with_messages(ApiKey key, F&& f) {
  switch (key) {
    case ApiKey::produce:
      return f.template operator()<ProduceRequest, ProduceResponse>();
    case ApiKey::fetch:
      return f.template operator()<FetchRequest, FetchResponse>();
    case ApiKey::list_offsets:
      return f.template operator()<ListOffsetsRequest, ListOffsetsResponse>();
    case ApiKey::metadata:
      return f.template operator()<MetadataRequest, MetadataResponse>();
    case ApiKey::offset_commit:
      return f.template operator()<OffsetCommitRequest, OffsetCommitResponse>();
    case ApiKey::offset_fetch:
      return f.template operator()<OffsetFetchRequest, OffsetFetchResponse>();
    case ApiKey::find_coordinator:
      return f.template operator()<FindCoordinatorRequest, FindCoordinatorResponse>();
    case ApiKey::join_group:
      return f.template operator()<JoinGroupRequest, JoinGroupResponse>();
    case ApiKey::heartbeat:
      return f.template operator()<HeartbeatRequest, HeartbeatResponse>();
    case ApiKey::leave_group:
      return f.template operator()<LeaveGroupRequest, LeaveGroupResponse>();
    case ApiKey::sync_group:
      return f.template operator()<SyncGroupRequest, SyncGroupResponse>();
    case ApiKey::describe_groups:
      return f.template operator()<DescribeGroupsRequest, DescribeGroupsResponse>();
    case ApiKey::list_groups:
      return f.template operator()<ListGroupsRequest, ListGroupsResponse>();
    case ApiKey::sasl_handshake:
      return f.template operator()<SaslHandshakeRequest, SaslHandshakeResponse>();
    case ApiKey::api_versions:
      return f.template operator()<ApiVersionsRequest, ApiVersionsResponse>();
    case ApiKey::create_topics:
      return f.template operator()<CreateTopicsRequest, CreateTopicsResponse>();
    case ApiKey::delete_topics:
      return f.template operator()<DeleteTopicsRequest, DeleteTopicsResponse>();
    case ApiKey::delete_records:
      return f.template operator()<DeleteRecordsRequest, DeleteRecordsResponse>();
    case ApiKey::init_producer_id:
      return f.template operator()<InitProducerIdRequest, InitProducerIdResponse>();
    case ApiKey::offset_for_leader_epoch:
      return f.template operator()<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>();
    case ApiKey::describe_configs:
      return f.template operator()<DescribeConfigsRequest, DescribeConfigsResponse>();
    case ApiKey::sasl_authenticate:
      return f.template operator()<SaslAuthenticateRequest, SaslAuthenticateResponse>();
    case ApiKey::create_partitions:
      return f.template operator()<CreatePartitionsRequest, CreatePartitionsResponse>();
    case ApiKey::alter_configs:
      return f.template operator()<AlterConfigsRequest, AlterConfigsResponse>();
    case ApiKey::delete_groups:
      return f.template operator()<DeleteGroupsRequest, DeleteGroupsResponse>();
    case ApiKey::incremental_alter_configs:
      return f
          .template operator()<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>();
    case ApiKey::alter_partition_reassignments:
      return f.template
      operator()<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>();
    case ApiKey::list_partition_reassignments:
      return f.template
      operator()<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>();
    case ApiKey::unregister_broker:
      return f.template operator()<UnregisterBrokerRequest, UnregisterBrokerResponse>();
  }
  return Error(Errc::unsupported_version, "unknown API");
}

}  // namespace

Status decode_request_body(std::int16_t api_key, std::int16_t version,
                           std::span<const std::byte> body, const DecodeLimits& limits) {
  const auto api = api_info(api_key);
  if (!api || version < api->min_version || version > api->max_version) {
    return Error(Errc::unsupported_version,
                 fmt::format("API {} version {} is not supported", api_key, version));
  }
  return with_messages(api->key, [&]<typename Request, typename Response>() {
    return decode_and_check<Request>(body, version, limits);
  });
}

Status decode_response_body(std::int16_t api_key, std::int16_t version,
                            std::span<const std::byte> body, const DecodeLimits& limits) {
  const auto api = api_info(api_key);
  if (!api || version < api->min_version || version > api->max_version) {
    return Error(Errc::unsupported_version,
                 fmt::format("API {} version {} is not supported", api_key, version));
  }
  return with_messages(api->key, [&]<typename Request, typename Response>() {
    return decode_exactly<Response>(body, version, limits);
  });
}

}  // namespace spate::protocol
