// SPDX-License-Identifier: Apache-2.0
//
// Round trips of Metadata (and v7's bytes by hand), Produce, Fetch, ListOffsets,
// OffsetForLeaderEpoch and CreateTopics at every advertised version, with values that exist in that
// version, plus truncation at every byte.

#include <gtest/gtest.h>

#include "spate/protocol/api_key.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/offset_for_leader_epoch.h"
#include "spate/protocol/messages/produce.h"

#include "round_trip.h"

namespace spate::protocol {
namespace {

using testing::expect_round_trip;

std::pair<std::int16_t, std::int16_t> range(ApiKey key) {
  auto api = api_info(static_cast<std::int16_t>(key));
  return {api->min_version, api->max_version};
}

TEST(Messages, MetadataAtEveryVersion) {
  auto [low, high] = range(ApiKey::metadata);
  for (std::int16_t v = low; v <= high; ++v) {
    MetadataRequest req;
    req.topics = std::vector<MetadataRequestTopic>{{"a"}, {"orders"}};
    if (v >= 4) req.allow_auto_topic_creation = false;
    expect_round_trip(req, v);
    if (v >= 1) {
      MetadataRequest all;  // null topics: all of them
      expect_round_trip(all, v);
    }
    MetadataResponse resp;
    resp.brokers = {
        {0, "127.0.0.1", 9092, v >= 1 ? std::optional<std::string>("r1") : std::nullopt}};
    if (v >= 3) resp.throttle_time_ms = 12;
    if (v >= 2) resp.cluster_id = "c-1";
    if (v >= 1) resp.controller_id = 0;
    MetadataResponsePartition p{0, 3, 0, -1, {0}, {0}, {}};
    if (v >= 5) p.offline_replicas = {7};
    if (v >= 7) p.leader_epoch = 5;
    resp.topics = {{0, "orders", v >= 1, {p, p}}, {3, "missing", false, {}}};
    expect_round_trip(resp, v);
  }
}

TEST(Messages, ProduceAtEveryVersion) {
  auto [low, high] = range(ApiKey::produce);
  for (std::int16_t v = low; v <= high; ++v) {
    ProduceRequest req;
    if (v >= 3) req.transactional_id = "tx";
    req.acks = -1;
    req.timeout_ms = 1500;
    req.topic_data = {{"t", {{0, std::vector<std::byte>(70, std::byte{1})}, {1, std::nullopt}}}};
    expect_round_trip(req, v);
    ProduceResponse resp;
    ProducePartitionResponse p{0, 0, 42, -1, -1};
    if (v >= 2) p.log_append_time_ms = 1700000000000;
    if (v >= 5) p.log_start_offset = 3;
    resp.responses = {{"t", {p}}};
    if (v >= 1) resp.throttle_time_ms = 1;
    expect_round_trip(resp, v);
  }
}

TEST(Messages, FetchAtEveryVersion) {
  auto [low, high] = range(ApiKey::fetch);
  for (std::int16_t v = low; v <= high; ++v) {
    FetchRequest req;
    req.max_wait_ms = 500;
    req.min_bytes = 1;
    req.max_bytes = 52428800;
    req.isolation_level = 1;
    FetchPartition p{0, -1, 100, -1, 1048576};
    if (v >= 9) p.current_leader_epoch = 4;
    if (v >= 5) p.log_start_offset = 0;
    req.topics = {{"t", {p}}};
    if (v >= 7) {
      req.session_id = 0;
      req.session_epoch = -1;
      req.forgotten_topics_data = {{"old", {1, 2}}};
    }
    if (v >= 11) req.rack_id = "rack";
    expect_round_trip(req, v);
    FetchResponse resp;
    resp.throttle_time_ms = 0;
    if (v >= 7) {
      resp.error_code = 0;
      resp.session_id = 9;
    }
    FetchPartitionData d;
    d.high_watermark = 120;
    d.last_stable_offset = 120;
    if (v >= 5) d.log_start_offset = 0;
    d.aborted_transactions = std::vector<FetchAbortedTransaction>{{5, 10}};
    if (v >= 11) d.preferred_read_replica = -1;
    d.records = std::vector<std::byte>(90, std::byte{7});
    FetchPartitionData empty;
    resp.responses = {{"t", {d, empty}}};
    expect_round_trip(resp, v);
  }
}

TEST(Messages, ListOffsetsAtEveryVersion) {
  auto [low, high] = range(ApiKey::list_offsets);
  for (std::int16_t v = low; v <= high; ++v) {
    ListOffsetsRequest req;
    if (v >= 2) req.isolation_level = 1;
    req.topics = {{"t", {{0, kListOffsetsEarliest}, {1, 1700000000000}}}};
    expect_round_trip(req, v);
    ListOffsetsResponse resp;
    if (v >= 2) resp.throttle_time_ms = 3;
    resp.topics = {{"t", {{0, 0, -1, 0}, {1, 3, -1, -1}}}};
    expect_round_trip(resp, v);
  }
}

TEST(Messages, ListOffsetsV4CarriesTheEpochsAtKafkasPlaces) {
  ListOffsetsRequest req;
  req.isolation_level = 1;
  req.topics = {{"t", {{2, -1, 7}}}};
  ByteWriter w;
  encode_message(w, req, 4);
  // replica -1, isolation 1, 1 topic "t", 1 partition: index 2, current epoch 7, timestamp -1.
  EXPECT_EQ(to_hex(w.view()),
            "ffffffff01000000010001740000000100000002"
            "00000007ffffffffffffffff");
  ListOffsetsResponse resp;
  resp.topics = {{"t", {{2, 0, -1, 42, 7}}}};
  ByteWriter r;
  encode_message(r, resp, 5);
  // throttle 0, 1 topic "t", 1 partition: index 2, error 0, timestamp -1, offset 42, epoch 7.
  EXPECT_EQ(to_hex(r.view()),
            "000000000000000100017400000001000000020000ffffffffffffffff"
            "000000000000002a00000007");
  for (std::int16_t v = 4; v <= 5; ++v) {
    expect_round_trip(req, v);
    expect_round_trip(resp, v);
  }
}

TEST(Messages, OffsetForLeaderEpochAtEveryVersion) {
  auto [low, high] = range(ApiKey::offset_for_leader_epoch);
  EXPECT_EQ(low, 0);
  EXPECT_EQ(high, 3);
  for (std::int16_t v = low; v <= high; ++v) {
    OffsetForLeaderEpochRequest req;
    if (v >= 3) req.replica_id = -1;
    req.topics = {{"t", {{0, v >= 2 ? 5 : -1, 4}, {1, v >= 2 ? 5 : -1, -1}}}};
    expect_round_trip(req, v);
    OffsetForLeaderEpochResponse resp;
    if (v >= 2) resp.throttle_time_ms = 1;
    resp.topics = {{"t", {{0, 0, v >= 1 ? 4 : -1, 100}, {1, 74, -1, -1}}}};
    expect_round_trip(resp, v);
  }
  // v3's layout from Kafka's schema: replica_id, topics[topic, partitions[
  // partition, current_leader_epoch, leader_epoch]].
  OffsetForLeaderEpochRequest req{-1, {{"t", {{3, 9, 8}}}}};
  ByteWriter w;
  encode_message(w, req, 3);
  EXPECT_EQ(to_hex(w.view()),
            "ffffffff000000010001740000000100000003"
            "0000000900000008");
  ByteWriter v0;
  encode_message(v0, req, 0);
  EXPECT_EQ(to_hex(v0.view()),
            "000000010001740000000100000003"
            "00000008");
  // v1 answer: error, partition, leader_epoch, end_offset (no throttle before v2).
  OffsetForLeaderEpochResponse resp{0, {{"t", {{0, 3, 8, 42}}}}};
  ByteWriter r;
  encode_message(r, resp, 1);
  EXPECT_EQ(to_hex(r.view()),
            "00000001000174000000010000"
            "0000000300000008000000000000002a");
}

TEST(Messages, CreateTopicsAtEveryVersion) {
  auto [low, high] = range(ApiKey::create_topics);
  for (std::int16_t v = low; v <= high; ++v) {
    CreateTopicsRequest req;
    req.topics = {
        {"orders", 3, -1, {}, {{"retention.ms", "1000"}, {"cleanup.policy", std::nullopt}}},
        {"manual", -1, -1, {{0, {0}}, {1, {0}}}, {}}};
    req.timeout_ms = 30000;
    if (v >= 1) req.validate_only = true;
    expect_round_trip(req, v);
    CreateTopicsResponse resp;
    if (v >= 2) resp.throttle_time_ms = 1;
    resp.topics = {{"orders", 0, std::nullopt},
                   {"manual", 36, v >= 1 ? std::optional<std::string>("exists") : std::nullopt}};
    expect_round_trip(resp, v);
  }
}

TEST(Messages, MetadataV0EmptyArrayMeansAllTopics) {
  MetadataRequest all;  // null
  ByteWriter w;
  encode_message(w, all, 0);
  EXPECT_EQ(to_hex(w.view()), "00000000");
  auto back = decode_message<MetadataRequest>(w.view(), 0);
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->topics.has_value());
  EXPECT_TRUE(back->topics->empty());
  ByteWriter v1;
  encode_message(v1, all, 1);
  EXPECT_EQ(to_hex(v1.view()), "ffffffff");
}

// Metadata v7 (Kafka's MetadataResponse.json): the request is v6's; each
// partition carries LeaderEpoch (INT32) right after LeaderId. Bytes by hand.
TEST(Messages, MetadataV7BytesByHand) {
  MetadataRequest req;
  req.topics = std::vector<MetadataRequestTopic>{{"t"}};
  req.allow_auto_topic_creation = false;
  ByteWriter rw;
  encode_message(rw, req, 7);
  EXPECT_EQ(to_hex(rw.view()), "0000000100017400");  // ["t"], no auto-creation

  MetadataResponse resp;
  resp.throttle_time_ms = 0;
  resp.brokers = {{1, "h", 9092, std::nullopt}};
  resp.cluster_id = "c";
  resp.controller_id = 1;
  MetadataResponsePartition p{0, 0, 1, 7, {1, 2}, {1}, {2}};
  resp.topics = {{0, "t", false, {p}}};
  ByteWriter w;
  encode_message(w, resp, 7);
  const std::string expected =
      "00000000"                    // throttle_time_ms
      "00000001"                    // brokers: 1
      "0000000100016800002384ffff"  // node 1, "h", port 9092, rack null
      "000163"                      // cluster_id "c"
      "00000001"                    // controller_id
      "00000001"                    // topics: 1
      "000000017400"                // error, "t", not internal
      "00000001"                    // partitions: 1
      "00000000000000000001"        // error, index 0, leader 1
      "00000007"                    // leader_epoch 7 (v7+)
      "000000020000000100000002"    // replicas [1, 2]
      "0000000100000001"            // isr [1]
      "0000000100000002";           // offline [2]
  EXPECT_EQ(to_hex(w.view()), expected);
  auto back = decode_message<MetadataResponse>(w.view(), 7);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->topics.at(0).partitions.at(0).leader_epoch, 7);
  // The same response at v6 is the same bytes less the epoch.
  ByteWriter w6;
  encode_message(w6, resp, 6);
  auto v7_less_epoch = to_hex(w.view());
  v7_less_epoch.erase(v7_less_epoch.find("00000007000000020000000100000002"), 8);
  EXPECT_EQ(to_hex(w6.view()), v7_less_epoch);
  auto v6 = decode_message<MetadataResponse>(w6.view(), 6);
  ASSERT_TRUE(v6) << v6.error();
  EXPECT_EQ(v6->topics.at(0).partitions.at(0).leader_epoch, -1);  // absent: unknown
}

