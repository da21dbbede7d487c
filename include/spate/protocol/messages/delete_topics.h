// SPDX-License-Identifier: Apache-2.0
//
// DeleteTopics (key 20), v0-v3, none flexible (kafka-protocol.md §4.7).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct DeleteTopicsRequest {
  std::vector<std::string> topic_names;
  std::int32_t timeout_ms = 0;
  bool operator==(const DeleteTopicsRequest&) const = default;
};

template <class Io>
void fields(Io& io, DeleteTopicsRequest& m, std::int16_t /*version*/) {
  io.array(m.topic_names, false, kStringBytesMin, "topic_names",
           [&](std::string& name) { io.string(name, false, "topic_names[]"); });
  io.i32(m.timeout_ms, "timeout_ms");
}

struct DeleteTopicsResponseTopic {
  std::string name;
  std::int16_t error_code = 0;
  bool operator==(const DeleteTopicsResponseTopic&) const = default;
};

struct DeleteTopicsResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::vector<DeleteTopicsResponseTopic> responses;
  bool operator==(const DeleteTopicsResponse&) const = default;
};

template <class Io>
void fields(Io& io, DeleteTopicsResponse& m, std::int16_t version) {
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.array(m.responses, false, kStringBytesMin + 2, "responses", [&](DeleteTopicsResponseTopic& t) {
    io.string(t.name, false, "responses[].name");
    io.i16(t.error_code, "responses[].error_code");
  });
}

}  // namespace spate::protocol
