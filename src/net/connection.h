// SPDX-License-Identifier: Apache-2.0
//
// One framed connection of a Listener (listener.h has the behaviour): a
// reader and a writer coroutine, the queue of requests in order, and the
// state its listener's sweeper checks for timeouts. Private to net.

#pragma once

#include <deque>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spate/net/listener.h"
#include "spate/net/log_limiter.h"
#include "spate/net/memory_budget.h"
#include "spate/net/signal.h"

namespace spate::net {

class Connection;
using SteadyTime = Clock::SteadyTime;

// What a listener's connections share with it.
struct ListenerState {
  ListenerState(ListenerConfig c, Handler& h, Metrics m, log::Module mod, const Clock& clk);

  [[nodiscard]] const std::shared_ptr<spdlog::logger>& logger() const { return log::get(module); }
  // A connection closed: it leaves the list (and stop() may be waiting).
  void forget(std::list<std::weak_ptr<Connection>>::iterator where);
  void add_queued_responses(std::size_t bytes);
  void remove_queued_responses(std::size_t bytes);

  ListenerConfig config;
  Handler& handler;
  Metrics metrics;
  log::Module module;
  const Clock& clock;
  std::shared_ptr<MemoryBudget> budget;
  std::list<std::weak_ptr<Connection>> connections;
  Signal connection_closed;
  std::size_t queued_responses = 0;  // unsent response bytes, every connection
  LogLimiter accept_log;
  LogLimiter refuse_log;
  LogLimiter close_log;
};

// One request's place in the response order.
struct Slot {
  bool done = false;
  bool close = false;  // the request was unreadable: close after earlier responses
  std::optional<OutFrame> frame;
  std::size_t request_bytes = 0;   // counted against the connection's inflight_bytes_max
  std::size_t response_bytes = 0;  // in memory (file regions excluded), until sent
  Reservation request;             // the request's buffer, in the budget until handled
  Reservation response;            // the response's bytes, in the budget until sent
};

// Logs an exception that escaped a connection coroutine instead of dropping it.
void log_exception(log::Module module, std::exception_ptr e, const char* what);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ListenerState> state, tcp::socket socket);

  void start(std::list<std::weak_ptr<Connection>>::iterator where);
  // Stops reading new requests; the writer closes once every response is out.
  void drain();
  void close();
  // Called by the listener's sweeper: closes the connection past a timeout.
  void check_timeouts(SteadyTime now);

 private:
  [[nodiscard]] std::string peer() const;
  void log_close(const char* why, std::chrono::milliseconds after);
  [[nodiscard]] bool stopped() const { return closed_ || draining_; }
  [[nodiscard]] SteadyTime now() const { return state_->clock.steady_now(); }
  [[nodiscard]] bool backed_up() const;

  awaitable<void> reader();
  // Reads a frame body of `size` bytes (see connection.cpp).
  awaitable<bool> read_body(std::size_t size, std::vector<std::byte>& frame, Reservation& held);
  // Holds `more` bytes for a growing frame in the budget, waiting if need be.
  awaitable<bool> grow(std::size_t more, const Reservation& held);
  awaitable<void> handle(std::shared_ptr<Slot> slot, std::vector<std::byte> frame);
  awaitable<void> writer();
  // Sends the front slot's response; false if the connection closed.
  awaitable<bool> send_front(const std::shared_ptr<Slot>& slot);
  awaitable<bool> write_all(std::span<const std::byte> bytes);
  awaitable<bool> send(const OutFrame& frame);
  awaitable<bool> send_file(const FileRegion& file);
  void enqueue_close();

  std::shared_ptr<ListenerState> state_;
  tcp::socket socket_;
  Signal writer_wake_;
  Signal reader_wake_;
  std::deque<std::shared_ptr<Slot>> queue_;
  std::list<std::weak_ptr<Connection>>::iterator where_;
  std::size_t inflight_bytes_ = 0;
  std::size_t queued_response_bytes_ = 0;
  SteadyTime last_activity_;
  SteadyTime read_progress_{};
  SteadyTime write_progress_{};
  bool in_frame_ = false;        // between a frame's size and its last byte
  bool waiting_budget_ = false;  // in_frame_, waiting for memory (not the peer's fault)
  bool writing_ = false;         // inside send()
  bool reading_done_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace spate::net
