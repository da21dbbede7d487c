// SPDX-License-Identifier: Apache-2.0
//
// ByteReader bounds (every read past the end is Errc::malformed and leaves the
// position where it was), ByteWriter round trips, patch, to_hex and to_bytes.

#include "spate/common/bytes.h"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/error.h"

namespace spate {
namespace {

std::vector<std::byte> filled(std::size_t n) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(0xA0U + i);
  return out;
}

// With `prefix` bytes consumed and fewer than sizeof(T) left, read<T> fails
// with Errc::malformed and does not move.
template <typename T>
void expect_short_reads_fail() {
  for (std::size_t prefix = 0; prefix < 3; ++prefix) {
    for (std::size_t have = 0; have < sizeof(T); ++have) {
      auto bytes = filled(prefix + have);
      ByteReader r(bytes);
      ASSERT_TRUE(r.skip(prefix));
      auto v = r.read<T>();
      ASSERT_FALSE(v) << sizeof(T) << "-byte read with " << have << " left";
      EXPECT_EQ(v.error().code(), Errc::malformed);
      EXPECT_EQ(r.position(), prefix);
      EXPECT_EQ(r.remaining(), have);
      // Exactly enough bytes then succeed from the same position.
      bytes.push_back(std::byte{0});
      ByteReader again(bytes);
      ASSERT_TRUE(again.skip(prefix));
      if (have + 1 == sizeof(T)) {
        EXPECT_TRUE(again.read<T>());
        EXPECT_TRUE(again.empty());
      }
    }
  }
}

TEST(ByteReader, EveryIntegerReadPastTheEndIsMalformedAndDoesNotMove) {
  expect_short_reads_fail<std::int8_t>();
  expect_short_reads_fail<std::uint8_t>();
  expect_short_reads_fail<std::int16_t>();
  expect_short_reads_fail<std::uint16_t>();
  expect_short_reads_fail<std::int32_t>();
  expect_short_reads_fail<std::uint32_t>();
  expect_short_reads_fail<std::int64_t>();
  expect_short_reads_fail<std::uint64_t>();
}

TEST(ByteReader, ReadBytesAndSkipPastTheEndAreMalformedAndDoNotMove) {
  auto bytes = filled(5);
  ByteReader r(bytes);
  ASSERT_TRUE(r.skip(2));
  auto view = r.read_bytes(4);
  ASSERT_FALSE(view);
  EXPECT_EQ(view.error().code(), Errc::malformed);
  EXPECT_EQ(r.position(), 2U);
  auto skipped = r.skip(4);
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error().code(), Errc::malformed);
  EXPECT_EQ(r.position(), 2U);
  // A huge count (a lying length field) must not wrap around.
  EXPECT_FALSE(r.read_bytes(std::numeric_limits<std::size_t>::max()));
  EXPECT_FALSE(r.skip(std::numeric_limits<std::size_t>::max()));
  EXPECT_EQ(r.position(), 2U);
  auto rest = r.read_bytes(3);
  ASSERT_TRUE(rest);
  EXPECT_EQ(to_hex(*rest), "a2a3a4");
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, ZeroLengthReadsSucceedEvenAtTheEnd) {
  std::vector<std::byte> none;
  ByteReader r(none);
  EXPECT_TRUE(r.empty());
  auto view = r.read_bytes(0);
  ASSERT_TRUE(view);
  EXPECT_TRUE(view->empty());
  EXPECT_TRUE(r.skip(0));
  EXPECT_FALSE(r.read<std::uint8_t>());
  EXPECT_EQ(r.position(), 0U);
}

TEST(ByteReader, ReadBytesIsAViewIntoTheInput) {
  auto bytes = filled(4);
  ByteReader r(bytes);
  ASSERT_TRUE(r.skip(1));
  auto view = r.read_bytes(2);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->data(), bytes.data() + 1);
  EXPECT_EQ(view->size(), 2U);
  EXPECT_EQ(r.position(), 3U);
  EXPECT_EQ(r.remaining(), 1U);
}

TEST(ByteReader, ShortReadErrorNamesThePosition) {
  auto bytes = filled(3);
  ByteReader r(bytes);
  ASSERT_TRUE(r.skip(1));
  auto v = r.read<std::int32_t>();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().detail(), "need 4 bytes at position 1, have 2");
}

TEST(ByteReader, ReadsBigEndian) {
  const std::vector<std::byte> bytes = {std::byte{0x01}, std::byte{0x02}, std::byte{0x03},
                                        std::byte{0x04}, std::byte{0x05}, std::byte{0x06},
                                        std::byte{0x07}, std::byte{0x08}};
  ByteReader r16(bytes);
  EXPECT_EQ(*r16.read<std::uint16_t>(), 0x0102U);
  ByteReader r32(bytes);
  EXPECT_EQ(*r32.read<std::uint32_t>(), 0x01020304U);
  ByteReader r64(bytes);
  EXPECT_EQ(*r64.read<std::uint64_t>(), 0x0102030405060708ULL);
  EXPECT_EQ(load_be<std::int16_t>(bytes.data() + 6), 0x0708);
}

