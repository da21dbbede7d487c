// SPDX-License-Identifier: Apache-2.0
//
// The codec primitives, framing and headers, and round trips of the messages
// described so far, including hostile lengths and counts.

#include "spate/protocol/codec.h"

#include <limits>

#include <gtest/gtest.h>

#include "spate/protocol/api_key.h"
#include "spate/protocol/frame.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/heartbeat.h"
#include "spate/protocol/messages/sasl_handshake.h"

#include "round_trip.h"

namespace spate::protocol {
namespace {

std::vector<std::byte> hex(std::string_view s) {
  std::vector<std::byte> out;
  std::string clean;
  for (char c : s) {
    if (c != ' ') clean.push_back(c);
  }
  for (std::size_t i = 0; i + 1 < clean.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoul(clean.substr(i, 2), nullptr, 16)));
  }
  return out;
}

using testing::encode;
using testing::expect_round_trip;

TEST(Codec, CompactStringsMatchTheReference) {
  // kafka-protocol.md §2: null -> 00, "" -> 01, "abc" -> 04 61 62 63.
  ByteWriter w;
  Encoder e(w);
  e.nullable_string(std::nullopt, true, "a");
  e.string("", true, "b");
  e.string("abc", true, "c");
  EXPECT_EQ(to_hex(w.view()), "000104616263");
  Decoder d(w.view());
  std::optional<std::string> a;
  std::string b;
  std::string c;
  d.nullable_string(a, true, "a");
  d.string(b, true, "b");
  d.string(c, true, "c");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(a.has_value());
  EXPECT_EQ(c, "abc");
}

TEST(Codec, OffsetFetchV7ExampleTagSectionsDecode) {
  // §1.5's example body, read with the primitives in wire order.
  auto body = hex("02 67  02  02 74  02 00000000  00  00  00");
  Decoder d(body);
  std::string group;
  d.string(group, true, "group_id");
  std::vector<std::int32_t> partitions;
  std::string topic;
  std::vector<int> topics;
  d.array(topics, true, 1, "topics", [&](int&) {
    d.string(topic, true, "name");
    d.array(partitions, true, 4, "partition_indexes",
            [&](std::int32_t& p) { d.i32(p, "partition"); });
    d.tagged_fields();
  });
  bool require_stable = true;
  d.boolean(require_stable, "require_stable");
  d.tagged_fields();
  auto done = d.finish(0);
  ASSERT_TRUE(done) << done.error();
  EXPECT_EQ(group, "g");
  EXPECT_EQ(topic, "t");
  EXPECT_EQ(partitions, std::vector<std::int32_t>{0});
  EXPECT_FALSE(require_stable);
}

TEST(Codec, HostileLengthsAndCountsAreErrorsNotAllocations) {
  struct Case {
    const char* name;
    std::vector<std::byte> bytes;
    bool flexible;
    int kind;  // 0 string, 1 bytes, 2 array
  };
  const std::vector<Case> cases = {
      {"string INT16 max", hex("7fff 61"), false, 0},
      {"string -2", hex("fffe"), false, 0},
      {"string null where not nullable", hex("ffff"), false, 0},
      {"bytes INT32_MAX", hex("7fffffff 00"), false, 1},
      {"bytes -7", hex("fffffff9"), false, 1},
      {"array INT32_MAX", hex("7fffffff 0001 61"), false, 2},
      {"array -2", hex("fffffffe"), false, 2},
      {"array null where not nullable", hex("ffffffff"), false, 2},
      {"array count larger than the bytes left", hex("00000010 0001 61"), false, 2},
      {"compact string huge", hex("ffffffff0f 61"), true, 0},
      {"compact varint too long", hex("ffffffffffff"), true, 0},
      {"compact bytes huge", hex("feffffff0f"), true, 1},
      {"compact array huge", hex("ffffffff0f 00"), true, 2},
      {"compact null string where not nullable", hex("00"), true, 0},
  };
  for (const auto& c : cases) {
    Decoder d(c.bytes);
    if (c.kind == 0) {
      std::string s;
      d.string(s, c.flexible, "s");
    } else if (c.kind == 1) {
      std::vector<std::byte> b;
      d.bytes(b, c.flexible, "b");
    } else {
      std::vector<std::string> a;
      d.array(a, c.flexible, kStringBytesMin, "a",
              [&](std::string& s) { d.string(s, c.flexible, "a[]"); });
      EXPECT_LE(a.capacity(), 4U) << c.name;
    }
    EXPECT_FALSE(d.ok()) << c.name;
    EXPECT_EQ(d.error().code(), Errc::malformed) << c.name;
  }
}

