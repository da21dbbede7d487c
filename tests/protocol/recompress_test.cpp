// SPDX-License-Identifier: Apache-2.0
//
// Broker-side recompression (recompress_batch): every pair of codecs,
// uncompressed included, keeps the records byte for byte and every header
// field but the codec bits, batchLength and the CRC; levels; hostile input.

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/protocol/compression.h"

namespace spate::protocol {
namespace {

constexpr Compression kAll[] = {Compression::none, Compression::gzip, Compression::snappy,
                                Compression::lz4, Compression::zstd};

// An idempotent producer's transactional batch: every header field set.
std::vector<std::byte> producer_batch() {
  BatchBuilder builder(1'700'000'000'000);
  for (int i = 0; i < 40; ++i) {
    builder.add({.key = to_bytes("key-" + std::to_string(i % 7)),
                 .value = to_bytes(std::string(static_cast<std::size_t>(100 + i),
                                               static_cast<char>('a' + i % 26))),
                 .headers = {{"h", to_bytes("v" + std::to_string(i))}},
                 .timestamp = 1'700'000'000'000 + i * 3});
  }
  auto batch = builder.build();
  std::byte* p = batch.data();
  store_be<std::int64_t>(p + batch_field::kBaseOffset, 77);
  store_be<std::int32_t>(p + batch_field::kPartitionLeaderEpoch, 5);
  store_be<std::int64_t>(p + batch_field::kProducerId, 4242);
  store_be<std::int16_t>(p + batch_field::kProducerEpoch, 3);
  store_be<std::int32_t>(p + batch_field::kBaseSequence, 1000);
  store_be<std::int16_t>(p + batch_field::kAttributes, 0x10);  // transactional
  store_be<std::uint32_t>(p + batch_field::kCrc, compute_batch_crc(batch));
  return batch;
}

std::vector<std::byte> in_codec(const std::vector<std::byte>& plain, Compression codec) {
  if (codec == Compression::none) return plain;
  auto packed = compress_batch(plain, codec);
  EXPECT_TRUE(packed) << packed.error();
  return packed ? *packed : std::vector<std::byte>{};
}

std::vector<std::byte> records_of(std::span<const std::byte> batch) {
  auto records = batch_records(batch, 1U << 24U);
  EXPECT_TRUE(records) << records.error();
  return records ? *records : std::vector<std::byte>{};
}

TEST(Recompress, EveryPairOfCodecsKeepsRecordsAndHeader) {
  const auto plain = producer_batch();
  const auto records = records_of(plain);
  for (auto from : kAll) {
    const auto source = in_codec(plain, from);
    auto before = validate_batch(source, 1U << 20U);
    ASSERT_TRUE(before) << before.error();
    for (auto to : kAll) {
      SCOPED_TRACE(::testing::Message() << "from " << int(from) << " to " << int(to));
      std::vector<std::byte> out;
      ASSERT_TRUE(recompress_batch(source, to, default_level(to), 1U << 20U, out));
      auto after = validate_batch(out, 1U << 20U);  // length and CRC hold
      ASSERT_TRUE(after) << after.error();
      EXPECT_EQ(after->compression(), to);
      EXPECT_EQ(records_of(out), records);
      EXPECT_EQ(after->attributes & ~0x7, before->attributes & ~0x7);
      EXPECT_EQ(after->base_offset, 77);
      EXPECT_EQ(after->partition_leader_epoch, 5);
      EXPECT_EQ(after->producer_id, 4242);
      EXPECT_EQ(after->producer_epoch, 3);
      EXPECT_EQ(after->base_sequence, 1000);
      EXPECT_EQ(after->base_timestamp, before->base_timestamp);
      EXPECT_EQ(after->max_timestamp, before->max_timestamp);
      EXPECT_EQ(after->record_count, 40);
      EXPECT_EQ(after->last_offset_delta, 39);
      EXPECT_TRUE(check_client_batch(out, 1U << 20U)) << "the records parse";
      if (to == Compression::none) {
        EXPECT_EQ(out, plain);
      }
    }
  }
}

TEST(Recompress, LevelsChangeTheBytesNotTheRecords) {
  const auto plain = producer_batch();
  const std::pair<Compression, std::pair<int, int>> cases[] = {
      {Compression::gzip, {1, 9}}, {Compression::lz4, {9, 12}}, {Compression::zstd, {1, 19}}};
  for (const auto& [codec, levels] : cases) {
    std::vector<std::byte> fast;
    std::vector<std::byte> slow;
    ASSERT_TRUE(recompress_batch(plain, codec, levels.first, 1U << 20U, fast));
    ASSERT_TRUE(recompress_batch(plain, codec, levels.second, 1U << 20U, slow));
    EXPECT_NE(fast, slow) << int(codec);
    EXPECT_EQ(records_of(fast), records_of(plain));
    EXPECT_EQ(records_of(slow), records_of(plain));
  }
  std::vector<std::byte> out;
  EXPECT_FALSE(recompress_batch(plain, Compression::gzip, 42, 1U << 20U, out));
}

// A compressed batch whose records section is `section`, CRC valid.
std::vector<std::byte> batch_with_section(Compression codec, std::span<const std::byte> section) {
  auto batch = in_codec(producer_batch(), codec);
  batch.resize(kBatchHeaderBytes);
  batch.insert(batch.end(), section.begin(), section.end());
  store_be<std::int32_t>(batch.data() + batch_field::kBatchLength,
                         static_cast<std::int32_t>(batch.size() - kBatchLogOverheadBytes));
  store_be<std::uint32_t>(batch.data() + batch_field::kCrc, compute_batch_crc(batch));
  return batch;
}

TEST(Recompress, HostileRecordsAreRefusedWithinTheBound) {
  const std::vector<std::byte> garbage(300, std::byte{0x5A});
  const std::vector<std::byte> zeros(32U << 20U);
  for (auto from : {Compression::gzip, Compression::snappy, Compression::lz4, Compression::zstd}) {
    SCOPED_TRACE(int(from));
    std::vector<std::byte> out;
    auto bad =
        recompress_batch(batch_with_section(from, garbage), Compression::zstd, 3, 1U << 20U, out);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), Errc::malformed);
    // 32 MiB of zeros in a few KiB: stops at the bound.
    auto bomb = compress(from, zeros);
    ASSERT_TRUE(bomb);
    auto big =
        recompress_batch(batch_with_section(from, *bomb), Compression::none, 0, 1U << 20U, out);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code(), Errc::limit_exceeded);
  }
  // Uncompressed records past the bound as well.
  std::vector<std::byte> out;
  auto plain = recompress_batch(producer_batch(), Compression::lz4, 9, 100, out);
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code(), Errc::limit_exceeded);
}

}  // namespace
}  // namespace spate::protocol
