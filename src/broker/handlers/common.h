// SPDX-License-Identifier: Apache-2.0
//
// Private to broker: what the handlers share. Each API's handler lives in its
// own file under src/broker/handlers/ (Redpanda keeps kafka/server/handlers
// the same way) and is reached through the table in table.cpp.

#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "spate/cluster/partition.h"
#include "spate/protocol/api_key.h"

#include "../handlers.h"

namespace spate::protocol {
struct ApiVersionsRequest;
struct ApiVersionsResponse;
struct MetadataRequest;
struct MetadataResponse;
struct ProduceRequest;
struct ProduceResponse;
struct ListOffsetsRequest;
struct ListOffsetsResponse;
struct CreateTopicsRequest;
struct CreateTopicsResponse;
struct DeleteTopicsRequest;
struct DeleteTopicsResponse;
struct CreatePartitionsRequest;
struct CreatePartitionsResponse;
struct DeleteRecordsRequest;
struct DeleteRecordsResponse;
struct DescribeConfigsRequest;
struct DescribeConfigsResponse;
struct AlterConfigsRequest;
struct AlterConfigsResponse;
struct IncrementalAlterConfigsRequest;
struct IncrementalAlterConfigsResponse;
struct InitProducerIdRequest;
struct InitProducerIdResponse;
struct OffsetForLeaderEpochRequest;
struct OffsetForLeaderEpochResponse;
struct FindCoordinatorRequest;
struct FindCoordinatorResponse;
struct JoinGroupRequest;
struct JoinGroupResponse;
struct SyncGroupRequest;
struct SyncGroupResponse;
struct HeartbeatRequest;
struct HeartbeatResponse;
struct LeaveGroupRequest;
struct LeaveGroupResponse;
struct AlterPartitionReassignmentsRequest;
struct AlterPartitionReassignmentsResponse;
struct ListPartitionReassignmentsRequest;
struct ListPartitionReassignmentsResponse;
struct UnregisterBrokerRequest;
struct UnregisterBrokerResponse;
struct OffsetCommitRequest;
struct OffsetCommitResponse;
struct OffsetFetchRequest;
struct OffsetFetchResponse;
struct ListGroupsRequest;
struct ListGroupsResponse;
struct DescribeGroupsRequest;
struct DescribeGroupsResponse;
struct DeleteGroupsRequest;
struct DeleteGroupsResponse;
}  // namespace spate::protocol

