// SPDX-License-Identifier: Apache-2.0
//
// The group APIs through Broker::handle with a real Coordinator over the
// fixture's PartitionManager: the join/sync/commit/fetch round, KIP-394's
// MEMBER_ID_REQUIRED, simple-consumer commits, the errors a client acts on,
// hostile inputs, the internal topic's protection, and committed offsets and
// group deletions surviving a reopen of the data directory.

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/group_admin.h"
#include "spate/protocol/messages/groups.h"
#include "spate/protocol/messages/heartbeat.h"
#include "spate/protocol/messages/offsets.h"

#include "broker_fixture.h"

namespace spate::broker {
namespace {

class BrokerGroupsTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    start_coordinator();
  }
  void TearDown() override {
    if (coordinator_) coordinator_->stop();
    BrokerTest::TearDown();
  }

  void start_coordinator() {
    coordinator_ = std::make_unique<groups::Coordinator>(coordinator_config_, *manager_, clock_);
    auto started = run(coordinator_->start());
    ASSERT_TRUE(started) << started.error();
    broker_->set_coordinator(coordinator_.get());
  }

  // Closes everything and opens the same data directory again.
  void reopen() {
    coordinator_->stop();
    broker_->set_coordinator(nullptr);
    coordinator_.reset();
    EXPECT_EQ(run(manager_->close_all()), 0U);
    manager_.reset();
    open();
    start_coordinator();
  }

  protocol::JoinGroupResponse join(std::int16_t version, const std::string& group,
                                   const std::string& member_id) {
    protocol::JoinGroupRequest r;
    r.group_id = group;
    r.session_timeout_ms = 10'000;
    r.rebalance_timeout_ms = 10'000;
    r.member_id = member_id;
    r.protocol_type = "consumer";
    r.protocols.push_back({"range", to_bytes("meta")});
    return call<protocol::JoinGroupResponse>(ApiKey::join_group, version, r);
  }

  std::int16_t commit(const std::string& group, std::int32_t generation, const std::string& member,
                      const std::string& topic, std::int32_t partition, std::int64_t offset,
                      std::optional<std::string> metadata = "m") {
    protocol::OffsetCommitRequest r;
    r.group_id = group;
    r.generation_id_or_member_epoch = generation;
    r.member_id = member;
    r.topics.push_back({topic, {{partition, offset, -1, -1, std::move(metadata)}}});
    auto resp = call<protocol::OffsetCommitResponse>(ApiKey::offset_commit, 7, r);
    return resp.topics.at(0).partitions.at(0).error_code;
  }

  protocol::OffsetFetchResponse fetch_offsets(
      std::int16_t version, const std::string& group,
      std::optional<std::vector<protocol::OffsetFetchTopic>> topics) {
    protocol::OffsetFetchRequest r;
    r.group_id = group;
    r.topics = std::move(topics);
    return call<protocol::OffsetFetchResponse>(ApiKey::offset_fetch, version, r);
  }

  groups::CoordinatorConfig coordinator_config_ = [] {
    groups::CoordinatorConfig c;
    c.offsets_partitions = 3;
    return c;
  }();
  std::unique_ptr<groups::Coordinator> coordinator_;
};

