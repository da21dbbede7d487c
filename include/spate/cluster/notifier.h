// SPDX-License-Identifier: Apache-2.0
//
// Notifier: wakes every coroutine waiting on it (a partition's "data arrived"
// or "flushed" signal). One shard thread only: no locks. Boost 1.74 has no
// channels, so a waiter is a timer set to its deadline and cancelled to wake.

#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "spate/common/asio.h"

namespace spate::cluster {

class Notifier {
 public:
  // Suspends until notify_all() or for `timeout`, whichever comes first: a
  // deadline of the injected Clock becomes `deadline - clock.steady_now()`.
  // Returns true if woken by notify_all().
  awaitable<bool> wait_for(std::chrono::nanoseconds timeout) {
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    timer->expires_after(timeout);
    co_return co_await wait_on(timer);
  }
  // The same until a point of the system's steady clock.
  awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline) {
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, deadline);
    co_return co_await wait_on(timer);
  }

  // For a coroutine waiting on several notifiers with one timer (Fetch over
  // many partitions): add it to each, wait on it, remove it from each.
  void add(const std::shared_ptr<asio::steady_timer>& timer) { waiters_.push_back(timer); }
  void remove(const std::shared_ptr<asio::steady_timer>& timer) { std::erase(waiters_, timer); }

  void notify_all() {
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiters) w->cancel();
  }

  [[nodiscard]] std::size_t waiting() const { return waiters_.size(); }

 private:
  awaitable<bool> wait_on(const std::shared_ptr<asio::steady_timer>& timer) {
    waiters_.push_back(timer);
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
    std::erase(waiters_, timer);
    co_return ec == asio::error::operation_aborted;
  }

  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

}  // namespace spate::cluster