TEST(Messages, MetadataV7WithALyingPartitionCountIsRejectedCheaply) {
  // One topic "t" whose partition count claims 2^31-1 in a tiny frame.
  ByteWriter w;
  w.write<std::int32_t>(0);   // throttle_time_ms
  w.write<std::int32_t>(0);   // no brokers
  w.write<std::int16_t>(-1);  // cluster_id null
  w.write<std::int32_t>(-1);  // controller_id
  w.write<std::int32_t>(1);
  w.write<std::int16_t>(0);  // error
  w.write<std::int16_t>(1);
  w.write_string("t");
  w.write<std::uint8_t>(0);  // not internal
  w.write<std::int32_t>(0x7fffffff);
  auto r = decode_message<MetadataResponse>(w.view(), 7);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::malformed);
  EXPECT_NE(r.error().detail().find("partitions"), std::string::npos) << r.error();
  // A partition cut inside its leader epoch.
  ByteWriter cut;
  cut.write<std::int32_t>(0);
  cut.write<std::int32_t>(0);
  cut.write<std::int16_t>(-1);
  cut.write<std::int32_t>(-1);
  cut.write<std::int32_t>(1);
  cut.write<std::int16_t>(0);
  cut.write<std::int16_t>(1);
  cut.write_string("t");
  cut.write<std::uint8_t>(0);
  cut.write<std::int32_t>(1);
  cut.write<std::int16_t>(0);
  cut.write<std::int32_t>(0);
  cut.write<std::int32_t>(1);
  cut.write<std::int16_t>(0);  // half an epoch
  auto c = decode_message<MetadataResponse>(cut.view(), 7);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::malformed);
}

TEST(Messages, ProduceWithALyingPartitionCountIsRejectedCheaply) {
  // acks, timeout, 1 topic "t", then a partition count of 2^31-1 in a tiny frame.
  ByteWriter w;
  w.write<std::int16_t>(-1);  // transactional_id null (v3+)
  w.write<std::int16_t>(1);
  w.write<std::int32_t>(1000);
  w.write<std::int32_t>(1);
  w.write<std::int16_t>(1);
  w.write_string("t");
  w.write<std::int32_t>(0x7fffffff);
  auto r = decode_message<ProduceRequest>(w.view(), 7);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail().find("partition_data"), std::string::npos);
}

}  // namespace
}  // namespace spate::protocol
