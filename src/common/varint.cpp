// SPDX-License-Identifier: Apache-2.0
//
// Unsigned LEB128 encode and bounded decode.

#include "spate/common/varint.h"

#include "spate/common/assert.h"

namespace spate::varint {

std::size_t uvarint_size(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 0x80U) {
    value >>= 7U;
    ++n;
  }
  return n;
}

std::size_t encode_uvarint(std::uint64_t value, std::span<std::byte> out) {
  std::size_t n = 0;
  while (value >= 0x80U) {
    SPATE_ASSERT(n < out.size(), "varint output too small");
    out[n++] = static_cast<std::byte>((value & 0x7FU) | 0x80U);
    value >>= 7U;
  }
  SPATE_ASSERT(n < out.size(), "varint output too small");
  out[n++] = static_cast<std::byte>(value);
  return n;
}

Decoded decode_uvarint(std::span<const std::byte> in, std::size_t bytes_max) {
  SPATE_ASSERT(bytes_max == kBytesMax32 || bytes_max == kBytesMax64, "bad bytes_max {}", bytes_max);
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes_max; ++i) {
    if (i >= in.size()) return {0, 0, DecodeStatus::truncated};
    const auto b = static_cast<std::uint64_t>(in[i]);
    const unsigned shift = static_cast<unsigned>(7 * i);
    const std::uint64_t payload = b & 0x7FU;
    // The last allowed byte may only carry the bits that still fit.
    if (i == bytes_max - 1) {
      const unsigned bits_left = (bytes_max == kBytesMax32 ? 32U : 64U) - shift;
      if ((b & 0x80U) != 0 || (payload >> bits_left) != 0) {
        return {0, 0, DecodeStatus::overflow};
      }
    }
    value |= payload << shift;
    if ((b & 0x80U) == 0) return {value, i + 1, DecodeStatus::ok};
  }
  return {0, 0, DecodeStatus::overflow};
}

}  // namespace spate::varint
