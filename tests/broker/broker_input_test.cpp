// SPDX-License-Identifier: Apache-2.0
//
// Hostile and malformed input (issue 12): bounded error messages and Fetch
// answers, request entry limits, bad batches and their error codes,
// decompression budgets.

#include "broker_fixture.h"

namespace spate::broker {
namespace {

// ---------------------------------------------------------------- hostile input (issue 12)

TEST_F(BrokerTest, LongClientStringsComeBackBoundedInEveryErrorMessage) {
  const std::string long_name(32767, 'a');
  protocol::DescribeConfigsRequest describe;
  describe.resources.push_back({protocol::kResourceTopic, long_name, std::nullopt});
  auto d = call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, 0, describe);
  EXPECT_EQ(d.results.at(0).error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_LE(d.results[0].error_message.value_or("").size(), 1024U);

  create("t", 1);
  protocol::AlterConfigsRequest alter;
  alter.resources.push_back({protocol::kResourceTopic, "t", {{long_name, std::nullopt}}});
  auto a = call<protocol::AlterConfigsResponse>(ApiKey::alter_configs, 0, alter);
  EXPECT_EQ(a.responses.at(0).error_code, code(ErrorCode::invalid_config));
  EXPECT_LE(a.responses[0].error_message.value_or("").size(), 1024U);

  protocol::CreateTopicsRequest ct;
  ct.topics.push_back({"c", 1, 1, {}, {{long_name, "1"}}});
  auto c = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 1, ct);
  EXPECT_EQ(c.topics.at(0).error_code, code(ErrorCode::invalid_config));
  EXPECT_LE(c.topics[0].error_message.value_or("").size(), 1024U);

