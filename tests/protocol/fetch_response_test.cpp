// SPDX-License-Identifier: Apache-2.0
//
// encode_fetch_response: the Fetch response with records spliced in from
// elsewhere (the broker's file regions) is the codec's layout, byte for byte,
// at every advertised version: against the layout the broker wrote by hand
// before it moved into protocol, against encode_message, and read back by
// the codec's decoder.

#include <gtest/gtest.h>

#include "spate/protocol/api_key.h"
#include "spate/protocol/messages/fetch.h"

#include "message_testing.h"

namespace spate::protocol {
namespace {

// A response body as bytes, with the record regions written in place, and
// where each region was spliced in: {offset in the bytes, partition index}.
struct Spliced {
  std::vector<std::byte> bytes;
  std::vector<std::pair<std::size_t, std::size_t>> splices;
  bool operator==(const Spliced&) const = default;
};

// Partition k's region, if it has one (only a non-empty one is spliced).
using Regions = std::vector<std::optional<std::vector<std::byte>>>;

bool spliced(const Regions& regions, std::size_t k) {
  return regions.at(k) && !regions[k]->empty();
}

// The Fetch v4-v11 response layout exactly as src/broker/handlers/fetch.cpp
// wrote it by hand before this layout moved into protocol (commit 37acd83),
// with each region written in place instead of handed to sendfile.
Spliced hand_written(const FetchResponse& r, std::int16_t version, const Regions& regions) {
  ByteWriter out(1024);
  Spliced result;
  out.write<std::int32_t>(r.throttle_time_ms);
  if (version >= 7) {
    out.write<std::int16_t>(r.error_code);
    out.write<std::int32_t>(r.session_id);
  }
  out.write<std::int32_t>(static_cast<std::int32_t>(r.responses.size()));
  std::size_t k = 0;
  for (const auto& t : r.responses) {
    out.write<std::int16_t>(static_cast<std::int16_t>(t.topic.size()));
    out.write_string(t.topic);
    out.write<std::int32_t>(static_cast<std::int32_t>(t.partitions.size()));
    for (const auto& p : t.partitions) {
      out.write<std::int32_t>(p.partition_index);
      out.write<std::int16_t>(p.error_code);
      out.write<std::int64_t>(p.high_watermark);
      out.write<std::int64_t>(p.last_stable_offset);
      if (version >= 5) out.write<std::int64_t>(p.log_start_offset);
      if (p.aborted_transactions) {
        out.write<std::int32_t>(static_cast<std::int32_t>(p.aborted_transactions->size()));
        for (const auto& a : *p.aborted_transactions) {
          out.write<std::int64_t>(a.producer_id);
          out.write<std::int64_t>(a.first_offset);
        }
      } else {
        out.write<std::int32_t>(-1);
      }
      if (version >= 11) out.write<std::int32_t>(p.preferred_read_replica);
      const std::size_t index = k++;
      if (spliced(regions, index)) {
        out.write<std::int32_t>(static_cast<std::int32_t>(regions[index]->size()));
        result.splices.emplace_back(out.size(), index);
        out.write_bytes(*regions[index]);
      } else if (p.records) {
        out.write<std::int32_t>(static_cast<std::int32_t>(p.records->size()));
        out.write_bytes(*p.records);
      } else {
        out.write<std::int32_t>(-1);
      }
    }
  }
  result.bytes = out.release();
  return result;
}

// The same through protocol's encode_fetch_response.
Spliced from_protocol(const FetchResponse& r, std::int16_t version, const Regions& regions) {
  ByteWriter out(1024);
  Spliced result;
  FetchRecordRegions external{[&](std::size_t k) -> std::optional<std::int32_t> {
                                if (!spliced(regions, k)) return std::nullopt;
                                return static_cast<std::int32_t>(regions[k]->size());
                              },
                              [&](std::size_t k) {
                                result.splices.emplace_back(out.size(), k);
                                out.write_bytes(*regions.at(k));
                              }};
  encode_fetch_response(out, r, version, external);
  result.bytes = out.release();
  return result;
}

std::size_t partition_count(const FetchResponse& r) {
  std::size_t n = 0;
  for (const auto& t : r.responses) n += t.partitions.size();
  return n;
}

// Per partition, by seed: no region, an empty one, or 1-64 bytes.
Regions regions_for(std::size_t partitions, std::uint64_t seed) {
  Regions regions(partitions);
  for (std::size_t k = 0; k < partitions; ++k) {
    const std::uint64_t r = (seed * 31 + k * 17) % 5;
    if (r == 0) continue;
    regions[k].emplace();
    if (r == 1) continue;
    regions[k]->resize(1 + (seed + k * 13) % 64);
    for (std::size_t i = 0; i < regions[k]->size(); ++i) {
      (*regions[k])[i] = static_cast<std::byte>(seed + k + i);
    }
  }
  return regions;
}

ApiInfo fetch_api() {
  auto api = api_info(static_cast<std::int16_t>(ApiKey::fetch));
  SPATE_ASSERT(api.has_value(), "Fetch is in the table");
  return *api;
}

// Calls check(response, version, seed) for `seeds` responses from the
// message test generator at every version the broker advertises.
template <typename F>
void for_each_response(std::uint64_t seeds, F&& check) {
  const auto api = fetch_api();
  for (std::int16_t v = api.min_version; v <= api.max_version; ++v) {
    ASSERT_FALSE(is_flexible(api, v));
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
      FetchResponse r;
      testing::Generator generator(seed);
      fields(generator, r, v);
      check(r, v, seed);
    }
  }
}

TEST(FetchResponseEncoding, MatchesTheHandWrittenLayoutAtEveryVersion) {
  EXPECT_EQ(fetch_api().min_version, 4);
  EXPECT_EQ(fetch_api().max_version, 11);
  std::size_t regions_seen = 0;
  for_each_response(300, [&](const FetchResponse& r, std::int16_t v, std::uint64_t seed) {
    const auto regions = regions_for(partition_count(r), seed);
    const auto expected = hand_written(r, v, regions);
    EXPECT_EQ(from_protocol(r, v, regions), expected) << "v" << v << " seed " << seed;
    regions_seen += expected.splices.size();
  });
  EXPECT_GT(regions_seen, 1000U);  // the generator made partitions with regions
}

TEST(FetchResponseEncoding, WithoutRegionsIsEncodeMessage) {
  for_each_response(100, [](const FetchResponse& r, std::int16_t v, std::uint64_t seed) {
    ByteWriter plain(256);
    encode_message(plain, r, v);
    const auto none = from_protocol(r, v, Regions(partition_count(r)));
    EXPECT_TRUE(none.splices.empty());
    EXPECT_TRUE(std::ranges::equal(none.bytes, plain.view())) << "v" << v << " seed " << seed;
  });
}

TEST(FetchResponseEncoding, DecodesWithTheRegionsAsRecords) {
  for_each_response(100, [](FetchResponse r, std::int16_t v, std::uint64_t seed) {
    const auto regions = regions_for(partition_count(r), seed + 7);
    auto decoded = decode_message<FetchResponse>(from_protocol(r, v, regions).bytes, v);
    ASSERT_TRUE(decoded) << "v" << v << " seed " << seed << ": " << decoded.error();
    std::size_t k = 0;
    for (auto& t : r.responses) {
      for (auto& p : t.partitions) {
        if (spliced(regions, k)) p.records = regions[k];
        ++k;
      }
    }
    EXPECT_EQ(*decoded, r) << "v" << v << " seed " << seed;
  });
}

}  // namespace
}  // namespace spate::protocol