namespace spate::broker {

using protocol::ErrorCode;
using SteadyTime = Clock::SteadyTime;
using Frame = std::optional<ResponseFrame>;

inline constexpr std::int32_t kRequestTimeoutMaxMs = 5 * 60 * 1000;
// Admin requests without a timeout of their own (Metadata auto-creation)
// wait this long for their turn.
inline constexpr auto kAdminWaitDefault = std::chrono::seconds(30);
// Error messages carry at most this many bytes, and names quoted in them at
// most kQuotedBytesMax: a client's 32 KiB name must not come back 32 KiB long.
inline constexpr std::size_t kErrorMessageBytesMax = 1024;
inline constexpr std::size_t kQuotedBytesMax = 64;
// A handler doing many entries of slow work (a timestamp lookup, ...) lets
// the shard serve others at least this often.
inline constexpr auto kSliceMax = std::chrono::microseconds(500);

// `text` cut to `max` bytes at a UTF-8 boundary, "..." marking the cut.
[[nodiscard]] std::string shorten(std::string_view text, std::size_t max);
[[nodiscard]] inline std::string bounded(std::string_view message) {
  return shorten(message, kErrorMessageBytesMax);
}
[[nodiscard]] inline std::string quote_name(std::string_view name) {
  return shorten(name, kQuotedBytesMax);
}

// The broker's own topics (__consumer_offsets): shown in Metadata as
// internal; clients may read them but not produce to, delete, grow or
// truncate them (Kafka answers INVALID_TOPIC_EXCEPTION too).
[[nodiscard]] bool internal_topic(std::string_view name);

// The code for a partition this broker does not hold: on a cluster broker,
// NOT_LEADER_OR_FOLLOWER when the cluster has it (another broker leads it;
// the client refreshes its metadata), else UNKNOWN_TOPIC_OR_PARTITION.
[[nodiscard]] ErrorCode missing_partition(const HandlerContext& ctx, const std::string& topic,
                                          std::int32_t partition);

// The partition an entry names (ListOffsets, OffsetForLeaderEpoch), open and
// with the entry's current leader epoch (-1: none given) matching its term;
// otherwise `error` is the code to answer (the partition may then be null).
struct NamedPartition {
  std::shared_ptr<cluster::Partition> partition;
  ErrorCode error = ErrorCode::none;
};
[[nodiscard]] NamedPartition named_partition(const HandlerContext& ctx, const std::string& topic,
                                             std::int32_t index, std::int32_t current_leader_epoch);

// KIP-320: a request's current leader epoch against the partition's (its
// Raft term): none, FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH
// (newer). `requested` nullopt: the request names none (see
// cluster::check_current_epoch for which wire values mean none).
[[nodiscard]] ErrorCode leader_epoch_error(const cluster::Partition& partition,
                                           std::optional<std::int64_t> requested);
// The wire's INT32 leader epoch of a term (terms past INT32_MAX are never
// stamped in a batch: the log refuses them; they read as unknown, -1).
[[nodiscard]] std::int32_t wire_epoch(std::int64_t epoch);

// Now plus the request's timeout, clamped to [0, request_wait_max_ms].
[[nodiscard]] SteadyTime deadline_after(const HandlerContext& ctx, std::int32_t timeout_ms);

// Suspends to let other requests on the shard run once this one has had the
// thread for kSliceMax. Call between entries of slow work.
class Slicer {
 public:
  explicit Slicer(const Clock& clock) : clock_(clock), started_(clock.steady_now()) {}
  awaitable<void> maybe_yield() {
    if (clock_.steady_now() - started_ < kSliceMax) co_return;
    auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, use_awaitable);
    started_ = clock_.steady_now();
  }

 private:
  const Clock& clock_;
  SteadyTime started_;
};

// Decodes the request, runs `handler`, encodes its response (none: acks=0).
template <typename Req, typename Resp>
awaitable<Result<Frame>> run(HandlerContext& ctx, const protocol::ApiInfo& api,
                             std::span<const std::byte> body,
                             awaitable<std::optional<Resp>> (*handler)(HandlerContext&, Req&)) {
  auto request = protocol::decode_message<Req>(body, ctx.version(), ctx.config.decode_limits);
  if (!request) {
    co_return Error::malformed(fmt::format("{} v{} request (correlation id {}): {}", api.name,
                                           ctx.version(), ctx.header.correlation_id,
                                           request.error().detail()));
  }
  auto response = co_await handler(ctx, *request);
  if (!response) co_return Frame{};
  auto frame = response_frame(ctx, api, *response);
  if (!frame) co_return frame.error();
  co_return Frame(std::move(*frame));
}

// The typed handlers, one per file: a decoded request in, the response out
// (none: acks=0). table.cpp makes each an ApiHandler with serve<>; Fetch,
// whose response carries file regions, is an ApiHandler itself.
awaitable<std::optional<protocol::ApiVersionsResponse>> api_versions(
    HandlerContext& ctx, protocol::ApiVersionsRequest& request);
awaitable<std::optional<protocol::MetadataResponse>> metadata(HandlerContext& ctx,
                                                              protocol::MetadataRequest& request);
awaitable<std::optional<protocol::ProduceResponse>> produce(HandlerContext& ctx,
                                                            protocol::ProduceRequest& request);
awaitable<std::optional<protocol::ListOffsetsResponse>> list_offsets(
    HandlerContext& ctx, protocol::ListOffsetsRequest& request);
awaitable<std::optional<protocol::CreateTopicsResponse>> create_topics(
    HandlerContext& ctx, protocol::CreateTopicsRequest& request);
awaitable<std::optional<protocol::DeleteTopicsResponse>> delete_topics(
    HandlerContext& ctx, protocol::DeleteTopicsRequest& request);
