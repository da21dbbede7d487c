// SPDX-License-Identifier: Apache-2.0
//
// Signal: the one wake-up primitive (design.md, Threading). Coroutines on one
// io_context wait on a Signal until it is notified or a deadline passes;
// notify_all wakes every waiter, notify_one the oldest. A notification wakes
// only who waits at that moment (nothing is stored), so waiters check their
// condition before waiting and again after: wait_for() does that loop.
// One thread only (the io_context's): no locks.
//
// Boost 1.74 has no channels: a waiter is a timer set to its deadline and
// cancelled to wake. The Signal holds waiters weakly, so a coroutine destroyed
// while it waits (its io_context torn down) leaves nothing behind, and a
// Signal may be destroyed before the io_context.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "spate/common/asio.h"

namespace spate::net {

using Deadline = std::chrono::steady_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();
// The timers' deadline `timeout` from now: how a deadline of an injected Clock
// becomes one (`deadline_in(deadline - clock.steady_now())`).
[[nodiscard]] inline Deadline deadline_in(std::chrono::nanoseconds timeout) {
  return std::chrono::steady_clock::now() + timeout;
}

enum class WaitResult : bool { notified, timed_out };

class Signal {
 public:
  Signal() = default;
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // Suspends until notified or until the deadline, whichever comes first.
  awaitable<WaitResult> wait_until(Deadline deadline);
  // Suspends until notified or for `timeout`: a deadline of an injected Clock
  // becomes `deadline - clock.steady_now()`, so a ManualClock never makes a
  // real timer fire early or spin.
  awaitable<WaitResult> wait_at_most(std::chrono::nanoseconds timeout);
  // Suspends until notified.
  // (Returns wait_until's awaitable itself: no coroutine frame of its own,
  // which an idle connection's writer would hold for as long as it idles.)
  awaitable<WaitResult> wait() { return wait_until(kNoDeadline); }
  // Waits until `done()` holds (checked first, then after every wake) or the
  // deadline passes. True if `done()` held: "wait until the N things in
  // flight are finished" is `wait_for([&] { return n == 0; }, deadline)`
  // with a notify_all() wherever n falls. `done` must outlive the wait
  // (pass a named std::function).
  awaitable<bool> wait_for(const std::function<bool()>& done, Deadline deadline);

  // Wakes every coroutine waiting now.
  void notify_all();
  // Wakes the one that has waited longest, if any. True if one was woken.
  bool notify_one();

  // Coroutines waiting now.
  [[nodiscard]] std::size_t waiting() const;

  // One waiter registered with several signals (wait_any).
  struct Waiter;

 private:
  friend awaitable<WaitResult> wait_any(std::span<Signal* const> signals, Deadline deadline);
  void add(const std::shared_ptr<Waiter>& w) { waiters_.push_back(w); }
  void remove(const std::shared_ptr<Waiter>& w);

  std::vector<std::weak_ptr<Waiter>> waiters_;
};

// Suspends until any of `signals` is notified or the deadline passes (a Fetch
// over many partitions). Every signal must outlive the wait. Name each signal
// once: a duplicate costs an entry per wait in that signal, nothing else.
awaitable<WaitResult> wait_any(std::span<Signal* const> signals, Deadline deadline);

}  // namespace spate::net
