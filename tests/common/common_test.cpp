// SPDX-License-Identifier: Apache-2.0
//
// Result, Error, strong ids, the byte reader/writer, varints and the Rng.

#include <cerrno>
#include <limits>
#include <set>
#include <type_traits>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/error.h"
#include "spate/common/result.h"
#include "spate/common/rng.h"
#include "spate/common/types.h"
#include "spate/common/varint.h"

namespace spate {
namespace {

Result<int> half(int v) {
  if (v % 2 != 0) return Error::invalid("odd");
  return v / 2;
}

TEST(Result, HoldsAValueOrAnError) {
  auto ok = half(8);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 4);
  auto bad = half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
  EXPECT_EQ(bad.error().message(), "invalid_argument: odd");
  Status s;
  EXPECT_TRUE(s);
  Status f = Error::io("disk");
  EXPECT_FALSE(f);
  EXPECT_EQ(f.error().code(), Errc::io_error);
}

TEST(Result, ValueOfAnErrorAborts) {
  EXPECT_DEATH((void)half(3).value(), "Result::value\\(\\) on an error");
}

TEST(Error, ErrnoMapping) {
  EXPECT_EQ(Error::from_errno(ENOSPC, "write x").code(), Errc::no_space);
  EXPECT_EQ(Error::from_errno(ENOENT, "open x").code(), Errc::not_found);
  EXPECT_EQ(Error::from_errno(EIO, "fsync x").code(), Errc::io_error);
  EXPECT_EQ(Error::from_errno(EEXIST, "open x").code(), Errc::already_exists);
  EXPECT_NE(Error::from_errno(EIO, "fsync /a/b").detail().find("fsync /a/b"), std::string::npos);
}

TEST(Error, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(Errc::busy); ++c) {
    auto name = errc_name(static_cast<Errc>(c));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(StrongInt, ArithmeticComparisonAndFormatting) {
  Offset a(10);
  EXPECT_EQ(a + 5, Offset(15));
  EXPECT_EQ(Offset(15) - a, 5);
  EXPECT_LT(a, Offset(11));
  EXPECT_EQ(fmt::format("{}", a), "10");
  static_assert(!std::is_convertible_v<Term, Offset>);
  static_assert(!std::is_convertible_v<std::int64_t, Offset>);
  static_assert(!std::is_constructible_v<Offset, Term>);
}

TEST(ByteReader, ReadsBigEndianAndRefusesToReadPastTheEnd) {
  ByteWriter w;
  w.write<std::int16_t>(-2);
  w.write<std::uint32_t>(0xDEADBEEF);
  w.write<std::int64_t>(std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(to_hex(w.view()).substr(0, 12), "fffedeadbeef");
  ByteReader r(w.view());
  EXPECT_EQ(*r.read<std::int16_t>(), -2);
  EXPECT_EQ(*r.read<std::uint32_t>(), 0xDEADBEEFU);
  EXPECT_EQ(*r.read<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_TRUE(r.empty());
  auto past = r.read<std::int8_t>();
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Errc::malformed);
  EXPECT_EQ(r.position(), w.size());
}

TEST(ByteReader, ShortReadLeavesThePositionUnchanged) {
  std::vector<std::byte> three(3);
  ByteReader r(three);
  EXPECT_FALSE(r.read<std::int32_t>());
  EXPECT_EQ(r.position(), 0U);
  EXPECT_FALSE(r.read_bytes(4));
  EXPECT_FALSE(r.skip(4));
  EXPECT_TRUE(r.read_bytes(3));
}

TEST(ByteWriter, PatchOverwritesInPlace) {
  ByteWriter w;
  w.write<std::int32_t>(0);
  w.write_string("abc");
  w.patch<std::int32_t>(0, 3);
  EXPECT_EQ(to_hex(w.view()), "00000003616263");
}

TEST(Varint, RoundTripsEdgeValues) {
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{63}, std::int64_t{-64},
        std::int64_t{64}, std::int64_t{127}, std::int64_t{128},
        std::int64_t{std::numeric_limits<std::int32_t>::max()},
        std::int64_t{std::numeric_limits<std::int32_t>::min()},
        std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    ByteWriter w;
    w.write_varint(v);
    ByteReader r(w.view());
    auto back = r.read_varint64();
    ASSERT_TRUE(back) << v;
    EXPECT_EQ(*back, v);
    EXPECT_TRUE(r.empty());
  }
}

TEST(Varint, ZigzagMatchesKafka) {
  // Kafka's ByteUtils: 0->0, -1->1, 1->2, -2->3, 2->4.
  EXPECT_EQ(varint::zigzag_encode(0), 0U);
  EXPECT_EQ(varint::zigzag_encode(-1), 1U);
  EXPECT_EQ(varint::zigzag_encode(1), 2U);
  EXPECT_EQ(varint::zigzag_encode(-2), 3U);
  EXPECT_EQ(varint::zigzag_encode(2), 4U);
  ByteWriter w;
  w.write_varint(300);
  EXPECT_EQ(to_hex(w.view()), "d804");
}

TEST(Varint, TruncatedAndOverflowingInputsAreErrors) {
  const std::vector<std::byte> truncated = {std::byte{0x80}, std::byte{0x80}};
  ByteReader t(truncated);
  EXPECT_FALSE(t.read_uvarint64());
  // Six bytes for a 32-bit varint.
  const std::vector<std::byte> long32(6, std::byte{0xFF});
  ByteReader l(long32);
  EXPECT_FALSE(l.read_uvarint32());
  // Five bytes whose last carries more than 4 bits.
  const std::vector<std::byte> over32 = {std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                         std::byte{0xFF}, std::byte{0x1F}};
  ByteReader o(over32);
  EXPECT_FALSE(o.read_uvarint32());
  const std::vector<std::byte> max32 = {std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                        std::byte{0xFF}, std::byte{0x0F}};
  ByteReader m(max32);
  EXPECT_EQ(*m.read_uvarint32(), 0xFFFFFFFFU);
  const std::vector<std::byte> long64(11, std::byte{0xFF});
  ByteReader l64(long64);
  EXPECT_FALSE(l64.read_uvarint64());
}

TEST(Rng, SameSeedSameSequenceAndPinnedValues) {
  Rng a(1);
  Rng b(1);
  std::vector<std::uint64_t> first;
  for (int i = 0; i < 4; ++i) {
    first.push_back(a.next());
    EXPECT_EQ(first.back(), b.next());
  }
  // Pinned so that the generator can never change silently (recorded seeds
  // must replay the same schedule forever).
  EXPECT_EQ(first[0], 0xb3f2af6d0fc710c5ULL);
  EXPECT_EQ(first[1], 0x853b559647364ceaULL);
  EXPECT_EQ(first[2], 0x92f89756082a4514ULL);
}

TEST(Rng, BoundedHelpersStayInRangeAndAreRoughlyUniform) {
  Rng rng(99);
  std::vector<int> counts(6);
  for (int i = 0; i < 60000; ++i) {
    auto v = rng.uniform(6);
    ASSERT_LT(v, 6U);
    counts[v]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 600);
  bool saw_low = false;
  bool saw_high = false;
  for (int i = 0; i < 1000; ++i) {
    auto v = rng.range(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    saw_low |= v == -2;
    saw_high |= v == 2;
  }
  EXPECT_TRUE(saw_low && saw_high);
}

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock(5000);
  auto t0 = clock.steady_now();
  EXPECT_EQ(clock.steady_now(), t0);
  clock.advance(std::chrono::milliseconds(250));
  EXPECT_EQ(clock.wall_ms(), 5250);
  EXPECT_EQ(clock.steady_now() - t0, std::chrono::milliseconds(250));
}

}  // namespace
}  // namespace spate
