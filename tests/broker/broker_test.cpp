// SPDX-License-Identifier: Apache-2.0
//
// Dispatch, ApiVersions, and the data path: Produce, Fetch, ListOffsets,
// metrics.

#include "broker_fixture.h"

namespace spate::broker {
namespace {

TEST_F(BrokerTest, ApiVersionsAdvertisesExactlyTheServedApis) {
  auto resp = call<protocol::ApiVersionsResponse>(ApiKey::api_versions, 3,
                                                  protocol::ApiVersionsRequest{"test", "1"});
  EXPECT_EQ(resp.error_code, 0);
  const auto served = served_apis();
  ASSERT_EQ(resp.api_keys.size(), served.size());
  for (std::size_t i = 0; i < served.size(); ++i) {
    EXPECT_EQ(resp.api_keys[i].api_key, static_cast<std::int16_t>(served[i].key));
    EXPECT_EQ(resp.api_keys[i].min_version, served[i].min_version);
    EXPECT_EQ(resp.api_keys[i].max_version, served[i].max_version);
  }
}

TEST_F(BrokerTest, ApiVersionsOfAnUnknownVersionAnswersV0WithUnsupportedVersion) {
  auto result = handle(frame(ApiKey::api_versions, 0, protocol::ApiVersionsRequest{}, 42));
  ASSERT_TRUE(result && *result);
  // A newer client's request: a flexible header (as for v3), version 99.
  auto bytes = frame(ApiKey::api_versions, 3, protocol::ApiVersionsRequest{"x", "1"});
  store_be<std::int16_t>(bytes.data() + 2, 99);
  auto reply = handle(bytes);
  ASSERT_TRUE(reply && *reply);
  auto flat = (*reply)->flatten();
  ASSERT_TRUE(flat);
  auto decoded =
      protocol::decode_message<protocol::ApiVersionsResponse>(std::span(*flat).subspan(8), 0);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->error_code, code(ErrorCode::unsupported_version));
}

TEST_F(BrokerTest, UnknownApiMalformedBodyAndUnsupportedVersionCloseTheConnection) {
  auto unknown = frame(ApiKey::api_versions, 0, protocol::ApiVersionsRequest{});
  store_be<std::int16_t>(unknown.data(), 999);
  EXPECT_FALSE(handle(unknown));
  auto metadata = frame(ApiKey::metadata, 1, protocol::MetadataRequest{});
  store_be<std::int16_t>(metadata.data() + 2, 42);
  EXPECT_FALSE(handle(metadata));
  auto truncated =
      frame(ApiKey::create_topics, 4, protocol::CreateTopicsRequest{{{"t", 1, 1, {}, {}}}});
  truncated.resize(truncated.size() - 3);
  auto r = handle(truncated);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::malformed);
  EXPECT_EQ(metrics_.malformed_requests.load(), 3U);
}

TEST_F(BrokerTest, ProduceAcksAllThenFetchReturnsTheBatchWithAssignedOffsets) {
  create("t", 2);
  auto first = produce("t", 1, batch(3));
  EXPECT_EQ(first.error_code, 0);
  EXPECT_EQ(first.base_offset, 0);
  auto second = produce("t", 1, batch(2));
  EXPECT_EQ(second.base_offset, 3);
  auto p = manager_->partition("t", 1);
  EXPECT_EQ(p->high_watermark(), Offset(5));  // acks=all answered after the flush
  auto data = fetch("t", 1, 3);
  EXPECT_EQ(data.error_code, 0);
  EXPECT_EQ(data.high_watermark, 5);
  ASSERT_TRUE(data.records);
  auto records = protocol::decode_records(*data.records);
  ASSERT_TRUE(records) << records.error();
  ASSERT_EQ(records->size(), 2U);
  EXPECT_EQ((*records)[0].offset, 3);
  EXPECT_EQ((*records)[1].offset, 4);
  EXPECT_EQ(fetch("t", 0, 0).records->size(), 0U);  // the other partition is empty
}

TEST_F(BrokerTest, FetchSplicesFileRegionsThatReadBackAsTheCodecWouldEncode) {
  create("t", 3);
  produce("t", 0, batch(3));
  produce("t", 2, batch(2));
  produce("t", 2, batch(4));
  for (std::int16_t version :
       {std::int16_t{4}, std::int16_t{5}, std::int16_t{7}, std::int16_t{11}}) {
    protocol::FetchRequest r;
    r.max_bytes = 1 << 20;
    r.topics.push_back({"t",
                        {{0, -1, 0, -1, 1 << 20},
                         {1, -1, 0, -1, 1 << 20},
                         {2, -1, 0, -1, 1 << 20},
                         {9, -1, 0, -1, 1 << 20}}});
    auto result = handle(frame(ApiKey::fetch, version, r));
    ASSERT_TRUE(result && *result) << version;
    std::size_t regions = 0;
    for (const auto& part : (*result)->parts) regions += part.file ? 1U : 0U;
    EXPECT_EQ(regions, 2U) << "partitions 0 and 2 come from the segment files";
    auto flat = (*result)->flatten();
    ASSERT_TRUE(flat);
    EXPECT_EQ(load_be<std::int32_t>(flat->data()), static_cast<std::int32_t>(flat->size() - 4));
    auto body = std::span<const std::byte>(*flat).subspan(8);
    auto decoded = protocol::decode_message<protocol::FetchResponse>(body, version);
    ASSERT_TRUE(decoded) << "v" << version << ": " << decoded.error();
    ByteWriter again(flat->size() + 0U);
    protocol::encode_message(again, *decoded, version);
    EXPECT_TRUE(std::ranges::equal(again.view(), body)) << "v" << version;
    const auto& parts = decoded->responses.at(0).partitions;
    ASSERT_EQ(parts.size(), 4U);
    // Partition 2 holds two batches (2 and 4 records), partition 0 one of 3.
    EXPECT_EQ(protocol::decode_records(*parts[0].records)->size(), 3U);
    auto first = protocol::decode_batch_header(*parts[2].records, 1 << 20);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->last_offset(), Offset(1));
    EXPECT_GT(parts[2].records->size(), first->total_bytes());
    EXPECT_EQ(parts[1].records->size(), 0U);
    EXPECT_EQ(parts[3].error_code, code(ErrorCode::unknown_topic_or_partition));
  }
}

