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

// `defaults` with `overrides` applied. REQUIRES: validate_topic_configs(overrides).
[[nodiscard]] storage::LogConfig apply_topic_configs(const storage::LogConfig& defaults,
                                                     const ConfigMap& overrides);

// Every topic config with its effective value, marking overridden ones.
[[nodiscard]] std::vector<ConfigEntry> describe_topic_configs(const storage::LogConfig& defaults,
                                                              const ConfigMap& overrides);

}  // namespace spate::cluster
