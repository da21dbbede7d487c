// SPDX-License-Identifier: Apache-2.0
//
// The __consumer_offsets record codec (round trips, tombstones, every
// truncation and corrupted version refused without a crash) and OffsetMap
// (log order, tombstones, a replay of the same records equal to the live map).

#include "spate/groups/offsets.h"

#include <random>

#include <gtest/gtest.h>

namespace spate::groups {
namespace {

std::span<const std::byte> span_of(const std::vector<std::byte>& v) { return v; }

TEST(OffsetsCodec, OffsetAndGroupRecordsRoundTrip) {
  const PartitionKey p{"orders", 7};
  const CommittedOffset value{123456789012, 3, "meta data", 1700000000000};
  auto key = offset_key("g1", p);
  auto bytes = offset_value(value);
  auto decoded = decode_stored(key, span_of(bytes));
  ASSERT_TRUE(decoded) << decoded.error();
  const auto* offset = std::get_if<OffsetRecord>(&*decoded);
  ASSERT_NE(offset, nullptr);
  EXPECT_EQ(offset->group, "g1");
  EXPECT_EQ(offset->partition, p);
  ASSERT_TRUE(offset->value);
  EXPECT_EQ(*offset->value, value);

  const GroupSummary summary{"consumer", 42, "range", "member-1", 1700000000001};
  auto gkey = group_key("g1");
  auto gbytes = group_value(summary);
  auto gdecoded = decode_stored(gkey, span_of(gbytes));
  ASSERT_TRUE(gdecoded) << gdecoded.error();
  const auto* group = std::get_if<GroupRecord>(&*gdecoded);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->group, "g1");
  ASSERT_TRUE(group->value);
  EXPECT_EQ(*group->value, summary);

  // Tombstones: a null value.
  auto tomb = decode_stored(key, std::nullopt);
  ASSERT_TRUE(tomb);
  EXPECT_FALSE(std::get<OffsetRecord>(*tomb).value);
  auto gtomb = decode_stored(gkey, std::nullopt);
  ASSERT_TRUE(gtomb);
  EXPECT_FALSE(std::get<GroupRecord>(*gtomb).value);
}

TEST(OffsetsCodec, TruncatedAndCorruptedRecordsAreRefusedNotTrusted) {
  auto key = offset_key("group", {"topic", 1});
  auto value = offset_value({5, -1, "m", 9});
  // Every truncation of the key and of the value.
  for (std::size_t n = 0; n < key.size(); ++n) {
    std::vector<std::byte> cut(key.begin(), key.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(decode_stored(cut, span_of(value))) << "key cut at " << n;
  }
  for (std::size_t n = 0; n < value.size(); ++n) {
    std::vector<std::byte> cut(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(decode_stored(key, span_of(cut))) << "value cut at " << n;
  }
  // Trailing bytes, an unknown key version.
  auto longer = key;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_stored(longer, span_of(value)));
  auto unknown = key;
  unknown[1] = std::byte{99};
  EXPECT_FALSE(decode_stored(unknown, span_of(value)));
  // Random bytes never crash.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::byte> k(rng() % 40), v(rng() % 40);
    for (auto& b : k) b = static_cast<std::byte>(rng());
    for (auto& b : v) b = static_cast<std::byte>(rng());
    (void)decode_stored(k, span_of(v));
  }
}

TEST(OffsetMap, AppliesInLogOrderWithTombstonesAndAReplayIsEqual) {
  std::vector<StoredRecord> log;
  const PartitionKey a{"t", 0};
  const PartitionKey b{"t", 1};
  log.emplace_back(OffsetRecord{"g", a, CommittedOffset{1, -1, "", 10}});
  log.emplace_back(OffsetRecord{"g", b, CommittedOffset{2, -1, "", 11}});
  log.emplace_back(OffsetRecord{"g", a, CommittedOffset{5, -1, "x", 12}});  // a later commit wins
  log.emplace_back(GroupRecord{"g", GroupSummary{"consumer", 3, "range", "m", 13}});
  log.emplace_back(OffsetRecord{"h", a, CommittedOffset{9, -1, "", 14}});
  log.emplace_back(OffsetRecord{"g", b, std::nullopt});  // an expired offset
  log.emplace_back(GroupRecord{"h", std::nullopt});      // a deleted group...
  log.emplace_back(OffsetRecord{"h", a, std::nullopt});  // ...and its offsets
  OffsetMap live;
  for (const auto& r : log) live.apply(r);
  EXPECT_EQ(live.size(), 1U);
  ASSERT_NE(live.group("g"), nullptr);
  EXPECT_EQ(live.group("g")->offsets.at(a).offset, 5);
  EXPECT_FALSE(live.group("g")->offsets.contains(b));
  EXPECT_EQ(live.group("g")->summary->generation, 3);
  EXPECT_EQ(live.group("h"), nullptr);

  // The same records through the codec, as a replay reads them.
  OffsetMap replayed;
  for (const auto& r : log) {
    std::vector<std::byte> key;
    std::optional<std::vector<std::byte>> value;
    if (const auto* o = std::get_if<OffsetRecord>(&r)) {
      key = offset_key(o->group, o->partition);
      if (o->value) value = offset_value(*o->value);
    } else {
      const auto& g = std::get<GroupRecord>(r);
      key = group_key(g.group);
      if (g.value) value = group_value(*g.value);
    }
    std::optional<std::span<const std::byte>> v;
    if (value) v = span_of(*value);
    auto decoded = decode_stored(key, v);
    ASSERT_TRUE(decoded) << decoded.error();
    replayed.apply(*decoded);
  }
  EXPECT_TRUE(replayed == live);
  OffsetMap other = replayed;
  other.apply(OffsetRecord{"g", a, CommittedOffset{6, -1, "", 20}});
  EXPECT_FALSE(other == live);
}

}  // namespace
}  // namespace spate::groups