TEST(Codec, TaggedFieldsAreSkippedWithinLimits) {
  // Two unknown tags (0: 2 bytes, 5: 1 byte), then an INT8.
  auto body = hex("02 00 02 abcd 05 01 ee 07");
  Decoder d(body);
  d.tagged_fields();
  std::int8_t after = 0;
  d.i8(after, "after");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(after, 7);

  DecodeLimits few;
  few.tagged_fields_max = 1;
  Decoder too_many(body, few);
  too_many.tagged_fields();
  EXPECT_FALSE(too_many.ok());

  DecodeLimits small;
  small.tagged_bytes_max = 2;
  Decoder too_big(body, small);
  too_big.tagged_fields();
  EXPECT_FALSE(too_big.ok());

  auto descending = hex("02 05 00 01 00");
  Decoder bad_order(descending);
  bad_order.tagged_fields();
  EXPECT_FALSE(bad_order.ok());

  auto past_end = hex("01 00 7f 00");
  Decoder short_tag(past_end);
  short_tag.tagged_fields();
  EXPECT_FALSE(short_tag.ok());
}

TEST(Codec, ArrayItemLimit) {
  DecodeLimits limits;
  limits.array_items_max = 2;
  auto body = hex("00000003 0001 61 0001 62 0001 63");
  Decoder d(body, limits);
  std::vector<std::string> a;
  d.array(a, false, kStringBytesMin, "a", [&](std::string& s) { d.string(s, false, "a[]"); });
  EXPECT_FALSE(d.ok());
}

TEST(Frame, SizePrefixIsCheckedBeforeAllocation) {
  auto ok = hex("00000010");
  auto size = decode_frame_size(std::span<const std::byte, 4>(ok.data(), 4), 1024);
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, 16U);
  auto huge = hex("7fffffff");
  auto too_big = decode_frame_size(std::span<const std::byte, 4>(huge.data(), 4), 1024);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), Errc::limit_exceeded);
  auto negative = hex("ffffff00");
  auto neg = decode_frame_size(std::span<const std::byte, 4>(negative.data(), 4), 1024);
  ASSERT_FALSE(neg);
  EXPECT_EQ(neg.error().code(), Errc::malformed);
}

TEST(Frame, RequestHeaderVersionsFollowTheApi) {
  // Metadata v4 (not flexible): header v1.
  RequestHeader h{3, 4, 77, "rdkafka"};
  ByteWriter w;
  encode_request_header(w, h, 1);
  w.write<std::int32_t>(0);  // a body
  auto d = decode_request_header(w.view());
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->header, h);
  EXPECT_EQ(d->header_version, 1);
  EXPECT_EQ(d->body_offset, w.size() - 4);
  // ApiVersions v3 (flexible): header v2, client_id still INT16-length.
  RequestHeader flex{18, 3, 1, std::nullopt};
  ByteWriter w2;
  encode_request_header(w2, flex, 2);
  EXPECT_EQ(to_hex(w2.view()),
            "0012"
            "0003"
            "00000001"
            "ffff"
            "00");
  auto d2 = decode_request_header(w2.view());
  ASSERT_TRUE(d2) << d2.error();
  EXPECT_EQ(d2->header_version, 2);
  EXPECT_FALSE(d2->header.client_id.has_value());
  // Unknown API: read as header v1 so the correlation id is known.
  RequestHeader unknown{999, 0, 5, "x"};
  ByteWriter w3;
  encode_request_header(w3, unknown, 1);
  auto d3 = decode_request_header(w3.view());
  ASSERT_TRUE(d3);
  EXPECT_EQ(d3->header.correlation_id, 5);
  // Truncated headers are errors.
  for (std::size_t cut = 0; cut < w.size() - 4; ++cut) {
    EXPECT_FALSE(decode_request_header(w.view().first(cut))) << cut;
  }
}

