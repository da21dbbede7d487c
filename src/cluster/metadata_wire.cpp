// SPDX-License-Identifier: Apache-2.0

#include "metadata_wire.h"

#include <fmt/format.h>

namespace spate::cluster::wire {

void Writer::str(std::string_view s) {
  w_.write<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
  w_.write_string(s);
}

void Writer::opt_str(const std::optional<std::string>& s) {
  w_.write<std::uint8_t>(s ? 1 : 0);
  if (s) str(*s);
}

void Writer::ids(const std::vector<NodeId>& ids) {
  w_.write<std::uint32_t>(static_cast<std::uint32_t>(ids.size()));
  for (auto id : ids) w_.write<std::int32_t>(id.value());
}

void Writer::assignment(const ReplicaAssignment& a) {
  w_.write<std::uint32_t>(static_cast<std::uint32_t>(a.size()));
  for (const auto& replicas : a) ids(replicas);
}

void Writer::configs(const ConfigMap& configs) {
  w_.write<std::uint32_t>(static_cast<std::uint32_t>(configs.size()));
  for (const auto& [name, value] : configs) {
    str(name);
    str(value);
  }
}

void Writer::host_port(const HostPort& hp) {
  str(hp.host);
  w_.write<std::int32_t>(hp.port);
}

void Reader::fail(std::string why) {
  if (!error_) error_ = Error::malformed(fmt::format("{}: {}", what_, why));
}

std::size_t Reader::count(std::size_t max, std::size_t min_bytes, std::string_view field) {
  const auto n = num<std::uint32_t>(field);
  if (!ok()) return 0;
  if (n > max) {
    fail(fmt::format("{} count {} is over the limit {}", field, n, max));
    return 0;
  }
  if (min_bytes > 0 && n > r_.remaining() / min_bytes) {
    fail(fmt::format("{} count {} in {} bytes", field, n, r_.remaining()));
    return 0;
  }
  return n;
}

std::string Reader::str(std::size_t max, std::string_view field) {
  const auto n = count(max, 1, fmt::format("{} length", field));
  if (!ok()) return {};
  auto bytes = r_.read_bytes(n);
  if (!bytes) {
    fail(fmt::format("{} truncated", field));
    return {};
  }
  return {reinterpret_cast<const char*>(bytes->data()), bytes->size()};
}

std::optional<std::string> Reader::opt_str(std::size_t max, std::string_view field) {
  const auto present = num<std::uint8_t>(field);
  if (!ok() || present == 0) return std::nullopt;
  if (present != 1) {
    fail(fmt::format("{} has presence byte {}", field, present));
    return std::nullopt;
  }
  return str(max, field);
}

std::vector<NodeId> Reader::ids(std::size_t max, std::string_view field) {
  const auto n = count(max, 4, field);
  std::vector<NodeId> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n && ok(); ++i) out.emplace_back(num<std::int32_t>(field));
  return out;
}

ReplicaAssignment Reader::assignment(std::string_view field) {
  const auto n = count(limits_.partitions_per_topic_max, 4, field);
  ReplicaAssignment out;
  out.reserve(n);
  for (std::size_t i = 0; i < n && ok(); ++i) out.push_back(ids(limits_.replicas_max, field));
  return out;
}

ConfigMap Reader::configs(std::string_view field) {
  const auto n = count(limits_.configs_max, 8, field);
  ConfigMap out;
  for (std::size_t i = 0; i < n && ok(); ++i) {
    auto name = str(limits_.string_bytes_max, field);
    auto value = str(limits_.config_value_bytes_max, field);
    if (!ok()) break;
    // Strictly increasing: a repeated name would vanish in the map, and
    // each config has one encoding.
    if (!out.empty() && name <= out.rbegin()->first) {
      fail(fmt::format("{} not in increasing order at {}", field, name));
      break;
    }
    out.emplace_hint(out.end(), std::move(name), std::move(value));
  }
  return out;
}

HostPort Reader::host_port(std::string_view field) {
  HostPort hp;
  hp.host = str(limits_.string_bytes_max, field);
  hp.port = num<std::int32_t>(field);
  return hp;
}

Status Reader::finish() {
  if (error_) return *error_;
  if (r_.remaining() != 0) {
    return Error::malformed(fmt::format("{}: {} trailing bytes", what_, r_.remaining()));
  }
  return {};
}

}  // namespace spate::cluster::wire
