// SPDX-License-Identifier: Apache-2.0
//
// cluster: every Kafka topic config, validated as Kafka validates it (good
// values, bad values, boundaries), the incremental operations (APPEND and
// SUBTRACT on lists), the LogConfig they make, and DescribeConfigs' sources
// and synonyms; hostile names and values.

#include "spate/cluster/topic_config.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "spate/common/assert.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/messages/alter_configs.h"

namespace spate::cluster {
namespace {

using protocol::kConfigOpAppend;
using protocol::kConfigOpDelete;
using protocol::kConfigOpSet;
using protocol::kConfigOpSubtract;

// The ones librdkafka's admin tests, Terraform and Strimzi set, and every
// other name Kafka 3.x defines.
const char* const kKafkaTopicConfigs[] = {"cleanup.policy",
                                          "compression.type",
                                          "delete.retention.ms",
                                          "file.delete.delay.ms",
                                          "flush.messages",
                                          "flush.ms",
                                          "follower.replication.throttled.replicas",
                                          "index.interval.bytes",
                                          "leader.replication.throttled.replicas",
                                          "local.retention.bytes",
                                          "local.retention.ms",
                                          "max.compaction.lag.ms",
                                          "max.message.bytes",
                                          "message.downconversion.enable",
                                          "message.format.version",
                                          "message.timestamp.difference.max.ms",
                                          "message.timestamp.type",
                                          "min.cleanable.dirty.ratio",
                                          "min.compaction.lag.ms",
                                          "min.insync.replicas",
                                          "preallocate",
                                          "remote.storage.enable",
                                          "retention.bytes",
                                          "retention.ms",
                                          "segment.bytes",
                                          "segment.index.bytes",
                                          "segment.jitter.ms",
                                          "segment.ms",
                                          "unclean.leader.election.enable",
                                          "flush.policy"};

TEST(TopicConfigDefs, EveryKafkaTopicConfigIsKnownAndItsDefaultIsValid) {
  for (const char* name : kKafkaTopicConfigs) {
    const TopicConfigDef* def = find_topic_config(name);
    ASSERT_NE(def, nullptr) << name;
    auto canonical = normalize_topic_config(name, def->kafka_default);
    ASSERT_TRUE(canonical) << name << ": " << canonical.error();
    EXPECT_EQ(*canonical, def->kafka_default) << name;
    EXPECT_FALSE(def->doc.empty()) << name;
  }
  EXPECT_EQ(topic_config_names().size(), topic_config_defs().size());
  EXPECT_EQ(find_topic_config("retention"), nullptr);
  EXPECT_EQ(find_topic_config(""), nullptr);
}

struct Case {
  const char* name;
  const char* value;
  const char* canonical;  // nullptr: refused
};

TEST(TopicConfigValidation, GoodValuesBadValuesAndBoundaries) {
  const Case cases[] = {
      // cleanup.policy: a list of {compact, delete}
      {"cleanup.policy", "compact", "compact"},
      {"cleanup.policy", "compact,delete", "compact,delete"},
      {"cleanup.policy", " delete , compact ", "delete,compact"},
      {"cleanup.policy", "delete,delete", "delete"},
      {"cleanup.policy", "", ""},
      {"cleanup.policy", "compact,", nullptr},
      {"cleanup.policy", "Compact", nullptr},
      {"cleanup.policy", "shred", nullptr},
      // compression.type
      {"compression.type", "lz4", "lz4"},
      {"compression.type", "producer", "producer"},
      {"compression.type", "uncompressed", "uncompressed"},
      {"compression.type", "zstd", "zstd"},
      {"compression.type", "LZ4", nullptr},
      {"compression.type", "none", nullptr},
      // longs with ranges
      {"delete.retention.ms", "900", "900"},
      {"delete.retention.ms", "0", "0"},
      {"delete.retention.ms", "-1", nullptr},
      {"retention.ms", "-1", "-1"},
      {"retention.ms", "-2", nullptr},
      {"retention.ms", "9223372036854775807", "9223372036854775807"},
      {"retention.ms", "9223372036854775808", nullptr},
      {"retention.ms", "+42", "42"},
      {"retention.ms", " 42 ", "42"},
      {"retention.ms", "4 2", nullptr},
      {"retention.ms", "1e3", nullptr},
      {"retention.bytes", "-5", "-5"},  // Kafka: any negative is "no limit"
      {"local.retention.ms", "-2", "-2"},
      {"local.retention.ms", "-3", nullptr},
      {"local.retention.bytes", "-2", "-2"},
      {"max.compaction.lag.ms", "0", nullptr},
      {"max.compaction.lag.ms", "1", "1"},
      {"min.compaction.lag.ms", "0", "0"},
      {"flush.messages", "0", nullptr},
      {"flush.messages", "1", "1"},
      {"flush.ms", "0", "0"},
      {"segment.jitter.ms", "0", "0"},
      {"segment.jitter.ms", "-1", nullptr},
      {"segment.ms", "0", nullptr},
      {"file.delete.delay.ms", "60000", "60000"},
      {"message.timestamp.difference.max.ms", "0", "0"},
      {"message.timestamp.difference.max.ms", "-1", nullptr},
      // ints
      {"segment.bytes", "14", "14"},
      {"segment.bytes", "13", nullptr},
      {"segment.bytes", "2147483647", "2147483647"},
      {"segment.bytes", "2147483648", nullptr},
      {"segment.index.bytes", "4", "4"},
      {"segment.index.bytes", "3", nullptr},
      {"index.interval.bytes", "0", "0"},
      {"index.interval.bytes", "-1", nullptr},
      {"max.message.bytes", "0", "0"},
      {"min.insync.replicas", "0", nullptr},
      {"min.insync.replicas", "2", "2"},
      {"compression.gzip.level", "-1", "-1"},
      {"compression.gzip.level", "0", nullptr},
      {"compression.gzip.level", "9", "9"},
      {"compression.gzip.level", "10", nullptr},
      {"compression.zstd.level", "-131072", "-131072"},
      {"compression.lz4.level", "18", nullptr},
      // double in [0, 1]
      {"min.cleanable.dirty.ratio", "0", "0"},
      {"min.cleanable.dirty.ratio", "1", "1"},
      {"min.cleanable.dirty.ratio", "0.25", "0.25"},
      {"min.cleanable.dirty.ratio", "2.5e-1", "0.25"},
      {"min.cleanable.dirty.ratio", "1.0001", nullptr},
      {"min.cleanable.dirty.ratio", "-0.1", nullptr},
      {"min.cleanable.dirty.ratio", "nan", nullptr},
      {"min.cleanable.dirty.ratio", "inf", nullptr},
      {"min.cleanable.dirty.ratio", "half", nullptr},
      // booleans
      {"preallocate", "true", "true"},
      {"preallocate", "TRUE", "true"},
      {"preallocate", " False", "false"},
      {"preallocate", "yes", nullptr},
      {"preallocate", "1", nullptr},
      {"unclean.leader.election.enable", "true", "true"},
      {"message.downconversion.enable", "false", "false"},
      {"remote.storage.enable", "false", "false"},
      {"remote.storage.enable", "true", nullptr},  // no tiered storage here
      // enums
      {"message.timestamp.type", "LogAppendTime", "LogAppendTime"},
      {"message.timestamp.type", "CreateTime", "CreateTime"},
      {"message.timestamp.type", "logappendtime", nullptr},
      {"flush.policy", "interval", "interval"},
      {"flush.policy", "sometimes", nullptr},
      // message.format.version: any Kafka version string
      {"message.format.version", "0.10.0", "0.10.0"},
      {"message.format.version", "0.10.0-IV1", "0.10.0-IV1"},
      {"message.format.version", "0.8.2.2", "0.8.2.2"},
      {"message.format.version", "2.8-IV1", "2.8-IV1"},
      {"message.format.version", "2.8.1", "2.8.1"},
      {"message.format.version", "3.0", "3.0"},
      {"message.format.version", "1.0", "1.0"},
      {"message.format.version", "0.10.0-IV2", nullptr},
      {"message.format.version", "2.8-IV9", nullptr},
      {"message.format.version", "4.0", nullptr},
      {"message.format.version", "3", nullptr},
      {"message.format.version", "", nullptr},
      {"message.format.version", "latest", nullptr},
      // replication throttles
      {"leader.replication.throttled.replicas", "*", "*"},
      {"leader.replication.throttled.replicas", "", ""},
      {"leader.replication.throttled.replicas", "0:1, 1:2", "0:1,1:2"},
      {"follower.replication.throttled.replicas", "007:01,7:1", "7:1"},
      {"follower.replication.throttled.replicas", "0:1,*", nullptr},
      {"follower.replication.throttled.replicas", "a:b", nullptr},
      {"follower.replication.throttled.replicas", "1", nullptr},
  };
  for (const auto& c : cases) {
    auto r = normalize_topic_config(c.name, c.value);
    if (c.canonical == nullptr) {
      ASSERT_FALSE(r) << c.name << "=" << c.value << " accepted as " << *r;
      EXPECT_EQ(r.error().code(), Errc::invalid_argument);
      EXPECT_NE(r.error().detail().find(c.name), std::string::npos) << r.error().detail();
      EXPECT_FALSE(validate_topic_config(c.name, c.value));
    } else {
      ASSERT_TRUE(r) << c.name << "=" << c.value << ": " << r.error();
      EXPECT_EQ(*r, c.canonical) << c.name << "=" << c.value;
      // Canonical form is a fixed point (topics.meta rewrites otherwise).
      EXPECT_EQ(*normalize_topic_config(c.name, *r), *r) << c.name;
    }
  }
}

TEST(TopicConfigValidation, HostileNamesAndValues) {
  // Unknown, empty and non-UTF-8 names: INVALID_CONFIG naming them, escaped.
  const std::string binary = std::string("retention\xff\xfe.ms\0x", 15);
  for (const std::string& name :
       {std::string("no.such.config"), std::string(), binary, std::string(100000, 'n')}) {
    auto s = validate_topic_config(name, "1");
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().detail().find("unknown topic config"), std::string::npos);
    EXPECT_LT(s.error().detail().size(), 200U);  // shortened
    for (char c : s.error().detail()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "unescaped byte in " << s.error().detail();
    }
  }
  // A non-UTF-8 value is refused, its bytes escaped in the message.
  auto bad = validate_topic_config("compression.type", "lz4\xc3");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail().find("\\xc3"), std::string::npos) << bad.error().detail();
  // Giant values: numbers shrink to canonical form, lists lose repeats, and
  // a list that stays long is refused instead of stored.
  EXPECT_EQ(*normalize_topic_config("retention.ms", std::string(1 << 20, '0') + "7"), "7");
  std::string policies;
  for (int i = 0; i < 100000; ++i) policies += "delete,compact,";
  policies += "delete";
  EXPECT_EQ(*normalize_topic_config("cleanup.policy", policies), "delete,compact");
  std::string replicas;
  for (int i = 0; i < 20000; ++i) replicas += fmt::format("{}:{},", i, i % 7);
  auto long_list = normalize_topic_config("leader.replication.throttled.replicas", replicas);
  ASSERT_FALSE(long_list);
  EXPECT_NE(long_list.error().detail().find("longer than"), std::string::npos);
  // 1,000 configs: the unknown one among them is found.
  ConfigMap many;
  for (int i = 0; i < 1000; ++i) many[fmt::format("retention.ms{}", i)] = "1";
  EXPECT_FALSE(validate_topic_configs(many));
  EXPECT_FALSE(normalize_topic_configs(many));
}

