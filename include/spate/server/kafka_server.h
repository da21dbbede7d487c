// SPDX-License-Identifier: Apache-2.0
//
// KafkaServer: the client listener (design.md, Processes; style.md §1.6).
// Each connection has a reader coroutine (frames in, size-checked, each
// request handed to broker::Broker in its own coroutine) and a writer
// coroutine that sends responses strictly in request order. Back-pressure:
// at most `inflight_requests_max` requests, `inflight_bytes_max` request
// bytes and `queued_response_bytes_max` unsent response bytes per
// connection; beyond that the reader stops reading. Broker-wide, request and
// response bytes in memory are held in a MemoryBudget of `queued_bytes_max`
// (Kafka's queued.max.request.bytes); a request's buffer grows only as its
// bytes arrive. A peer that stops reading its responses (or stops in the
// middle of a request) for `write_timeout` is closed. A frame whose size or
// header is unreadable closes that connection only. docs/limits.md lists
// every limit.

#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "spate/broker/broker.h"
#include "spate/common/asio.h"
#include "spate/common/result.h"
#include "spate/server/log_limiter.h"
#include "spate/server/memory_budget.h"

namespace spate::server {

struct ServerConfig {
  std::string host = "0.0.0.0";
  std::uint16_t port = 9092;
  std::size_t frame_bytes_max = 100U << 20U;        // socket.request.max.bytes
  std::size_t inflight_requests_max = 64;           // per connection
  std::size_t inflight_bytes_max = 128U << 20U;     // request bytes per connection
  std::chrono::milliseconds idle_timeout{600'000};  // connections.max.idle.ms
  std::size_t connections_max = 10'000;
  std::size_t queued_bytes_max = 100U << 20U;          // broker-wide, requests + responses
  std::size_t queued_response_bytes_max = 16U << 20U;  // unsent, per connection
  std::chrono::milliseconds write_timeout{30'000};     // no progress sending (or receiving a frame)
};

class Connection;

class KafkaServer {
 public:
  KafkaServer(asio::io_context& io, ServerConfig config, broker::Broker& broker);
  ~KafkaServer();

  // Binds and listens. Returns the bound port (the real one for port 0).
  [[nodiscard]] Result<std::uint16_t> listen();
  // Starts accepting (on the io_context).
  void start();
  // Stops accepting, lets in-flight requests finish and their responses go
  // out (up to `grace`), then closes every connection.
  awaitable<void> stop(std::chrono::milliseconds grace);

  [[nodiscard]] std::size_t connection_count() const { return connections_.size(); }

 private:
  awaitable<void> accept_loop();
  // Closes connections past their idle, write or request timeout.
  awaitable<void> sweep_loop();
  friend class Connection;
  void forget(Connection* c);
  void add_queued_responses(std::size_t bytes);
  void remove_queued_responses(std::size_t bytes);

  asio::io_context& io_;
  ServerConfig config_;
  broker::Broker& broker_;
  tcp::acceptor acceptor_;
  std::shared_ptr<MemoryBudget> budget_;
  std::list<std::weak_ptr<Connection>> connections_;
  asio::steady_timer sweep_timer_;
  std::size_t queued_responses_ = 0;  // unsent response bytes, every connection
  LogLimiter accept_log_;
  LogLimiter refuse_log_;
  LogLimiter close_log_;
  bool stopping_ = false;
};

}  // namespace spate::server
