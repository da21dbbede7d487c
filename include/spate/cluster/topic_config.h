// SPDX-License-Identifier: Apache-2.0
//
// Topic configs: every topic config Kafka 3.x defines (plus Spate's
// flush.policy), validated as Kafka validates it, the incremental operations
// (SET, DELETE, APPEND, SUBTRACT), how overrides turn into a
// storage::LogConfig, and what DescribeConfigs shows (values, sources,
// synonyms). The table of names, types, defaults and effects:
// src/cluster/topic_config_defs.cpp and docs/broker.md.

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/result.h"
#include "spate/storage/partition_log.h"

namespace spate::cluster {

using ConfigMap = std::map<std::string, std::string>;

// DescribeConfigs v3's config_type values.
enum class ConfigType : std::int8_t {
  boolean = 1,
  string = 2,
  int32 = 3,
  int64 = 5,
  float64 = 6,
  list = 7,
};

// KIP-226 config sources, as DescribeConfigs v1+ carries them.
inline constexpr std::int8_t kSourceDynamicTopic = 1;
inline constexpr std::int8_t kSourceStaticBroker = 4;
inline constexpr std::int8_t kSourceDefault = 5;

// What a config does in Spate.
enum class ConfigEffect : std::uint8_t {
  applied,  // takes effect (storage::LogConfig, the produce path)
  stored,   // accepted and reported; its effect is not implemented yet (the doc says)
  inert,    // accepted and reported; means nothing for Spate today (the doc says why)
};

struct TopicConfigDef {
  std::string_view name;
  ConfigType type = ConfigType::string;
  std::string_view kafka_default;  // Kafka's own default
  std::string_view broker_name;    // the broker default it falls back to; empty: none
  std::int64_t min = 0;            // numbers: Kafka's range
  std::int64_t max = 0;
  std::span<const std::string_view> choices;  // strings and list items: the allowed ones
  ConfigEffect effect = ConfigEffect::applied;
  std::string_view doc;
};

// Every topic config, sorted by name.
[[nodiscard]] std::span<const TopicConfigDef> topic_config_defs();
[[nodiscard]] const TopicConfigDef* find_topic_config(std::string_view name);
// Their names, sorted.
[[nodiscard]] const std::vector<std::string>& topic_config_names();

// The longest value stored for one config (canonical form): longer lists are
// refused with INVALID_CONFIG.
inline constexpr std::size_t kConfigValueBytesMax = 64 * 1024;

struct ConfigSynonym {
  std::string name;
  std::string value;
  std::int8_t source = kSourceDefault;
  bool operator==(const ConfigSynonym&) const = default;
};

// One row of DescribeConfigs.
struct ConfigEntry {
  std::string name;
  std::string value;
  bool is_default = true;  // not overridden on this resource
  bool read_only = false;
  bool sensitive = false;
  std::int8_t source = kSourceDefault;
  std::vector<ConfigSynonym> synonyms;  // the entry's own source first, as Kafka orders them
  ConfigType type = ConfigType::string;
  std::string_view documentation;  // static text (the table's)
};

// Checks one override. Errors (invalid_argument) name the key and say why.
[[nodiscard]] Status validate_topic_config(std::string_view name, std::string_view value);
[[nodiscard]] Status validate_topic_configs(const ConfigMap& overrides);
// Validates one value and returns it in canonical form: numbers without
// leading zeros or sign, booleans "true"/"false", doubles as the shortest
// decimal, list items trimmed and without repeats, so that what is stored
// stays small whatever a client sent ("000...0001" becomes "1").
[[nodiscard]] Result<std::string> normalize_topic_config(std::string_view name,
                                                         std::string_view value);
[[nodiscard]] Result<ConfigMap> normalize_topic_configs(const ConfigMap& overrides);

// Applies one IncrementalAlterConfigs operation (protocol::kConfigOp*) to `overrides` as Kafka
// does: SET replaces, DELETE removes the override, APPEND adds the items not yet in the list
// (starting from the default when there is no override), SUBTRACT removes items. APPEND and
// SUBTRACT apply to list configs only. Errors: invalid_argument (unknown name or operation, a null
// value, a non-list for APPEND/SUBTRACT, a bad value).
[[nodiscard]] Status apply_config_op(ConfigMap& overrides, const storage::LogConfig& defaults,
                                     std::int8_t op, std::string_view name,
                                     const std::optional<std::string>& value);

// Durations (segment.ms, flush.ms) longer than this mean "never" and are
// applied as this many milliseconds (about 100 years), so that no clock
// arithmetic in nanoseconds overflows (Kafka's "never" is INT64 max).
inline constexpr std::int64_t kDurationMsMax = 100LL * 366 * 24 * 3600 * 1000;

// `defaults` with `overrides` applied. REQUIRES: validate_topic_configs(overrides).
[[nodiscard]] storage::LogConfig apply_topic_configs(const storage::LogConfig& defaults,
                                                     const ConfigMap& overrides);

// The value a topic without an override has: the broker's (from `defaults`
// where the broker has a setting for it), else Kafka's default.
[[nodiscard]] std::string broker_default_value(const TopicConfigDef& def,
                                               const storage::LogConfig& defaults);

// Every topic config with its effective value, source and synonyms (the
// override, then the broker default it falls back to), marking overridden ones.
[[nodiscard]] std::vector<ConfigEntry> describe_topic_configs(const storage::LogConfig& defaults,
                                                              const ConfigMap& overrides);

// The broker-level defaults the applied topic configs fall back to
// (log.retention.ms, log.cleanup.policy, ...), read-only, for DescribeConfigs
// of a broker; `skip` names the ones the caller lists itself.
[[nodiscard]] std::vector<ConfigEntry> describe_broker_log_configs(
    const storage::LogConfig& defaults, const std::vector<std::string>& skip);

}  // namespace spate::cluster