TEST(TopicConfigOps, AppendAndSubtractOnListConfigs) {
  const storage::LogConfig defaults;
  ConfigMap o;
  // APPEND starts from the default ("delete") when there is no override.
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpAppend, "cleanup.policy", "compact"));
  EXPECT_EQ(o.at("cleanup.policy"), "delete,compact");
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpAppend, "cleanup.policy", "compact,delete"));
  EXPECT_EQ(o.at("cleanup.policy"), "delete,compact");  // no repeats
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpSubtract, "cleanup.policy", "delete"));
  EXPECT_EQ(o.at("cleanup.policy"), "compact");
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpSubtract, "cleanup.policy", "delete"));
  EXPECT_EQ(o.at("cleanup.policy"), "compact");  // not there: nothing to remove
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpSubtract, "cleanup.policy", "compact"));
  EXPECT_EQ(o.at("cleanup.policy"), "");
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpAppend, "cleanup.policy", "shred"));
  EXPECT_EQ(o.at("cleanup.policy"), "");  // a refused op changes nothing
  // Throttled replica lists.
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpAppend, "leader.replication.throttled.replicas",
                              "0:1"));
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpAppend, "leader.replication.throttled.replicas",
                              "1:1,0:1"));
  EXPECT_EQ(o.at("leader.replication.throttled.replicas"), "0:1,1:1");
  ASSERT_TRUE(
      apply_config_op(o, defaults, kConfigOpSet, "follower.replication.throttled.replicas", "*"));
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpAppend,
                               "follower.replication.throttled.replicas", "0:1"));  // "*,0:1"
  // Not a list: refused, saying so.
  auto s = apply_config_op(o, defaults, kConfigOpAppend, "retention.ms", "5");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().detail().find("list configs only"), std::string::npos);
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpSubtract, "compression.type", "lz4"));
  // SET validates and stores canonically; DELETE removes; null values and
  // unknown operations and names are refused.
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpSet, "retention.ms", "0009"));
  EXPECT_EQ(o.at("retention.ms"), "9");
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpSet, "retention.ms", "-9"));
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpSet, "retention.ms", std::nullopt));
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpAppend, "cleanup.policy", std::nullopt));
  ASSERT_TRUE(apply_config_op(o, defaults, kConfigOpDelete, "retention.ms", std::nullopt));
  EXPECT_FALSE(o.contains("retention.ms"));
  EXPECT_FALSE(apply_config_op(o, defaults, 7, "retention.ms", "1"));
  EXPECT_FALSE(apply_config_op(o, defaults, kConfigOpDelete, "no.such", std::nullopt));
}