  protocol::CreatePartitionsRequest cp;
  cp.topics.push_back({long_name, 3, std::nullopt});
  auto p = call<protocol::CreatePartitionsResponse>(ApiKey::create_partitions, 0, cp);
  EXPECT_EQ(p.results.at(0).error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_LE(p.results[0].error_message.value_or("").size(), 1024U);
}

TEST_F(BrokerTest, FetchLimitsAreSoftOnlyForTheFirstBatchOfTheFirstPartition) {
  create("big", 1, {{"max.message.bytes", "2000000"}});
  std::vector<std::byte> value(100'000, std::byte{'x'});
  for (int i = 0; i < 4; ++i) {
    protocol::BatchBuilder b(1000);
    b.add_value(value);
    ASSERT_EQ(produce("big", 0, b.build()).error_code, 0);
  }
  // The same partition 500 times, each allowing 1 byte, the whole response
  // INT32_MAX: one batch, once.
  protocol::FetchRequest r;
  r.max_wait_ms = 0;
  r.min_bytes = 1;
  r.max_bytes = std::numeric_limits<std::int32_t>::max();
  r.topics.push_back({"big", {}});
  for (int i = 0; i < 500; ++i) r.topics[0].partitions.push_back({0, -1, 0, -1, 1});
  auto resp = call<protocol::FetchResponse>(ApiKey::fetch, 4, r);
  std::size_t with_records = 0;
  std::size_t bytes = 0;
  for (const auto& p : resp.responses.at(0).partitions) {
    if (p.records && !p.records->empty()) ++with_records;
    bytes += p.records ? p.records->size() : 0;
  }
  EXPECT_EQ(with_records, 1U);
  EXPECT_LT(bytes, 110'000U);
}

TEST_F(BrokerTest, FetchNeverCarriesMoreThanTheBrokersFetchMaxBytes) {
  config_.fetch_bytes_max = 250'000;
  broker_ = std::make_unique<Broker>(config_, *manager_, metrics_, clock_);
  create("big", 2, {{"max.message.bytes", "2000000"}});
  std::vector<std::byte> value(100'000, std::byte{'x'});
  for (int partition = 0; partition < 2; ++partition) {
    for (int i = 0; i < 5; ++i) {
      protocol::BatchBuilder b(1000);
      b.add_value(value);
      ASSERT_EQ(produce("big", partition, b.build()).error_code, 0);
    }
  }
  protocol::FetchRequest r;
  r.max_wait_ms = 0;
  r.min_bytes = 1;
  r.max_bytes = std::numeric_limits<std::int32_t>::max();
  r.topics.push_back({"big", {{0, -1, 0, -1, 1 << 30}, {1, -1, 0, -1, 1 << 30}}});
  auto resp = call<protocol::FetchResponse>(ApiKey::fetch, 11, r);
  std::size_t bytes = 0;
  for (const auto& p : resp.responses.at(0).partitions) bytes += p.records ? p.records->size() : 0;
  EXPECT_GT(bytes, 100'000U);
  EXPECT_LE(bytes, 250'000U);
}

TEST_F(BrokerTest, ARequestWithTooManyEntriesClosesTheConnection) {
  create("t", 1);
  protocol::FetchRequest r;
  r.max_wait_ms = 0;
  r.topics.push_back({"t", {}});
  for (int i = 0; i < 20001; ++i) r.topics[0].partitions.push_back({0, -1, 0, -1, 1});
  auto result = handle(frame(ApiKey::fetch, 4, r));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), Errc::malformed);
  r.topics[0].partitions.resize(1000);
  EXPECT_EQ(call<protocol::FetchResponse>(ApiKey::fetch, 4, r).responses.at(0).partitions.size(),
            1000U);
}

// ---------------------------------------------------------------- issue 12 items 7, 11, 0

// `batch` with its records section replaced by `section` and the header fields
// patched, CRC recomputed: a batch whose only faults are the ones asked for.
std::vector<std::byte> rebuilt(std::vector<std::byte> batch, std::span<const std::byte> section,
                               std::int16_t attributes, std::int32_t count) {
  namespace f = protocol::batch_field;
  batch.resize(protocol::kBatchHeaderBytes);
  batch.insert(batch.end(), section.begin(), section.end());
  store_be<std::int32_t>(
      batch.data() + f::kBatchLength,
      static_cast<std::int32_t>(batch.size() - protocol::kBatchLogOverheadBytes));
  store_be<std::int16_t>(batch.data() + f::kAttributes, attributes);
  store_be<std::int32_t>(batch.data() + f::kLastOffsetDelta, count - 1);
  store_be<std::int32_t>(batch.data() + f::kRecordCount, count);
  store_be<std::uint32_t>(batch.data() + f::kCrc, protocol::compute_batch_crc(batch));
  return batch;
}

TEST_F(BrokerTest, BadBatchesGetKafkasErrorCodesAndNeverMoveTheLogEnd) {
  namespace f = protocol::batch_field;
  create("t", 1);
  const auto good = batch(3);
  const auto records = std::span(good).subspan(protocol::kBatchHeaderBytes);
  std::vector<std::byte> junk(300);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<std::byte>(i * 53 + 7);
  const std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();

  struct Case {
    const char* what;
    std::vector<std::byte> batch;
    ErrorCode expected;
  };
  std::vector<Case> cases;
  cases.push_back({"gzip junk claiming 2^31-1 records", rebuilt(good, junk, 1, int32_max),
                   ErrorCode::invalid_record});
  cases.push_back(
      {"uncompressed junk records", rebuilt(good, junk, 0, 40), ErrorCode::invalid_record});
  cases.push_back(
      {"recordCount 4 for 3 records", rebuilt(good, records, 0, 4), ErrorCode::invalid_record});
  cases.push_back(
      {"recordCount 2 for 3 records", rebuilt(good, records, 0, 2), ErrorCode::invalid_record});
  auto gzipped = protocol::compress(protocol::Compression::gzip, records);
  ASSERT_TRUE(gzipped);
  cases.push_back({"gzip recordCount 5 for 3 records", rebuilt(good, *gzipped, 1, 5),
                   ErrorCode::invalid_record});
  {
    // Second record's offsetDelta 1 -> 2 (a one-byte varint: zigzag 2 -> 4).
    auto bytes = good;
    const std::size_t second = protocol::kBatchHeaderBytes + 1 +
                               static_cast<std::size_t>(static_cast<std::uint8_t>(good[61]) / 2);
    ASSERT_EQ(bytes[second + 3], std::byte{2});  // length, attributes, timestampDelta, offsetDelta
    bytes[second + 3] = std::byte{4};
    store_be<std::uint32_t>(bytes.data() + f::kCrc, protocol::compute_batch_crc(bytes));
    cases.push_back({"offsetDelta gap", bytes, ErrorCode::invalid_record});
  }
  {
    auto magic1 = good;
    magic1[f::kMagic] = std::byte{1};
    cases.push_back({"magic 1", magic1, ErrorCode::unsupported_version});
  }
  {
    auto append_time = rebuilt(good, records, 0x08, 3);
    cases.push_back({"LogAppendTime from a producer", append_time, ErrorCode::invalid_timestamp});
  }
  {
    // 40 MiB of zeros in one record's value: 40 KB of gzip, 640 KB past the
    // topic's 16 MiB decompression bound.
    ByteWriter body;
    body.write<std::int8_t>(0);
    body.write_varint(0);
    body.write_varint(0);
    body.write_varint(-1);
    body.write_varint(std::int64_t{40} << 20U);
    body.write_bytes(std::vector<std::byte>(std::size_t{40} << 20U));
    body.write_varint(0);
    ByteWriter section;
    section.write_varint(static_cast<std::int64_t>(body.size()));
    section.write_bytes(body.view());
    auto bomb = protocol::compress(protocol::Compression::zstd, section.view());
    ASSERT_TRUE(bomb);
    cases.push_back(
        {"decompression bomb", rebuilt(good, *bomb, 4, 1), ErrorCode::message_too_large});
  }
  {
    auto bad_crc = good;
    bad_crc.back() ^= std::byte{1};
    cases.push_back({"bad CRC", bad_crc, ErrorCode::corrupt_message});
  }
  for (auto& c : cases) {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(produce("t", 0, c.batch).error_code, code(c.expected)) << c.what;
    }
  }
  EXPECT_EQ(produce("t", 0, batch(1)).base_offset, 0);  // nothing bad was appended
  EXPECT_EQ(produce("t", 0, batch(1)).base_offset, 1);
}

// Validation decompresses on the network thread: one request's compressed
// batches share a budget (past the first batch), so that a request full of
// decompression bombs costs a bounded time; what is past it is refused with
// MESSAGE_TOO_LARGE (the Java client splits its batches and retries).
TEST_F(BrokerTest, OneProduceRequestDecompressesAtMostItsBudget) {
  config_.request_decompressed_bytes_max = 7U << 20U;
  broker_ = std::make_unique<Broker>(config_, *manager_, metrics_, clock_);
  create("t", 3);
  // 3 MiB of values in a batch: a few KiB of gzip, valid records.
  protocol::BatchBuilder b(1000);
  for (int i = 0; i < 3; ++i) b.add_value(std::vector<std::byte>(1U << 20U));
  const auto plain = b.build();
  auto gzipped = protocol::compress(protocol::Compression::gzip,
                                    std::span(plain).subspan(protocol::kBatchHeaderBytes));
  ASSERT_TRUE(gzipped);
  const auto packed = rebuilt(plain, *gzipped, 1, 3);
  ASSERT_LT(packed.size(), 64U << 10U);
  protocol::ProduceRequest r;
  r.acks = -1;
  r.timeout_ms = 5000;
  auto& topic = r.topic_data.emplace_back();
  topic.name = "t";
  for (int i = 0; i < 8; ++i) topic.partition_data.push_back({i % 3, packed});
  auto resp = call<protocol::ProduceResponse>(ApiKey::produce, 7, r);
  const auto& parts = resp.responses.at(0).partition_responses;
  ASSERT_EQ(parts.size(), 8U);
  // The first batch (4 MiB left of 7), then one more (1 MiB left), then none.
  EXPECT_EQ(parts[0].error_code, 0);
  EXPECT_EQ(parts[1].error_code, 0);
  for (std::size_t i = 2; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].error_code, code(ErrorCode::message_too_large)) << i;
  }
  // The next request has a budget of its own.
  EXPECT_EQ(produce("t", 2, packed).error_code, 0);
  EXPECT_EQ(manager_->partition("t", 0)->end_offset(), Offset(3));
  EXPECT_EQ(manager_->partition("t", 1)->end_offset(), Offset(3));
  EXPECT_EQ(manager_->partition("t", 2)->end_offset(), Offset(3));
}

TEST_F(BrokerTest, ProduceRecomputesAnUnsetMaxTimestamp) {
  create("t", 1);
  auto sent = batch(3, 1'700'000'000'000);  // every record at this time
  store_be<std::int64_t>(sent.data() + protocol::batch_field::kMaxTimestamp, -1);
  store_be<std::uint32_t>(sent.data() + protocol::batch_field::kCrc,
                          protocol::compute_batch_crc(sent));
  ASSERT_EQ(produce("t", 0, sent).error_code, 0);
  auto got = fetch("t", 0, 0);
  ASSERT_EQ(got.error_code, 0);
  ASSERT_TRUE(got.records);
  auto header = protocol::validate_batch(*got.records, 1U << 20U);
  ASSERT_TRUE(header) << header.error();
  EXPECT_EQ(header->max_timestamp, 1'700'000'000'000);
}

}  // namespace
}  // namespace spate::broker
