// SPDX-License-Identifier: Apache-2.0
//
// Golden bytes and damage detection for the on-disk encodings of
// docs/storage-format.md: segment names, index files, offset files, the clean
// marker.

#include <gtest/gtest.h>

#include "spate/common/bytes.h"

#include "storage/log_files.h"
#include "storage/segment.h"

namespace spate::storage {
namespace {

TEST(SegmentFormat, FileNamesAreTwentyDigitBaseOffsets) {
  EXPECT_EQ(segment_file_name(Offset(1200), kLogSuffix), "00000000000000001200.log");
  EXPECT_EQ(segment_file_name(Offset(0), kIndexSuffix), "00000000000000000000.index");
  auto parsed = parse_segment_file_name("00000000000000001200.timeindex", kTimeIndexSuffix);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, Offset(1200));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000120.log", kLogSuffix));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000120x.log", kLogSuffix));
  EXPECT_FALSE(parse_segment_file_name("00000000000000001200.log", kIndexSuffix));
  EXPECT_FALSE(parse_segment_file_name("+0000000000000001200.log", kLogSuffix));
}

TEST(SegmentFormat, OffsetIndexGoldenBytes) {
  std::vector<IndexEntry> entries = {{1, 0x100}, {7, 0x2000}};
  auto bytes = encode_offset_index(entries);
  // magic "SPIX", version 1, entry size 8, count 2, crc, reserved, entries.
  const std::string hex = to_hex(bytes);
  EXPECT_EQ(hex.substr(0, 24),
            "53504958"
            "0001"
            "0008"
            "00000002");
  EXPECT_EQ(hex.substr(32, 8), "00000000");
  EXPECT_EQ(hex.substr(40),
            "00000001"
            "00000100"
            "00000007"
            "00002000");
  auto decoded = decode_offset_index(bytes, 0x3000, 10);
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(*decoded, entries);
}

TEST(SegmentFormat, OffsetIndexDamageIsDetected) {
  std::vector<IndexEntry> entries = {{1, 0x100}, {7, 0x2000}};
  auto bytes = encode_offset_index(entries);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i >= 16 && i < 20) continue;  // reserved bytes are not checked
    auto damaged = bytes;
    damaged[i] ^= std::byte{0x01};
    EXPECT_FALSE(decode_offset_index(damaged, 0x3000, 10)) << "flip at " << i;
  }
  EXPECT_FALSE(
      decode_offset_index(std::span<const std::byte>(bytes).first(bytes.size() - 1), 0x3000, 10));
  // Entries that point past the segment (an index ahead of its log).
  EXPECT_FALSE(decode_offset_index(bytes, 0x1000, 10));
  EXPECT_FALSE(decode_offset_index(bytes, 0x3000, 5));
  // Not increasing.
  EXPECT_FALSE(decode_offset_index(encode_offset_index({{7, 0x100}, {1, 0x200}}), 0x3000, 10));
}

TEST(SegmentFormat, TimeIndexRoundTripAndOrder) {
  std::vector<TimeIndexEntry> entries = {{1000, 0}, {2000, 5}};
  auto bytes = encode_time_index(entries);
  EXPECT_EQ(to_hex(bytes).substr(0, 12), "535054490001");
  auto decoded = decode_time_index(bytes, 10);
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(*decoded, entries);
  EXPECT_FALSE(decode_time_index(encode_time_index({{2000, 0}, {1000, 5}}), 10));
  EXPECT_FALSE(decode_time_index(bytes, 5));
}

TEST(SegmentFormat, CleanMarkerRoundTripAndDamage) {
  CleanMarker m;
  m.end_offset = Offset(42);
  m.segments = {{0, 500}, {10, 9999}};
  m.terms = {{1, 0}, {4, 17}};
  auto bytes = encode_clean_marker(m);
  EXPECT_EQ(to_hex(bytes).substr(0, 8), "53504353");
  auto decoded = decode_clean_marker(bytes);
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(decoded->end_offset, Offset(42));
  ASSERT_EQ(decoded->segments.size(), 2U);
  EXPECT_EQ(decoded->segments[1].base, 10);
  EXPECT_EQ(decoded->segments[1].size_bytes, 9999U);
  ASSERT_EQ(decoded->terms.size(), 2U);
  EXPECT_EQ(decoded->terms[1].term, 4);
  EXPECT_EQ(decoded->terms[1].start, 17);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i >= 6 && i < 8) continue;  // reserved
    auto damaged = bytes;
    damaged[i] ^= std::byte{0x80};
    EXPECT_FALSE(decode_clean_marker(damaged)) << "flip at " << i;
  }
}

}  // namespace
}  // namespace spate::storage