TEST(TopicConfigApply, EveryAppliedConfigReachesTheLogConfig) {
  const ConfigMap o = {{"cleanup.policy", "compact"},
                       {"delete.retention.ms", "900"},
                       {"min.cleanable.dirty.ratio", "0.25"},
                       {"min.compaction.lag.ms", "10"},
                       {"max.compaction.lag.ms", "20"},
                       {"flush.messages", "3"},
                       {"flush.ms", "0"},
                       {"segment.jitter.ms", "77"},
                       {"preallocate", "TRUE"},
                       {"index.interval.bytes", "0"},
                       {"retention.bytes", "-5"},
                       {"message.timestamp.type", "LogAppendTime"},
                       {"message.timestamp.difference.max.ms", "1000"},
                       {"message.timestamp.before.max.ms", "5"},
                       {"compression.type", "lz4"},
                       {"message.format.version", "0.10.0"}};
  ASSERT_TRUE(validate_topic_configs(o));
  const auto c = apply_topic_configs(storage::LogConfig{}, o);
  EXPECT_FALSE(c.cleanup_delete);
  EXPECT_TRUE(c.cleanup_compact);
  EXPECT_EQ(c.delete_retention_ms, 900);
  EXPECT_DOUBLE_EQ(c.min_cleanable_dirty_ratio, 0.25);
  EXPECT_EQ(c.min_compaction_lag_ms, 10);
  EXPECT_EQ(c.max_compaction_lag_ms, 20);
  EXPECT_EQ(c.flush_messages, 3);
  EXPECT_EQ(c.flush_interval.count(), 1);  // 0: as soon as possible
  EXPECT_EQ(c.segment_jitter_ms, 77);
  EXPECT_TRUE(c.preallocate);
  EXPECT_EQ(c.index_interval_bytes, 0U);
  EXPECT_EQ(c.retention_bytes, -1);
  EXPECT_TRUE(c.log_append_time);
  EXPECT_EQ(c.timestamp_before_max_ms, 5);    // set: takes precedence
  EXPECT_EQ(c.timestamp_after_max_ms, 1000);  // unset: the difference
  EXPECT_TRUE(storage::validate(c));
  const auto both =
      apply_topic_configs(storage::LogConfig{}, {{"cleanup.policy", "delete,compact"}});
  EXPECT_TRUE(both.cleanup_delete && both.cleanup_compact);
  const auto plain = apply_topic_configs(storage::LogConfig{}, {});
  EXPECT_FALSE(plain.log_append_time);
  EXPECT_EQ(plain.timestamp_before_max_ms, std::numeric_limits<std::int64_t>::max());
}

