// SPDX-License-Identifier: Apache-2.0

#include "spate/net/signal.h"

#include <array>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

namespace spate::net {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

// Runs what is ready now, without waiting for timers.
void poll_io(asio::io_context& io) {
  io.restart();
  io.poll();
}

// Spawns one wait_until on `signal`; its answer lands in `out`.
void spawn_wait(asio::io_context& io, Signal& signal, Deadline deadline,
                std::optional<WaitResult>& out) {
  asio::co_spawn(
      io,
      [&signal, deadline, &out]() -> awaitable<void> {
        out = co_await signal.wait_until(deadline);
      },
      asio::detached);
}

TEST(Signal, NotifyAllWakesEveryWaiter) {
  asio::io_context io;
  Signal signal;
  std::array<std::optional<WaitResult>, 3> got;
  for (auto& g : got) spawn_wait(io, signal, in(10s), g);
  poll_io(io);
  EXPECT_EQ(signal.waiting(), 3U);
  for (const auto& g : got) EXPECT_FALSE(g.has_value());
  signal.notify_all();
  poll_io(io);
  for (const auto& g : got) EXPECT_EQ(g, WaitResult::notified);
  EXPECT_EQ(signal.waiting(), 0U);
}

TEST(Signal, WaitUntilTimesOutWhenNobodyNotifies) {
  asio::io_context io;
  Signal signal;
  std::optional<WaitResult> got;
  const auto started = std::chrono::steady_clock::now();
  spawn_wait(io, signal, in(30ms), got);
  io.run_for(5s);
  EXPECT_EQ(got, WaitResult::timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 30ms);
  EXPECT_EQ(signal.waiting(), 0U);
}

TEST(Signal, NotifyOneWakesTheOldestOnly) {
  asio::io_context io;
  Signal signal;
  std::optional<WaitResult> first, second;
  EXPECT_FALSE(signal.notify_one());  // nobody waits: nothing happens, nothing is kept
  spawn_wait(io, signal, in(10s), first);
  poll_io(io);
  spawn_wait(io, signal, in(10s), second);
  poll_io(io);
  EXPECT_TRUE(signal.notify_one());
  poll_io(io);
  EXPECT_EQ(first, WaitResult::notified);
  EXPECT_FALSE(second.has_value());
  EXPECT_EQ(signal.waiting(), 1U);
  EXPECT_TRUE(signal.notify_one());
  poll_io(io);
  EXPECT_EQ(second, WaitResult::notified);
  EXPECT_FALSE(signal.notify_one());
}

TEST(Signal, ANotificationBeforeTheWaitIsNotKept) {
  asio::io_context io;
  Signal signal;
  signal.notify_all();
  signal.notify_one();
  std::optional<WaitResult> got;
  spawn_wait(io, signal, in(20ms), got);
  io.run_for(5s);
  EXPECT_EQ(got, WaitResult::timed_out);
}

TEST(Signal, WaitWithoutDeadlineEndsOnlyWhenNotified) {
  asio::io_context io;
  Signal signal;
  bool woke = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await signal.wait();
        woke = true;
      },
      asio::detached);
  io.run_for(30ms);
  EXPECT_FALSE(woke);
  signal.notify_all();
  poll_io(io);
  EXPECT_TRUE(woke);
}

TEST(Signal, WaitAnyWakesOnEitherSignalAndLeavesBoth) {
  asio::io_context io;
  Signal a, b, c;
  std::optional<WaitResult> got;
  std::vector<Signal*> signals{&a, &b, &c};
  asio::co_spawn(
      io, [&]() -> awaitable<void> { got = co_await wait_any(signals, in(10s)); }, asio::detached);
  poll_io(io);
  EXPECT_EQ(a.waiting() + b.waiting() + c.waiting(), 3U);
  b.notify_all();
  poll_io(io);
  EXPECT_EQ(got, WaitResult::notified);
  EXPECT_EQ(a.waiting() + b.waiting() + c.waiting(), 0U);
  // Timed out: it leaves every signal too.
  got.reset();
  asio::co_spawn(
      io, [&]() -> awaitable<void> { got = co_await wait_any(signals, in(20ms)); }, asio::detached);
  io.restart();
  io.run_for(5s);
  EXPECT_EQ(got, WaitResult::timed_out);
  EXPECT_EQ(a.waiting() + b.waiting() + c.waiting(), 0U);
  a.notify_all();  // nobody left to wake
}

// "Wait until the N things in flight are done, or a deadline": the shape of a
// listener's drain at stop and of spated's shutdown.
TEST(Signal, WaitForEndsWhenTheConditionHoldsOrAtTheDeadline) {
  asio::io_context io;
  Signal finished;
  int in_flight = 3;
  std::optional<bool> done;
  const std::function<bool()> drained = [&] { return in_flight == 0; };
  asio::co_spawn(
      io, [&]() -> awaitable<void> { done = co_await finished.wait_for(drained, in(10s)); },
      asio::detached);
  // Each thing ends on its own timer and notifies.
  std::vector<std::unique_ptr<asio::steady_timer>> ends;
  for (int i = 1; i <= 3; ++i) {
    auto& t = ends.emplace_back(std::make_unique<asio::steady_timer>(io, i * 5ms));
    t->async_wait([&](boost::system::error_code) {
      --in_flight;
      finished.notify_all();
    });
  }
  io.run_for(5s);
  EXPECT_EQ(done, true);
  EXPECT_EQ(in_flight, 0);

  // Never done: false at the deadline, not before.
  in_flight = 1;
  done.reset();
  const auto started = std::chrono::steady_clock::now();
  asio::co_spawn(
      io, [&]() -> awaitable<void> { done = co_await finished.wait_for(drained, in(30ms)); },
      asio::detached);
  io.restart();
  io.run_for(5s);
  EXPECT_EQ(done, false);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 30ms);
}

TEST(Signal, AWaiterDestroyedWithItsIoContextLeavesNothingBehind) {
  Signal signal;
  {
    asio::io_context io;
    std::optional<WaitResult> got;
    spawn_wait(io, signal, in(10s), got);
    poll_io(io);
    EXPECT_EQ(signal.waiting(), 1U);
  }  // the suspended coroutine (and its timer) is destroyed here
  EXPECT_EQ(signal.waiting(), 0U);
  signal.notify_all();  // touches nothing that is gone
  EXPECT_FALSE(signal.notify_one());
  {
    // The signal may go first, too.
    asio::io_context io;
    std::optional<WaitResult> got;
    {
      Signal short_lived;
      spawn_wait(io, short_lived, in(10s), got);
      poll_io(io);
    }
    poll_io(io);
    EXPECT_FALSE(got.has_value());
  }
}

}  // namespace
}  // namespace spate::net
