// SPDX-License-Identifier: Apache-2.0
//
// Every request and response at every advertised version, driven through the
// message descriptions themselves: generated round trips, truncation at every
// byte, minimal elements for every array, and hostile values in every length field.

#include <cstdint>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/varint.h"
#include "spate/protocol/frame.h"

#include "protocol/message_testing.h"

namespace spate::protocol {
namespace {

using testing::encode;
using testing::for_each_api_version;
using testing::generate;
using testing::Generator;
using testing::Recorder;

constexpr std::uint64_t kSeeds = 40;

template <typename Msg>
void expect_round_trips(std::int16_t version, std::string_view what) {
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    const Msg m = generate<Msg>(seed, version);
    const auto bytes = encode(m, version);
    auto back = decode_message<Msg>(bytes, version);
    ASSERT_TRUE(back) << what << " v" << version << " seed " << seed << ": " << back.error();
    EXPECT_TRUE(*back == m) << what << " v" << version << " seed " << seed;
    EXPECT_EQ(encode(*back, version), bytes) << what << " v" << version << " seed " << seed;
  }
}

TEST(AllMessages, TheListCoversTheApiTable) {
  std::set<std::int16_t> listed;
  std::apply([&](auto... api) { (listed.insert(static_cast<std::int16_t>(api.kKey)), ...); },
             testing::AllApis{});
  std::set<std::int16_t> table;
  for (const auto& api : api_table()) table.insert(static_cast<std::int16_t>(api.key));
  EXPECT_EQ(listed, table);
}

TEST(AllMessages, GeneratedValuesRoundTripAtEveryVersion) {
  std::size_t pairs = 0;
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    const auto name = api_info(static_cast<std::int16_t>(A::kKey))->name;
    expect_round_trips<typename A::Request>(v, std::string(name) + "Request");
    expect_round_trips<typename A::Response>(v, std::string(name) + "Response");
    ++pairs;
  });
  std::size_t expected = 0;
  for (const auto& api : api_table()) {
    expected += static_cast<std::size_t>(api.max_version - api.min_version + 1);
  }
  EXPECT_EQ(pairs, expected);
}

template <typename Msg>
void expect_truncation_fails(std::int16_t version, std::string_view what) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto bytes = encode(generate<Msg>(seed, version), version);
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      auto r = decode_message<Msg>(std::span<const std::byte>(bytes).first(cut), version);
      ASSERT_FALSE(r) << what << " v" << version << " cut at " << cut;
      EXPECT_EQ(r.error().code(), Errc::malformed) << r.error();
    }
    bytes.push_back(std::byte{0});
    EXPECT_FALSE(decode_message<Msg>(bytes, version)) << what << " v" << version << " trailing";
  }
}

TEST(AllMessages, TruncationAtEveryByteIsAnError) {
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    expect_truncation_fails<typename A::Request>(v, "request");
    expect_truncation_fails<typename A::Response>(v, "response");
  });
}

// An array of many smallest-possible elements must decode: a decoder whose
// element minimum is larger than the real smallest element refuses it.
template <typename Msg>
void expect_minimal_elements_decode(std::int16_t version, std::string_view what) {
  constexpr std::size_t kCount = 200;
  for (std::size_t target = 0;; ++target) {
    Msg m{};
    auto g = Generator::minimal(target, kCount);
    fields(g, m, version);
    if (!g.reached_target()) break;
    const auto bytes = encode(m, version);
    auto back = decode_message<Msg>(bytes, version);
    ASSERT_TRUE(back) << what << " v" << version << " array #" << target << ": " << back.error();
    EXPECT_TRUE(*back == m) << what << " v" << version << " array #" << target;
  }
}

TEST(AllMessages, ArraysOfMinimalElementsDecode) {
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    const auto name = std::string(api_info(static_cast<std::int16_t>(A::kKey))->name);
    expect_minimal_elements_decode<typename A::Request>(v, name + "Request");
    expect_minimal_elements_decode<typename A::Response>(v, name + "Response");
  });
}

// A whole request frame (size prefix, header, body) cut at every byte before
// its end: the size prefix or the decoders always notice.
TEST(AllMessages, RequestFramesCutAtEveryByteAreErrors) {
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    const auto info = *api_info(static_cast<std::int16_t>(A::kKey));
    ByteWriter w;
    begin_frame(w);
    encode_request_header(w, {static_cast<std::int16_t>(A::kKey), v, 42, "client"},
                          request_header_version(info, v));
    const std::size_t body_at = w.size();
    encode_message(w, generate<typename A::Request>(7, v), v);
    ASSERT_TRUE(finish_frame(w));
    const auto frame = w.view();
    for (std::size_t cut = 0; cut < frame.size(); ++cut) {
      const auto part = frame.first(cut);
      if (part.size() < kFrameSizeBytes) continue;  // the reader waits for the prefix
      auto size = decode_frame_size(part.template first<4>(), kFrameBytesMaxDefault);
      ASSERT_TRUE(size);
      // The reader knows the frame is incomplete; a decoder fed the partial
      // bytes anyway must fail too, unless the cut falls after a complete
      // header and the body is empty.
      EXPECT_GT(*size, part.size() - kFrameSizeBytes);
      const auto body = part.subspan(kFrameSizeBytes);
      auto header = decode_request_header(body);
      if (!header) continue;
      EXPECT_EQ(header->body_offset + kFrameSizeBytes, body_at) << info.name << " v" << v;
      auto decoded = decode_message<typename A::Request>(body.subspan(header->body_offset), v);
      const bool empty_body = frame.size() == body_at;
      EXPECT_TRUE(!decoded || empty_body) << info.name << " v" << v << " cut " << cut;
    }
  });
}

