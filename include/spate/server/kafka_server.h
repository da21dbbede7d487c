// SPDX-License-Identifier: Apache-2.0
//
// KafkaServer: the client listener (design.md, Processes; style.md §1.6): a
// net::Listener whose frames are Kafka requests, each handed to
// broker::Broker. The connection layer (pipelining, responses in order,
// back-pressure on requests and bytes, frame limits, idle, request and write
// timeouts, the broker-wide memory budget of `queued_bytes_max`, Kafka's
// queued.max.request.bytes) is net's (net/listener.h); this file adds what is
// Kafka's: the size prefix (protocol::decode_frame_size), the broker as the
// handler, Fetch's file regions, and the broker's metrics. docs/limits.md
// lists every limit.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "spate/broker/broker.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/net/listener.h"

namespace spate::server {

// The listener's limits (net::ListenerConfig) on the Kafka port.
struct ServerConfig : net::ListenerConfig {
  ServerConfig() { port = 9092; }
};

class KafkaServer {
 public:
  // Time (timeouts, progress) comes from `clock`.
  KafkaServer(asio::io_context& io, ServerConfig config, broker::Broker& broker,
              const Clock& clock);
  ~KafkaServer();

  // Binds and listens. Returns the bound port (the real one for port 0).
  [[nodiscard]] Result<std::uint16_t> listen() { return listener_->listen(); }
  // Starts accepting (on the io_context).
  void start() { listener_->start(); }
  // Stops accepting, lets in-flight requests finish and their responses go
  // out (up to `grace`), then closes every connection.
  awaitable<void> stop(std::chrono::milliseconds grace) { return listener_->stop(grace); }

  [[nodiscard]] std::size_t connection_count() const { return listener_->connection_count(); }

 private:
  class Handler;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<net::Listener> listener_;
};

}  // namespace spate::server