TEST(TopicConfigs, CompressionTypeAndLevelsReachTheLogConfig) {
  using protocol::Compression;
  const std::pair<const char*, std::optional<Compression>> cases[] = {
      {"producer", std::nullopt},  {"uncompressed", Compression::none},
      {"gzip", Compression::gzip}, {"snappy", Compression::snappy},
      {"lz4", Compression::lz4},   {"zstd", Compression::zstd}};
  for (const auto& [name, codec] : cases) {
    const auto c = apply_topic_configs(storage::LogConfig{}, {{"compression.type", name}});
    EXPECT_EQ(c.compression, codec) << name;
  }
  EXPECT_EQ(apply_topic_configs(storage::LogConfig{}, {}).compression, std::nullopt);
  const auto c = apply_topic_configs(storage::LogConfig{}, {{"compression.gzip.level", "1"},
                                                            {"compression.lz4.level", "12"},
                                                            {"compression.zstd.level", "-5"}});
  EXPECT_EQ(c.gzip_level, 1);
  EXPECT_EQ(c.lz4_level, 12);
  EXPECT_EQ(c.zstd_level, -5);
  const storage::LogConfig defaults;
  EXPECT_EQ(defaults.gzip_level, protocol::kGzipLevelDefault);
  EXPECT_EQ(defaults.lz4_level, protocol::kLz4LevelDefault);
  EXPECT_EQ(defaults.zstd_level, protocol::kZstdLevelDefault);
}

