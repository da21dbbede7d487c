// SPDX-License-Identifier: Apache-2.0
//
// AlterConfigs (33, v0-v1, not flexible), IncrementalAlterConfigs (44, v0-v1,
// flexible from v1) and DeleteGroups (42, v0-v1, not flexible): the versions
// librdkafka 2.0.2, KafkaJS 2.2.4 and kafka-python 2.0.2 send (KIP-339 for the
// incremental form).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct AlterConfigsEntry {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const AlterConfigsEntry&) const = default;
};

struct AlterConfigsResource {
  std::int8_t resource_type = 0;
  std::string resource_name;
  std::vector<AlterConfigsEntry> configs;
  bool operator==(const AlterConfigsResource&) const = default;
};

struct AlterConfigsRequest {
  std::vector<AlterConfigsResource> resources;
  bool validate_only = false;
  bool operator==(const AlterConfigsRequest&) const = default;
};

template <class Io>
void fields(Io& io, AlterConfigsRequest& m, std::int16_t /*version*/) {
  io.array(m.resources, false, 7, "resources", [&](AlterConfigsResource& r) {
    io.i8(r.resource_type, "resources[].resource_type");
    io.string(r.resource_name, false, "resources[].resource_name");
    io.array(r.configs, false, 4, "resources[].configs", [&](AlterConfigsEntry& c) {
      io.string(c.name, false, "configs[].name");
      io.nullable_string(c.value, false, "configs[].value");
    });
  });
  io.boolean(m.validate_only, "validate_only");
}

struct AlterConfigsResourceResponse {
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  std::int8_t resource_type = 0;
  std::string resource_name;
  bool operator==(const AlterConfigsResourceResponse&) const = default;
};

// Shared by AlterConfigs and IncrementalAlterConfigs.
struct AlterConfigsResponse {
  std::int32_t throttle_time_ms = 0;
  std::vector<AlterConfigsResourceResponse> responses;
  bool operator==(const AlterConfigsResponse&) const = default;
};

template <class Io>
void alter_configs_response_fields(Io& io, AlterConfigsResponse& m, bool flex) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.responses, flex, flex ? 6 : 7, "responses", [&](AlterConfigsResourceResponse& r) {
    io.i16(r.error_code, "responses[].error_code");
    io.nullable_string(r.error_message, flex, "responses[].error_message");
    io.i8(r.resource_type, "responses[].resource_type");
    io.string(r.resource_name, flex, "responses[].resource_name");
    if (flex) io.tagged_fields("responses[].tagged_fields");
  });
  if (flex) io.tagged_fields();
}

template <class Io>
void fields(Io& io, AlterConfigsResponse& m, std::int16_t /*version*/) {
  alter_configs_response_fields(io, m, false);
}

inline constexpr std::int8_t kConfigOpSet = 0;
inline constexpr std::int8_t kConfigOpDelete = 1;
inline constexpr std::int8_t kConfigOpAppend = 2;
inline constexpr std::int8_t kConfigOpSubtract = 3;

struct IncrementalAlterConfigsEntry {
  std::string name;
  std::int8_t config_operation = kConfigOpSet;
  std::optional<std::string> value;
  bool operator==(const IncrementalAlterConfigsEntry&) const = default;
};

struct IncrementalAlterConfigsResource {
  std::int8_t resource_type = 0;
  std::string resource_name;
  std::vector<IncrementalAlterConfigsEntry> configs;
  bool operator==(const IncrementalAlterConfigsResource&) const = default;
};

struct IncrementalAlterConfigsRequest {
  std::vector<IncrementalAlterConfigsResource> resources;
  bool validate_only = false;
  bool operator==(const IncrementalAlterConfigsRequest&) const = default;
};

template <class Io>
void fields(Io& io, IncrementalAlterConfigsRequest& m, std::int16_t version) {
  const bool flex = version >= 1;
  io.array(m.resources, flex, flex ? 4 : 7, "resources", [&](IncrementalAlterConfigsResource& r) {
    io.i8(r.resource_type, "resources[].resource_type");
    io.string(r.resource_name, flex, "resources[].resource_name");
    io.array(r.configs, flex, flex ? 4 : 5, "resources[].configs",
             [&](IncrementalAlterConfigsEntry& c) {
               io.string(c.name, flex, "configs[].name");
               io.i8(c.config_operation, "configs[].config_operation");
               io.nullable_string(c.value, flex, "configs[].value");
               if (flex) io.tagged_fields("configs[].tagged_fields");
             });
    if (flex) io.tagged_fields("resources[].tagged_fields");
  });
  io.boolean(m.validate_only, "validate_only");
  if (flex) io.tagged_fields();
}

struct IncrementalAlterConfigsResponse : AlterConfigsResponse {
  bool operator==(const IncrementalAlterConfigsResponse&) const = default;
};

template <class Io>
void fields(Io& io, IncrementalAlterConfigsResponse& m, std::int16_t version) {
  alter_configs_response_fields(io, m, version >= 1);
}

struct DeleteGroupsRequest {
  std::vector<std::string> groups_names;
  bool operator==(const DeleteGroupsRequest&) const = default;
};

template <class Io>
void fields(Io& io, DeleteGroupsRequest& m, std::int16_t /*version*/) {
  io.array(m.groups_names, false, kStringBytesMin, "groups_names",
           [&](std::string& g) { io.string(g, false, "groups_names[]"); });
}

struct DeleteGroupsResult {
  std::string group_id;
  std::int16_t error_code = 0;
  bool operator==(const DeleteGroupsResult&) const = default;
};

struct DeleteGroupsResponse {
  std::int32_t throttle_time_ms = 0;
  std::vector<DeleteGroupsResult> results;
  bool operator==(const DeleteGroupsResponse&) const = default;
};

template <class Io>
void fields(Io& io, DeleteGroupsResponse& m, std::int16_t /*version*/) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.results, false, 4, "results", [&](DeleteGroupsResult& r) {
    io.string(r.group_id, false, "results[].group_id");
    io.i16(r.error_code, "results[].error_code");
  });
}

}  // namespace spate::protocol
