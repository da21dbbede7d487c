// SPDX-License-Identifier: Apache-2.0
//
// Every Kafka topic config through the handlers: CreateTopics with the
// configs librdkafka's admin tests use, AlterConfigs, IncrementalAlterConfigs
// (APPEND/SUBTRACT on lists), DescribeConfigs sources and synonyms, and the
// configs that act on Produce (LogAppendTime, the timestamp limits,
// flush.messages, keys required on compacted topics).

#include <thread>

#include "spate/protocol/compression.h"

#include "broker_fixture.h"

namespace spate::broker {
namespace {

class BrokerConfigsTest : public BrokerTest {
 protected:
  protocol::DescribeConfigsResult describe(const std::string& topic, std::int16_t version = 2,
                                           bool synonyms = true) {
    protocol::DescribeConfigsRequest r;
    r.resources.push_back({protocol::kResourceTopic, topic, std::nullopt});
    r.include_synonyms = synonyms;
    return call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, version, r)
        .results.at(0);
  }
  static const protocol::DescribeConfigsEntry& entry(const protocol::DescribeConfigsResult& r,
                                                     const std::string& name) {
    for (const auto& e : r.configs) {
      if (e.name == name) return e;
    }
    ADD_FAILURE() << "no config " << name;
    static const protocol::DescribeConfigsEntry kNone;
    return kNone;
  }
  protocol::AlterConfigsResourceResponse incremental(
      const std::string& topic, std::vector<protocol::IncrementalAlterConfigsEntry> configs) {
    protocol::IncrementalAlterConfigsRequest r;
    r.resources.push_back({protocol::kResourceTopic, topic, std::move(configs)});
    return call<protocol::IncrementalAlterConfigsResponse>(ApiKey::incremental_alter_configs, 1, r)
        .responses.at(0);
  }
  std::vector<std::byte> batch_at(std::int64_t timestamp) {
    protocol::BatchBuilder b(timestamp);
    b.add_value(to_bytes("v"));
    return b.build();
  }
};

TEST_F(BrokerConfigsTest, CreateTopicsAcceptsWhatLibrdkafkasAdminTestsSend) {
  protocol::CreateTopicsRequest r;
  r.topics.push_back(
      {"rd", 1, 1, {}, {{"compression.type", "lz4"}, {"delete.retention.ms", "900"}}});
  r.topics.push_back({"bad-version", 1, 1, {}, {{"message.format.version", "9.9"}}});
  r.topics.push_back({"bad-ratio", 1, 1, {}, {{"min.cleanable.dirty.ratio", "1.5"}}});
  r.topics.push_back({"unknown", 1, 1, {}, {{"retention.minutes", "5"}}});
  auto resp = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r);
  ASSERT_EQ(resp.topics.at(0).error_code, 0) << resp.topics[0].error_message.value_or("");
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(resp.topics.at(i).error_code, code(ErrorCode::invalid_config)) << i;
  }
  EXPECT_NE(resp.topics[3].error_message->find("retention.minutes"), std::string::npos);
  EXPECT_EQ(manager_->partition("rd", 0)->config().delete_retention_ms, 900);
  auto d = describe("rd");
  EXPECT_EQ(entry(d, "compression.type").value, "lz4");
  EXPECT_EQ(entry(d, "compression.type").config_source, 1);  // DYNAMIC_TOPIC_CONFIG
  EXPECT_EQ(entry(d, "delete.retention.ms").value, "900");
  EXPECT_EQ(entry(d, "message.format.version").config_source, 5);  // DEFAULT_CONFIG
}

