// SPDX-License-Identifier: Apache-2.0
//
// The metadata command and snapshot codecs: round trips, the layout by
// hand, and hostile bytes (truncation at every byte, trailing bytes, counts
// past the limits or the bytes left, versions) refused with an error.

#include "spate/cluster/metadata_codec.h"

#include <gtest/gtest.h>

#include "spate/common/bytes.h"

#include "cluster/metadata_samples.h"

namespace spate::cluster {
namespace {

using testing::broker_cmd;
using testing::ids;
using testing::sample_commands;

std::vector<std::byte> hex(std::string_view h) {
  std::vector<std::byte> out;
  std::string digits;
  for (char c : h) {
    if (c != ' ') digits += c;
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(MetadataCodec, EveryCommandRoundTrips) {
  const auto samples = sample_commands();
  ASSERT_EQ(samples.size(), std::variant_size_v<Command>);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    ASSERT_EQ(samples[i].index(), i);
    const auto bytes = encode_command(samples[i]);
    auto decoded = decode_command(bytes);
    ASSERT_TRUE(decoded) << command_name(samples[i]) << ": " << decoded.error();
    EXPECT_TRUE(*decoded == samples[i]) << command_name(samples[i]);
    EXPECT_EQ(encode_command(*decoded), bytes);
  }
}

TEST(MetadataCodec, TheLayoutByHand) {
  EXPECT_EQ(encode_command(NoopCommand{}), hex("01 00"));
  EXPECT_EQ(encode_command(FenceBroker{NodeId(3), 7}), hex("01 02 00000003 0000000000000007"));
  // Type 13, appended after the reassignment commands: an older log never holds it.
  EXPECT_EQ(encode_command(UnregisterBroker{NodeId(4)}), hex("01 0d 00000004"));
  EXPECT_EQ(encode_command(AlterTopicConfigs{"t", {{"k", "vv"}}}),
            hex("01 07 00000001 74 00000001 00000001 6b 00000002 7676"));
  EXPECT_EQ(encode_command(SetPartitionLeader{2, 1, NodeId(4), Term(9), ids({4, 5})}),
            hex("01 09 0000000000000002 00000001 00000004 0000000000000009 00000002 00000004 "
                "00000005"));
  auto c = broker_cmd(1);
  c.advertised = {"a", 1};
  c.cluster = {"b", 2};
  c.rack = "r";
  c.incarnation = 5;
  EXPECT_EQ(encode_command(c), hex("01 01 00000001 00000001 61 00000001 00000001 62 00000002 "
                                   "01 00000001 72 0000000000000005"));
}

TEST(MetadataCodec, TruncationAtEveryByteAndTrailingBytesAreMalformed) {
  for (const auto& command : sample_commands()) {
    const auto bytes = encode_command(command);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      auto decoded = decode_command(std::span(bytes).first(n));
      ASSERT_FALSE(decoded) << command_name(command) << " cut at " << n;
      EXPECT_EQ(decoded.error().code(), Errc::malformed);
    }
    auto longer = bytes;
    longer.push_back(std::byte{0});
    auto decoded = decode_command(longer);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code(), Errc::malformed);
  }
}

TEST(MetadataCodec, VersionsAndTypes) {
  auto decoded = decode_command(hex("02 00"));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code(), Errc::unsupported_version);
  decoded = decode_command(hex("01 0e"));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code(), Errc::malformed);
  decoded = decode_command(hex("01 0d 000000"));  // an unregister_broker cut short
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code(), Errc::malformed);
  EXPECT_FALSE(decode_command(hex("01 ff")));
}

TEST(MetadataCodec, CountsPastTheLimitsOrTheBytesLeftAreRefusedBeforeAllocating) {
  MetadataLimits limits;
  limits.partitions_per_topic_max = 2;
  limits.replicas_max = 2;
  limits.configs_max = 1;
  limits.topic_name_bytes_max = 3;
  limits.string_bytes_max = 4;
  limits.config_value_bytes_max = 5;
  auto refused = [&](const Command& c) {
    auto decoded = decode_command(encode_command(c), limits);
    ASSERT_FALSE(decoded) << command_name(c);
    EXPECT_EQ(decoded.error().code(), Errc::malformed);
    EXPECT_TRUE(decode_command(encode_command(c))) << command_name(c);
  };
  refused(CreateTopic{"t", 0, ReplicaAssignment(3, ids({1})), {}});
  refused(CreateTopic{"t", 0, {ids({1, 2, 3})}, {}});
  refused(CreateTopic{"t", 0, {ids({1})}, {{"a", "1"}, {"b", "2"}}});
  refused(CreateTopic{"topic", 0, {ids({1})}, {}});
  refused(AlterTopicConfigs{"t", {{"abcde", "1"}}});
  refused(AlterTopicConfigs{"t", {{"a", "123456"}}});
  refused(BeginReassignment{1, 0, ids({1, 2, 3})});
  refused(SetPartitionLeader{1, 0, NodeId(1), Term(1), ids({1, 2, 3, 4, 5})});
  auto b = broker_cmd(1);
  b.rack = "rack-long";
  refused(b);
  // A count of 2^32-1 replicas in a 20-byte message.
  auto huge = hex("01 0a 0000000000000001 00000000 ffffffff 00000001");
  auto decoded = decode_command(huge);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code(), Errc::malformed);
  // A topic name claiming 4 GiB.
  EXPECT_FALSE(decode_command(hex("01 05 ffffffff 74")));
  // Presence byte other than 0/1.
  EXPECT_FALSE(
      decode_command(hex("01 01 00000001 00000001 61 00000001 00000001 62 00000002 "
                         "02 00000001 72 0000000000000005")));
}

