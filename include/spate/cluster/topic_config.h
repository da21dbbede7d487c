// SPDX-License-Identifier: Apache-2.0
//
// Topic configs: the Kafka names a topic may override, their validation, and
// how overrides turn into a storage::LogConfig.

#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/result.h"
#include "spate/storage/partition_log.h"

namespace spate::cluster {

using ConfigMap = std::map<std::string, std::string>;

// One row of DescribeConfigs.
struct ConfigEntry {
  std::string name;
  std::string value;
  bool is_default = true;
  bool read_only = false;
  bool sensitive = false;
};

// The topic config names Spate knows (retention.ms, retention.bytes,
// segment.bytes, segment.ms, max.message.bytes, cleanup.policy, flush.policy,
// flush.ms, ...).
[[nodiscard]] const std::vector<std::string>& topic_config_names();

// Checks one override. Errors (invalid_argument) name the key and say why.
[[nodiscard]] Status validate_topic_config(std::string_view name, std::string_view value);
[[nodiscard]] Status validate_topic_configs(const ConfigMap& overrides);
// Validates and returns the overrides in canonical form: numbers without
// leading zeros or sign, so that what is stored stays small whatever a client
// sent ("000...0001" becomes "1").
[[nodiscard]] Result<ConfigMap> normalize_topic_configs(const ConfigMap& overrides);

// Durations (segment.ms, flush.ms) longer than this mean "never" and are
// applied as this many milliseconds (about 100 years), so that no clock
// arithmetic in nanoseconds overflows (Kafka's "never" is INT64 max).
inline constexpr std::int64_t kDurationMsMax = 100LL * 366 * 24 * 3600 * 1000;

// `defaults` with `overrides` applied. REQUIRES: validate_topic_configs(overrides).
[[nodiscard]] storage::LogConfig apply_topic_configs(const storage::LogConfig& defaults,
                                                     const ConfigMap& overrides);

// Every topic config with its effective value, marking overridden ones.
[[nodiscard]] std::vector<ConfigEntry> describe_topic_configs(const storage::LogConfig& defaults,
                                                              const ConfigMap& overrides);

}  // namespace spate::cluster