TEST(Frame, ResponseHeaderAndFrame) {
  ByteWriter w;
  begin_frame(w);
  encode_response_header(w, 9, 1);
  w.write<std::int16_t>(0);
  ASSERT_TRUE(finish_frame(w));
  EXPECT_EQ(to_hex(w.view()),
            "00000007"
            "00000009"
            "00"
            "0000");
  const auto api = *api_info(static_cast<std::int16_t>(ApiKey::api_versions));
  EXPECT_EQ(response_header_version(api, 3), 0);  // KIP-511
  EXPECT_EQ(request_header_version(api, 3), 2);
  const auto fetch = *api_info(static_cast<std::int16_t>(ApiKey::fetch));
  EXPECT_EQ(response_header_version(fetch, 11), 0);
  const auto offset_fetch = *api_info(static_cast<std::int16_t>(ApiKey::offset_fetch));
  EXPECT_EQ(response_header_version(offset_fetch, 6), 1);
}

TEST(ApiTable, MatchesTheReferenceRanges) {
  EXPECT_EQ(api_table().size(), 29U);
  const auto produce = *api_info(0);
  EXPECT_EQ(produce.min_version, 0);
  EXPECT_EQ(produce.max_version, 7);
  const auto fetch = *api_info(1);
  EXPECT_EQ(fetch.min_version, 4);
  EXPECT_EQ(fetch.max_version, 11);
  const auto list_offsets = *api_info(2);  // v4-v5: KIP-320's current leader epoch
  EXPECT_EQ(list_offsets.max_version, 5);
  const auto epochs = *api_info(23);  // OffsetForLeaderEpoch: v4 is the first flexible one
  EXPECT_EQ(epochs.min_version, 0);
  EXPECT_EQ(epochs.max_version, 3);
  EXPECT_FALSE(is_flexible(epochs, 3));
  EXPECT_FALSE(api_info(4).has_value());
  for (const auto& api : api_table()) EXPECT_LE(api.min_version, api.max_version) << api.name;
}

TEST(Messages, ApiVersionsRoundTripsAtEveryVersion) {
  ApiVersionsRequest request{"librdkafka", "2.0.2"};
  expect_round_trip(request, 3);
  expect_round_trip(ApiVersionsRequest{}, 0);
  ApiVersionsResponse response;
  response.api_keys = {{0, 0, 7}, {18, 0, 3}};
  for (std::int16_t v = 0; v <= 3; ++v) {
    response.throttle_time_ms = v >= 1 ? 5 : 0;
    expect_round_trip(response, v);
  }
}

TEST(Messages, ApiVersionsV3BodyLayout) {
  ApiVersionsResponse response;
  response.api_keys = {{18, 0, 3}};
  auto bytes = encode(response, 3);
  // error 0, compact array of 1, key 18 [0,3] + tags, throttle 0, tags.
  EXPECT_EQ(to_hex(bytes),
            "0000"
            "02"
            "0012"
            "0000"
            "0003"
            "00"
            "00000000"
            "00");
  auto v0 = encode(response, 0);
  EXPECT_EQ(to_hex(v0),
            "0000"
            "00000001"
            "0012"
            "0000"
            "0003");
}

TEST(Messages, DeleteTopicsHeartbeatSaslHandshakeRoundTrip) {
  DeleteTopicsRequest dt{{"a", "orders"}, 30000};
  DeleteTopicsResponse dr{7, {{"a", 0}, {"orders", 3}}};
  for (std::int16_t v = 0; v <= 3; ++v) {
    expect_round_trip(dt, v);
    DeleteTopicsResponse r = dr;
    if (v == 0) r.throttle_time_ms = 0;
    expect_round_trip(r, v);
  }
  for (std::int16_t v = 0; v <= 3; ++v) {
    HeartbeatRequest h{"group", 4, "member-1",
                       v >= 3 ? std::optional<std::string>("i") : std::nullopt};
    expect_round_trip(h, v);
    expect_round_trip(HeartbeatResponse{v >= 1 ? 9 : 0, 27}, v);
  }
  expect_round_trip(SaslHandshakeRequest{"PLAIN"}, 1);
  expect_round_trip(SaslHandshakeResponse{0, {"PLAIN", "SCRAM-SHA-256"}}, 0);
}

}  // namespace
}  // namespace spate::protocol
