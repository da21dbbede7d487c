// SPDX-License-Identifier: Apache-2.0
//
// Topic administration through the handlers: CreateTopics, Metadata
// auto-creation, configs, DeleteRecords, CreatePartitions, DeleteTopics,
// limits, and what a reopen or an interrupted operation leaves.

#include "broker_fixture.h"

namespace spate::broker {
namespace {

TEST_F(BrokerTest, CreateTopicsValidatesEverything) {
  protocol::CreateTopicsRequest r;
  r.topics.push_back({"ok", 3, -1, {}, {}});
  r.topics.push_back({"bad/name", 1, 1, {}, {}});
  r.topics.push_back({"rf3", 1, 3, {}, {}});
  r.topics.push_back({"zero", 0, 1, {}, {}});
  r.topics.push_back({"cfg", 1, 1, {}, {{"retention.ms", "soon"}}});
  r.topics.push_back({"unknown-cfg", 1, 1, {}, {{"no.such.config", "1"}}});
  r.validate_only = true;
  auto resp = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r);
  ASSERT_EQ(resp.topics.size(), 6U);
  EXPECT_EQ(resp.topics[0].error_code, 0);
  EXPECT_EQ(resp.topics[1].error_code, code(ErrorCode::invalid_topic_exception));
  EXPECT_EQ(resp.topics[2].error_code, code(ErrorCode::invalid_replication_factor));
  EXPECT_EQ(resp.topics[3].error_code, code(ErrorCode::invalid_partitions));
  EXPECT_EQ(resp.topics[4].error_code, code(ErrorCode::invalid_config));
  EXPECT_NE(resp.topics[4].error_message->find("retention.ms"), std::string::npos);
  EXPECT_EQ(resp.topics[5].error_code, code(ErrorCode::invalid_config));
  EXPECT_EQ(manager_->topic("ok"), nullptr);  // validate_only changed nothing
  create("ok", 3);
  r.validate_only = false;
  r.topics.resize(1);
  EXPECT_EQ(call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r).topics[0].error_code,
            code(ErrorCode::topic_already_exists));
}

TEST_F(BrokerTest, MetadataAutoCreatesOnlyWhenAllowed) {
  protocol::MetadataRequest r;
  r.topics = std::vector<protocol::MetadataRequestTopic>{{"auto"}};
  r.allow_auto_topic_creation = false;
  auto no = call<protocol::MetadataResponse>(ApiKey::metadata, 6, r);
  EXPECT_EQ(no.topics.at(0).error_code, code(ErrorCode::unknown_topic_or_partition));
  r.allow_auto_topic_creation = true;
  auto yes = call<protocol::MetadataResponse>(ApiKey::metadata, 6, r);
  EXPECT_EQ(yes.topics.at(0).error_code, 0);
  ASSERT_EQ(yes.topics[0].partitions.size(), 1U);
  EXPECT_EQ(yes.topics[0].partitions[0].leader_id, 0);
  EXPECT_EQ(yes.brokers.at(0).port, config_.advertised_port);
  EXPECT_EQ(yes.cluster_id, "test-cluster");
  r.topics = std::nullopt;  // all topics
  EXPECT_EQ(call<protocol::MetadataResponse>(ApiKey::metadata, 6, r).topics.size(), 1U);
}

TEST_F(BrokerTest, ConfigsDescribeAlterIncrementalAndBrokerIsReadOnly) {
  create("t", 1, {{"retention.ms", "1000"}});
  auto describe = [&](std::int8_t type, const std::string& name) {
    protocol::DescribeConfigsRequest r;
    r.resources.push_back({type, name, std::nullopt});
    return call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, 2, r).results.at(0);
  };
  auto value = [](const protocol::DescribeConfigsResult& r, const std::string& name) {
    for (const auto& e : r.configs) {
      if (e.name == name) return e.value.value_or("null");
    }
    return std::string("missing");
  };
  EXPECT_EQ(value(describe(protocol::kResourceTopic, "t"), "retention.ms"), "1000");
  protocol::IncrementalAlterConfigsRequest inc;
  inc.resources.push_back({protocol::kResourceTopic,
                           "t",
                           {{"retention.ms", protocol::kConfigOpDelete, std::nullopt},
                            {"segment.bytes", protocol::kConfigOpSet, "100000"}}});
  auto incr =
      call<protocol::IncrementalAlterConfigsResponse>(ApiKey::incremental_alter_configs, 1, inc);
  EXPECT_EQ(incr.responses.at(0).error_code, 0);
  auto after = describe(protocol::kResourceTopic, "t");
  EXPECT_EQ(value(after, "segment.bytes"), "100000");
  EXPECT_EQ(value(after, "retention.ms"), "604800000");
  EXPECT_EQ(manager_->partition("t", 0)->config().segment_bytes_max, 100000U);
  protocol::AlterConfigsRequest alter;
  alter.resources.push_back({protocol::kResourceBroker, "0", {{"num.partitions", "3"}}});
  alter.resources.push_back({protocol::kResourceTopic, "t", {{"cleanup.policy", "shred"}}});
  auto altered = call<protocol::AlterConfigsResponse>(ApiKey::alter_configs, 1, alter);
  EXPECT_EQ(altered.responses.at(0).error_code, code(ErrorCode::invalid_request));
  EXPECT_EQ(altered.responses.at(1).error_code, code(ErrorCode::invalid_config));
  EXPECT_EQ(describe(protocol::kResourceTopic, "gone").error_code,
            code(ErrorCode::unknown_topic_or_partition));
}

