// SPDX-License-Identifier: Apache-2.0
//
// Varints as Kafka uses them: unsigned LEB128 (UNSIGNED_VARINT) and zigzag
// signed VARINT/VARLONG. Decoding is bounded: at most 5 bytes for 32-bit and
// 10 bytes for 64-bit values; a value that does not fit is rejected.

#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace spate::varint {

inline constexpr std::size_t kBytesMax32 = 5;
inline constexpr std::size_t kBytesMax64 = 10;

[[nodiscard]] constexpr std::uint64_t zigzag_encode(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1U) ^ static_cast<std::uint64_t>(v >> 63);
}
[[nodiscard]] constexpr std::int64_t zigzag_decode(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1U) ^ -static_cast<std::int64_t>(v & 1U);
}

// Bytes needed to encode `value` as an unsigned varint.
[[nodiscard]] std::size_t uvarint_size(std::uint64_t value);

// Encodes into `out`, returning the bytes written.
// REQUIRES: out.size() >= uvarint_size(value).
std::size_t encode_uvarint(std::uint64_t value, std::span<std::byte> out);

enum class DecodeStatus : std::uint8_t { ok, truncated, overflow };

struct Decoded {
  std::uint64_t value = 0;
  std::size_t bytes = 0;  // consumed; 0 unless status == ok
  DecodeStatus status = DecodeStatus::truncated;
};

// Decodes an unsigned varint of at most `bytes_max` bytes (5 or 10) from `in`.
// A value that does not fit in bytes_max*7 bits, or in 32 bits when
// bytes_max == 5, is an overflow.
[[nodiscard]] Decoded decode_uvarint(std::span<const std::byte> in, std::size_t bytes_max);

}  // namespace spate::varint
