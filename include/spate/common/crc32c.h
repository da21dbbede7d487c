// SPDX-License-Identifier: Apache-2.0
//
// CRC-32C (Castagnoli), the checksum of Kafka RecordBatch v2 and of Spate's
// own on-disk files. Uses the SSE4.2 crc32 instruction (three interleaved
// chains) when the CPU has it, and a portable slicing-by-8 table otherwise.

#pragma once

#include <cstdint>
#include <span>

namespace spate::crc32c {

// Extends `crc` (a finished CRC of earlier bytes, 0 for none) over `data`.
// crc32c::extend(0, "123456789") == 0xE3069283.
[[nodiscard]] std::uint32_t extend(std::uint32_t crc, std::span<const std::byte> data);
[[nodiscard]] inline std::uint32_t value(std::span<const std::byte> data) {
  return extend(0, data);
}

// The two implementations, exposed for tests and benchmarks.
[[nodiscard]] std::uint32_t extend_portable(std::uint32_t crc, std::span<const std::byte> data);
// REQUIRES: has_hardware().
[[nodiscard]] std::uint32_t extend_hardware(std::uint32_t crc, std::span<const std::byte> data);
[[nodiscard]] bool has_hardware();

}  // namespace spate::crc32c
