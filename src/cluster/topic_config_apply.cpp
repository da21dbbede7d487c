// SPDX-License-Identifier: Apache-2.0
//
// Topic configs into a storage::LogConfig, and what DescribeConfigs shows.

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "spate/cluster/topic_config.h"
#include "spate/protocol/record_batch.h"

namespace spate::cluster {
namespace {

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();

std::int64_t as_int(const std::string& value) {
  std::int64_t v = 0;
  std::from_chars(value.data(), value.data() + value.size(), v);
  return v;
}

std::chrono::milliseconds as_duration(std::int64_t ms) {
  return std::chrono::milliseconds(std::clamp<std::int64_t>(ms, 1, kDurationMsMax));
}

// The topic configs the broker's LogConfig holds a value for: what a topic
// without an override gets (the spated flags, or the LogConfig defaults).
std::optional<std::string> log_config_value(std::string_view name, const storage::LogConfig& c) {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  if (name == "retention.ms") return std::to_string(c.retention_ms);
  if (name == "retention.bytes") return std::to_string(c.retention_bytes);
  if (name == "segment.bytes") return std::to_string(c.segment_bytes_max);
  if (name == "segment.ms") return std::to_string(c.segment_age_max.count());
  if (name == "max.message.bytes") return std::to_string(c.batch_bytes_max);
  if (name == "flush.ms") return std::to_string(c.flush_interval.count());
  if (name == "flush.policy") return std::string(storage::flush_policy_name(c.flush_policy));
  if (name == "flush.messages") return std::to_string(c.flush_messages);
  if (name == "index.interval.bytes") return std::to_string(c.index_interval_bytes);
  if (name == "segment.jitter.ms") return std::to_string(c.segment_jitter_ms);
  if (name == "preallocate") return b(c.preallocate);
  if (name == "delete.retention.ms") return std::to_string(c.delete_retention_ms);
  if (name == "min.compaction.lag.ms") return std::to_string(c.min_compaction_lag_ms);
  if (name == "max.compaction.lag.ms") return std::to_string(c.max_compaction_lag_ms);
  if (name == "min.cleanable.dirty.ratio") return fmt::format("{}", c.min_cleanable_dirty_ratio);
  if (name == "message.timestamp.type") {
    return std::string(c.log_append_time ? "LogAppendTime" : "CreateTime");
  }
  if (name == "cleanup.policy") {
    std::vector<std::string_view> items;
    if (c.cleanup_delete) items.emplace_back("delete");
    if (c.cleanup_compact) items.emplace_back("compact");
    return fmt::format("{}", fmt::join(items, ","));
  }
  return std::nullopt;
}

// compression.type: `producer` keeps the producer's codec (nullopt).
std::optional<protocol::Compression> codec_of(std::string_view name) {
  if (name == "uncompressed") return protocol::Compression::none;
  if (name == "gzip") return protocol::Compression::gzip;
  if (name == "snappy") return protocol::Compression::snappy;
  if (name == "lz4") return protocol::Compression::lz4;
  if (name == "zstd") return protocol::Compression::zstd;
  return std::nullopt;
}

}  // namespace

storage::LogConfig apply_topic_configs(const storage::LogConfig& defaults,
                                       const ConfigMap& overrides) {
  storage::LogConfig c = defaults;
  // Parsed from the canonical form, whatever form the caller holds.
  ConfigMap v;
  for (const auto& [name, value] : overrides) {
    if (auto canonical = normalize_topic_config(name, value)) v[name] = std::move(*canonical);
  }
  auto num = [&](const char* name) -> std::optional<std::int64_t> {
    auto it = v.find(name);
    if (it == v.end()) return std::nullopt;
    return as_int(it->second);
  };
  auto flag = [&](const char* name) -> std::optional<bool> {
    auto it = v.find(name);
    if (it == v.end()) return std::nullopt;
    return it->second == "true";
  };
  if (auto x = num("retention.ms")) c.retention_ms = *x;
  if (auto x = num("retention.bytes")) c.retention_bytes = std::max<std::int64_t>(*x, -1);
  if (auto x = num("segment.bytes")) c.segment_bytes_max = static_cast<std::uint64_t>(*x);
  if (auto x = num("segment.ms")) c.segment_age_max = as_duration(*x);
  if (auto x = num("max.message.bytes")) c.batch_bytes_max = static_cast<std::uint32_t>(*x);
  if (auto x = num("flush.ms")) c.flush_interval = as_duration(*x);
  if (auto it = v.find("flush.policy"); it != v.end()) {
    if (auto p = storage::parse_flush_policy(it->second)) c.flush_policy = *p;
  }
  if (auto it = v.find("cleanup.policy"); it != v.end()) {
    c.cleanup_delete = it->second.find("delete") != std::string::npos;
    c.cleanup_compact = it->second.find("compact") != std::string::npos;
  }
  if (auto x = num("delete.retention.ms")) c.delete_retention_ms = *x;
  if (auto it = v.find("min.cleanable.dirty.ratio"); it != v.end()) {
    double ratio = 0;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), ratio);
    c.min_cleanable_dirty_ratio = ratio;
  }
  if (auto x = num("min.compaction.lag.ms")) c.min_compaction_lag_ms = *x;
  if (auto x = num("max.compaction.lag.ms")) c.max_compaction_lag_ms = *x;
  if (auto x = num("flush.messages")) c.flush_messages = *x;
  if (auto x = num("segment.jitter.ms")) c.segment_jitter_ms = *x;
  if (auto x = flag("preallocate")) c.preallocate = *x;
  if (auto it = v.find("compression.type"); it != v.end()) c.compression = codec_of(it->second);
  if (auto x = num("compression.gzip.level")) c.gzip_level = static_cast<int>(*x);
  if (auto x = num("compression.lz4.level")) c.lz4_level = static_cast<int>(*x);
  if (auto x = num("compression.zstd.level")) c.zstd_level = static_cast<int>(*x);
  if (auto x = num("index.interval.bytes")) c.index_interval_bytes = static_cast<std::uint32_t>(*x);
  if (auto it = v.find("message.timestamp.type"); it != v.end()) {
    c.log_append_time = it->second == "LogAppendTime";
  }
  // Kafka 3.6+: before/after where set (not INT64 max), else difference.
  const auto difference = num("message.timestamp.difference.max.ms");
  auto limit = [&](const char* name, std::int64_t current) {
    auto x = num(name);
    if (x && *x != kI64Max) return *x;
    return difference ? *difference : current;
  };
  c.timestamp_before_max_ms = limit("message.timestamp.before.max.ms", c.timestamp_before_max_ms);
  c.timestamp_after_max_ms = limit("message.timestamp.after.max.ms", c.timestamp_after_max_ms);
  return c;
}

