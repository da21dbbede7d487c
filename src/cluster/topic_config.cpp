// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/topic_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "spate/protocol/messages/alter_configs.h"

namespace spate::cluster {
namespace {

// A name or value as an error message shows it: at most 64 bytes, printable
// ASCII as is and every other byte escaped, so that a message stays valid
// UTF-8 and short whatever a client sent.
std::string shown(std::string_view text) {
  constexpr std::size_t kShownMax = 64;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kShownMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > kShownMax) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

Error bad(std::string_view name, std::string_view why) {
  return Error::invalid(fmt::format("config {}: {}", shown(name), why));
}

// Kafka trims every value before parsing it (ConfigDef.parseType).
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

Result<std::int64_t> parse_number(const TopicConfigDef& def, std::string_view value) {
  std::string_view digits = value;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-') digits.remove_prefix(1);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && ptr == digits.data() + digits.size() && (v < def.min || v > def.max))) {
    return bad(def.name, fmt::format("'{}' is outside the allowed range [{}, {}]", shown(value),
                                     def.min, def.max));
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    return bad(def.name, fmt::format("'{}' is not an integer", shown(value)));
  }
  return v;
}

Result<std::string> parse_double(const TopicConfigDef& def, std::string_view value) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(v)) {
    return bad(def.name, fmt::format("'{}' is not a number", shown(value)));
  }
  if (v < 0.0 || v > 1.0) {
    return bad(def.name, fmt::format("{} is outside the allowed range [0, 1]", v));
  }
  return fmt::format("{}", v);
}

bool is_choice(const TopicConfigDef& def, std::string_view value) {
  return std::find(def.choices.begin(), def.choices.end(), value) != def.choices.end();
}

std::string choices_text(const TopicConfigDef& def) {
  return fmt::format("{}", fmt::join(def.choices, ", "));
}

// Kafka's list syntax: items split at commas, each trimmed; "" is no item.
std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> items;
  if (value.empty()) return items;
  // Bounded by the value's length: each pass consumes one item and its comma.
  while (true) {
    const auto comma = value.find(',');
    items.push_back(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return items;
}

std::string join_list(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ","));
}

// "N:M" with both decimal (Kafka's ThrottledReplicaListValidator), canonical.
std::optional<std::string> throttled_replica(std::string_view item) {
  const auto colon = item.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto canonical = [](std::string_view digits) -> std::optional<std::string_view> {
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    const auto nonzero = digits.find_first_not_of('0');
    return nonzero == std::string_view::npos ? std::string_view("0") : digits.substr(nonzero);
  };
  auto partition = canonical(item.substr(0, colon));
  auto broker = canonical(item.substr(colon + 1));
  if (!partition || !broker) return std::nullopt;
  return fmt::format("{}:{}", *partition, *broker);
}

Result<std::string> parse_list(const TopicConfigDef& def, std::string_view value) {
  const bool throttle = def.choices.empty();
  if (throttle && value == "*") return std::string("*");
  std::vector<std::string> items;
  for (std::string_view item : split_list(value)) {
    std::string canonical(item);
    if (throttle) {
      if (item.empty()) continue;  // Kafka's pattern allows empty items
      auto replica = throttled_replica(item);
      if (!replica) {
        return bad(def.name, fmt::format("'{}' is neither '*' nor a list of "
                                         "'partition:broker' pairs",
                                         shown(item)));
      }
      canonical = std::move(*replica);
    } else if (!is_choice(def, item)) {
      return bad(def.name, fmt::format("'{}' is not one of [{}]", shown(item), choices_text(def)));
    }
    if (std::find(items.begin(), items.end(), canonical) == items.end()) {
      items.push_back(std::move(canonical));
    }
  }
  return join_list(items);
}

// Kafka's MetadataVersion.fromVersionString: the first three dot-separated
// parts for 0.x versions, two otherwise, must name a known version; the rest
// is ignored ("2.8.1" is "2.8").
bool is_kafka_version(std::string_view value) {
  struct Line {
    std::string_view release;
    int last_iv;  // -1: the release has no "-IVn" sub-versions
  };
  static constexpr Line kLines[] = {
      {"0.8.0", -1}, {"0.8.1", -1}, {"0.8.2", -1}, {"0.9.0", -1}, {"0.10.0", 1}, {"0.10.1", 2},
      {"0.10.2", 0}, {"0.11.0", 2}, {"1.0", 0},    {"1.1", 0},    {"2.0", 1},    {"2.1", 2},
      {"2.2", 1},    {"2.3", 1},    {"2.4", 1},    {"2.5", 0},    {"2.6", 0},    {"2.7", 2},
      {"2.8", 1},    {"3.0", 1},    {"3.1", 0},    {"3.2", 0},    {"3.3", 3},    {"3.4", 0},
      {"3.5", 2},    {"3.6", 2},    {"3.7", 4},    {"3.8", 0},    {"3.9", 0}};
  const std::size_t parts = value.starts_with("0.") ? 3 : 2;
  std::size_t end = 0;
  for (std::size_t i = 0; i < parts && end != std::string_view::npos; ++i) {
    end = value.find('.', i == 0 ? 0 : end + 1);
  }
  const std::string_view key = value.substr(0, end);
  const auto dash = key.find("-IV");
  const std::string_view release = key.substr(0, dash);
  for (const auto& line : kLines) {
    if (line.release != release) continue;
    if (dash == std::string_view::npos) return true;
    const std::string_view iv = key.substr(dash + 3);
    return iv.size() == 1 && iv[0] >= '0' && iv[0] - '0' <= line.last_iv;
  }
  return false;
}

