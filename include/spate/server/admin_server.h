// SPDX-License-Identifier: Apache-2.0
//
// AdminServer: HTTP on --admin-listen (Boost.Beast). GET /health answers 200
// once the broker serves and 503 while it starts or stops; GET /metrics
// answers the Prometheus text format. Anything else is 404 (405 for a method
// other than GET/HEAD). One request per connection read at a time, with a
// deadline and a header size limit; at most kSessionsMax sessions at once
// (more are closed at once). A failed accept (out of descriptors) backs off
// from 100 ms to 1 s, logging one line per 10 s.

#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "spate/common/asio.h"
#include "spate/common/result.h"
#include "spate/net/log_limiter.h"

namespace spate::server {

class AdminServer {
 public:
  using MetricsSource = std::function<std::string()>;
  static constexpr std::size_t kSessionsMax = 32;

  AdminServer(asio::io_context& io, std::string host, std::uint16_t port, MetricsSource metrics);

  [[nodiscard]] Result<std::uint16_t> listen();
  void start();
  void stop();

  void set_serving(bool serving) { serving_ = serving; }

 private:
  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket socket);
  [[nodiscard]] std::string own_metrics() const;

  asio::io_context& io_;
  std::string host_;
  std::uint16_t port_;
  MetricsSource metrics_;
  tcp::acceptor acceptor_;
  std::atomic<bool> serving_{false};  // set from the thread that starts the broker
  bool stopping_ = false;
  std::size_t sessions_ = 0;
  std::uint64_t sessions_rejected_ = 0;
  std::uint64_t accept_errors_ = 0;
  net::LogLimiter accept_log_;
  net::LogLimiter reject_log_;
};

}  // namespace spate::server
