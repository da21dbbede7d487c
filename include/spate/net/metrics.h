// SPDX-License-Identifier: Apache-2.0
//
// The counters and gauges a listener keeps, as pointers into its owner's
// metrics (broker::Metrics for the Kafka listener; docs/limits.md). Any may
// be null: that one is not kept.

#pragma once

#include <atomic>
#include <cstdint>

namespace spate::net {

using Counter = std::atomic<std::uint64_t>*;

struct Metrics {
  Counter connections_open = nullptr;
  Counter connections_total = nullptr;
  Counter connections_rejected = nullptr;  // over connections_max
  Counter accept_errors = nullptr;
  Counter bad_frames = nullptr;  // an unreadable size prefix
  Counter connections_closed_write_timeout = nullptr;
  Counter connections_closed_request_timeout = nullptr;
  Counter connections_closed_idle = nullptr;
  Counter queued_response_bytes = nullptr;  // built, not yet sent
  // The memory budget (MemoryBudget).
  Counter memory_budget_bytes = nullptr;
  Counter memory_used_bytes = nullptr;
  Counter memory_waiters = nullptr;
  Counter memory_waits = nullptr;
};

inline void add(Counter c, std::uint64_t n = 1) {
  if (c != nullptr) c->fetch_add(n, std::memory_order_relaxed);
}
inline void set(Counter c, std::uint64_t v) {
  if (c != nullptr) c->store(v, std::memory_order_relaxed);
}

}  // namespace spate::net
