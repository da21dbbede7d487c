// SPDX-License-Identifier: Apache-2.0

#include "spate/broker/metrics.h"

namespace spate::broker {

void Metrics::record(std::int16_t api_key, std::chrono::microseconds latency, bool error) {
  if (api_key < 0 || static_cast<std::size_t>(api_key) >= kApiKeySlots) return;
  ApiMetrics& m = apis[static_cast<std::size_t>(api_key)];
  m.requests.fetch_add(1, std::memory_order_relaxed);
  if (error) m.errors.fetch_add(1, std::memory_order_relaxed);
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
  m.latency_sum_us.fetch_add(us, std::memory_order_relaxed);
  std::size_t bucket = 0;
  while (bucket < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[bucket]) ++bucket;
  m.latency_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace spate::broker