Result<std::string> parse_value(const TopicConfigDef& def, std::string_view value) {
  switch (def.type) {
    case ConfigType::boolean: {
      auto eq = [&](std::string_view word) {
        return std::equal(value.begin(), value.end(), word.begin(), word.end(),
                          [](char a, char b) { return (a | 0x20) == b; });
      };
      if (eq("true")) {
        if (def.name == "remote.storage.enable") {
          return bad(def.name, "tiered storage is not available in Spate (only false)");
        }
        return std::string("true");
      }
      if (eq("false")) return std::string("false");
      return bad(def.name, fmt::format("'{}' is not a boolean (true or false)", shown(value)));
    }
    case ConfigType::int32:
    case ConfigType::int64: {
      auto v = parse_number(def, value);
      if (!v) return v.error();
      if (def.name == "compression.gzip.level" && *v == 0) {
        return bad(def.name, "0 is not a gzip level (-1 or 1-9)");
      }
      return std::to_string(*v);
    }
    case ConfigType::float64:
      return parse_double(def, value);
    case ConfigType::list:
      return parse_list(def, value);
    case ConfigType::string:
      break;
  }
  if (def.name == "message.format.version") {
    if (value.size() > 64 || !is_kafka_version(value)) {
      return bad(def.name, fmt::format("'{}' is not a Kafka version (such as 0.10.0, 2.8-IV1, "
                                       "3.0)",
                                       shown(value)));
    }
    return std::string(value);
  }
  if (!is_choice(def, value)) {
    return bad(def.name, fmt::format("'{}' is not one of [{}]", shown(value), choices_text(def)));
  }
  return std::string(value);
}

}  // namespace

Result<std::string> normalize_topic_config(std::string_view name, std::string_view value) {
  const TopicConfigDef* def = find_topic_config(name);
  if (def == nullptr) {
    return Error::invalid(fmt::format("unknown topic config '{}'", shown(name)));
  }
  auto canonical = parse_value(*def, trim(value));
  if (canonical && canonical->size() > kConfigValueBytesMax) {
    return bad(name, fmt::format("the value is longer than the {} bytes Spate stores",
                                 kConfigValueBytesMax));
  }
  return canonical;
}

Status validate_topic_config(std::string_view name, std::string_view value) {
  auto canonical = normalize_topic_config(name, value);
  if (!canonical) return canonical.error();
  return {};
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
    auto canonical = normalize_topic_config(name, value);
    if (!canonical) return canonical.error();
    out[name] = std::move(*canonical);
  }
  return out;
}

Status apply_config_op(ConfigMap& overrides, const storage::LogConfig& defaults, std::int8_t op,
                       std::string_view name, const std::optional<std::string>& value) {
  const TopicConfigDef* def = find_topic_config(name);
  if (def == nullptr) {
    return Error::invalid(fmt::format("unknown topic config '{}'", shown(name)));
  }
  if (op == protocol::kConfigOpDelete) {
    overrides.erase(std::string(name));
    return {};
  }
  if (op != protocol::kConfigOpSet && op != protocol::kConfigOpAppend &&
      op != protocol::kConfigOpSubtract) {
    return bad(name,
               fmt::format("unknown operation {} (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT)", op));
  }
  if (!value) return bad(name, "a null value");
  if (op == protocol::kConfigOpSet) {
    auto canonical = normalize_topic_config(name, *value);
    if (!canonical) return canonical.error();
    overrides[std::string(name)] = std::move(*canonical);
    return {};
  }
  if (def->type != ConfigType::list) {
    return bad(name, fmt::format("{} applies to list configs only (cleanup.policy, "
                                 "leader.replication.throttled.replicas, "
                                 "follower.replication.throttled.replicas)",
                                 op == protocol::kConfigOpAppend ? "APPEND" : "SUBTRACT"));
  }
  auto change = normalize_topic_config(name, *value);
  if (!change) return change.error();
  auto it = overrides.find(std::string(name));
  const std::string current =
      it != overrides.end() ? it->second : broker_default_value(*def, defaults);
  std::vector<std::string> items;
  for (auto item : split_list(current)) items.emplace_back(item);
  for (auto item : split_list(*change)) {
    auto at = std::find(items.begin(), items.end(), item);
    if (op == protocol::kConfigOpAppend && at == items.end()) items.emplace_back(item);
    if (op == protocol::kConfigOpSubtract && at != items.end()) items.erase(at);
  }
  auto canonical = normalize_topic_config(name, join_list(items));
  if (!canonical) return canonical.error();
  overrides[std::string(name)] = std::move(*canonical);
  return {};
}

}  // namespace spate::cluster