TEST_F(BrokerGroupsTest, JoinSyncHeartbeatCommitFetch) {
  create("t", 2);
  auto coordinator = call<protocol::FindCoordinatorResponse>(
      ApiKey::find_coordinator, 2, protocol::FindCoordinatorRequest{"g", 0});
  EXPECT_EQ(coordinator.error_code, 0);
  EXPECT_EQ(coordinator.node_id, config_.node_id);

  auto joined = join(0, "g", "");
  ASSERT_EQ(joined.error_code, 0);
  EXPECT_EQ(joined.leader, joined.member_id);
  EXPECT_EQ(joined.protocol_name, "range");
  ASSERT_EQ(joined.members.size(), 1U);
  EXPECT_EQ(joined.members[0].metadata, to_bytes("meta"));

  protocol::SyncGroupRequest sync;
  sync.group_id = "g";
  sync.generation_id = joined.generation_id;
  sync.member_id = joined.member_id;
  sync.assignments.push_back({joined.member_id, to_bytes("assignment")});
  auto synced = call<protocol::SyncGroupResponse>(ApiKey::sync_group, 3, sync);
  EXPECT_EQ(synced.error_code, 0);
  EXPECT_EQ(synced.assignment, to_bytes("assignment"));

  auto beat = call<protocol::HeartbeatResponse>(
      ApiKey::heartbeat, 3,
      protocol::HeartbeatRequest{"g", joined.generation_id, joined.member_id, std::nullopt});
  EXPECT_EQ(beat.error_code, 0);

  EXPECT_EQ(commit("g", joined.generation_id, joined.member_id, "t", 1, 17, "hello"), 0);
  EXPECT_EQ(commit("g", joined.generation_id + 1, joined.member_id, "t", 0, 3),
            code(ErrorCode::illegal_generation));
  EXPECT_EQ(commit("g", joined.generation_id, "someone-else", "t", 0, 3),
            code(ErrorCode::unknown_member_id));

  auto fetched = fetch_offsets(1, "g", std::vector<protocol::OffsetFetchTopic>{{"t", {0, 1}}});
  ASSERT_EQ(fetched.topics.at(0).partitions.size(), 2U);
  EXPECT_EQ(fetched.topics[0].partitions[0].committed_offset, -1);
  EXPECT_EQ(fetched.topics[0].partitions[1].committed_offset, 17);
  EXPECT_EQ(fetched.topics[0].partitions[1].metadata, "hello");

  auto all = fetch_offsets(7, "g", std::nullopt);  // null topics: every committed partition
  EXPECT_EQ(all.error_code, 0);
  ASSERT_EQ(all.topics.size(), 1U);
  ASSERT_EQ(all.topics[0].partitions.size(), 1U);
  EXPECT_EQ(all.topics[0].partitions[0].committed_offset, 17);

  auto described = call<protocol::DescribeGroupsResponse>(
      ApiKey::describe_groups, 4, protocol::DescribeGroupsRequest{{"g", "nobody"}, false});
  ASSERT_EQ(described.groups.size(), 2U);
  EXPECT_EQ(described.groups[0].group_state, "Stable");
  EXPECT_EQ(described.groups[0].protocol_data, "range");
  ASSERT_EQ(described.groups[0].members.size(), 1U);
  EXPECT_EQ(described.groups[0].members[0].client_id, "test");
  EXPECT_EQ(described.groups[0].members[0].client_host, "/127.0.0.1");
  EXPECT_EQ(described.groups[0].members[0].member_assignment, to_bytes("assignment"));
  EXPECT_EQ(described.groups[1].group_state, "Dead");

  // A group with members is not deleted.
  auto deleted = call<protocol::DeleteGroupsResponse>(ApiKey::delete_groups, 1,
                                                      protocol::DeleteGroupsRequest{{"g"}});
  EXPECT_EQ(deleted.results.at(0).error_code, code(ErrorCode::non_empty_group));

  protocol::LeaveGroupRequest leave;
  leave.group_id = "g";
  leave.member_id = joined.member_id;
  EXPECT_EQ(call<protocol::LeaveGroupResponse>(ApiKey::leave_group, 1, leave).error_code, 0);
  auto listed =
      call<protocol::ListGroupsResponse>(ApiKey::list_groups, 4, protocol::ListGroupsRequest{});
  ASSERT_EQ(listed.groups.size(), 1U);
  EXPECT_EQ(listed.groups[0].group_state, "Empty");
  auto stable = call<protocol::ListGroupsResponse>(ApiKey::list_groups, 4,
                                                   protocol::ListGroupsRequest{{"stable"}});
  EXPECT_TRUE(stable.groups.empty());
}

TEST_F(BrokerGroupsTest, JoinV4WithoutMemberIdGetsMemberIdRequired) {
  auto first = join(4, "g", "");
  EXPECT_EQ(first.error_code, code(ErrorCode::member_id_required));
  ASSERT_FALSE(first.member_id.empty());
  EXPECT_EQ(first.member_id.rfind("test-", 0), 0U) << first.member_id;  // the client id first
  auto second = join(4, "g", first.member_id);
  EXPECT_EQ(second.error_code, 0);
  EXPECT_EQ(second.member_id, first.member_id);
  EXPECT_EQ(second.leader, first.member_id);
}

