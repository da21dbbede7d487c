// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/topic_config.h"

#include <charconv>

#include <fmt/format.h>

namespace spate::cluster {
namespace {

Result<std::int64_t> parse_int(std::string_view name, std::string_view value, std::int64_t min,
                               std::int64_t max) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || ptr != value.data() + value.size()) {
    return Error::invalid(fmt::format("config {}: '{}' is not an integer", name, value));
  }
  if (v < min || v > max) {
    return Error::invalid(
        fmt::format("config {}: {} is outside the allowed range [{}, {}]", name, v, min, max));
  }
  return v;
}

template <typename T>
Status as_status(const Result<T>& r) {
  if (!r) return r.error();
  return {};
}

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kI32Max = std::numeric_limits<std::int32_t>::max();

}  // namespace

const std::vector<std::string>& topic_config_names() {
  static const std::vector<std::string> names = {
      "cleanup.policy",      "flush.ms",
      "flush.policy",        "max.message.bytes",
      "retention.bytes",     "retention.ms",
      "segment.bytes",       "segment.ms",
      "segment.index.bytes", "message.timestamp.type",
      "min.insync.replicas",
  };
  return names;
}

Status validate_topic_config(std::string_view name, std::string_view value) {
  if (name == "retention.ms" || name == "retention.bytes") {
    return as_status(parse_int(name, value, -1, kI64Max));
  }
  if (name == "segment.bytes") return as_status(parse_int(name, value, 14, kI32Max));
  if (name == "segment.ms") return as_status(parse_int(name, value, 1, kI64Max));
  if (name == "max.message.bytes") return as_status(parse_int(name, value, 0, kI32Max));
  if (name == "flush.ms") return as_status(parse_int(name, value, 1, kI64Max));
  if (name == "segment.index.bytes") return as_status(parse_int(name, value, 4, kI32Max));
  if (name == "min.insync.replicas") return as_status(parse_int(name, value, 1, kI32Max));
  if (name == "flush.policy") {
    if (auto p = storage::parse_flush_policy(value); !p) {
      return Error::invalid(fmt::format("config flush.policy: {}", p.error().detail()));
    }
    return {};
  }
  if (name == "cleanup.policy") {
    // (h-compact: minimal until the topic-config work lands; the lead reconciles.)
    if (value == "delete" || value == "compact" || value == "compact,delete" ||
        value == "delete,compact") {
      return {};
    }
    return Error::invalid(fmt::format(
        "config cleanup.policy: '{}' is not supported (only 'delete'; compaction is not "
        "implemented)",
        value));
  }
  if (name == "message.timestamp.type") {
    if (value == "CreateTime") return {};
    return Error::invalid(fmt::format(
        "config message.timestamp.type: '{}' is not supported (only CreateTime)", value));
  }
  return Error::invalid(fmt::format("unknown topic config '{}'", name));
}

Status validate_topic_configs(const ConfigMap& overrides) {
  for (const auto& [name, value] : overrides) {
    if (auto s = validate_topic_config(name, value); !s) return s;
  }
  return {};
}

Result<ConfigMap> normalize_topic_configs(const ConfigMap& overrides) {
  ConfigMap out;
  for (const auto& [name, value] : overrides) {
    if (auto s = validate_topic_config(name, value); !s) return s.error();
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    const bool numeric = ec == std::errc() && ptr == value.data() + value.size();
    out[name] = numeric ? std::to_string(v) : value;
  }
  return out;
}

storage::LogConfig apply_topic_configs(const storage::LogConfig& defaults,
                                       const ConfigMap& overrides) {
  storage::LogConfig c = defaults;
  auto num = [&](const char* name) -> std::optional<std::int64_t> {
    auto it = overrides.find(name);
    if (it == overrides.end()) return std::nullopt;
    std::int64_t v = 0;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return v;
  };
  if (auto v = num("retention.ms")) c.retention_ms = *v;
  if (auto v = num("retention.bytes")) c.retention_bytes = *v;
  if (auto v = num("segment.bytes")) c.segment_bytes_max = static_cast<std::uint64_t>(*v);
  if (auto v = num("segment.ms")) {
    c.segment_age_max = std::chrono::milliseconds(std::min(*v, kDurationMsMax));
  }
  if (auto v = num("max.message.bytes")) c.batch_bytes_max = static_cast<std::uint32_t>(*v);
  if (auto v = num("flush.ms")) {
    c.flush_interval = std::chrono::milliseconds(std::min(*v, kDurationMsMax));
  }
  if (auto it = overrides.find("flush.policy"); it != overrides.end()) {
    if (auto p = storage::parse_flush_policy(it->second)) c.flush_policy = *p;
  }
  // (h-compact: minimal until the topic-config work lands; the lead reconciles.)
  if (auto it = overrides.find("cleanup.policy"); it != overrides.end()) {
    c.cleanup_compact = it->second.find("compact") != std::string::npos;
    c.cleanup_delete = it->second.find("delete") != std::string::npos;
  }
  return c;
}

std::vector<ConfigEntry> describe_topic_configs(const storage::LogConfig& defaults,
                                                const ConfigMap& overrides) {
  const storage::LogConfig c = apply_topic_configs(defaults, overrides);
  auto entry = [&](const std::string& name, std::string value) {
    ConfigEntry e;
    e.name = name;
    auto it = overrides.find(name);
    e.is_default = it == overrides.end();
    e.value = e.is_default ? std::move(value) : it->second;
    return e;
  };
  std::vector<ConfigEntry> out;
  out.push_back(entry("cleanup.policy", "delete"));
  out.push_back(entry("flush.ms", std::to_string(c.flush_interval.count())));
  out.push_back(entry("flush.policy", std::string(storage::flush_policy_name(c.flush_policy))));
  out.push_back(entry("max.message.bytes", std::to_string(c.batch_bytes_max)));
  out.push_back(entry("message.timestamp.type", "CreateTime"));
  out.push_back(entry("min.insync.replicas", "1"));
  out.push_back(entry("retention.bytes", std::to_string(c.retention_bytes)));
  out.push_back(entry("retention.ms", std::to_string(c.retention_ms)));
  out.push_back(entry("segment.bytes", std::to_string(c.segment_bytes_max)));
  out.push_back(entry("segment.index.bytes", "10485760"));
  out.push_back(entry("segment.ms", std::to_string(c.segment_age_max.count())));
  return out;
}

}  // namespace spate::cluster
