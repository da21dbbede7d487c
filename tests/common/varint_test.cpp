// SPDX-License-Identifier: Apache-2.0
//
// Unsigned LEB128 and zigzag varints: round trips over edge values, Kafka's own
// encoding tables (ByteUtilsTest), truncated input and 32/64-bit overflow.

#include "spate/common/varint.h"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/error.h"

namespace spate {
namespace {

constexpr std::int64_t kI32Min = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t kI32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t kUint64Max = std::numeric_limits<std::uint64_t>::max();

std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string uvarint_hex(std::uint64_t v) {
  ByteWriter w;
  w.write_uvarint(v);
  return to_hex(w.view());
}

std::string varint_hex(std::int64_t v) {
  ByteWriter w;
  w.write_varint(v);
  return to_hex(w.view());
}

TEST(Varint, UnsignedRoundTripsAtEverySevenBitBoundary) {
  std::vector<std::uint64_t> values = {
      0, 1, 127, 128, 255, 300, 16383, 16384, 0xFFFFFFFFULL, 0x100000000ULL, kUint64Max};
  for (unsigned k = 1; k < 10; ++k) {
    const std::uint64_t edge = std::uint64_t{1} << (7U * k);
    values.push_back(edge - 1);  // the largest k-byte value
    values.push_back(edge);      // the smallest (k+1)-byte value
  }
  for (std::uint64_t v : values) {
    std::byte buf[varint::kBytesMax64];
    const std::size_t n = varint::encode_uvarint(v, buf);
    EXPECT_EQ(n, varint::uvarint_size(v)) << v;
    auto d = varint::decode_uvarint(std::span<const std::byte>(buf, n), varint::kBytesMax64);
    ASSERT_EQ(d.status, varint::DecodeStatus::ok) << v;
    EXPECT_EQ(d.value, v);
    EXPECT_EQ(d.bytes, n);

    ByteWriter w;
    w.write_uvarint(v);
    ByteReader r(w.view());
    auto back = r.read_uvarint64();
    ASSERT_TRUE(back) << v;
    EXPECT_EQ(*back, v);
    EXPECT_TRUE(r.empty());
  }
}

TEST(Varint, SizeGrowsByOneByteEverySevenBits) {
  EXPECT_EQ(varint::uvarint_size(0), 1U);
  EXPECT_EQ(varint::uvarint_size(127), 1U);
  EXPECT_EQ(varint::uvarint_size(128), 2U);
  EXPECT_EQ(varint::uvarint_size(0xFFFFFFFFULL), 5U);
  EXPECT_EQ(varint::uvarint_size(kUint64Max), 10U);
  for (unsigned k = 1; k < 10; ++k) {
    const std::uint64_t edge = std::uint64_t{1} << (7U * k);
    EXPECT_EQ(varint::uvarint_size(edge - 1), k);
    EXPECT_EQ(varint::uvarint_size(edge), k + 1);
  }
}

TEST(Varint, SignedRoundTripsOverEdgeValues) {
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{127}, std::int64_t{128},
        std::int64_t{-128}, std::int64_t{-129}, kI32Min, kI32Max, kI32Min - 1, kI32Max + 1,
        kInt64Min, kInt64Max, kInt64Min + 1, kInt64Max - 1}) {
    EXPECT_EQ(varint::zigzag_decode(varint::zigzag_encode(v)), v);
    ByteWriter w;
    w.write_varint(v);
    ByteReader r(w.view());
    auto back = r.read_varint64();
    ASSERT_TRUE(back) << v;
    EXPECT_EQ(*back, v);
    EXPECT_TRUE(r.empty());
    if (v >= kI32Min && v <= kI32Max) {
      ByteReader r32(w.view());
      auto back32 = r32.read_varint32();
      ASSERT_TRUE(back32) << v;
      EXPECT_EQ(*back32, v);
    }
  }
}