TEST(ByteWriter, IntegersRoundTripAtTheirLimits) {
  ByteWriter w;
  w.write<std::int8_t>(std::numeric_limits<std::int8_t>::min());
  w.write<std::int8_t>(std::numeric_limits<std::int8_t>::max());
  w.write<std::uint8_t>(0xFF);
  w.write<std::int16_t>(std::numeric_limits<std::int16_t>::min());
  w.write<std::int16_t>(-1);
  w.write<std::uint16_t>(0xBEEF);
  w.write<std::int32_t>(std::numeric_limits<std::int32_t>::min());
  w.write<std::int32_t>(std::numeric_limits<std::int32_t>::max());
  w.write<std::uint32_t>(0xDEADBEEF);
  w.write<std::int64_t>(std::numeric_limits<std::int64_t>::min());
  w.write<std::int64_t>(std::numeric_limits<std::int64_t>::max());
  w.write<std::uint64_t>(0x0123456789ABCDEFULL);
  EXPECT_EQ(w.size(), 3U * 1 + 3U * 2 + 3U * 4 + 3U * 8);
  EXPECT_EQ(to_hex(w.view()),
            "807fff"
            "8000ffffbeef"
            "800000007fffffffdeadbeef"
            "80000000000000007fffffffffffffff0123456789abcdef");

  ByteReader r(w.view());
  EXPECT_EQ(*r.read<std::int8_t>(), std::numeric_limits<std::int8_t>::min());
  EXPECT_EQ(*r.read<std::int8_t>(), std::numeric_limits<std::int8_t>::max());
  EXPECT_EQ(*r.read<std::uint8_t>(), 0xFFU);
  EXPECT_EQ(*r.read<std::int16_t>(), std::numeric_limits<std::int16_t>::min());
  EXPECT_EQ(*r.read<std::int16_t>(), -1);
  EXPECT_EQ(*r.read<std::uint16_t>(), 0xBEEFU);
  EXPECT_EQ(*r.read<std::int32_t>(), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(*r.read<std::int32_t>(), std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(*r.read<std::uint32_t>(), 0xDEADBEEFU);
  EXPECT_EQ(*r.read<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(*r.read<std::int64_t>(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(*r.read<std::uint64_t>(), 0x0123456789ABCDEFULL);
  EXPECT_TRUE(r.empty());
}

TEST(ByteWriter, BytesStringsAndVarintsRoundTrip) {
  ByteWriter w(64);
  EXPECT_EQ(w.size(), 0U);
  w.write_string("kafka");
  w.write_string("");
  const auto raw = filled(3);
  w.write_bytes(raw);
  w.write_uvarint(300);
  w.write_varint(-65);
  w.write<std::int16_t>(7);

  ByteReader r(w.view());
  auto s = r.read_bytes(5);
  ASSERT_TRUE(s);
  EXPECT_EQ(to_hex(*s), to_hex(to_bytes("kafka")));
  auto b = r.read_bytes(3);
  ASSERT_TRUE(b);
  EXPECT_EQ(to_hex(*b), "a0a1a2");
  EXPECT_EQ(*r.read_uvarint32(), 300U);
  EXPECT_EQ(*r.read_varint32(), -65);
  EXPECT_EQ(*r.read<std::int16_t>(), 7);
  EXPECT_TRUE(r.empty());
}

TEST(ByteWriter, ReleaseHandsOverTheBufferAndMutableViewWritesThrough) {
  ByteWriter w;
  w.write<std::uint16_t>(0x0102);
  w.mutable_view()[1] = std::byte{0xFF};
  EXPECT_EQ(to_hex(w.view()), "01ff");
  std::vector<std::byte> out = w.release();
  EXPECT_EQ(to_hex(out), "01ff");
}

TEST(ByteWriter, PatchOverwritesAtStartMiddleAndEnd) {
  ByteWriter w;
  w.write<std::int32_t>(0);   // length placeholder
  w.write<std::uint16_t>(0);  // middle
  w.write<std::uint32_t>(0);  // trailing CRC placeholder
  w.patch<std::int32_t>(0, 6);
  w.patch<std::uint16_t>(4, 0xABCD);
  w.patch<std::uint32_t>(w.size() - 4, 0xCAFEF00D);
  EXPECT_EQ(w.size(), 10U);
  EXPECT_EQ(to_hex(w.view()), "00000006abcdcafef00d");
  w.patch<std::uint8_t>(9, 0x01);
  EXPECT_EQ(to_hex(w.view()), "00000006abcdcafef001");
}

TEST(ByteWriterDeathTest, PatchPastTheEndAborts) {
  ByteWriter w;
  w.write<std::int32_t>(0);
  EXPECT_DEATH(w.patch<std::int32_t>(1, 1), "patch past end");
  EXPECT_DEATH(w.patch<std::int8_t>(4, 1), "patch past end");
  // An offset so large that at + sizeof(T) wraps around must not slip through.
  EXPECT_DEATH(w.patch<std::int32_t>(std::numeric_limits<std::size_t>::max() - 1, 1),
               "patch past end");
}

TEST(ToHex, LowercaseTwoDigitsPerByte) {
  EXPECT_EQ(to_hex({}), "");
  const std::vector<std::byte> bytes = {std::byte{0x00}, std::byte{0x0F}, std::byte{0xF0},
                                        std::byte{0xFF}, std::byte{0x5A}};
  EXPECT_EQ(to_hex(bytes), "000ff0ff5a");
}

TEST(ToBytes, CopiesTheCharactersVerbatim) {
  EXPECT_TRUE(to_bytes("").empty());
  auto bytes = to_bytes(std::string("a\0b", 3));
  ASSERT_EQ(bytes.size(), 3U);
  EXPECT_EQ(to_hex(bytes), "610062");
}

TEST(StoreBe, WritesMostSignificantByteFirst) {
  std::byte out[8] = {};
  store_be<std::int64_t>(out, -2);
  EXPECT_EQ(to_hex(out), "fffffffffffffffe");
  EXPECT_EQ(load_be<std::int64_t>(out), -2);
  store_be<std::uint8_t>(out, 0x7F);
  EXPECT_EQ(load_be<std::uint8_t>(out), 0x7FU);
}

}  // namespace
}  // namespace spate
