// SPDX-License-Identifier: Apache-2.0

#include "spate/net/signal.h"

#include <algorithm>

namespace spate::net {

struct Signal::Waiter {
  Waiter(const asio::any_io_executor& executor, Deadline deadline) : timer(executor, deadline) {}
  asio::steady_timer timer;
  bool notified = false;
};

namespace {

// Wakes `w`; false if it is gone or was woken already.
bool wake(const std::weak_ptr<Signal::Waiter>& weak) {
  auto w = weak.lock();
  if (!w || w->notified) return false;
  w->notified = true;
  w->timer.cancel();
  return true;
}

}  // namespace

awaitable<WaitResult> Signal::wait_until(Deadline deadline) {
  // One frame, not a call into wait_any: an idle connection's writer waits
  // here for as long as it idles (10,000 connections, 10,000 waits).
  auto w = std::make_shared<Waiter>(co_await asio::this_coro::executor, deadline);
  add(w);
  boost::system::error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  remove(w);  // the signal outlives its waiters' wake-ups (its owner waits on it)
  co_return w->notified ? WaitResult::notified : WaitResult::timed_out;
}

awaitable<WaitResult> Signal::wait_at_most(std::chrono::nanoseconds timeout) {
  return wait_until(deadline_in(timeout));  // no frame of its own
}

awaitable<bool> Signal::wait_for(const std::function<bool()>& done, Deadline deadline) {
  // Bounded by the deadline: each pass returns or waits for a notification.
  // (No co_return inside the loop: GCC 12 miscompiled that form here.)
  bool timed_out = false;
  while (!timed_out && !done()) {
    const WaitResult woke = co_await wait_until(deadline);
    timed_out = woke == WaitResult::timed_out;
  }
  co_return done();
}

void Signal::notify_all() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (const auto& w : waiters) wake(w);
}

bool Signal::notify_one() {
  // Bounded by the number of waiters: each pass drops one entry.
  while (!waiters_.empty()) {
    auto w = std::move(waiters_.front());
    waiters_.erase(waiters_.begin());
    if (wake(w)) return true;
  }
  return false;
}

std::size_t Signal::waiting() const {
  return static_cast<std::size_t>(
      std::count_if(waiters_.begin(), waiters_.end(), [](const auto& w) {
        auto p = w.lock();
        return p && !p->notified;
      }));
}

void Signal::remove(const std::shared_ptr<Waiter>& w) {
  // Drops `w` and any waiter whose coroutine is gone.
  std::erase_if(waiters_, [&](const std::weak_ptr<Waiter>& o) {
    auto p = o.lock();
    return !p || p == w;
  });
}

awaitable<WaitResult> wait_any(std::span<Signal* const> signals, Deadline deadline) {
  auto executor = co_await asio::this_coro::executor;
  auto w = std::make_shared<Signal::Waiter>(executor, deadline);
  for (Signal* s : signals) s->add(w);
  boost::system::error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  // The signals outlive their waiters' wake-ups (their owners wait on them).
  for (Signal* s : signals) s->remove(w);
  co_return w->notified ? WaitResult::notified : WaitResult::timed_out;
}

}  // namespace spate::net
