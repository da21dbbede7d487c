// SPDX-License-Identifier: Apache-2.0
//
// RecordBatch v2 validation against batches captured from real clients.

#include "spate/protocol/record_batch.h"

#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace spate::protocol {
namespace {

std::vector<std::byte> from_hex(std::string hex) {
  std::string clean;
  for (char c : hex) {
    if (c != ' ') clean.push_back(c);
  }
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < clean.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoul(clean.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// kafka-protocol.md §3.3: librdkafka 2.0.2, records k1:v1 and k2:v2.
const char* kLibrdkafkaBatch =
    "0000000000000000 00000047 00000000 02 cffafa2c 0000 00000001 000001a202c1de02 "
    "000001a202c1de02 ffffffffffffffff ffff ffffffff 00000002 "
    "14 00 00 00 04 6b31 04 7631 00 14 00 00 02 04 6b32 04 7632 00";

TEST(RecordBatch, ValidatesTheLibrdkafkaVector) {
  auto batch = from_hex(kLibrdkafkaBatch);
  ASSERT_EQ(batch.size(), 83U);
  auto header = validate_batch(batch, 1 << 20);
  ASSERT_TRUE(header) << header.error();
  EXPECT_EQ(header->record_count, 2);
  EXPECT_EQ(header->crc, 0xcffafa2cU);
  auto records = decode_records(batch);
  ASSERT_TRUE(records) << records.error();
  ASSERT_EQ(records->size(), 2U);
  EXPECT_EQ((*records)[1].offset, 1);
}

TEST(RecordBatch, RewritingOffsetAndEpochKeepsTheCrcValid) {
  auto batch = from_hex(kLibrdkafkaBatch);
  set_base_offset(batch, Offset(1234));
  set_partition_leader_epoch(batch, 7);
  auto header = validate_batch(batch, 1 << 20);
  ASSERT_TRUE(header) << header.error();
  EXPECT_EQ(header->base_offset, 1234);
  EXPECT_EQ(header->partition_leader_epoch, 7);
}

TEST(RecordBatch, FlippedPayloadBitIsACrcMismatch) {
  auto batch = from_hex(kLibrdkafkaBatch);
  batch[70] ^= std::byte{0x01};
  auto header = validate_batch(batch, 1 << 20);
  ASSERT_FALSE(header);
  EXPECT_EQ(header.error().code(), Errc::crc_mismatch);
}

TEST(RecordBatch, BuilderOutputValidatesAndDecodes) {
  BatchBuilder builder(1000);
  auto value = to_bytes("hello");
  auto key = to_bytes("k");
  builder.add_value(value, std::span<const std::byte>(key));
  builder.add_value(value);
  auto batch = builder.build();
  auto header = validate_batch(batch, 1 << 20);
  ASSERT_TRUE(header) << header.error();
  auto records = decode_records(batch);
  ASSERT_TRUE(records) << records.error();
  ASSERT_EQ(records->size(), 2U);
  EXPECT_FALSE((*records)[1].key.has_value());
  EXPECT_EQ((*records)[0].timestamp, 1000);
}

TEST(RecordBatch, TimestampDeltaThatOverflowsIsMalformed) {
  // Found by batch_fuzz: baseTimestamp near INT64_MAX plus a positive delta.
  BatchBuilder builder(0);
  RecordSpec spec;
  spec.timestamp = std::numeric_limits<std::int64_t>::max();
  spec.value = to_bytes("v");
  builder.add(spec);
  RecordSpec later = spec;
  later.timestamp = 0;  // delta = -INT64_MAX: fine
  builder.add(later);
  auto batch = builder.build();
  ASSERT_TRUE(decode_records(batch));
  // Now make the base timestamp negative-large so base + delta overflows.
  store_be<std::int64_t>(batch.data() + batch_field::kBaseTimestamp,
                         std::numeric_limits<std::int64_t>::min());
  auto records = decode_records(batch);
  ASSERT_FALSE(records);
  EXPECT_EQ(records.error().code(), Errc::malformed);
}

}  // namespace
}  // namespace spate::protocol
