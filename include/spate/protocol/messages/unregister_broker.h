// SPDX-License-Identifier: Apache-2.0
//
// UnregisterBroker (64, v0), flexible from v0 (KIP-631's admin call,
// Admin#unregisterBroker): removes a broker's registration from the
// cluster; `spate cluster remove` sends it.

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct UnregisterBrokerRequest {
  std::int32_t broker_id = 0;
  bool operator==(const UnregisterBrokerRequest&) const = default;
};

template <class Io>
void fields(Io& io, UnregisterBrokerRequest& m, std::int16_t /*version*/) {
  io.i32(m.broker_id, "broker_id");
  io.tagged_fields();
}

struct UnregisterBrokerResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  bool operator==(const UnregisterBrokerResponse&) const = default;
};

template <class Io>
void fields(Io& io, UnregisterBrokerResponse& m, std::int16_t /*version*/) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.nullable_string(m.error_message, true, "error_message");
  io.tagged_fields();
}

}  // namespace spate::protocol