TEST_F(BrokerTest, DeleteRecordsCreatePartitionsAndDeleteTopics) {
  create("t", 1);
  produce("t", 0, batch(5));
  protocol::DeleteRecordsRequest del;
  del.topics.push_back({"t", {{0, 3}}});
  auto deleted = call<protocol::DeleteRecordsResponse>(ApiKey::delete_records, 1, del);
  EXPECT_EQ(deleted.topics.at(0).partitions.at(0).low_watermark, 3);
  EXPECT_EQ(fetch("t", 0, 2).error_code, code(ErrorCode::offset_out_of_range));
  del.topics[0].partitions[0].offset = 99;
  EXPECT_EQ(call<protocol::DeleteRecordsResponse>(ApiKey::delete_records, 1, del)
                .topics[0]
                .partitions[0]
                .error_code,
            code(ErrorCode::offset_out_of_range));

  protocol::CreatePartitionsRequest grow;
  grow.topics.push_back({"t", 4, std::nullopt});
  EXPECT_EQ(call<protocol::CreatePartitionsResponse>(ApiKey::create_partitions, 1, grow)
                .results.at(0)
                .error_code,
            0);
  EXPECT_EQ(manager_->topic("t")->partitions.size(), 4U);
  grow.topics[0].count = 2;
  EXPECT_EQ(call<protocol::CreatePartitionsResponse>(ApiKey::create_partitions, 1, grow)
                .results.at(0)
                .error_code,
            code(ErrorCode::invalid_partitions));

  protocol::DeleteTopicsRequest drop;
  drop.topic_names = {"t", "never"};
  auto dropped = call<protocol::DeleteTopicsResponse>(ApiKey::delete_topics, 3, drop);
  EXPECT_EQ(dropped.responses.at(0).error_code, 0);
  EXPECT_EQ(dropped.responses.at(1).error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(manager_->topic("t"), nullptr);
  auto entries = fs_.list_directory("/data");
  ASSERT_TRUE(entries);
  for (const auto& e : *entries) EXPECT_FALSE(e.starts_with("t-")) << e;
}

TEST_F(BrokerTest, TopicsConfigsAndDataSurviveAReopen) {
  create("kept", 2, {{"retention.bytes", "123456789"}});
  produce("kept", 1, batch(4));
  ASSERT_EQ(run(manager_->close_all()), 0U);
  broker_.reset();
  manager_.reset();
  open();
  const cluster::Topic* t = manager_->topic("kept");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->partitions.size(), 2U);
  EXPECT_EQ(t->overrides.at("retention.bytes"), "123456789");
  EXPECT_EQ(manager_->partition("kept", 1)->end_offset(), Offset(4));
  EXPECT_EQ(manager_->partition("kept", 1)->config().retention_bytes, 123456789);
}

TEST_F(BrokerTest, DeleteRacingCreateOfTheSameNameNeverLosesTheNewTopicsData) {
  for (int round = 0; round < 20; ++round) {
    create("race", 1);
    ASSERT_EQ(produce("race", 0, batch(3)).error_code, 0);
    std::optional<Result<Frame>> deleted;
    std::optional<Result<Frame>> created;
    protocol::DeleteTopicsRequest drop;
    drop.topic_names = {"race"};
    protocol::CreateTopicsRequest again;
    again.topics.push_back({"race", 1, 1, {}, {}});
    auto spawn = [&](std::vector<std::byte> bytes, std::optional<Result<Frame>>& out) {
      asio::co_spawn(
          io_,
          [&, bytes = std::move(bytes)]() mutable -> awaitable<void> {
            out.emplace(co_await broker_->handle(std::move(bytes), {}));
          },
          asio::detached);
    };
    spawn(frame(ApiKey::delete_topics, 3, drop), deleted);
    spawn(frame(ApiKey::create_topics, 4, again), created);
    io_.restart();
    for (int i = 0; i < 1000 && !(deleted && created); ++i) {
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(deleted && created);
    // The create waited for the delete: it made a new, empty topic whose
    // folder is its own.
    ASSERT_NE(manager_->topic("race"), nullptr) << "round " << round;
    EXPECT_EQ(manager_->partition("race", 0)->end_offset(), Offset(0)) << "round " << round;
    ASSERT_EQ(produce("race", 0, batch(2)).error_code, 0);
    ASSERT_EQ(run(manager_->close_all()), 0U);
    broker_.reset();
    manager_.reset();
    open();
    ASSERT_NE(manager_->topic("race"), nullptr);
    EXPECT_EQ(manager_->partition("race", 0)->end_offset(), Offset(2)) << "round " << round;
    protocol::DeleteTopicsRequest cleanup;
    cleanup.topic_names = {"race"};
    ASSERT_EQ(call<protocol::DeleteTopicsResponse>(ApiKey::delete_topics, 3, cleanup)
                  .responses[0]
                  .error_code,
              0);
  }
}

TEST_F(BrokerTest, ConfigValuesAreStoredInCanonicalForm) {
  const std::string zeros(30000, '0');
  create("padded", 1, {{"retention.ms", zeros + "86400000"}, {"segment.bytes", "0001048576"}});
  EXPECT_EQ(manager_->topic("padded")->overrides.at("retention.ms"), "86400000");
  auto meta = mem_.contents("/data/topics.meta");
  ASSERT_TRUE(meta);
  EXPECT_LT(meta->size(), 1024U);
}

TEST_F(BrokerTest, SegmentMsOfInt64MaxMeansNeverAndDoesNotRollEveryAppend) {
  create("never", 1, {{"segment.ms", "9223372036854775807"}, {"flush.ms", "9223372036854775807"}});
  // Current timestamps, so that time retention has nothing to roll.
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(produce("never", 0, batch(1, clock_.wall_ms())).error_code, 0);
  }
  manager_->tick();
  auto files = mem_.list_directory("/data/never-0");
  ASSERT_TRUE(files);
  EXPECT_EQ(std::count_if(files->begin(), files->end(),
                          [](const std::string& f) { return f.ends_with(".log"); }),
            1);
}

