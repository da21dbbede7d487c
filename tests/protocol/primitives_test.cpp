// SPDX-License-Identifier: Apache-2.0
//
// Decoder/Encoder primitives against kafka-protocol.md §2 (varints, limits,
// nullable markers) and the header version of any (api_key, api_version).

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spate/protocol/api_key.h"
#include "spate/protocol/codec.h"
#include "spate/protocol/frame.h"

namespace spate::protocol {
namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(Primitives, VarintsMatchTheWorkedValues) {
  const std::vector<std::pair<std::int32_t, std::string>> cases = {
      {0, "00"}, {-1, "01"}, {1, "02"}, {63, "7e"}, {-64, "7f"}, {64, "8001"}, {300, "d804"}};
  for (const auto& [value, hex] : cases) {
    ByteWriter w;
    Encoder e(w);
    e.varint(value, "v");
    EXPECT_EQ(to_hex(w.view()), hex) << value;
    Decoder d(w.view());
    std::int32_t back = 7;
    d.varint(back, "v");
    ASSERT_TRUE(d.finish(0)) << value;
    EXPECT_EQ(back, value);
  }
  ByteWriter w;
  Encoder e(w);
  e.uvarint(127, "a");
  e.uvarint(128, "b");
  EXPECT_EQ(to_hex(w.view()), "7f8001");
  for (std::int64_t value : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1},
                             std::numeric_limits<std::int64_t>::max()}) {
    ByteWriter wl;
    Encoder el(wl);
    el.varlong(value, "l");
    Decoder d(wl.view());
    std::int64_t back = 0;
    d.varlong(back, "l");
    ASSERT_TRUE(d.finish(0));
    EXPECT_EQ(back, value);
  }
}

TEST(Primitives, BadVarintsAreErrorsNamingTheField) {
  for (const auto& bad : {bytes_of({0x80}), bytes_of({0xff, 0xff, 0xff, 0xff, 0xff}),
                          bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x01})}) {
    Decoder d(bad);
    std::int32_t v = 0;
    d.varint(v, "records_count");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(v, 0);
    EXPECT_NE(d.error().detail().find("records_count"), std::string::npos);
  }
  auto eleven = std::vector<std::byte>(10, std::byte{0x80});
  eleven.push_back(std::byte{0x01});
  Decoder d(eleven);
  std::int64_t v = 0;
  d.varlong(v, "delta");
  EXPECT_FALSE(d.ok());
}

TEST(Primitives, StringsAreBoundedByTheStringLimit) {
  // A compact string one byte over INT16 max is refused (Kafka does the same).
  ByteWriter w;
  w.write_uvarint(0x7fff + 2);
  w.write_bytes(std::vector<std::byte>(0x8000, std::byte{'a'}));
  Decoder d(w.view());
  std::string s;
  d.string(s, true, "group_id");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().detail().find("limit"), std::string::npos);
  EXPECT_EQ(s.capacity() < 0x8000, true);

  // A classic string of exactly INT16 max bytes is fine.
  ByteWriter ok;
  ok.write<std::int16_t>(0x7fff);
  ok.write_bytes(std::vector<std::byte>(0x7fff, std::byte{'b'}));
  Decoder d2(ok.view());
  d2.string(s, false, "s");
  ASSERT_TRUE(d2.finish(0));
  EXPECT_EQ(s.size(), 0x7fffU);

  // A tighter configured limit applies to nullable strings too.
  DecodeLimits limits;
  limits.string_bytes_max = 4;
  ByteWriter five;
  five.write<std::int16_t>(5);
  five.write_string("abcde");
  Decoder d3(five.view(), limits);
  std::optional<std::string> n;
  d3.nullable_string(n, false, "client_id");
  EXPECT_FALSE(d3.ok());
  EXPECT_FALSE(n.has_value());
}

