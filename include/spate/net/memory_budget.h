// SPDX-License-Identifier: Apache-2.0
//
// MemoryBudget: the broker-wide cap on request and response bytes held in
// memory (Kafka's queued.max.request.bytes; docs/limits.md). A connection's
// reader acquires the bytes of a request's buffer as they arrive (and may
// wait); a handler's response is charged without waiting (it exists
// already) and released once sent. Waiting never deadlocks:
//   - a reader in the middle of a frame is served before new frames;
//   - when every byte held belongs to readers waiting in the middle of a
//     frame, the oldest one is granted past the budget (it can then finish,
//     be answered and release), so a frame larger than what is free, or
//     than the whole budget, still progresses;
//   - a connection holding nothing may use a small reserve above the budget
//     (1/8 of it), so that a few connections that fill the budget and never
//     read do not stall well-behaved clients until their write timeout.
// Single-threaded: every call on the io_context's thread.

#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

#include "spate/common/asio.h"
#include "spate/net/metrics.h"
#include "spate/net/signal.h"

namespace spate::net {

class MemoryBudget {
 public:
  MemoryBudget(std::size_t capacity, Metrics metrics = {});

  // Waits until `bytes` more may be held. `mid_frame`: the caller is growing
  // a frame it already holds `held` bytes of (else it starts one);
  // `connection_holds`: what the caller's connection holds besides (its
  // requests being handled and responses not yet sent).
  // `wake` is the caller's signal (notified to wake it; spurious wakes are
  // fine); `stop` says to give up, and then the answer is false.
  awaitable<bool> acquire(std::size_t bytes, bool mid_frame, std::size_t held,
                          std::size_t connection_holds, Signal& wake,
                          const std::function<bool()>& stop);
  // acquire() without waiting: true if `bytes` are held now.
  [[nodiscard]] bool try_acquire(std::size_t bytes, bool mid_frame, std::size_t held,
                                 std::size_t connection_holds);
  // Holds `bytes` without waiting (a response already built).
  void charge(std::size_t bytes);
  void release(std::size_t bytes);

  // Metrics are not touched afterwards (the server is going away).
  void detach_metrics() { metrics_ = {}; }

  [[nodiscard]] std::size_t used() const { return used_; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] std::size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    std::size_t bytes;
    bool mid_frame;
    std::size_t held;
    bool small;  // may use the reserve
    Signal* wake;
    bool granted = false;
  };
  [[nodiscard]] Waiter make_waiter(std::size_t bytes, bool mid_frame, std::size_t held,
                                   std::size_t connection_holds, Signal* wake) const;
  [[nodiscard]] bool fits(const Waiter& w) const;
  void grant();
  void publish();
  // A waiter's coroutine was destroyed before it returned (see acquire).
  void abandon(const Waiter& w);

  std::size_t capacity_;
  std::size_t reserve_;
  std::size_t small_;
  std::size_t used_ = 0;
  std::size_t parked_ = 0;  // bytes held by mid-frame waiters
  std::deque<Waiter*> waiters_;
  Metrics metrics_;
};

// Bytes held in a MemoryBudget, released on destruction.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& o) noexcept : budget_(std::move(o.budget_)), bytes_(o.bytes_) {
    o.bytes_ = 0;
  }
  Reservation& operator=(Reservation&& o) noexcept {
    if (this != &o) {
      reset();
      budget_ = std::move(o.budget_);
      bytes_ = o.bytes_;
      o.bytes_ = 0;
    }
    return *this;
  }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() { reset(); }

  // Takes over `bytes` already counted in `budget` (by acquire or charge).
  void add(const std::shared_ptr<MemoryBudget>& budget, std::size_t bytes) {
    if (!budget_) budget_ = budget;
    bytes_ += bytes;
  }
  void reset() {
    if (budget_ && bytes_ > 0) budget_->release(bytes_);
    bytes_ = 0;
  }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<MemoryBudget> budget_;
  std::size_t bytes_ = 0;
};

}  // namespace spate::net