const ConfigEntry& entry(const std::vector<ConfigEntry>& all, std::string_view name) {
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& e) { return e.name == name; });
  SPATE_ASSERT(it != all.end(), "no entry {}", name);
  return *it;
}

TEST(TopicConfigDescribe, SourcesAndSynonymsAsKafkaGivesThem) {
  storage::LogConfig broker;
  broker.retention_ms = 1000;  // a spated flag: STATIC_BROKER_CONFIG
  const auto all = describe_topic_configs(
      broker, {{"segment.bytes", "65536"}, {"leader.replication.throttled.replicas", "*"}});
  EXPECT_EQ(all.size(), topic_config_defs().size());
  // Overridden: DYNAMIC_TOPIC_CONFIG, then the broker default it hides.
  const auto& seg = entry(all, "segment.bytes");
  EXPECT_EQ(seg.value, "65536");
  EXPECT_EQ(seg.source, kSourceDynamicTopic);
  EXPECT_FALSE(seg.is_default);
  ASSERT_EQ(seg.synonyms.size(), 2U);
  EXPECT_EQ(seg.synonyms[0], (ConfigSynonym{"segment.bytes", "65536", kSourceDynamicTopic}));
  EXPECT_EQ(seg.synonyms[1], (ConfigSynonym{"log.segment.bytes", "1073741824", kSourceDefault}));
  EXPECT_EQ(seg.type, ConfigType::int32);
  // From the broker's own setting.
  const auto& ret = entry(all, "retention.ms");
  EXPECT_EQ(ret.value, "1000");
  EXPECT_EQ(ret.source, kSourceStaticBroker);
  ASSERT_EQ(ret.synonyms.size(), 1U);
  EXPECT_EQ(ret.synonyms[0], (ConfigSynonym{"log.retention.ms", "1000", kSourceStaticBroker}));
  // Kafka's default.
  const auto& comp = entry(all, "compression.type");
  EXPECT_EQ(comp.value, "producer");
  EXPECT_EQ(comp.source, kSourceDefault);
  EXPECT_TRUE(comp.is_default);
  EXPECT_NE(comp.documentation.find("recompress"), std::string::npos);
  const auto& ratio = entry(all, "min.cleanable.dirty.ratio");
  EXPECT_EQ(ratio.value, "0.5");
  EXPECT_EQ(ratio.type, ConfigType::float64);
  EXPECT_EQ(ratio.synonyms.at(0).name, "log.cleaner.min.cleanable.ratio");
  // No broker synonym: the override alone.
  const auto& throttle = entry(all, "leader.replication.throttled.replicas");
  ASSERT_EQ(throttle.synonyms.size(), 1U);
  EXPECT_EQ(throttle.synonyms[0].source, kSourceDynamicTopic);
  EXPECT_TRUE(entry(all, "follower.replication.throttled.replicas").synonyms.empty());
  EXPECT_EQ(entry(all, "cleanup.policy").type, ConfigType::list);
  EXPECT_EQ(entry(all, "message.format.version").value, "3.0-IV1");
  // The broker's log.* defaults, read-only, minus those the caller lists.
  const auto logs = describe_broker_log_configs(broker, {"log.segment.bytes"});
  EXPECT_EQ(entry(logs, "log.retention.ms").value, "1000");
  EXPECT_EQ(entry(logs, "log.retention.ms").source, kSourceStaticBroker);
  EXPECT_EQ(entry(logs, "log.cleanup.policy").value, "delete");
  EXPECT_EQ(entry(logs, "log.cleanup.policy").source, kSourceDefault);
  for (const auto& e : logs) {
    EXPECT_TRUE(e.read_only) << e.name;
    EXPECT_NE(e.name, "log.segment.bytes");
  }
}

}  // namespace
}  // namespace spate::cluster