awaitable<std::optional<protocol::CreatePartitionsResponse>> create_partitions(
    HandlerContext& ctx, protocol::CreatePartitionsRequest& request);
awaitable<std::optional<protocol::DeleteRecordsResponse>> delete_records(
    HandlerContext& ctx, protocol::DeleteRecordsRequest& request);
awaitable<std::optional<protocol::DescribeConfigsResponse>> describe_configs(
    HandlerContext& ctx, protocol::DescribeConfigsRequest& request);
awaitable<std::optional<protocol::AlterConfigsResponse>> alter_configs(
    HandlerContext& ctx, protocol::AlterConfigsRequest& request);
awaitable<std::optional<protocol::IncrementalAlterConfigsResponse>> incremental_alter_configs(
    HandlerContext& ctx, protocol::IncrementalAlterConfigsRequest& request);
awaitable<std::optional<protocol::InitProducerIdResponse>> init_producer_id(
    HandlerContext& ctx, protocol::InitProducerIdRequest& request);
awaitable<std::optional<protocol::OffsetForLeaderEpochResponse>> offset_for_leader_epoch(
    HandlerContext& ctx, protocol::OffsetForLeaderEpochRequest& request);
// Replica movement (reassignments.cpp; KIP-455).
awaitable<std::optional<protocol::AlterPartitionReassignmentsResponse>>
alter_partition_reassignments(HandlerContext& ctx,
                              protocol::AlterPartitionReassignmentsRequest& request);
awaitable<std::optional<protocol::ListPartitionReassignmentsResponse>> list_partition_reassignments(
    HandlerContext& ctx, protocol::ListPartitionReassignmentsRequest& request);
// Broker removal (unregister_broker.cpp; `spate cluster remove`).
awaitable<std::optional<protocol::UnregisterBrokerResponse>> unregister_broker(
    HandlerContext& ctx, protocol::UnregisterBrokerRequest& request);
// Consumer groups (the groups module's Coordinator).
awaitable<std::optional<protocol::FindCoordinatorResponse>> find_coordinator(
    HandlerContext& ctx, protocol::FindCoordinatorRequest& request);
awaitable<std::optional<protocol::JoinGroupResponse>> join_group(
    HandlerContext& ctx, protocol::JoinGroupRequest& request);
awaitable<std::optional<protocol::SyncGroupResponse>> sync_group(
    HandlerContext& ctx, protocol::SyncGroupRequest& request);
awaitable<std::optional<protocol::HeartbeatResponse>> heartbeat(
    HandlerContext& ctx, protocol::HeartbeatRequest& request);
awaitable<std::optional<protocol::LeaveGroupResponse>> leave_group(
    HandlerContext& ctx, protocol::LeaveGroupRequest& request);
awaitable<std::optional<protocol::OffsetCommitResponse>> offset_commit(
    HandlerContext& ctx, protocol::OffsetCommitRequest& request);
awaitable<std::optional<protocol::OffsetFetchResponse>> offset_fetch(
    HandlerContext& ctx, protocol::OffsetFetchRequest& request);
awaitable<std::optional<protocol::ListGroupsResponse>> list_groups(
    HandlerContext& ctx, protocol::ListGroupsRequest& request);
awaitable<std::optional<protocol::DescribeGroupsResponse>> describe_groups(
    HandlerContext& ctx, protocol::DescribeGroupsRequest& request);
awaitable<std::optional<protocol::DeleteGroupsResponse>> delete_groups(
    HandlerContext& ctx, protocol::DeleteGroupsRequest& request);
awaitable<Result<Frame>> serve_fetch(HandlerContext& ctx, const protocol::ApiInfo& api,
                                     std::span<const std::byte> body);

// A typed handler as an ApiHandler: decode, run, encode.
template <auto Handler>
awaitable<Result<Frame>> serve(HandlerContext& ctx, const protocol::ApiInfo& api,
                               std::span<const std::byte> body) {
  co_return co_await run(ctx, api, body, Handler);
}

}  // namespace spate::broker