std::string broker_default_value(const TopicConfigDef& def, const storage::LogConfig& defaults) {
  if (auto v = log_config_value(def.name, defaults)) return *v;
  return std::string(def.kafka_default);
}

std::vector<ConfigEntry> describe_topic_configs(const storage::LogConfig& defaults,
                                                const ConfigMap& overrides) {
  std::vector<ConfigEntry> out;
  out.reserve(topic_config_defs().size());
  for (const auto& def : topic_config_defs()) {
    ConfigEntry e;
    e.name = std::string(def.name);
    e.type = def.type;
    e.documentation = def.doc;
    const std::string broker_value = broker_default_value(def, defaults);
    const std::int8_t broker_source =
        broker_value == def.kafka_default ? kSourceDefault : kSourceStaticBroker;
    auto it = overrides.find(e.name);
    e.is_default = it == overrides.end();
    if (!e.is_default) {
      e.value = it->second;
      e.source = kSourceDynamicTopic;
      e.synonyms.push_back({e.name, e.value, kSourceDynamicTopic});
    } else {
      e.value = broker_value;
      e.source = broker_source;
    }
    if (!def.broker_name.empty()) {
      e.synonyms.push_back({std::string(def.broker_name), broker_value, broker_source});
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<ConfigEntry> describe_broker_log_configs(const storage::LogConfig& defaults,
                                                     const std::vector<std::string>& skip) {
  std::vector<ConfigEntry> out;
  for (const auto& def : topic_config_defs()) {
    // Stored and inert configs have no broker setting in Spate: leaving them
    // out keeps a broker's DescribeConfigs small (a request may name the
    // broker thousands of times; tests/integration/hostile_server.py).
    if (def.broker_name.empty() || def.effect != ConfigEffect::applied) continue;
    const std::string name(def.broker_name);
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    ConfigEntry e;
    e.name = name;
    e.value = broker_default_value(def, defaults);
    e.source = e.value == def.kafka_default ? kSourceDefault : kSourceStaticBroker;
    e.is_default = e.source == kSourceDefault;
    e.read_only = true;
    e.type = def.type;
    e.documentation = def.doc;
    e.synonyms.push_back({e.name, e.value, e.source});
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace spate::cluster
