// SPDX-License-Identifier: Apache-2.0
//
// cluster: topic config validation and application, and the topics.meta
// format (round trip; every damaged byte is refused, never misread).

#include <gtest/gtest.h>

#include "spate/cluster/partition_manager.h"
#include "spate/cluster/topic_config.h"

namespace spate::cluster {
namespace {

TEST(TopicConfig, ValidValuesApplyToTheLogConfig) {
  ConfigMap overrides = {{"retention.ms", "1000"},      {"retention.bytes", "-1"},
                         {"segment.bytes", "65536"},    {"segment.ms", "60000"},
                         {"max.message.bytes", "2048"}, {"flush.policy", "interval"},
                         {"flush.ms", "250"},           {"cleanup.policy", "delete"}};
  ASSERT_TRUE(validate_topic_configs(overrides));
  const auto c = apply_topic_configs(storage::LogConfig{}, overrides);
  EXPECT_EQ(c.retention_ms, 1000);
  EXPECT_EQ(c.retention_bytes, -1);
  EXPECT_EQ(c.segment_bytes_max, 65536U);
  EXPECT_EQ(c.segment_age_max, std::chrono::milliseconds(60000));
  EXPECT_EQ(c.batch_bytes_max, 2048U);
  EXPECT_EQ(c.flush_policy, storage::FlushPolicy::interval);
  EXPECT_EQ(c.flush_interval, std::chrono::milliseconds(250));
}

TEST(TopicConfig, BadValuesAreRefusedNamingTheConfig) {
  const std::pair<const char*, const char*> bad[] = {
      {"retention.ms", "soon"},      {"retention.ms", "-2"},
      {"segment.bytes", "10"},       {"segment.ms", "0"},
      {"max.message.bytes", "1e6"},  {"flush.policy", "sometimes"},
      {"cleanup.policy", "shred"}, {"no.such.config", "1"},
      {"retention.bytes", ""},       {"segment.bytes", "99999999999"}};
  for (const auto& [name, value] : bad) {
    auto s = validate_topic_config(name, value);
    ASSERT_FALSE(s) << name << "=" << value;
    EXPECT_EQ(s.error().code(), Errc::invalid_argument);
    EXPECT_NE(s.error().detail().find(name), std::string::npos) << s.error().detail();
  }
}

TEST(TopicConfig, DescribeMarksOverrides) {
  auto entries = describe_topic_configs(storage::LogConfig{}, {{"retention.ms", "5"}});
  bool seen = false;
  for (const auto& e : entries) {
    if (e.name == "retention.ms") {
      seen = true;
      EXPECT_EQ(e.value, "5");
      EXPECT_FALSE(e.is_default);
    } else {
      EXPECT_TRUE(e.is_default) << e.name;
    }
  }
  EXPECT_TRUE(seen);
}

TEST(TopicsMeta, RoundTrips) {
  std::vector<TopicRecord> topics = {{"a", 1, {}}, {"b.c_d-e", 12, {{"retention.ms", "1"}}}};
  auto bytes = encode_topics_meta(topics);
  auto back = decode_topics_meta(bytes);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, topics);
  auto empty = decode_topics_meta(encode_topics_meta({}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(TopicsMeta, EveryFlippedByteAndEveryTruncationIsRefused) {
  auto bytes = encode_topics_meta({{"topic", 3, {{"segment.bytes", "1048576"}}}});
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto damaged = bytes;
    damaged[i] ^= std::byte{0x40};
    auto r = decode_topics_meta(damaged);
    ASSERT_FALSE(r) << "flipped byte " << i;
    EXPECT_EQ(r.error().code(), Errc::corrupt_log);
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_topics_meta(std::span(bytes).first(n))) << "truncated to " << n;
  }
}

TEST(TopicConfig, NumbersAreStoredCanonicallyAndNeverIsACentury) {
  const std::string zeros(30000, '0');
  auto n = normalize_topic_configs({{"retention.ms", zeros + "42"},
                                    {"segment.ms", "9223372036854775807"},
                                    {"flush.policy", "interval"}});
  ASSERT_TRUE(n) << n.error();
  EXPECT_EQ(n->at("retention.ms"), "42");
  EXPECT_EQ(n->at("segment.ms"), "9223372036854775807");
  EXPECT_EQ(n->at("flush.policy"), "interval");
  EXPECT_FALSE(normalize_topic_configs({{"retention.ms", zeros + "x"}}));
  const auto c = apply_topic_configs(storage::LogConfig{}, {{"segment.ms", "9223372036854775807"},
                                                            {"flush.ms", "9223372036854775807"}});
  EXPECT_EQ(c.segment_age_max.count(), kDurationMsMax);
  EXPECT_EQ(c.flush_interval.count(), kDurationMsMax);
  EXPECT_TRUE(storage::validate(c));
  // No overflow when compared with a steady clock in nanoseconds.
  EXPECT_LT(std::chrono::steady_clock::duration(1), c.segment_age_max);
}

}  // namespace
}  // namespace spate::cluster