TEST_F(BrokerConfigsTest, AlterConfigsTakesMessageFormatVersionAndInertConfigs) {
  create("t", 1);
  protocol::AlterConfigsRequest r;
  r.resources.push_back({protocol::kResourceTopic,
                         "t",
                         {{"message.format.version", "2.8-IV1"},
                          {"min.insync.replicas", "2"},
                          {"unclean.leader.election.enable", "true"},
                          {"message.downconversion.enable", "false"},
                          {"follower.replication.throttled.replicas", "*"},
                          {"local.retention.ms", "-2"},
                          {"file.delete.delay.ms", "1000"}}});
  auto resp = call<protocol::AlterConfigsResponse>(ApiKey::alter_configs, 1, r);
  ASSERT_EQ(resp.responses.at(0).error_code, 0) << resp.responses[0].error_message.value_or("");
  auto d = describe("t");
  EXPECT_EQ(entry(d, "message.format.version").value, "2.8-IV1");
  EXPECT_EQ(entry(d, "min.insync.replicas").value, "2");
  EXPECT_EQ(entry(d, "follower.replication.throttled.replicas").value, "*");
  r.resources[0].configs = {{"message.format.version", "2.8-IV7"}};
  EXPECT_EQ(
      call<protocol::AlterConfigsResponse>(ApiKey::alter_configs, 1, r).responses.at(0).error_code,
      code(ErrorCode::invalid_config));
  // A refused change leaves the overrides as they were.
  EXPECT_EQ(entry(describe("t"), "message.format.version").value, "2.8-IV1");
}

TEST_F(BrokerConfigsTest, IncrementalAppendAndSubtractOnCleanupPolicy) {
  create("t", 1);
  auto a = incremental("t", {{"cleanup.policy", protocol::kConfigOpAppend, "compact"}});
  ASSERT_EQ(a.error_code, 0) << a.error_message.value_or("");
  EXPECT_EQ(entry(describe("t"), "cleanup.policy").value, "delete,compact");
  auto c = manager_->partition("t", 0)->config();
  EXPECT_TRUE(c.cleanup_compact && c.cleanup_delete);
  ASSERT_EQ(
      incremental("t", {{"cleanup.policy", protocol::kConfigOpSubtract, "delete"}}).error_code, 0);
  EXPECT_EQ(entry(describe("t"), "cleanup.policy").value, "compact");
  EXPECT_FALSE(manager_->partition("t", 0)->config().cleanup_delete);
  // Not a list: INVALID_CONFIG, saying why.
  auto not_list = incremental("t", {{"retention.ms", protocol::kConfigOpAppend, "5"}});
  EXPECT_EQ(not_list.error_code, code(ErrorCode::invalid_config));
  EXPECT_NE(not_list.error_message->find("list configs only"), std::string::npos);
  // A config named twice or an unknown operation: INVALID_REQUEST (Kafka).
  EXPECT_EQ(incremental("t", {{"retention.ms", protocol::kConfigOpSet, "5"},
                              {"retention.ms", protocol::kConfigOpDelete, std::nullopt}})
                .error_code,
            code(ErrorCode::invalid_request));
  EXPECT_EQ(incremental("t", {{"retention.ms", 9, "5"}}).error_code,
            code(ErrorCode::invalid_request));
  // One bad entry refuses the whole resource.
  EXPECT_EQ(incremental("t", {{"retention.ms", protocol::kConfigOpSet, "5"},
                              {"cleanup.policy", protocol::kConfigOpAppend, "shred"}})
                .error_code,
            code(ErrorCode::invalid_config));
  EXPECT_EQ(entry(describe("t"), "retention.ms").config_source, 5);
  // 1,000 entries: refused on the unknown ones, bounded.
  std::vector<protocol::IncrementalAlterConfigsEntry> many;
  for (int i = 0; i < 1000; ++i) {
    many.push_back({fmt::format("x{}", i), protocol::kConfigOpSet, std::string(1000, 'v')});
  }
  EXPECT_EQ(incremental("t", std::move(many)).error_code, code(ErrorCode::invalid_config));
}

