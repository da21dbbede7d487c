// SPDX-License-Identifier: Apache-2.0
//
// ApiVersions (key 18), v0-v3, flexible from v3 (kafka-protocol.md §4.1, §1.6).
// The response header is always v0 (KIP-511); see api_key.h.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct ApiVersionsRequest {
  std::string client_software_name;     // v3+
  std::string client_software_version;  // v3+
  bool operator==(const ApiVersionsRequest&) const = default;
};

template <class Io>
void fields(Io& io, ApiVersionsRequest& m, std::int16_t version) {
  if (version < 3) return;
  io.string(m.client_software_name, true, "client_software_name");
  io.string(m.client_software_version, true, "client_software_version");
  io.tagged_fields();
}

struct ApiVersionsResponseKey {
  std::int16_t api_key = 0;
  std::int16_t min_version = 0;
  std::int16_t max_version = 0;
  bool operator==(const ApiVersionsResponseKey&) const = default;
};

struct ApiVersionsResponse {
  std::int16_t error_code = 0;
  std::vector<ApiVersionsResponseKey> api_keys;
  std::int32_t throttle_time_ms = 0;  // v1+
  bool operator==(const ApiVersionsResponse&) const = default;
};

// The v3 tagged fields (SupportedFeatures, FinalizedFeatures...) are never
// written, and skipped when read.
template <class Io>
void fields(Io& io, ApiVersionsResponse& m, std::int16_t version) {
  const bool flex = version >= 3;
  io.i16(m.error_code, "error_code");
  io.array(m.api_keys, flex, 6 + (flex ? 1 : 0), "api_keys", [&](ApiVersionsResponseKey& k) {
    io.i16(k.api_key, "api_keys[].api_key");
    io.i16(k.min_version, "api_keys[].min_version");
    io.i16(k.max_version, "api_keys[].max_version");
    if (flex) io.tagged_fields("api_keys[].tagged_fields");
  });
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  if (flex) io.tagged_fields();
}

}  // namespace spate::protocol