TEST(Varint, ZigzagMapsSmallMagnitudesToSmallCodes) {
  // The table from Kafka's ByteUtils and the protobuf documentation.
  EXPECT_EQ(varint::zigzag_encode(0), 0U);
  EXPECT_EQ(varint::zigzag_encode(-1), 1U);
  EXPECT_EQ(varint::zigzag_encode(1), 2U);
  EXPECT_EQ(varint::zigzag_encode(-2), 3U);
  EXPECT_EQ(varint::zigzag_encode(2), 4U);
  EXPECT_EQ(varint::zigzag_encode(kI32Max), 0xFFFFFFFEULL);
  EXPECT_EQ(varint::zigzag_encode(kI32Min), 0xFFFFFFFFULL);
  EXPECT_EQ(varint::zigzag_encode(kInt64Max), kUint64Max - 1);
  EXPECT_EQ(varint::zigzag_encode(kInt64Min), kUint64Max);
  EXPECT_EQ(varint::zigzag_decode(kUint64Max), kInt64Min);
  EXPECT_EQ(varint::zigzag_decode(kUint64Max - 1), kInt64Max);
}

TEST(Varint, SignedEncodingMatchesKafkasTable) {
  // Kafka's ByteUtilsTest.testVarintSerde / testVarlongSerde.
  struct Case {
    std::int64_t value;
    const char* hex;
  };
  const Case cases[] = {
      {0, "00"},
      {-1, "01"},
      {1, "02"},
      {63, "7e"},
      {-64, "7f"},
      {64, "8001"},
      {-65, "8101"},
      {8191, "fe7f"},
      {-8192, "ff7f"},
      {8192, "808001"},
      {-8193, "818001"},
      {1048575, "feff7f"},
      {-1048576, "ffff7f"},
      {1048576, "80808001"},
      {-1048577, "81808001"},
      {134217727, "feffff7f"},
      {-134217728, "ffffff7f"},
      {134217728, "8080808001"},
      {-134217729, "8180808001"},
      {kI32Max, "feffffff0f"},
      {kI32Min, "ffffffff0f"},
      {kInt64Max, "feffffffffffffffff01"},
      {kInt64Min, "ffffffffffffffffff01"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(varint_hex(c.value), c.hex) << c.value;
    auto bytes = from_hex(c.hex);
    ByteReader r(bytes);
    auto back = r.read_varint64();
    ASSERT_TRUE(back) << c.hex;
    EXPECT_EQ(*back, c.value);
  }
}

TEST(Varint, UnsignedEncodingMatchesKafkasTable) {
  // Kafka's ByteUtilsTest.testUnsignedVarintSerde: Java ints taken as unsigned.
  struct Case {
    std::uint32_t value;
    const char* hex;
  };
  const Case cases[] = {
      {0, "00"},
      {1, "01"},
      {63, "3f"},
      {64, "40"},
      {300, "ac02"},
      {8191, "ff3f"},
      {8192, "8040"},
      {0x7FFFFFFFU, "ffffffff07"},
      {0x80000000U, "8080808008"},  // Integer.MIN_VALUE
      {0xFFFFFFC0U, "c0ffffff0f"},  // -64
      {0xFFFFE000U, "80c0ffff0f"},  // -8192
      {0xFFFFFFFFU, "ffffffff0f"},  // -1
  };
  for (const auto& c : cases) {
    EXPECT_EQ(uvarint_hex(c.value), c.hex) << c.value;
    auto bytes = from_hex(c.hex);
    ByteReader r(bytes);
    auto back = r.read_uvarint32();
    ASSERT_TRUE(back) << c.hex;
    EXPECT_EQ(*back, c.value);
    EXPECT_TRUE(r.empty());
  }
}

TEST(Varint, DecodingStopsAtTheLastByteAndLeavesTheRest) {
  auto bytes = from_hex("ac02ff");
  ByteReader r(bytes);
  EXPECT_EQ(*r.read_uvarint32(), 300U);
  EXPECT_EQ(r.position(), 2U);
  EXPECT_EQ(r.remaining(), 1U);
}

TEST(Varint, EveryTruncationIsMalformedAndDoesNotMove) {
  for (const char* hex : {"8001", "feffffff0f", "ffffffffffffffffff01", "8180808001"}) {
    const auto whole = from_hex(hex);
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
      const std::span<const std::byte> part(whole.data(), cut);
      EXPECT_EQ(varint::decode_uvarint(part, varint::kBytesMax64).status,
                varint::DecodeStatus::truncated);
      ByteReader r(part);
      auto v64 = r.read_varint64();
      ASSERT_FALSE(v64) << hex << " cut at " << cut;
      EXPECT_EQ(v64.error().code(), Errc::malformed);
      EXPECT_EQ(r.position(), 0U);
      auto u64 = r.read_uvarint64();
      ASSERT_FALSE(u64);
      EXPECT_EQ(u64.error().code(), Errc::malformed);
      if (whole.size() <= varint::kBytesMax32) {
        EXPECT_FALSE(r.read_uvarint32());
        EXPECT_FALSE(r.read_varint32());
      }
      EXPECT_EQ(r.position(), 0U);
    }
  }
}