TEST(Primitives, NullMarkersOnlyWhereNullable) {
  // -1 is null for nullable fields; other negatives are always errors.
  struct Case {
    std::vector<std::byte> bytes;
    bool wide;
    bool accepted_when_nullable;
  };
  const std::vector<Case> cases = {
      {bytes_of({0xff, 0xff}), false, true},
      {bytes_of({0xff, 0xfe}), false, false},
      {bytes_of({0x80, 0x00}), false, false},
      {bytes_of({0xff, 0xff, 0xff, 0xff}), true, true},
      {bytes_of({0xff, 0xff, 0xff, 0xfe}), true, false},
      {bytes_of({0x80, 0x00, 0x00, 0x00}), true, false},
  };
  for (const auto& c : cases) {
    const auto hex = to_hex(c.bytes);
    if (!c.wide) {
      Decoder n(c.bytes);
      std::optional<std::string> s;
      n.nullable_string(s, false, "s");
      EXPECT_EQ(n.ok(), c.accepted_when_nullable) << hex;
      Decoder nn(c.bytes);
      std::string t;
      nn.string(t, false, "t");
      EXPECT_FALSE(nn.ok()) << hex;
      continue;
    }
    Decoder nb(c.bytes);
    std::optional<std::vector<std::byte>> b;
    nb.nullable_bytes(b, false, "b");
    EXPECT_EQ(nb.ok(), c.accepted_when_nullable) << hex;
    Decoder na(c.bytes);
    std::optional<std::vector<std::int32_t>> a;
    na.nullable_array(a, false, 4, "a", [&](std::int32_t& x) { na.i32(x, "a[]"); });
    EXPECT_EQ(na.ok(), c.accepted_when_nullable) << hex;
    EXPECT_FALSE(a.has_value()) << hex;
    Decoder nbb(c.bytes);
    std::vector<std::byte> bb;
    nbb.bytes(bb, false, "bb");
    EXPECT_FALSE(nbb.ok()) << hex;
  }
}

TEST(Primitives, HostileTagSections) {
  const std::vector<std::vector<std::byte>> cases = {
      bytes_of({0xff, 0xff, 0xff, 0xff, 0x07}),                    // INT32_MAX tags
      bytes_of({0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}),        // a tag of INT32_MAX bytes
      bytes_of({0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}),  // tag number overflows
      bytes_of({0x02, 0x01, 0x00, 0x01, 0x00}),                    // duplicate tag
      bytes_of({0x03, 0x00, 0x00}),                                // more tags than bytes
  };
  for (const auto& c : cases) {
    Decoder d(c);
    d.tagged_fields("header tagged_fields");
    EXPECT_FALSE(d.ok()) << to_hex(c);
  }
}

TEST(Primitives, FrameSizeLimits) {
  auto size_of = [](std::int32_t n, std::size_t max) {
    ByteWriter w;
    w.write(n);
    return decode_frame_size(std::span<const std::byte, 4>(w.view().data(), 4), max);
  };
  EXPECT_TRUE(size_of(1000, 1000));
  EXPECT_EQ(size_of(1001, 1000).error().code(), Errc::limit_exceeded);
  EXPECT_EQ(size_of(std::numeric_limits<std::int32_t>::max(), kFrameBytesMaxDefault).error().code(),
            Errc::limit_exceeded);
  EXPECT_EQ(size_of(-1, 1000).error().code(), Errc::malformed);
  EXPECT_EQ(size_of(std::numeric_limits<std::int32_t>::min(), 1000).error().code(),
            Errc::malformed);
  EXPECT_TRUE(size_of(0, 1000));  // an empty frame: the header decoder rejects it
  EXPECT_FALSE(decode_request_header({}));
}

TEST(Primitives, HeaderVersionsForAnyKeyAndVersion) {
  EXPECT_EQ(request_header_version(kControlledShutdownKey, 0), 0);
  EXPECT_EQ(request_header_version(kControlledShutdownKey, 1), 1);
  EXPECT_EQ(request_header_version(18, 3), 2);   // ApiVersions v3: flexible
  EXPECT_EQ(response_header_version(18, 3), 0);  // ...but its response header is v0
  EXPECT_EQ(request_header_version(9, 6), 2);    // OffsetFetch v6
  EXPECT_EQ(response_header_version(9, 6), 1);
  EXPECT_EQ(request_header_version(9, 5), 1);
  EXPECT_EQ(request_header_version(16, 3), 2);  // ListGroups v3
  EXPECT_EQ(request_header_version(22, 2), 2);  // InitProducerId v2
  EXPECT_EQ(request_header_version(44, 1), 2);  // IncrementalAlterConfigs v1
  EXPECT_EQ(request_header_version(0, 7), 1);
  EXPECT_EQ(request_header_version(999, 0), 1);
  EXPECT_EQ(response_header_version(999, 0), 0);

  // Header v0 has no client id: the body starts right after the correlation id.
  ByteWriter w;
  encode_request_header(w, {kControlledShutdownKey, 0, 11, "ignored"}, 0);
  w.write<std::int32_t>(5);  // ControlledShutdown v0 body: broker id
  auto h = decode_request_header(w.view());
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->header_version, 0);
  EXPECT_EQ(h->body_offset, 8U);
  EXPECT_FALSE(h->header.client_id.has_value());
  EXPECT_EQ(h->header.correlation_id, 11);
}

}  // namespace
}  // namespace spate::protocol
