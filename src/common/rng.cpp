// SPDX-License-Identifier: Apache-2.0
//
// xoshiro256** (Blackman and Vigna), seeded through splitmix64.

#include "spate/common/rng.h"

#include <random>

#include "spate/common/assert.h"

namespace spate {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

__extension__ using U128 = unsigned __int128;

constexpr std::uint64_t rotl(std::uint64_t x, unsigned k) { return (x << k) | (x >> (64U - k)); }

}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& s : state_) s = splitmix64(seed);
}

Rng Rng::from_os() {
  std::random_device device;
  std::uint64_t seed = (std::uint64_t{device()} << 32U) | device();
  return Rng(seed);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17U;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

std::uint64_t Rng::uniform(std::uint64_t bound) {
  SPATE_ASSERT(bound > 0, "Rng::uniform bound 0");
  // Lemire's nearly divisionless method with rejection: exact and portable.
  U128 m = static_cast<U128>(next()) * bound;
  auto low = static_cast<std::uint64_t>(m);
  if (low < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      m = static_cast<U128>(next()) * bound;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64U);
}

std::int64_t Rng::range(std::int64_t low, std::int64_t high) {
  SPATE_ASSERT(low <= high, "Rng::range low {} > high {}", low, high);
  const auto span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  if (span == UINT64_MAX) return static_cast<std::int64_t>(next());
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + uniform(span + 1));
}

bool Rng::chance(std::uint32_t percent) { return uniform(100) < percent; }

}  // namespace spate
