// SPDX-License-Identifier: Apache-2.0
//
// Framing (kafka-protocol.md §1): the 4-byte size prefix, request headers
// v0-v2 and response headers v0/v1.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "spate/common/bytes.h"
#include "spate/common/result.h"
#include "spate/protocol/codec.h"

namespace spate::protocol {

inline constexpr std::size_t kFrameSizeBytes = 4;
// Kafka's socket.request.max.bytes default.
inline constexpr std::size_t kFrameBytesMaxDefault = 100 * 1024 * 1024;

// Reads the size prefix. Checked before anything is allocated for the frame.
// Errors: malformed for a negative size; limit_exceeded above `frame_bytes_max`.
[[nodiscard]] Result<std::size_t> decode_frame_size(std::span<const std::byte, 4> prefix,
                                                    std::size_t frame_bytes_max);

struct RequestHeader {
  std::int16_t request_api_key = 0;
  std::int16_t request_api_version = 0;
  std::int32_t correlation_id = 0;
  std::optional<std::string> client_id;  // null is treated as "" by handlers (§1.2)
  bool operator==(const RequestHeader&) const = default;
};

struct DecodedHeader {
  RequestHeader header;
  std::int16_t header_version = 1;
  std::size_t body_offset = 0;  // where the body starts in the frame
};

// Decodes the header of a request frame (without the size prefix). The header
// version comes from request_header_version(key, version) (api_key.h): v0 only
// for ControlledShutdown v0, v1 for an unknown API key so that its correlation
// id is known.
// Errors: malformed (too short, bad client id, bad tag section).
[[nodiscard]] Result<DecodedHeader> decode_request_header(std::span<const std::byte> frame,
                                                          const DecodeLimits& limits = {});

void encode_request_header(ByteWriter& out, const RequestHeader& header,
                           std::int16_t header_version);
void encode_response_header(ByteWriter& out, std::int32_t correlation_id,
                            std::int16_t header_version);

// Reserves the size prefix at the start of `out` (call first) and fills it
// in (call last). Errors: limit_exceeded for a body over INT32 max bytes.
void begin_frame(ByteWriter& out);
[[nodiscard]] Status finish_frame(ByteWriter& out);

}  // namespace spate::protocol
