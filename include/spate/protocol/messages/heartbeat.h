// SPDX-License-Identifier: Apache-2.0
//
// Heartbeat (key 12), v0-v3, none flexible (kafka-protocol.md §4.11).

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct HeartbeatRequest {
  std::string group_id;
  std::int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+, nullable
  bool operator==(const HeartbeatRequest&) const = default;
};

template <class Io>
void fields(Io& io, HeartbeatRequest& m, std::int16_t version) {
  io.string(m.group_id, false, "group_id");
  io.i32(m.generation_id, "generation_id");
  io.string(m.member_id, false, "member_id");
  if (version >= 3) io.nullable_string(m.group_instance_id, false, "group_instance_id");
}

struct HeartbeatResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  bool operator==(const HeartbeatResponse&) const = default;
};

template <class Io>
void fields(Io& io, HeartbeatResponse& m, std::int16_t version) {
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
}

}  // namespace spate::protocol
