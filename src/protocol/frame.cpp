// SPDX-License-Identifier: Apache-2.0
//
// Frame size prefix and request/response headers.

#include "spate/protocol/frame.h"

#include <limits>

#include "spate/protocol/api_key.h"

namespace spate::protocol {

Result<std::size_t> decode_frame_size(std::span<const std::byte, 4> prefix,
                                      std::size_t frame_bytes_max) {
  const auto size = load_be<std::int32_t>(prefix.data());
  if (size < 0) return Error::malformed(fmt::format("negative frame size {}", size));
  if (static_cast<std::size_t>(size) > frame_bytes_max) {
    return Error::limit(
        fmt::format("frame of {} bytes exceeds the limit of {}", size, frame_bytes_max));
  }
  return static_cast<std::size_t>(size);
}

Result<DecodedHeader> decode_request_header(std::span<const std::byte> frame,
                                            const DecodeLimits& limits) {
  Decoder in(frame, limits);
  DecodedHeader out;
  in.i16(out.header.request_api_key, "request_api_key");
  in.i16(out.header.request_api_version, "request_api_version");
  in.i32(out.header.correlation_id, "correlation_id");
  out.header_version =
      request_header_version(out.header.request_api_key, out.header.request_api_version);
  // client_id keeps its classic INT16 form even in header v2 (§1.2).
  if (out.header_version >= 1) in.nullable_string(out.header.client_id, false, "client_id");
  if (out.header_version >= 2) in.tagged_fields("header tagged_fields");
  if (!in.ok()) return in.error();
  out.body_offset = frame.size() - in.remaining();
  return out;
}

void encode_request_header(ByteWriter& out, const RequestHeader& header,
                           std::int16_t header_version) {
  Encoder e(out);
  e.i16(header.request_api_key, {});
  e.i16(header.request_api_version, {});
  e.i32(header.correlation_id, {});
  if (header_version >= 1) e.nullable_string(header.client_id, false, {});
  if (header_version >= 2) e.tagged_fields();
}

void encode_response_header(ByteWriter& out, std::int32_t correlation_id,
                            std::int16_t header_version) {
  out.write(correlation_id);
  if (header_version >= 1) out.write_uvarint(0);
}

void begin_frame(ByteWriter& out) {
  SPATE_ASSERT(out.size() == 0, "begin_frame on a non-empty buffer");
  out.write<std::int32_t>(0);
}

Status finish_frame(ByteWriter& out) {
  const std::size_t body = out.size() - kFrameSizeBytes;
  if (body > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return Error(Errc::limit_exceeded,
                 fmt::format("a frame of {} bytes exceeds the protocol's 2 GiB limit", body));
  }
  out.patch<std::int32_t>(0, static_cast<std::int32_t>(body));
  return {};
}

}  // namespace spate::protocol