TEST(Varint, TruncationAfterAConsumedPrefixKeepsThePosition) {
  auto bytes = from_hex("0180");  // a complete 1, then a dangling continuation byte
  ByteReader r(bytes);
  EXPECT_EQ(*r.read_uvarint64(), 1U);
  auto next = r.read_uvarint64();
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code(), Errc::malformed);
  EXPECT_EQ(r.position(), 1U);
}

TEST(Varint, FiveByteValueOver32BitsOverflows) {
  // The fifth byte may carry 4 bits and no continuation.
  EXPECT_EQ(*ByteReader(from_hex("ffffffff0f")).read_uvarint32(), 0xFFFFFFFFU);
  for (const char* hex :
       {"ffffffff1f", "8080808010", "ffffffff7f", "ffffffff8f01", "808080808001", "ffffffffffff"}) {
    const auto bytes = from_hex(hex);
    EXPECT_EQ(varint::decode_uvarint(bytes, varint::kBytesMax32).status,
              varint::DecodeStatus::overflow)
        << hex;
    ByteReader r(bytes);
    auto u = r.read_uvarint32();
    ASSERT_FALSE(u) << hex;
    EXPECT_EQ(u.error().code(), Errc::malformed);
    EXPECT_EQ(r.position(), 0U);
    auto s = r.read_varint32();
    ASSERT_FALSE(s) << hex;
    EXPECT_EQ(r.position(), 0U);
  }
  // A zigzag value just outside int32 is valid as a VARLONG, not as a VARINT.
  ByteWriter w;
  w.write_varint(kI32Max + 1);
  EXPECT_EQ(to_hex(w.view()), "8080808010");
  EXPECT_FALSE(ByteReader(w.view()).read_varint32());
  EXPECT_EQ(*ByteReader(w.view()).read_varint64(), kI32Max + 1);
}

TEST(Varint, TenByteValueOver64BitsOverflows) {
  // The tenth byte may carry only bit 63 and no continuation.
  EXPECT_EQ(*ByteReader(from_hex("ffffffffffffffffff01")).read_uvarint64(), kUint64Max);
  EXPECT_EQ(*ByteReader(from_hex("80808080808080808001")).read_uvarint64(),
            std::uint64_t{1} << 63U);
  for (const char* hex : {"ffffffffffffffffff02", "ffffffffffffffffff7f", "80808080808080808081",
                          "ffffffffffffffffff8100", "ffffffffffffffffffffff"}) {
    const auto bytes = from_hex(hex);
    EXPECT_EQ(varint::decode_uvarint(bytes, varint::kBytesMax64).status,
              varint::DecodeStatus::overflow)
        << hex;
    ByteReader r(bytes);
    auto u = r.read_uvarint64();
    ASSERT_FALSE(u) << hex;
    EXPECT_EQ(u.error().code(), Errc::malformed);
    EXPECT_EQ(r.position(), 0U);
    EXPECT_FALSE(r.read_varint64());
    EXPECT_EQ(r.position(), 0U);
  }
}

TEST(Varint, NonMinimalEncodingsAreAccepted) {
  // Kafka's decoder accepts padding with continuation bytes; so do we.
  EXPECT_EQ(*ByteReader(from_hex("8000")).read_uvarint32(), 0U);
  EXPECT_EQ(*ByteReader(from_hex("ff8080808000")).read_uvarint64(), 127U);
}

TEST(VarintDeathTest, DecodeWithAnUnsupportedWidthAborts) {
  const auto bytes = from_hex("01");
  EXPECT_DEATH((void)varint::decode_uvarint(bytes, 7), "bad bytes_max 7");
}

TEST(VarintDeathTest, EncodeIntoATooSmallBufferAborts) {
  std::byte one[1];
  EXPECT_DEATH((void)varint::encode_uvarint(128, one), "varint output too small");
}

}  // namespace
}  // namespace spate