TEST(MetadataCodec, ConfigsOutOfOrderOrRepeatedAreMalformed) {
  EXPECT_TRUE(
      decode_command(hex("01 07 00000001 74 00000002 00000001 61 00000000 "
                         "00000001 62 00000000")));
  EXPECT_FALSE(
      decode_command(hex("01 07 00000001 74 00000002 00000001 62 00000000 "
                         "00000001 61 00000000")));
  EXPECT_FALSE(
      decode_command(hex("01 07 00000001 74 00000002 00000001 61 00000000 "
                         "00000001 61 00000000")));
}

MetadataState sample_state() {
  MetadataState s;
  std::int64_t index = 0;
  auto apply = [&](const Command& c) {
    auto out = s.apply(c, ++index);
    EXPECT_TRUE(out && out->applied()) << command_name(c) << ": " << (out ? out->message : "");
  };
  apply(broker_cmd(1, "a"));
  apply(broker_cmd(2, "b"));
  apply(broker_cmd(3));
  apply(FenceBroker{NodeId(3), -1});
  apply(CreateTopic{"orders", 0, {ids({1, 2}), ids({2, 3})}, {{"retention.ms", "5"}}});
  apply(CreateTopic{"events", 0, {ids({3})}, {}});
  apply(SetPartitionLeader{1, 0, NodeId(2), Term(3), ids({2, 1})});
  apply(BeginReassignment{1, 1, ids({1, 2})});
  apply(AllocateProducerIds{NodeId(1), 1000});
  return s;
}

TEST(MetadataSnapshot, RoundTripsToAnEqualState) {
  const auto state = sample_state();
  const auto bytes = encode_snapshot(state);
  auto decoded = decode_snapshot(bytes);
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_TRUE(*decoded == state);
  EXPECT_EQ(encode_snapshot(*decoded), bytes);
  EXPECT_EQ(decoded->partition_count(), 3U);
  EXPECT_NE(decoded->topic("events"), nullptr);
  EXPECT_EQ(decoded->applied_index(), state.applied_index());
  auto empty = decode_snapshot(encode_snapshot(MetadataState{}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(*empty == MetadataState{});
}

TEST(MetadataSnapshot, TruncationAtEveryByteAndTrailingBytesAreMalformed) {
  const auto bytes = encode_snapshot(sample_state());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = decode_snapshot(std::span(bytes).first(n));
    ASSERT_FALSE(decoded) << "cut at " << n;
    EXPECT_EQ(decoded.error().code(), Errc::malformed);
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_snapshot(longer));
}

TEST(MetadataSnapshot, MagicVersionAndLimits) {
  auto bytes = encode_snapshot(sample_state());
  auto other = bytes;
  other[0] = std::byte{0};
  EXPECT_EQ(decode_snapshot(other).error().code(), Errc::malformed);
  other = bytes;
  other[5] = std::byte{2};
  EXPECT_EQ(decode_snapshot(other).error().code(), Errc::unsupported_version);
  MetadataLimits limits;
  limits.brokers_max = 2;
  EXPECT_EQ(decode_snapshot(bytes, limits).error().code(), Errc::malformed);
  limits = {};
  limits.topics_max = 1;
  EXPECT_EQ(decode_snapshot(bytes, limits).error().code(), Errc::malformed);
  limits = {};
  limits.partitions_max = 2;
  EXPECT_EQ(decode_snapshot(bytes, limits).error().code(), Errc::malformed);
  limits = {};
  limits.partitions_per_topic_max = 1;
  EXPECT_EQ(decode_snapshot(bytes, limits).error().code(), Errc::malformed);
}

// restore() refuses what apply() could never have made.
TEST(MetadataSnapshot, RestoreRefusesInconsistentStates) {
  const auto state = sample_state();
  std::vector<BrokerRegistration> brokers;
  for (const auto& [id, b] : state.brokers()) brokers.push_back(b);
  std::vector<TopicMeta> topics;
  for (const auto& [id, t] : state.topics()) topics.push_back(t);
  auto restore = [&](std::vector<BrokerRegistration> b, std::vector<TopicMeta> t,
                     TopicId next = 3) {
    return MetadataState::restore(std::move(b), std::move(t), next, 1000, 9);
  };
  auto ok = restore(brokers, topics);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_TRUE(*ok == state);
  auto expect_bad = [](const Result<MetadataState>& r) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::malformed);
  };
  expect_bad(restore(brokers, topics, 2));                // id 2 not below next
  expect_bad(restore({brokers[0], brokers[1]}, topics));  // a replica on broker 3
  auto b = brokers;
  b[1].id = NodeId(1);
  expect_bad(restore(b, topics));
  auto t = topics;
  t[1].name = t[0].name;
  expect_bad(restore(brokers, t));
  t = topics;
  t[1].id = t[0].id;
  expect_bad(restore(brokers, t));
  expect_bad(restore(brokers, {topics[1], topics[0]}));  // out of order
  expect_bad(restore({brokers[1], brokers[0], brokers[2]}, topics));
  t = topics;
  t[0].partitions[0].leader = NodeId(3);
  expect_bad(restore(brokers, t));
  t = topics;
  t[0].partitions[0].isr = ids({2, 2});
  expect_bad(restore(brokers, t));
  t = topics;
  t[0].partitions.clear();
  expect_bad(restore(brokers, t));
  t = topics;
  t[0].name = "bad name";
  expect_bad(restore(brokers, t));
  t = topics;
  t[0].partitions[1].target = ids({1, 1});
  expect_bad(restore(brokers, t));
  expect_bad(MetadataState::restore(brokers, topics, 3, -1, 9));
}

}  // namespace
}  // namespace spate::cluster