TEST_F(BrokerTest, ProduceErrorsArePerPartition) {
  create("small", 1, {{"max.message.bytes", "100"}});
  EXPECT_EQ(produce("nope", 0, batch(1)).error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(produce("small", 7, batch(1)).error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(produce("small", 0, batch(20)).error_code, code(ErrorCode::message_too_large));
  auto bad = batch(1);
  bad.back() ^= std::byte{1};  // breaks the CRC
  EXPECT_EQ(produce("small", 0, bad).error_code, code(ErrorCode::corrupt_message));
  EXPECT_EQ(produce("small", 0, batch(1), 2).error_code, code(ErrorCode::invalid_required_acks));
  EXPECT_EQ(produce("small", 0, batch(1)).base_offset, 0);  // nothing bad was appended
  EXPECT_GT(metrics_.apis[0].errors.load(), 0U);
}

TEST_F(BrokerTest, AcksZeroGetsNoResponse) {
  create("t", 1);
  protocol::ProduceRequest r;
  r.acks = 0;
  r.topic_data.push_back({"t", {{0, batch(1)}}});
  auto result = handle(frame(ApiKey::produce, 7, r));
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
  EXPECT_EQ(manager_->partition("t", 0)->end_offset(), Offset(1));
}

TEST_F(BrokerTest, FetchLongPollIsWokenByAnAppend) {
  create("t", 1);
  asio::steady_timer later(io_, std::chrono::milliseconds(50));
  later.async_wait([&](boost::system::error_code) {
    auto p = manager_->partition("t", 0);
    auto b = batch(1);
    ASSERT_TRUE(p->append(b));
  });
  const auto started = std::chrono::steady_clock::now();
  auto data = fetch("t", 0, 0, 5000);
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(data.records);
  EXPECT_GT(data.records->size(), 0U);
  EXPECT_LT(waited, std::chrono::milliseconds(4000));
  // With nothing coming, the poll ends at max wait with no records.
  auto empty = fetch("t", 0, 1, 100);
  EXPECT_EQ(empty.error_code, 0);
  EXPECT_EQ(empty.records->size(), 0U);
}

TEST_F(BrokerTest, FetchOutOfRangeAndUnknownPartition) {
  create("t", 1);
  produce("t", 0, batch(2));
  EXPECT_EQ(fetch("t", 0, 3).error_code, code(ErrorCode::offset_out_of_range));
  EXPECT_EQ(fetch("t", 0, -1).error_code, code(ErrorCode::offset_out_of_range));
  EXPECT_EQ(fetch("t", 4, 0).error_code, code(ErrorCode::unknown_topic_or_partition));
}

TEST_F(BrokerTest, ListOffsetsEarliestLatestAndByTime) {
  create("t", 1);
  produce("t", 0, batch(2, 1000));  // offsets 0-1 at 1000, 1001
  produce("t", 0, batch(2, 5000));  // offsets 2-3 at 5000, 5001
  auto list = [&](std::int64_t ts) {
    protocol::ListOffsetsRequest r;
    r.topics.push_back({"t", {{0, ts}}});
    return call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, 3, r)
        .topics.at(0)
        .partitions.at(0);
  };
  EXPECT_EQ(list(protocol::kListOffsetsEarliest).offset, 0);
  EXPECT_EQ(list(protocol::kListOffsetsLatest).offset, 4);
  auto hit = list(3000);
  EXPECT_EQ(hit.offset, 2);
  EXPECT_EQ(hit.timestamp, 5000);
  EXPECT_EQ(list(9000).offset, -1);
}

TEST_F(BrokerTest, MetricsRenderPrometheusText) {
  create("t", 1);
  produce("t", 0, batch(1));
  const auto text = broker_->render_metrics();
  EXPECT_NE(text.find("spate_requests_total{api=\"Produce\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("spate_log_end_offset{topic=\"t\",partition=\"0\"} 1"), std::string::npos);
  EXPECT_NE(text.find("# TYPE spate_request_latency_seconds histogram"), std::string::npos);
  // The usage of every limit (docs/limits.md).
  for (const char* gauge : {"spate_partitions 1", "spate_partitions_limit 10000", "spate_topics 1",
                            "spate_topics_limit 10000", "spate_topic_operations_queued 0",
                            "spate_open_segment_files ", "spate_open_segment_files_limit ",
                            "spate_partitions_fenced 0", "spate_partitions_refusing_writes 0"}) {
    EXPECT_NE(text.find(gauge), std::string::npos) << gauge;
  }
}

}  // namespace
}  // namespace spate::broker
