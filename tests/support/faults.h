// SPDX-License-Identifier: Apache-2.0
//
// Shorthands for FaultyFs plans in tests.

#pragma once

#include <cstdint>
#include <initializer_list>

#include "spate/storage/faulty_fs.h"

namespace spate::testing {

inline constexpr int kEio = 5;
inline constexpr int kEnospc = 28;
inline constexpr auto kAllOps = static_cast<std::uint32_t>(storage::FaultOp::all);

// The mask of the given kinds of call.
[[nodiscard]] inline std::uint32_t ops(std::initializer_list<storage::FaultOp> list) {
  std::uint32_t out = 0;
  for (auto op : list) out |= static_cast<std::uint32_t>(op);
  return out;
}

// Fail the `countdown`-th call of a kind in `on` with `err`.
[[nodiscard]] inline storage::FaultPlan plan(std::uint32_t on, int err,
                                             std::uint64_t countdown = 1) {
  storage::FaultPlan p;
  p.ops = on;
  p.err = err;
  p.countdown = countdown;
  return p;
}

}  // namespace spate::testing