TEST_F(BrokerTest, TopicAndPartitionLimitsAreEnforcedWithPolicyViolation) {
  manager_->set_limits({3, 5});
  create("a", 2);
  create("b", 2);
  protocol::CreateTopicsRequest r;
  r.topics.push_back({"c", 2, 1, {}, {}});
  auto over = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r);
  EXPECT_EQ(over.topics.at(0).error_code, code(ErrorCode::policy_violation));
  EXPECT_NE(over.topics[0].error_message->find("5 partitions"), std::string::npos);
  protocol::CreatePartitionsRequest grow;
  grow.topics.push_back({"a", 4, std::nullopt});
  EXPECT_EQ(call<protocol::CreatePartitionsResponse>(ApiKey::create_partitions, 1, grow)
                .results.at(0)
                .error_code,
            code(ErrorCode::policy_violation));
  create("c", 1);
  r.topics[0] = {"d", 1, 1, {}, {}};
  EXPECT_EQ(call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r).topics[0].error_code,
            code(ErrorCode::policy_violation));
  // Auto-creation past the limit: a retriable "unknown", never a crash.
  protocol::MetadataRequest m;
  m.topics = std::vector<protocol::MetadataRequestTopic>{{"auto"}};
  m.allow_auto_topic_creation = true;
  EXPECT_EQ(call<protocol::MetadataResponse>(ApiKey::metadata, 6, m).topics.at(0).error_code,
            code(ErrorCode::unknown_topic_or_partition));
}

TEST_F(BrokerTest, ACreateThatFailsPartwayLeavesNothingBehind) {
  create("small", 1);
  ASSERT_EQ(produce("small", 0, batch(3)).error_code, 0);
  // EIO on the 10th directory operation from now: a few partitions in (a
  // full disk no longer fails an open: what it cannot write is left for later).
  fs_.inject({10, static_cast<std::uint32_t>(storage::FaultOp::directory), 5, 0, false});
  protocol::CreateTopicsRequest r;
  r.topics.push_back({"huge", 20, 1, {}, {}});
  auto resp = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r);
  fs_.clear();
  EXPECT_EQ(resp.topics.at(0).error_code, code(ErrorCode::kafka_storage_error));
  EXPECT_EQ(manager_->topic("huge"), nullptr);
  auto entries = mem_.list_directory("/data");
  ASSERT_TRUE(entries);
  for (const auto& e : *entries) EXPECT_FALSE(e.starts_with("huge")) << e;
  ASSERT_EQ(run(manager_->close_all()), 0U);
  broker_.reset();
  manager_.reset();
  open();
  EXPECT_EQ(manager_->topic("huge"), nullptr);
  EXPECT_EQ(manager_->partition("small", 0)->end_offset(), Offset(3));
}

TEST_F(BrokerTest, FoldersOfTopicsMissingFromTopicsMetaAreRemovedOnOpen) {
  create("kept", 1);
  ASSERT_EQ(run(manager_->close_all()), 0U);
  broker_.reset();
  manager_.reset();
  // What a crash between a create's (or CreatePartitions') folders and its
  // topics.meta leaves.
  ASSERT_TRUE(mem_.create_directories("/data/orphan-0"));
  ASSERT_TRUE(mem_.create_directories("/data/kept-1"));
  open();
  EXPECT_EQ(manager_->topic("orphan"), nullptr);
  ASSERT_NE(manager_->topic("kept"), nullptr);
  EXPECT_EQ(manager_->topic("kept")->partitions.size(), 1U);
  EXPECT_EQ(*mem_.entry_type("/data/kept-1"), storage::EntryType::none);
  auto entries = mem_.list_directory("/data");
  ASSERT_TRUE(entries);
  for (const auto& e : *entries) EXPECT_FALSE(e.starts_with("orphan")) << e;
}

}  // namespace
}  // namespace spate::broker
