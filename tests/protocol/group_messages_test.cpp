// SPDX-License-Identifier: Apache-2.0
//
// Round trips of the group, offset, producer-id, config, partition-admin and
// SASL messages at every advertised version, plus wire layouts of the
// flexible ones.

#include <gtest/gtest.h>

#include "spate/protocol/api_key.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/group_admin.h"
#include "spate/protocol/messages/groups.h"
#include "spate/protocol/messages/init_producer_id.h"
#include "spate/protocol/messages/offsets.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/sasl_handshake.h"

#include "round_trip.h"

namespace spate::protocol {
namespace {

using testing::expect_round_trip;

template <typename F>
void each_version(ApiKey key, F&& f) {
  auto api = api_info(static_cast<std::int16_t>(key));
  ASSERT_TRUE(api.has_value());
  for (std::int16_t v = api->min_version; v <= api->max_version; ++v) f(v);
}

std::optional<std::string> from(std::int16_t v, std::int16_t since, const char* s) {
  return v >= since ? std::optional<std::string>(s) : std::nullopt;
}

std::vector<std::byte> blob(std::size_t n) { return std::vector<std::byte>(n, std::byte{0x5a}); }

TEST(GroupMessages, FindCoordinator) {
  each_version(ApiKey::find_coordinator, [](std::int16_t v) {
    expect_round_trip(FindCoordinatorRequest{"g", static_cast<std::int8_t>(v >= 1 ? 1 : 0)}, v);
    expect_round_trip(
        FindCoordinatorResponse{v >= 1 ? 3 : 0, 0, from(v, 1, "ok"), 0, "localhost", 9092}, v);
  });
}

TEST(GroupMessages, JoinSyncLeave) {
  each_version(ApiKey::join_group, [](std::int16_t v) {
    JoinGroupRequest req{"g",
                         10000,
                         v >= 1 ? 300000 : -1,
                         "",
                         from(v, 5, "i-1"),
                         "consumer",
                         {{"range", blob(20)}, {"roundrobin", blob(3)}}};
    expect_round_trip(req, v);
    JoinGroupResponse resp{v >= 2 ? 1 : 0,
                           0,
                           3,
                           "range",
                           "m1",
                           "m1",
                           {{"m1", from(v, 5, "i-1"), blob(20)}, {"m2", std::nullopt, {}}}};
    expect_round_trip(resp, v);
  });
  each_version(ApiKey::sync_group, [](std::int16_t v) {
    expect_round_trip(SyncGroupRequest{"g", 3, "m1", from(v, 3, "i"), {{"m1", blob(10)}}}, v);
    expect_round_trip(SyncGroupResponse{v >= 1 ? 2 : 0, 0, blob(10)}, v);
  });
  each_version(ApiKey::leave_group, [](std::int16_t v) {
    LeaveGroupRequest req{"g", v <= 2 ? "m1" : "", {}};
    if (v >= 3) req.members = {{"m1", std::nullopt}, {"m2", "i"}};
    expect_round_trip(req, v);
    LeaveGroupResponse resp{v >= 1 ? 1 : 0, 0, {}};
    if (v >= 3) resp.members = {{"m1", std::nullopt, 0}};
    expect_round_trip(resp, v);
  });
  each_version(ApiKey::heartbeat, [](std::int16_t) {});
}

TEST(GroupMessages, OffsetCommitAtEveryVersion) {
  each_version(ApiKey::offset_commit, [](std::int16_t v) {
    OffsetCommitRequest req;
    req.group_id = "g";
    if (v >= 1) {
      req.generation_id_or_member_epoch = 5;
      req.member_id = "m1";
    }
    if (v >= 7) req.group_instance_id = "i";
    if (v >= 2 && v <= 4) req.retention_time_ms = 86400000;
    OffsetCommitPartition p{0, 42, -1, -1, "meta"};
    if (v >= 6) p.committed_leader_epoch = 3;
    if (v == 1) p.commit_timestamp = 1700000000000;
    req.topics = {{"t", {p, {1, 7, -1, -1, std::nullopt}}}};
    expect_round_trip(req, v);
    expect_round_trip(OffsetCommitResponse{v >= 3 ? 4 : 0, {{"t", {{0, 0}, {1, 22}}}}}, v);
  });
}

TEST(GroupMessages, OffsetFetchAtEveryVersionIncludingFlexible) {
  each_version(ApiKey::offset_fetch, [](std::int16_t v) {
    OffsetFetchRequest req;
    req.group_id = "g";
    req.topics = std::vector<OffsetFetchTopic>{{"t", {0, 1}}};
    if (v >= 7) req.require_stable = true;
    expect_round_trip(req, v);
    if (v >= 2) {
      OffsetFetchRequest all;
      all.group_id = "g";
      expect_round_trip(all, v);
    }
    OffsetFetchResponse resp;
    if (v >= 3) resp.throttle_time_ms = 1;
    OffsetFetchPartitionResponse p{0, 42, -1, "m", 0};
    if (v >= 5) p.committed_leader_epoch = 2;
    resp.topics = {{"t", {p, {1, -1, -1, std::nullopt, 0}}}};
    if (v >= 2) resp.error_code = 0;
    expect_round_trip(resp, v);
  });
}

TEST(GroupMessages, OffsetFetchV7MatchesTheReferenceExample) {
  // kafka-protocol.md §1.5: group "g", topic "t", partition 0, RequireStable false.
  OffsetFetchRequest req;
  req.group_id = "g";
  req.topics = std::vector<OffsetFetchTopic>{{"t", {0}}};
  ByteWriter w;
  encode_message(w, req, 7);
  EXPECT_EQ(to_hex(w.view()),
            "0267"
            "02"
            "0274"
            "0200000000"
            "00"
            "00"
            "00");
}

TEST(GroupMessages, ListAndDescribeGroups) {
  each_version(ApiKey::list_groups, [](std::int16_t v) {
    ListGroupsRequest req;
    if (v >= 4) req.states_filter = {"Stable", "Empty"};
    expect_round_trip(req, v);
    ListGroupsResponse resp{v >= 1 ? 1 : 0, 0, {{"g", "consumer", v >= 4 ? "Stable" : ""}}};
    expect_round_trip(resp, v);
  });
  each_version(ApiKey::describe_groups, [](std::int16_t v) {
    expect_round_trip(DescribeGroupsRequest{{"g", "h"}, v >= 3}, v);
    DescribeGroupsGroup g{0,
                          "g",
                          "Stable",
                          "consumer",
                          "range",
                          {{"m1", from(v, 4, "i"), "rdkafka", "/127.0.0.1", blob(5), blob(7)}},
                          v >= 3 ? 0 : -2147483647 - 1};
    expect_round_trip(DescribeGroupsResponse{v >= 1 ? 1 : 0, {g}}, v);
  });
}

TEST(GroupMessages, InitProducerIdIncludingFlexible) {
  each_version(ApiKey::init_producer_id, [](std::int16_t v) {
    InitProducerIdRequest req{std::nullopt, 60000, -1, -1};
    if (v >= 3) {
      req.producer_id = 1000;
      req.producer_epoch = 2;
    }
    expect_round_trip(req, v);
    expect_round_trip(InitProducerIdResponse{0, 0, 1000, 3}, v);
  });
  // v4: compact null transactional id, timeout, id, epoch, empty tags.
  ByteWriter w;
  encode_message(w, InitProducerIdRequest{std::nullopt, 1, -1, -1}, 4);
  EXPECT_EQ(to_hex(w.view()),
            "00"
            "00000001"
            "ffffffffffffffff"
            "ffff"
            "00");
}

TEST(GroupMessages, DescribeConfigs) {
  each_version(ApiKey::describe_configs, [](std::int16_t v) {
    DescribeConfigsRequest req;
    req.resources = {{kResourceTopic, "t", std::vector<std::string>{"retention.ms"}},
                     {kResourceBroker, "0", std::nullopt}};
    if (v >= 1) req.include_synonyms = true;
    expect_round_trip(req, v);
    DescribeConfigsEntry e{"retention.ms", "1000", false, v == 0, -1, false, {}};
    if (v >= 1) {
      e.config_source = 1;
      e.synonyms = {{"retention.ms", "1000", 1}};
    }
    DescribeConfigsResponse resp{0, {{0, std::nullopt, kResourceTopic, "t", {e}}}};
    expect_round_trip(resp, v);
  });
}

TEST(GroupMessages, CreatePartitionsAndDeleteRecords) {
  each_version(ApiKey::create_partitions, [](std::int16_t v) {
    CreatePartitionsRequest req{
        {{"t", 4, std::nullopt}, {"u", 2, std::vector<CreatePartitionsAssignment>{{{0}}}}},
        5000,
        true};
    expect_round_trip(req, v);
    expect_round_trip(CreatePartitionsResponse{0, {{"t", 0, std::nullopt}, {"u", 37, "no"}}}, v);
  });
  each_version(ApiKey::delete_records, [](std::int16_t v) {
    expect_round_trip(DeleteRecordsRequest{{{"t", {{0, 10}, {1, -1}}}}, 3000}, v);
    expect_round_trip(DeleteRecordsResponse{0, {{"t", {{0, 10, 0}, {1, -1, 1}}}}}, v);
  });
}

TEST(GroupMessages, SaslAuthenticate) {
  each_version(ApiKey::sasl_authenticate, [](std::int16_t v) {
    expect_round_trip(SaslAuthenticateRequest{blob(12)}, v);
    expect_round_trip(SaslAuthenticateResponse{0, std::nullopt, blob(3), v >= 1 ? 3600000 : 0}, v);
  });
}

TEST(GroupMessages, AlterConfigsIncrementalAndDeleteGroups) {
  each_version(ApiKey::alter_configs, [](std::int16_t v) {
    expect_round_trip(
        AlterConfigsRequest{{{kResourceTopic, "t", {{"retention.ms", "1"}, {"x", std::nullopt}}}},
                            v == 1},
        v);
    expect_round_trip(
        AlterConfigsResponse{0, {{0, std::nullopt, kResourceTopic, "t"}, {40, "bad", 2, "u"}}}, v);
  });
  each_version(ApiKey::incremental_alter_configs, [](std::int16_t v) {
    IncrementalAlterConfigsRequest req{
        {{kResourceTopic, "t", {{"retention.ms", kConfigOpSet, "1"}, {"x", kConfigOpDelete, {}}}}},
        true};
    expect_round_trip(req, v);
    IncrementalAlterConfigsResponse resp;
    resp.responses = {{0, std::nullopt, kResourceTopic, "t"}};
    expect_round_trip(resp, v);
  });
  each_version(ApiKey::delete_groups, [](std::int16_t v) {
    expect_round_trip(DeleteGroupsRequest{{"g", "h"}}, v);
    expect_round_trip(DeleteGroupsResponse{0, {{"g", 0}, {"h", 69}}}, v);
  });
}

}  // namespace
}  // namespace spate::protocol
