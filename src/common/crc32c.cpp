// SPDX-License-Identifier: Apache-2.0
//
// CRC-32C. Hardware path: the SSE4.2 crc32 instruction over three independent
// chains (the instruction has a latency of 3 cycles and a throughput of 1),
// recombined with precomputed "shift by N zero bytes" tables, which works
// because the CRC register update is linear over GF(2). Portable path:
// slicing-by-8 tables.

#include "spate/common/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace spate::crc32c {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78U;  // reflected 0x1EDC6F41

struct Tables {
  std::array<std::array<std::uint32_t, 256>, 8> slice{};
};

constexpr Tables make_tables() {
  Tables t;
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? (c >> 1U) ^ kPoly : c >> 1U;
    t.slice[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (std::size_t s = 1; s < 8; ++s) {
      const std::uint32_t prev = t.slice[s - 1][i];
      t.slice[s][i] = (prev >> 8U) ^ t.slice[0][prev & 0xFFU];
    }
  }
  return t;
}

constexpr Tables kTables = make_tables();

std::uint32_t load_le32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86 and every platform Spate targets are little-endian
}

// Raw register update (no pre/post inversion), portable.
std::uint32_t update_portable(std::uint32_t crc, const std::byte* p, std::size_t n) {
  while (n >= 8) {
    const std::uint32_t lo = load_le32(p) ^ crc;
    const std::uint32_t hi = load_le32(p + 4);
    crc = kTables.slice[7][lo & 0xFFU] ^ kTables.slice[6][(lo >> 8U) & 0xFFU] ^
          kTables.slice[5][(lo >> 16U) & 0xFFU] ^ kTables.slice[4][lo >> 24U] ^
          kTables.slice[3][hi & 0xFFU] ^ kTables.slice[2][(hi >> 8U) & 0xFFU] ^
          kTables.slice[1][(hi >> 16U) & 0xFFU] ^ kTables.slice[0][hi >> 24U];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) {
    crc = (crc >> 8U) ^ kTables.slice[0][(crc ^ static_cast<std::uint32_t>(*p++)) & 0xFFU];
  }
  return crc;
}

#if defined(__x86_64__)

constexpr std::size_t kLong = 8192;  // bytes per chain in the long loop
constexpr std::size_t kShort = 256;  // bytes per chain in the short loop

// shift[k][v]: the register after feeding `len` zero bytes to a register whose
// only set bits are v << 8k. XOR of four lookups shifts any register.
struct ShiftTable {
  std::array<std::array<std::uint32_t, 256>, 4> t{};
};

ShiftTable make_shift_table(std::size_t len) {
  // Zero bytes through the portable update are the same linear map the
  // instruction applies, so the tables can be built without the hardware.
  std::array<std::uint32_t, 32> basis{};
  std::array<std::byte, kLong> zeros{};
  for (unsigned bit = 0; bit < 32; ++bit) {
    basis[bit] = update_portable(1U << bit, zeros.data(), len);
  }
  ShiftTable s;
  for (unsigned k = 0; k < 4; ++k) {
    for (unsigned v = 0; v < 256; ++v) {
      std::uint32_t r = 0;
      for (unsigned b = 0; b < 8; ++b) {
        if ((v >> b) & 1U) r ^= basis[8 * k + b];
      }
      s.t[k][v] = r;
    }
  }
  return s;
}

std::uint32_t shift(const ShiftTable& s, std::uint32_t crc) {
  return s.t[0][crc & 0xFFU] ^ s.t[1][(crc >> 8U) & 0xFFU] ^ s.t[2][(crc >> 16U) & 0xFFU] ^
         s.t[3][crc >> 24U];
}

const ShiftTable& long_shift() {
  static const ShiftTable table = make_shift_table(kLong);
  return table;
}
const ShiftTable& short_shift() {
  static const ShiftTable table = make_shift_table(kShort);
  return table;
}

__attribute__((target("sse4.2"))) std::uint64_t load_le64(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

template <std::size_t Len>
__attribute__((target("sse4.2"))) std::uint32_t three_chains(std::uint32_t crc0, const std::byte* p,
                                                             const ShiftTable& table) {
  std::uint64_t c0 = crc0;
  std::uint64_t c1 = 0;
  std::uint64_t c2 = 0;
  for (std::size_t i = 0; i < Len; i += 8) {
    c0 = _mm_crc32_u64(c0, load_le64(p + i));
    c1 = _mm_crc32_u64(c1, load_le64(p + Len + i));
    c2 = _mm_crc32_u64(c2, load_le64(p + 2 * Len + i));
  }
  auto r = shift(table, static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1);
  return shift(table, r) ^ static_cast<std::uint32_t>(c2);
}

__attribute__((target("sse4.2"))) std::uint32_t update_hardware(std::uint32_t crc,
                                                                const std::byte* p, std::size_t n) {
  while (n >= 3 * kLong) {
    crc = three_chains<kLong>(crc, p, long_shift());
    p += 3 * kLong;
    n -= 3 * kLong;
  }
  while (n >= 3 * kShort) {
    crc = three_chains<kShort>(crc, p, short_shift());
    p += 3 * kShort;
    n -= 3 * kShort;
  }
  std::uint64_t c = crc;
  while (n >= 8) {
    c = _mm_crc32_u64(c, load_le64(p));
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, static_cast<std::uint8_t>(*p++));
  return c32;
}

bool detect_hardware() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}

#endif

}  // namespace

bool has_hardware() {
#if defined(__x86_64__)
  static const bool present = detect_hardware();
  return present;
#else
  return false;
#endif
}

std::uint32_t extend_portable(std::uint32_t crc, std::span<const std::byte> data) {
  return ~update_portable(~crc, data.data(), data.size());
}

std::uint32_t extend_hardware(std::uint32_t crc, std::span<const std::byte> data) {
#if defined(__x86_64__)
  return ~update_hardware(~crc, data.data(), data.size());
#else
  return extend_portable(crc, data);
#endif
}

std::uint32_t extend(std::uint32_t crc, std::span<const std::byte> data) {
  return has_hardware() ? extend_hardware(crc, data) : extend_portable(crc, data);
}

}  // namespace spate::crc32c