// --- hostile values in every length, count and tag section ---------------

std::size_t uvarint_bytes(std::span<const std::byte> at) {
  auto d = varint::decode_uvarint(at, varint::kBytesMax32);
  return d.bytes;
}

std::vector<std::byte> splice(std::span<const std::byte> bytes, std::size_t at, std::size_t old,
                              std::span<const std::byte> with) {
  std::vector<std::byte> out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(at));
  out.insert(out.end(), with.begin(), with.end());
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at + old), bytes.end());
  return out;
}

std::vector<std::byte> be(std::int64_t v, std::size_t width) {
  ByteWriter w;
  if (width == 2) {
    w.write(static_cast<std::int16_t>(v));
  } else {
    w.write(static_cast<std::int32_t>(v));
  }
  return w.release();
}

std::vector<std::byte> uv(std::uint64_t v) {
  ByteWriter w;
  w.write_uvarint(v);
  return w.release();
}

// The replacements for one recorded field, each of which no decoder may accept.
std::vector<std::vector<std::byte>> hostile(const Recorder::Field& f, std::size_t left,
                                            std::size_t width) {
  using Kind = Recorder::Kind;
  std::vector<std::vector<std::byte>> out;
  if (f.kind == Kind::tagged_fields) {
    out.push_back(uv(0x7fffffff));  // INT32_MAX tags
    out.push_back(uv(DecodeLimits{}.tagged_fields_max + 1));
    auto huge = uv(1);  // one tag of INT32_MAX bytes
    huge.push_back(std::byte{0});
    for (auto b : uv(0x7fffffff)) huge.push_back(b);
    out.push_back(huge);
    auto past = uv(1);  // one tag larger than the bytes left
    past.push_back(std::byte{3});
    for (auto b : uv(left + 1)) past.push_back(b);
    out.push_back(past);
    out.push_back(uv(0xffffffffULL));
    return out;
  }
  if (f.flexible) {
    if (!f.nullable) out.push_back(uv(0));                      // null where not allowed
    out.push_back(uv(0xffffffffULL));                           // 2^32 - 2
    out.push_back(uv(0x80000000ULL));                           // INT32_MAX
    out.push_back(uv(left + 2));                                // one more than is left
    out.push_back(std::vector<std::byte>(5, std::byte{0xff}));  // overflows 32 bits
    return out;
  }
  const std::int64_t max = width == 2 ? std::numeric_limits<std::int16_t>::max()
                                      : std::numeric_limits<std::int32_t>::max();
  const std::int64_t min = width == 2 ? std::numeric_limits<std::int16_t>::min()
                                      : std::numeric_limits<std::int32_t>::min();
  if (!f.nullable) out.push_back(be(-1, width));
  out.push_back(be(max, width));
  out.push_back(be(-2, width));
  out.push_back(be(min, width));
  out.push_back(be(static_cast<std::int64_t>(left + 1), width));
  return out;
}

template <typename Msg>
std::size_t expect_hostile_lengths_fail(std::int16_t version, std::string_view what) {
  std::size_t cases = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    Msg m = generate<Msg>(seed, version);
    ByteWriter w;
    Recorder rec(w);
    fields(rec, m, version);
    const auto bytes = w.view();
    for (const auto& f : rec.fields()) {
      const std::size_t old = f.kind == Recorder::Kind::tagged_fields || f.flexible
                                  ? uvarint_bytes(bytes.subspan(f.offset))
                                  : (f.kind == Recorder::Kind::string ? 2 : 4);
      const std::size_t left = bytes.size() - f.offset - old;
      for (const auto& with : hostile(f, left, old)) {
        const auto patched = splice(bytes, f.offset, old, with);
        auto r = decode_message<Msg>(patched, version);
        ++cases;
        if (r) {
          ADD_FAILURE() << what << " v" << version << " field " << f.name << " at " << f.offset
                        << ": " << to_hex(with) << " accepted";
          continue;
        }
        EXPECT_TRUE(r.error().code() == Errc::malformed || r.error().code() == Errc::limit_exceeded)
            << r.error();
      }
    }
  }
  return cases;
}

TEST(AllMessages, HostileLengthsCountsAndTagsInEveryFieldAreErrors) {
  std::size_t cases = 0;
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    const auto name = std::string(api_info(static_cast<std::int16_t>(A::kKey))->name);
    cases += expect_hostile_lengths_fail<typename A::Request>(v, name + "Request");
    cases += expect_hostile_lengths_fail<typename A::Response>(v, name + "Response");
  });
  EXPECT_GT(cases, 1000U);
  std::printf("%zu hostile length/count/tag cases\n", cases);
}

}  // namespace
}  // namespace spate::protocol