TEST_F(BrokerGroupsTest, AFencedStaticMemberIsToldSoOnSyncAndHeartbeat) {
  protocol::JoinGroupRequest r;
  r.group_id = "g";
  r.session_timeout_ms = 10'000;
  r.rebalance_timeout_ms = 10'000;
  r.group_instance_id = "instance-1";
  r.protocol_type = "consumer";
  r.protocols.push_back({"range", to_bytes("meta")});
  auto first = call<protocol::JoinGroupResponse>(ApiKey::join_group, 5, r);
  ASSERT_EQ(first.error_code, 0);
  protocol::SyncGroupRequest sync;
  sync.group_id = "g";
  sync.generation_id = first.generation_id;
  sync.member_id = first.member_id;
  sync.group_instance_id = "instance-1";
  sync.assignments.push_back({first.member_id, to_bytes("a")});
  ASSERT_EQ(call<protocol::SyncGroupResponse>(ApiKey::sync_group, 3, sync).error_code, 0);
  // The same instance restarts: a new member id takes the instance over.
  auto second = call<protocol::JoinGroupResponse>(ApiKey::join_group, 5, r);
  ASSERT_EQ(second.error_code, 0);
  ASSERT_NE(second.member_id, first.member_id);
  // The old process, still running, is fenced.
  EXPECT_EQ(call<protocol::SyncGroupResponse>(ApiKey::sync_group, 3, sync).error_code,
            code(ErrorCode::fenced_instance_id));
  auto beat = call<protocol::HeartbeatResponse>(
      ApiKey::heartbeat, 3,
      protocol::HeartbeatRequest{"g", first.generation_id, first.member_id, "instance-1"});
  EXPECT_EQ(beat.error_code, code(ErrorCode::fenced_instance_id));
}

