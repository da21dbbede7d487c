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
#include "spate/protocol/messages/offsets.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/messages/sasl_handshake.h"

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

}  // namespace

Status decode_request_body(std::int16_t api_key, std::int16_t version,
                           std::span<const std::byte> body, const DecodeLimits& limits) {
  const auto api = api_info(api_key);
  if (!api || version < api->min_version || version > api->max_version) {
    return Error(Errc::unsupported_version,
                 fmt::format("API {} version {} is not supported", api_key, version));
  }
  switch (api->key) {
    case ApiKey::produce:
      return decode_and_check<ProduceRequest>(body, version, limits);
    case ApiKey::fetch:
      return decode_and_check<FetchRequest>(body, version, limits);
    case ApiKey::list_offsets:
      return decode_and_check<ListOffsetsRequest>(body, version, limits);
    case ApiKey::metadata:
      return decode_and_check<MetadataRequest>(body, version, limits);
    case ApiKey::offset_commit:
      return decode_and_check<OffsetCommitRequest>(body, version, limits);
    case ApiKey::offset_fetch:
      return decode_and_check<OffsetFetchRequest>(body, version, limits);
    case ApiKey::find_coordinator:
      return decode_and_check<FindCoordinatorRequest>(body, version, limits);
    case ApiKey::join_group:
      return decode_and_check<JoinGroupRequest>(body, version, limits);
    case ApiKey::heartbeat:
      return decode_and_check<HeartbeatRequest>(body, version, limits);
    case ApiKey::leave_group:
      return decode_and_check<LeaveGroupRequest>(body, version, limits);
    case ApiKey::sync_group:
      return decode_and_check<SyncGroupRequest>(body, version, limits);
    case ApiKey::describe_groups:
      return decode_and_check<DescribeGroupsRequest>(body, version, limits);
    case ApiKey::list_groups:
      return decode_and_check<ListGroupsRequest>(body, version, limits);
    case ApiKey::sasl_handshake:
      return decode_and_check<SaslHandshakeRequest>(body, version, limits);
    case ApiKey::api_versions:
      return decode_and_check<ApiVersionsRequest>(body, version, limits);
    case ApiKey::create_topics:
      return decode_and_check<CreateTopicsRequest>(body, version, limits);
    case ApiKey::delete_topics:
      return decode_and_check<DeleteTopicsRequest>(body, version, limits);
    case ApiKey::delete_records:
      return decode_and_check<DeleteRecordsRequest>(body, version, limits);
    case ApiKey::init_producer_id:
      return decode_and_check<InitProducerIdRequest>(body, version, limits);
    case ApiKey::describe_configs:
      return decode_and_check<DescribeConfigsRequest>(body, version, limits);
    case ApiKey::sasl_authenticate:
      return decode_and_check<SaslAuthenticateRequest>(body, version, limits);
    case ApiKey::create_partitions:
      return decode_and_check<CreatePartitionsRequest>(body, version, limits);
    case ApiKey::alter_configs:
      return decode_and_check<AlterConfigsRequest>(body, version, limits);
    case ApiKey::delete_groups:
      return decode_and_check<DeleteGroupsRequest>(body, version, limits);
    case ApiKey::incremental_alter_configs:
      return decode_and_check<IncrementalAlterConfigsRequest>(body, version, limits);
  }
  return Error(Errc::unsupported_version, "unknown API");
}

Status decode_response_body(std::int16_t api_key, std::int16_t version,
                            std::span<const std::byte> body, const DecodeLimits& limits) {
  const auto api = api_info(api_key);
  if (!api || version < api->min_version || version > api->max_version) {
    return Error(Errc::unsupported_version,
                 fmt::format("API {} version {} is not supported", api_key, version));
  }
  switch (api->key) {
    case ApiKey::produce:
      return decode_exactly<ProduceResponse>(body, version, limits);
    case ApiKey::fetch:
      return decode_exactly<FetchResponse>(body, version, limits);
    case ApiKey::list_offsets:
      return decode_exactly<ListOffsetsResponse>(body, version, limits);
    case ApiKey::metadata:
      return decode_exactly<MetadataResponse>(body, version, limits);
    case ApiKey::offset_commit:
      return decode_exactly<OffsetCommitResponse>(body, version, limits);
    case ApiKey::offset_fetch:
      return decode_exactly<OffsetFetchResponse>(body, version, limits);
    case ApiKey::find_coordinator:
      return decode_exactly<FindCoordinatorResponse>(body, version, limits);
    case ApiKey::join_group:
      return decode_exactly<JoinGroupResponse>(body, version, limits);
    case ApiKey::heartbeat:
      return decode_exactly<HeartbeatResponse>(body, version, limits);
    case ApiKey::leave_group:
      return decode_exactly<LeaveGroupResponse>(body, version, limits);
    case ApiKey::sync_group:
      return decode_exactly<SyncGroupResponse>(body, version, limits);
    case ApiKey::describe_groups:
      return decode_exactly<DescribeGroupsResponse>(body, version, limits);
    case ApiKey::list_groups:
      return decode_exactly<ListGroupsResponse>(body, version, limits);
    case ApiKey::sasl_handshake:
      return decode_exactly<SaslHandshakeResponse>(body, version, limits);
    case ApiKey::api_versions:
      return decode_exactly<ApiVersionsResponse>(body, version, limits);
    case ApiKey::create_topics:
      return decode_exactly<CreateTopicsResponse>(body, version, limits);
    case ApiKey::delete_topics:
      return decode_exactly<DeleteTopicsResponse>(body, version, limits);
    case ApiKey::delete_records:
      return decode_exactly<DeleteRecordsResponse>(body, version, limits);
    case ApiKey::init_producer_id:
      return decode_exactly<InitProducerIdResponse>(body, version, limits);
    case ApiKey::describe_configs:
      return decode_exactly<DescribeConfigsResponse>(body, version, limits);
    case ApiKey::sasl_authenticate:
      return decode_exactly<SaslAuthenticateResponse>(body, version, limits);
    case ApiKey::create_partitions:
      return decode_exactly<CreatePartitionsResponse>(body, version, limits);
    case ApiKey::alter_configs:
      return decode_exactly<AlterConfigsResponse>(body, version, limits);
    case ApiKey::delete_groups:
      return decode_exactly<DeleteGroupsResponse>(body, version, limits);
    case ApiKey::incremental_alter_configs:
      return decode_exactly<IncrementalAlterConfigsResponse>(body, version, limits);
  }
  return Error(Errc::unsupported_version, "unknown API");
}

}  // namespace spate::protocol