TEST_F(BrokerConfigsTest, DescribeGivesSourcesAndSynonymsOnlyWhenAsked) {
  create("t", 1, {{"retention.ms", "1234"}});
  auto with = describe("t", 1, true);
  const auto& ret = entry(with, "retention.ms");
  EXPECT_EQ(ret.config_source, 1);
  ASSERT_EQ(ret.synonyms.size(), 2U);
  EXPECT_EQ(ret.synonyms[0].name, "retention.ms");
  EXPECT_EQ(ret.synonyms[0].source, 1);
  EXPECT_EQ(ret.synonyms[1].name, "log.retention.ms");
  EXPECT_EQ(ret.synonyms[1].value, "604800000");
  EXPECT_EQ(ret.synonyms[1].source, 5);
  EXPECT_EQ(entry(with, "segment.jitter.ms").synonyms.at(0).name, "log.roll.jitter.ms");
  auto without = describe("t", 1, false);
  for (const auto& e : without.configs) EXPECT_TRUE(e.synonyms.empty()) << e.name;
  auto v0 = describe("t", 0, false);
  EXPECT_FALSE(entry(v0, "retention.ms").is_default);
  EXPECT_TRUE(entry(v0, "segment.ms").is_default);
  // Asked by name: those alone.
  protocol::DescribeConfigsRequest r;
  r.resources.push_back(
      {protocol::kResourceTopic, "t", std::vector<std::string>{"cleanup.policy", "no.such"}});
  auto named = call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, 2, r);
  ASSERT_EQ(named.results.at(0).configs.size(), 1U);
  // The broker: its settings and the log.* defaults, all read-only.
  r.resources[0] = {protocol::kResourceBroker, "0", std::nullopt};
  r.include_synonyms = true;
  auto broker = call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, 2, r);
  const auto& b = broker.results.at(0);
  EXPECT_EQ(b.error_code, 0);
  EXPECT_EQ(entry(b, "log.cleanup.policy").value, "delete");
  EXPECT_EQ(entry(b, "log.message.timestamp.type").value, "CreateTime");
  for (const auto& e : b.configs) {
    EXPECT_TRUE(e.read_only) << e.name;
    EXPECT_EQ(e.synonyms.size(), 1U) << e.name;
  }
}

TEST_F(BrokerConfigsTest, LogAppendTimeStampsProducedBatches) {
  create("t", 1, {{"message.timestamp.type", "LogAppendTime"}});
  const auto before = clock_.wall_ms();
  auto p = produce("t", 0, batch_at(1000));
  const auto after = clock_.wall_ms();
  ASSERT_EQ(p.error_code, 0);
  EXPECT_GE(p.log_append_time_ms, before);
  EXPECT_LE(p.log_append_time_ms, after);
  auto data = fetch("t", 0, 0);
  ASSERT_TRUE(data.records);
  auto h = protocol::validate_batch(*data.records, 1U << 20U);  // CRC recomputed
  ASSERT_TRUE(h) << h.error();
  EXPECT_TRUE(h->log_append_time());
  EXPECT_EQ(h->max_timestamp, p.log_append_time_ms);
  // Back to CreateTime: the producer's timestamps, and -1 in the response.
  ASSERT_EQ(incremental("t", {{"message.timestamp.type", protocol::kConfigOpDelete, std::nullopt}})
                .error_code,
            0);
  auto q = produce("t", 0, batch_at(1000));
  EXPECT_EQ(q.log_append_time_ms, -1);
  auto second = fetch("t", 0, 1);
  ASSERT_TRUE(second.records);
  EXPECT_EQ(protocol::validate_batch(*second.records, 1U << 20U)->max_timestamp, 1000);
}

TEST_F(BrokerConfigsTest, TimestampsTooFarFromNowAreInvalid) {
  create("t", 1, {{"message.timestamp.difference.max.ms", "60000"}});
  const auto now = clock_.wall_ms();
  EXPECT_EQ(produce("t", 0, batch_at(now)).error_code, 0);
  EXPECT_EQ(produce("t", 0, batch_at(now - 3'600'000)).error_code,
            code(ErrorCode::invalid_timestamp));
  EXPECT_EQ(produce("t", 0, batch_at(now + 3'600'000)).error_code,
            code(ErrorCode::invalid_timestamp));
  EXPECT_EQ(code(ErrorCode::invalid_timestamp), 32);
  // after.max.ms alone: old records pass, future ones do not.
  ASSERT_EQ(incremental("t", {{"message.timestamp.difference.max.ms", protocol::kConfigOpDelete,
                               std::nullopt},
                              {"message.timestamp.after.max.ms", protocol::kConfigOpSet, "60000"}})
                .error_code,
            0);
  EXPECT_EQ(produce("t", 0, batch_at(1000)).error_code, 0);
  EXPECT_EQ(produce("t", 0, batch_at(now + 3'600'000)).error_code,
            code(ErrorCode::invalid_timestamp));
  EXPECT_EQ(latest("t", 0), 2);
}

