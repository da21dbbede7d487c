// SPDX-License-Identifier: Apache-2.0

#include "spate/net/memory_budget.h"

#include <algorithm>

namespace spate::net {

MemoryBudget::MemoryBudget(std::size_t capacity, Metrics metrics)
    : capacity_(capacity),
      reserve_(capacity / 8),
      small_(std::max<std::size_t>(capacity / 64, 64 * 1024)),
      metrics_(metrics) {
  publish();
}

bool MemoryBudget::fits(const Waiter& w) const {
  const std::size_t limit = capacity_ + (w.small ? reserve_ : 0);
  if (used_ <= limit && w.bytes <= limit - used_) return true;
  // Everything held belongs to frames waiting to grow (or nothing is held):
  // waiting longer cannot free anything, so the oldest goes past the budget.
  return used_ == parked_;
}

MemoryBudget::Waiter MemoryBudget::make_waiter(std::size_t bytes, bool mid_frame, std::size_t held,
                                               std::size_t connection_holds, Signal* wake) const {
  const std::size_t total = connection_holds + held + bytes;
  return Waiter{bytes, mid_frame, mid_frame ? held : 0,
                total >= connection_holds && total <= small_, wake};
}

bool MemoryBudget::try_acquire(std::size_t bytes, bool mid_frame, std::size_t held,
                               std::size_t connection_holds) {
  const Waiter w = make_waiter(bytes, mid_frame, held, connection_holds, nullptr);
  // Nobody ahead (a growing frame goes before new ones; a small one may use
  // the reserve ahead of the line): take it now.
  const bool ahead = mid_frame ? std::any_of(waiters_.begin(), waiters_.end(),
                                             [](const Waiter* o) { return o->mid_frame; })
                               : !w.small && !waiters_.empty();
  if (ahead) return false;
  parked_ += w.held;
  const bool ok = fits(w);
  parked_ -= w.held;
  if (!ok) return false;
  used_ += bytes;
  publish();
  return true;
}

awaitable<bool> MemoryBudget::acquire(std::size_t bytes, bool mid_frame, std::size_t held,
                                      std::size_t connection_holds, Signal& wake,
                                      const std::function<bool()>& stop) {
  if (try_acquire(bytes, mid_frame, held, connection_holds)) co_return true;
  Waiter w = make_waiter(bytes, mid_frame, held, connection_holds, &wake);
  // If this coroutine is destroyed while it waits (its io_context torn down
  // with the server), nothing may point at `w` afterwards, and what it was
  // granted but never took goes back.
  struct Abandon {
    MemoryBudget& budget;
    Waiter& waiter;
    bool returned = false;
    ~Abandon() {
      if (!returned) budget.abandon(waiter);
    }
  } abandon{*this, w};
  parked_ += w.held;
  if (mid_frame) {
    auto it = std::find_if(waiters_.begin(), waiters_.end(),
                           [](const Waiter* o) { return !o->mid_frame; });
    waiters_.insert(it, &w);
  } else {
    waiters_.push_back(&w);
  }
  // What this waiter parks may be what lets the head go (or itself).
  grant();
  if (w.granted) {
    abandon.returned = true;
    publish();
    co_return true;
  }
  add(metrics_.memory_waits);
  publish();
  // Bounded: each pass ends granted, stopped, or waits for the next release.
  while (!w.granted && !stop()) {
    co_await wake.wait();
  }
  abandon.returned = true;
  if (w.granted) co_return true;
  // Gave up: leave the line, and let those behind go if they now can.
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  parked_ -= w.held;
  grant();
  publish();
  co_return false;
}

void MemoryBudget::abandon(const Waiter& w) {
  if (w.granted) {
    used_ -= std::min(w.bytes, used_);
  } else {
    std::erase(waiters_, &w);
    parked_ -= std::min(w.held, parked_);
  }
  // No grant() here: timers may be going away with their io_context; the
  // next release() lets the line move.
  publish();
}

void MemoryBudget::charge(std::size_t bytes) {
  used_ += bytes;
  publish();
}

void MemoryBudget::release(std::size_t bytes) {
  used_ -= std::min(bytes, used_);
  grant();
  publish();
}

void MemoryBudget::grant() {
  // Bounded by the number of waiters; strictly in order (no starvation).
  while (!waiters_.empty() && fits(*waiters_.front())) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    parked_ -= w->held;
    used_ += w->bytes;
    w->granted = true;
    w->wake->notify_all();
  }
}

void MemoryBudget::publish() {
  set(metrics_.memory_budget_bytes, capacity_);
  set(metrics_.memory_used_bytes, used_);
  set(metrics_.memory_waiters, waiters_.size());
}

}  // namespace spate::net
