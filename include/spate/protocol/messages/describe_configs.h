// SPDX-License-Identifier: Apache-2.0
//
// DescribeConfigs (key 32), v0-v2, none flexible (kafka-protocol.md §4.18).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

inline constexpr std::int8_t kResourceTopic = 2;
inline constexpr std::int8_t kResourceBroker = 4;

struct DescribeConfigsResource {
  std::int8_t resource_type = 0;
  std::string resource_name;
  std::optional<std::vector<std::string>> configuration_keys;  // null: all
  bool operator==(const DescribeConfigsResource&) const = default;
};

struct DescribeConfigsRequest {
  std::vector<DescribeConfigsResource> resources;
  bool include_synonyms = false;  // v1+
  bool operator==(const DescribeConfigsRequest&) const = default;
};

template <class Io>
void fields(Io& io, DescribeConfigsRequest& m, std::int16_t version) {
  io.array(m.resources, false, 7, "resources", [&](DescribeConfigsResource& r) {
    io.i8(r.resource_type, "resources[].resource_type");
    io.string(r.resource_name, false, "resources[].resource_name");
    io.nullable_array(r.configuration_keys, false, kStringBytesMin, "configuration_keys",
                      [&](std::string& k) { io.string(k, false, "configuration_keys[]"); });
  });
  if (version >= 1) io.boolean(m.include_synonyms, "include_synonyms");
}

struct DescribeConfigsSynonym {
  std::string name;
  std::optional<std::string> value;
  std::int8_t source = 0;
  bool operator==(const DescribeConfigsSynonym&) const = default;
};

struct DescribeConfigsEntry {
  std::string name;
  std::optional<std::string> value;
  bool read_only = false;
  bool is_default = false;         // v0
  std::int8_t config_source = -1;  // v1+
  bool is_sensitive = false;
  std::vector<DescribeConfigsSynonym> synonyms;  // v1+
  bool operator==(const DescribeConfigsEntry&) const = default;
};

struct DescribeConfigsResult {
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  std::int8_t resource_type = 0;
  std::string resource_name;
  std::vector<DescribeConfigsEntry> configs;
  bool operator==(const DescribeConfigsResult&) const = default;
};

struct DescribeConfigsResponse {
  std::int32_t throttle_time_ms = 0;
  std::vector<DescribeConfigsResult> results;
  bool operator==(const DescribeConfigsResponse&) const = default;
};

template <class Io>
void fields(Io& io, DescribeConfigsResponse& m, std::int16_t version) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.results, false, 11, "results", [&](DescribeConfigsResult& r) {
    io.i16(r.error_code, "results[].error_code");
    io.nullable_string(r.error_message, false, "results[].error_message");
    io.i8(r.resource_type, "results[].resource_type");
    io.string(r.resource_name, false, "results[].resource_name");
    io.array(r.configs, false, 7, "results[].configs", [&](DescribeConfigsEntry& c) {
      io.string(c.name, false, "configs[].name");
      io.nullable_string(c.value, false, "configs[].value");
      io.boolean(c.read_only, "configs[].read_only");
      if (version == 0) io.boolean(c.is_default, "configs[].is_default");
      if (version >= 1) io.i8(c.config_source, "configs[].config_source");
      io.boolean(c.is_sensitive, "configs[].is_sensitive");
      if (version >= 1) {
        io.array(c.synonyms, false, 5, "configs[].synonyms", [&](DescribeConfigsSynonym& s) {
          io.string(s.name, false, "synonyms[].name");
          io.nullable_string(s.value, false, "synonyms[].value");
          io.i8(s.source, "synonyms[].source");
        });
      }
    });
  });
}

}  // namespace spate::protocol