TEST_F(BrokerGroupsTest, SimpleConsumerCommitsAndCommitErrors) {
  create("t", 1);
  // assign() + commit: generation -1, no member id.
  EXPECT_EQ(commit("simple", -1, "", "t", 0, 5), 0);
  EXPECT_EQ(commit("simple", -1, "", "missing", 0, 5), code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(commit("simple", -1, "", "t", 7, 5), code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(commit("simple", -1, "", "t", 0, 6, std::string(5000, 'x')),
            code(ErrorCode::offset_metadata_too_large));
  EXPECT_EQ(commit("simple", -1, "", "t", 0, 6, std::nullopt), 0);  // null metadata is ""
  auto fetched = fetch_offsets(5, "simple", std::vector<protocol::OffsetFetchTopic>{{"t", {0}}});
  EXPECT_EQ(fetched.topics.at(0).partitions.at(0).committed_offset, 6);
  EXPECT_EQ(fetched.topics[0].partitions[0].metadata, "");
}

TEST_F(BrokerGroupsTest, CommittedOffsetsStayWithinTheBrokersByteLimit) {
  coordinator_config_.offsets_bytes_max = 1000;  // entry_bytes: 128 + topic + metadata
  reopen();
  create("t", 2);
  const auto full = code(ErrorCode::group_max_size_reached);
  EXPECT_EQ(commit("g", -1, "", "t", 0, 1, std::string(400, 'a')), 0);  // 529
  EXPECT_EQ(commit("g", -1, "", "t", 1, 1, std::string(400, 'b')), full);
  EXPECT_EQ(coordinator_->offset_bytes(), 529U);
  // Replacing a held offset costs only its growth; shrinking makes room.
  EXPECT_EQ(commit("g", -1, "", "t", 0, 2, std::string(300, 'c')), 0);  // 429
  EXPECT_EQ(commit("g", -1, "", "t", 1, 2, ""), 0);                     // + 129
  EXPECT_EQ(commit("h", -1, "", "t", 0, 5, std::string(400, 'd')), full);
  auto fetched = fetch_offsets(7, "g", std::nullopt);
  ASSERT_EQ(fetched.topics.at(0).partitions.size(), 2U);
  EXPECT_EQ(fetched.topics[0].partitions[0].committed_offset, 2);
  EXPECT_EQ(fetched.topics[0].partitions[1].committed_offset, 2);
  EXPECT_EQ(fetch_offsets(7, "h", std::nullopt).topics.size(), 0U);  // nothing stored
  // Deleting a group frees its room, and a replay counts what the live map did.
  auto deleted = call<protocol::DeleteGroupsResponse>(ApiKey::delete_groups, 1,
                                                      protocol::DeleteGroupsRequest{{"g"}});
  EXPECT_EQ(deleted.results.at(0).error_code, 0);
  EXPECT_EQ(commit("h", -1, "", "t", 0, 5, std::string(400, 'd')), 0);
  const auto before = coordinator_->offset_bytes();
  reopen();
  EXPECT_EQ(coordinator_->offset_bytes(), before);
  EXPECT_EQ(commit("h", -1, "", "t", 1, 5, std::string(400, 'e')), full);
}

TEST_F(BrokerGroupsTest, DescribeGroupsStaysWithinItsByteBudget) {
  config_.describe_groups_bytes_max = 4096;
  reopen();
  protocol::JoinGroupRequest r;
  r.group_id = "big";
  r.session_timeout_ms = 10'000;
  r.protocol_type = "consumer";
  r.protocols.push_back({"range", std::vector<std::byte>(3000, std::byte{7})});
  ASSERT_EQ(call<protocol::JoinGroupResponse>(ApiKey::join_group, 0, r).error_code, 0);
  // One group named 5,000 times: described once, not 5,000 times; the rest
  // are told to retry (an admin client asks for them again, one fits alone).
  protocol::DescribeGroupsRequest many;
  many.groups.assign(5000, "big");
  auto described = call<protocol::DescribeGroupsResponse>(ApiKey::describe_groups, 4, many);
  ASSERT_EQ(described.groups.size(), 5000U);
  EXPECT_EQ(described.groups[0].error_code, 0);
  ASSERT_EQ(described.groups[0].members.size(), 1U);
  EXPECT_EQ(described.groups[0].members[0].member_metadata.size(), 3000U);
  std::size_t members = 0;
  for (std::size_t i = 1; i < described.groups.size(); ++i) {
    EXPECT_EQ(described.groups[i].error_code, code(ErrorCode::coordinator_not_available));
    members += described.groups[i].members.size();
  }
  EXPECT_EQ(members, 0U);
  auto alone = call<protocol::DescribeGroupsResponse>(
      ApiKey::describe_groups, 0, protocol::DescribeGroupsRequest{{"big"}, false});
  EXPECT_EQ(alone.groups.at(0).error_code, 0);
  EXPECT_EQ(alone.groups[0].members.size(), 1U);
}

TEST_F(BrokerGroupsTest, HostileGroupIdsAndVersions) {
  const std::string huge(5000, 'g');
  EXPECT_EQ(join(5, huge, "").error_code, code(ErrorCode::invalid_group_id));
  EXPECT_EQ(join(5, "", "").error_code, code(ErrorCode::invalid_group_id));
  auto found = call<protocol::FindCoordinatorResponse>(ApiKey::find_coordinator, 1,
                                                       protocol::FindCoordinatorRequest{huge, 0});
  EXPECT_EQ(found.error_code, code(ErrorCode::invalid_group_id));
  auto txn = call<protocol::FindCoordinatorResponse>(ApiKey::find_coordinator, 1,
                                                     protocol::FindCoordinatorRequest{"tx", 1});
  EXPECT_EQ(txn.error_code, code(ErrorCode::coordinator_not_available));
  auto bad_type = call<protocol::FindCoordinatorResponse>(ApiKey::find_coordinator, 1,
                                                          protocol::FindCoordinatorRequest{"g", 9});
  EXPECT_EQ(bad_type.error_code, code(ErrorCode::invalid_request));
  // Heartbeat and sync of a group that does not exist.
  auto beat = call<protocol::HeartbeatResponse>(
      ApiKey::heartbeat, 0, protocol::HeartbeatRequest{"nope", 1, "m", std::nullopt});
  EXPECT_EQ(beat.error_code, code(ErrorCode::unknown_member_id));
  protocol::SyncGroupRequest sync;
  sync.group_id = "nope";
  sync.member_id = "m";
  EXPECT_EQ(call<protocol::SyncGroupResponse>(ApiKey::sync_group, 0, sync).error_code,
            code(ErrorCode::unknown_member_id));
  // A session timeout out of range.
  protocol::JoinGroupRequest r;
  r.group_id = "g";
  r.session_timeout_ms = 1;
  r.protocol_type = "consumer";
  r.protocols.push_back({"range", {}});
  EXPECT_EQ(call<protocol::JoinGroupResponse>(ApiKey::join_group, 1, r).error_code,
            code(ErrorCode::invalid_session_timeout));
  // Deleting a group that never existed.
  auto deleted = call<protocol::DeleteGroupsResponse>(ApiKey::delete_groups, 0,
                                                      protocol::DeleteGroupsRequest{{"ghost"}});
  EXPECT_EQ(deleted.results.at(0).error_code, code(ErrorCode::group_id_not_found));
}

TEST_F(BrokerGroupsTest, WithoutACoordinatorGroupCallsAreRefusedRetriably) {
  broker_->set_coordinator(nullptr);
  EXPECT_EQ(join(5, "g", "").error_code, code(ErrorCode::coordinator_not_available));
  auto found = call<protocol::FindCoordinatorResponse>(ApiKey::find_coordinator, 2,
                                                       protocol::FindCoordinatorRequest{"g", 0});
  EXPECT_EQ(found.error_code, code(ErrorCode::coordinator_not_available));
  EXPECT_EQ(commit("g", -1, "", "t", 0, 1), code(ErrorCode::coordinator_not_available));
  auto fetched = fetch_offsets(1, "g", std::vector<protocol::OffsetFetchTopic>{{"t", {0}}});
  EXPECT_EQ(fetched.topics.at(0).partitions.at(0).error_code,
            code(ErrorCode::coordinator_not_available));
  broker_->set_coordinator(coordinator_.get());
}

TEST_F(BrokerGroupsTest, TheOffsetsTopicIsInternalAndProtected) {
  const std::string topic(groups::kOffsetsTopic);
  protocol::MetadataRequest all;
  auto meta = call<protocol::MetadataResponse>(ApiKey::metadata, 6, all);
  bool seen = false;
  for (const auto& t : meta.topics) {
    if (t.name == topic) {
      seen = true;
      EXPECT_TRUE(t.is_internal);
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(produce(topic, 0, batch(1)).error_code, code(ErrorCode::invalid_topic_exception));
  protocol::DeleteTopicsRequest del;
  del.topic_names = {topic};
  del.timeout_ms = 1000;
  auto deleted = call<protocol::DeleteTopicsResponse>(ApiKey::delete_topics, 3, del);
  EXPECT_EQ(deleted.responses.at(0).error_code, code(ErrorCode::invalid_topic_exception));
  EXPECT_NE(manager_->topic(topic), nullptr);
  EXPECT_EQ(manager_->topic(topic)->overrides.at("cleanup.policy"), "compact");
}

TEST_F(BrokerGroupsTest, OffsetsAndDeletionsSurviveAReopen) {
  create("t", 2);
  EXPECT_EQ(commit("kept", -1, "", "t", 0, 11), 0);
  EXPECT_EQ(commit("kept", -1, "", "t", 1, 12), 0);
  EXPECT_EQ(commit("gone", -1, "", "t", 0, 13), 0);
  auto deleted = call<protocol::DeleteGroupsResponse>(ApiKey::delete_groups, 1,
                                                      protocol::DeleteGroupsRequest{{"gone"}});
  EXPECT_EQ(deleted.results.at(0).error_code, 0);
  const auto before = coordinator_->offsets();
  reopen();
  // The live map after a replay equals the one before.
  EXPECT_TRUE(coordinator_->offsets() == before);
  auto kept = fetch_offsets(7, "kept", std::nullopt);
  ASSERT_EQ(kept.topics.size(), 1U);
  ASSERT_EQ(kept.topics[0].partitions.size(), 2U);
  EXPECT_EQ(kept.topics[0].partitions[0].committed_offset, 11);
  EXPECT_EQ(kept.topics[0].partitions[1].committed_offset, 12);
  auto gone = fetch_offsets(7, "gone", std::nullopt);
  EXPECT_TRUE(gone.topics.empty());
  auto listed =
      call<protocol::ListGroupsResponse>(ApiKey::list_groups, 3, protocol::ListGroupsRequest{});
  ASSERT_EQ(listed.groups.size(), 1U);
  EXPECT_EQ(listed.groups[0].group_id, "kept");
}

}  // namespace
}  // namespace spate::broker
