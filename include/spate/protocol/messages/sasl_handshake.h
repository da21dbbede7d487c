// SPDX-License-Identifier: Apache-2.0
//
// SaslHandshake (key 17), v0-v1, never flexible (kafka-protocol.md §4.21).

#pragma once

#include <cstdint>
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

}  // namespace spate::protocol
