// SPDX-License-Identifier: Apache-2.0
//
// Rng: xoshiro256** with our own bounded-integer helper, so that a seed gives
// the same sequence on every standard library (style.md §2.4).

#pragma once

#include <cstdint>

namespace spate {

class Rng {
 public:
  // Seeds the state with splitmix64, as the xoshiro authors recommend.
  explicit Rng(std::uint64_t seed);
  // A generator seeded from the operating system (std::random_device).
  static Rng from_os();

  [[nodiscard]] std::uint64_t next();
  // Uniform in [0, bound). REQUIRES: bound > 0. Unbiased (Lemire's method).
  [[nodiscard]] std::uint64_t uniform(std::uint64_t bound);
  // Uniform in [low, high]. REQUIRES: low <= high.
  [[nodiscard]] std::int64_t range(std::int64_t low, std::int64_t high);
  // True with probability percent/100.
  [[nodiscard]] bool chance(std::uint32_t percent);

 private:
  std::uint64_t state_[4];
};

}  // namespace spate