TEST_F(BrokerConfigsTest, FlushMessagesFlushesUnderTheIntervalPolicy) {
  create("t", 1, {{"flush.policy", "interval"}, {"flush.ms", "3600000"}, {"flush.messages", "3"}});
  const auto syncs = [&] { return fs_.calls(static_cast<std::uint32_t>(storage::FaultOp::sync)); };
  const auto start = syncs();
  ASSERT_EQ(produce("t", 0, batch(2), 1).error_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(syncs(), start);  // 2 records: below flush.messages, and the hour is far
  ASSERT_EQ(produce("t", 0, batch(1), 1).error_code, 0);
  // The flush runs on the disk thread: wait for it, bounded.
  for (int i = 0; i < 200 && syncs() == start; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(syncs(), start);
}

// A topic whose cleanup.policy includes compact refuses a Produce batch with
// any record without a key, whole, with INVALID_RECORD (87) at every Produce
// version, as Kafka does (LogValidator.validateKey; ReplicaManager answers
// the same code to every version); compressed batches too. The policy is the
// one in force: set by AlterConfigs, appended by IncrementalAlterConfigs.
TEST_F(BrokerConfigsTest, CompactedTopicsRefuseRecordsWithoutAKey) {
  create("t", 1);
  ASSERT_EQ(produce("t", 0, batch(2)).error_code, 0);  // delete: keyless is fine
  protocol::AlterConfigsRequest r;
  r.resources.push_back({protocol::kResourceTopic, "t", {{"cleanup.policy", "compact"}}});
  auto resp = call<protocol::AlterConfigsResponse>(ApiKey::alter_configs, 1, r);
  ASSERT_EQ(resp.responses.at(0).error_code, 0) << resp.responses[0].error_message.value_or("");
  auto keyed = [](std::optional<std::string> second_key, protocol::Compression codec) {
    protocol::BatchBuilder b(1000);
    protocol::RecordSpec first;
    first.key = to_bytes("k1");
    first.value = to_bytes("v1");
    protocol::RecordSpec second;
    if (second_key) second.key = to_bytes(*second_key);
    second.value = to_bytes("v2");
    b.add(first).add(second);
    auto built = b.build();
    if (codec == protocol::Compression::none) return built;
    return *protocol::compress_batch(built, codec);
  };
  auto produce_v = [&](std::vector<std::byte> records, std::int16_t version) {
    protocol::ProduceRequest p;
    p.acks = -1;
    p.timeout_ms = 5000;
    p.topic_data.push_back({"t", {{0, std::move(records)}}});
    return call<protocol::ProduceResponse>(ApiKey::produce, version, p)
        .responses.at(0)
        .partition_responses.at(0);
  };
  const auto invalid_record = code(ErrorCode::invalid_record);
  EXPECT_EQ(invalid_record, 87);
  for (auto codec :
       {protocol::Compression::none, protocol::Compression::gzip, protocol::Compression::zstd}) {
    for (std::int16_t version : {std::int16_t{3}, std::int16_t{7}}) {
      auto refused = produce_v(keyed(std::nullopt, codec), version);
      EXPECT_EQ(refused.error_code, invalid_record) << static_cast<int>(codec) << " v" << version;
      EXPECT_EQ(refused.base_offset, -1);
    }
  }
  EXPECT_EQ(latest("t", 0), 2);  // nothing of the refused batches was appended
  EXPECT_EQ(produce_v(keyed("k2", protocol::Compression::none), 7).error_code, 0);
  EXPECT_EQ(produce_v(keyed("k2", protocol::Compression::lz4), 3).error_code, 0);
  EXPECT_EQ(latest("t", 0), 6);
  // compact,delete requires keys too; delete alone no longer does.
  r.resources[0].configs = {{"cleanup.policy", "delete"}};
  ASSERT_EQ(
      call<protocol::AlterConfigsResponse>(ApiKey::alter_configs, 1, r).responses.at(0).error_code,
      0);
  EXPECT_EQ(produce("t", 0, batch(1)).error_code, 0);
  ASSERT_EQ(incremental("t", {{"cleanup.policy", protocol::kConfigOpAppend, "compact"}}).error_code,
            0);
  EXPECT_EQ(produce("t", 0, batch(1)).error_code, invalid_record);
  EXPECT_EQ(latest("t", 0), 7);
}

}  // namespace
}  // namespace spate::broker
