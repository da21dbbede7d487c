// SPDX-License-Identifier: Apache-2.0
//
// SaslHandshake (key 17), v0-v1, never flexible, and SaslAuthenticate (key 36),
// v0-v1, not flexible in range (kafka-protocol.md §4.21-4.22).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct SaslHandshakeRequest {
  std::string mechanism;
  bool operator==(const SaslHandshakeRequest&) const = default;
};

template <class Io>
void fields(Io& io, SaslHandshakeRequest& m, std::int16_t /*version*/) {
  io.string(m.mechanism, false, "mechanism");
}

struct SaslHandshakeResponse {
  std::int16_t error_code = 0;
  std::vector<std::string> mechanisms;
  bool operator==(const SaslHandshakeResponse&) const = default;
};

template <class Io>
void fields(Io& io, SaslHandshakeResponse& m, std::int16_t /*version*/) {
  io.i16(m.error_code, "error_code");
  io.array(m.mechanisms, false, kStringBytesMin, "mechanisms",
           [&](std::string& s) { io.string(s, false, "mechanisms[]"); });
}

struct SaslAuthenticateRequest {
  std::vector<std::byte> auth_bytes;
  bool operator==(const SaslAuthenticateRequest&) const = default;
};

template <class Io>
void fields(Io& io, SaslAuthenticateRequest& m, std::int16_t /*version*/) {
  io.bytes(m.auth_bytes, false, "auth_bytes");
}

struct SaslAuthenticateResponse {
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  std::vector<std::byte> auth_bytes;
  std::int64_t session_lifetime_ms = 0;  // v1+
  bool operator==(const SaslAuthenticateResponse&) const = default;
};

template <class Io>
void fields(Io& io, SaslAuthenticateResponse& m, std::int16_t version) {
  io.i16(m.error_code, "error_code");
  io.nullable_string(m.error_message, false, "error_message");
  io.bytes(m.auth_bytes, false, "auth_bytes");
  if (version >= 1) io.i64(m.session_lifetime_ms, "session_lifetime_ms");
}

}  // namespace spate::protocol
