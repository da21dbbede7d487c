// SPDX-License-Identifier: Apache-2.0
//
// Broker metrics: requests, errors and latency by API, bytes in and out,
// connections. Updated on the shard thread; the admin HTTP endpoint renders
// them (with partition gauges) in the Prometheus text format.

#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace spate::broker {

// Every served API key has a slot (UnregisterBroker, 64, is the highest).
inline constexpr std::size_t kApiKeySlots = 65;
// Latency histogram bucket upper bounds, in microseconds (+Inf is implied).
inline constexpr std::array<std::uint64_t, 12> kLatencyBucketsUs = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 500000, 1000000};

struct ApiMetrics {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> errors{0};  // requests answered with an error code somewhere
  std::array<std::atomic<std::uint64_t>, kLatencyBucketsUs.size() + 1> latency_buckets{};
  std::atomic<std::uint64_t> latency_sum_us{0};
};

struct Metrics {
  std::array<ApiMetrics, kApiKeySlots> apis;
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> malformed_requests{0};
  std::atomic<std::uint64_t> records_produced_bytes{0};
  // Connection layer (server::KafkaServer; docs/limits.md).
  std::atomic<std::uint64_t> memory_budget_bytes{0};    // --max-queued-bytes
  std::atomic<std::uint64_t> memory_used_bytes{0};      // request + response bytes held
  std::atomic<std::uint64_t> memory_waiters{0};         // readers waiting for the budget
  std::atomic<std::uint64_t> memory_waits{0};           // times a reader had to wait
  std::atomic<std::uint64_t> queued_response_bytes{0};  // built, not yet sent
  std::atomic<std::uint64_t> connections_closed_write_timeout{0};
  std::atomic<std::uint64_t> connections_closed_request_timeout{0};
  std::atomic<std::uint64_t> connections_closed_idle{0};
  std::atomic<std::uint64_t> accept_errors{0};

  void record(std::int16_t api_key, std::chrono::microseconds latency, bool error);
};

}  // namespace spate::broker
