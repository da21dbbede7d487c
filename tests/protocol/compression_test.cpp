// SPDX-License-Identifier: Apache-2.0
//
// Codecs: round trips, bounded decompression (a small input claiming a huge
// output fails fast), corrupt input, xerial snappy framing, compressed batches.

#include "spate/protocol/compression.h"

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/rng.h"

namespace spate::protocol {
namespace {

constexpr Compression kCompressions[] = {Compression::gzip, Compression::snappy, Compression::lz4,
                                         Compression::zstd};

std::vector<std::byte> sample(std::size_t n) {
  Rng rng(1);
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>(i % 7 == 0 ? rng.next() : i % 13);
  }
  return out;
}

TEST(Compression, EveryCodecRoundTrips) {
  for (auto codec : kCompressions) {
    for (std::size_t n : {0UL, 1UL, 1000UL, 300000UL}) {
      auto input = sample(n);
      auto packed = compress(codec, input);
      ASSERT_TRUE(packed) << static_cast<int>(codec);
      auto back = decompress(codec, *packed, n);
      ASSERT_TRUE(back) << static_cast<int>(codec) << " n=" << n << ": " << back.error();
      EXPECT_EQ(*back, input);
    }
  }
}

TEST(Compression, OutputPastTheLimitStopsEarly) {
  // 64 MiB of zeros compresses to a few KiB; a 1 MiB limit must refuse it.
  std::vector<std::byte> zeros(64U << 20U);
  for (auto codec : kCompressions) {
    auto packed = compress(codec, zeros);
    ASSERT_TRUE(packed);
    EXPECT_LT(packed->size(), 4U << 20U);
    auto back = decompress(codec, *packed, 1U << 20U);
    ASSERT_FALSE(back) << static_cast<int>(codec);
    EXPECT_EQ(back.error().code(), Errc::limit_exceeded) << static_cast<int>(codec);
    auto exact = decompress(codec, *packed, zeros.size());
    ASSERT_TRUE(exact) << static_cast<int>(codec);
    EXPECT_EQ(exact->size(), zeros.size());
  }
}

TEST(Compression, SnappyHeaderClaimingAGibibyteIsRefusedBeforeAllocating) {
  // A varint length of 1 GiB followed by nothing.
  ByteWriter w;
  w.write_uvarint(1U << 30U);
  auto r = decompress(Compression::snappy, w.view(), 1U << 20U);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::limit_exceeded);
}

TEST(Compression, CorruptAndTruncatedInputIsAnError) {
  auto input = sample(5000);
  for (auto codec : kCompressions) {
    auto packed = compress(codec, input);
    ASSERT_TRUE(packed);
    auto truncated = std::span<const std::byte>(*packed).first(packed->size() / 2);
    auto r = decompress(codec, truncated, 1U << 20U);
    EXPECT_FALSE(r) << "truncated " << static_cast<int>(codec);
    std::vector<std::byte> garbage(200, std::byte{0xA5});
    EXPECT_FALSE(decompress(codec, garbage, 1U << 20U)) << "garbage " << static_cast<int>(codec);
  }
  EXPECT_FALSE(decompress(Compression::none, input, 100));
}

TEST(Compression, XerialSnappyFramingAsJavaWritesIt) {
  auto part1 = sample(3000);
  auto part2 = sample(500);
  ByteWriter w;
  for (int c : {0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00})
    w.write<std::uint8_t>(static_cast<std::uint8_t>(c));
  w.write<std::int32_t>(1);
  w.write<std::int32_t>(1);
  for (const auto& part : {part1, part2}) {
    auto block = compress(Compression::snappy, part);
    ASSERT_TRUE(block);
    w.write<std::int32_t>(static_cast<std::int32_t>(block->size()));
    w.write_bytes(*block);
  }
  auto back = decompress(Compression::snappy, w.view(), 1U << 20U);
  ASSERT_TRUE(back) << back.error();
  auto expected = part1;
  expected.insert(expected.end(), part2.begin(), part2.end());
  EXPECT_EQ(*back, expected);
  auto limited = decompress(Compression::snappy, w.view(), 3200);
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code(), Errc::limit_exceeded);
  w.write<std::int32_t>(1000);  // a block length past the end
  EXPECT_FALSE(decompress(Compression::snappy, w.view(), 1U << 20U));
}

TEST(Compression, CompressedBatchesValidateAndDecodeTheirRecords) {
  BatchBuilder builder(5000);
  for (int i = 0; i < 20; ++i) {
    auto value = to_bytes("value number " + std::to_string(i));
    builder.add_value(value);
  }
  auto plain = builder.build();
  for (auto codec : kCompressions) {
    auto packed = compress_batch(plain, codec);
    ASSERT_TRUE(packed) << packed.error();
    auto header = validate_batch(*packed, 1U << 20U);
    ASSERT_TRUE(header) << header.error();
    EXPECT_EQ(header->compression(), codec);
    EXPECT_EQ(header->record_count, 20);
    auto records = batch_records(*packed, 1U << 20U);
    ASSERT_TRUE(records) << records.error();
    EXPECT_EQ(*records, std::vector<std::byte>(plain.begin() + kBatchHeaderBytes, plain.end()));
    auto small = batch_records(*packed, 100);
    ASSERT_FALSE(small);
    EXPECT_EQ(small.error().code(), Errc::limit_exceeded);
  }
}

}  // namespace
}  // namespace spate::protocol
