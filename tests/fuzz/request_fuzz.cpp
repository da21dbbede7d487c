// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: a whole request frame (size prefix included) of any API and
// version. Every input must give a value or an error, never a crash, a leak or
// an allocation past the limits; whatever decodes must survive a round trip.

#include <cstddef>
#include <cstdint>
#include <span>

#include "spate/protocol/frame.h"
#include "spate/protocol/requests.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spate::protocol;  // NOLINT(google-build-using-namespace)
  auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  if (bytes.size() < kFrameSizeBytes) return 0;
  auto frame_size = decode_frame_size(std::span<const std::byte, 4>(bytes.data(), 4), 1U << 20U);
  if (!frame_size) return 0;
  auto frame = bytes.subspan(kFrameSizeBytes);
  if (*frame_size < frame.size()) frame = frame.first(*frame_size);
  auto header = decode_request_header(frame);
  if (!header) return 0;
  (void)decode_request_body(header->header.request_api_key, header->header.request_api_version,
                            frame.subspan(header->body_offset));
  return 0;
}
