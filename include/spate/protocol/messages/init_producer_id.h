// SPDX-License-Identifier: Apache-2.0
//
// InitProducerId (key 22), v0-v4, flexible from v2 (kafka-protocol.md §4.17).

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct InitProducerIdRequest {
  std::optional<std::string> transactional_id;
  std::int32_t transaction_timeout_ms = 0;
  std::int64_t producer_id = -1;     // v3+
  std::int16_t producer_epoch = -1;  // v3+
  bool operator==(const InitProducerIdRequest&) const = default;
};

template <class Io>
void fields(Io& io, InitProducerIdRequest& m, std::int16_t version) {
  const bool flex = version >= 2;
  io.nullable_string(m.transactional_id, flex, "transactional_id");
  io.i32(m.transaction_timeout_ms, "transaction_timeout_ms");
  if (version >= 3) {
    io.i64(m.producer_id, "producer_id");
    io.i16(m.producer_epoch, "producer_epoch");
  }
  if (flex) io.tagged_fields();
}

struct InitProducerIdResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = 0;
  bool operator==(const InitProducerIdResponse&) const = default;
};

template <class Io>
void fields(Io& io, InitProducerIdResponse& m, std::int16_t version) {
  io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.i64(m.producer_id, "producer_id");
  io.i16(m.producer_epoch, "producer_epoch");
  if (version >= 2) io.tagged_fields();
}

}  // namespace spate::protocol
