// SPDX-License-Identifier: Apache-2.0

#include "spate/net/memory_budget.h"

#include <atomic>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

namespace spate::net {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// One reader waiting in acquire(): its answer once the io_context has run.
struct Reader {
  explicit Reader(asio::io_context& /*io*/) {}
  Signal wake;
  bool stop = false;
  std::optional<bool> granted;

  void acquire(asio::io_context& io, MemoryBudget& budget, std::size_t bytes, bool mid_frame,
               std::size_t held, std::size_t connection_holds) {
    asio::co_spawn(
        io,
        [&, bytes, mid_frame, held, connection_holds]() -> awaitable<void> {
          granted = co_await budget.acquire(bytes, mid_frame, held, connection_holds, wake,
                                            [this] { return stop; });
        },
        asio::detached);
  }
};

void run(asio::io_context& io) {
  io.restart();
  io.poll();
}

TEST(MemoryBudget, GrantsWhatFitsAndQueuesTheRest) {
  asio::io_context io;
  std::atomic<std::uint64_t> waiters{0};
  std::atomic<std::uint64_t> used{0};
  MemoryBudget budget(64 * kMiB, Metrics{.memory_used_bytes = &used, .memory_waiters = &waiters});
  Reader a(io), b(io);
  a.acquire(io, budget, 60 * kMiB, false, 0, 0);
  run(io);
  ASSERT_EQ(a.granted, true);
  b.acquire(io, budget, 8 * kMiB, false, 0, 8 * kMiB);  // not small: no reserve
  run(io);
  EXPECT_FALSE(b.granted.has_value());
  EXPECT_EQ(waiters.load(), 1U);
  budget.release(60 * kMiB);
  run(io);
  EXPECT_EQ(b.granted, true);
  EXPECT_EQ(budget.used(), 8 * kMiB);
  EXPECT_EQ(used.load(), 8 * kMiB);
}

TEST(MemoryBudget, AFrameLargerThanTheBudgetProgressesWhenItEmpties) {
  asio::io_context io;
  MemoryBudget budget(64 * kMiB);
  budget.charge(10 * kMiB);  // a response not yet sent
  Reader big(io);
  big.acquire(io, budget, 100 * kMiB, false, 0, 0);
  run(io);
  EXPECT_FALSE(big.granted.has_value());
  budget.release(10 * kMiB);
  run(io);
  EXPECT_EQ(big.granted, true);
  EXPECT_EQ(budget.used(), 100 * kMiB);
}

TEST(MemoryBudget, FramesWaitingToGrowDoNotDeadlock) {
  // Two 60 MiB frames each hold 32 MiB of a 64 MiB budget and want more:
  // everything held is theirs, so the older goes past the budget.
  asio::io_context io;
  MemoryBudget budget(64 * kMiB);
  budget.charge(32 * kMiB);  // frame a's first part
  budget.charge(32 * kMiB);  // frame b's first part
  Reader a(io), b(io);
  a.acquire(io, budget, 28 * kMiB, true, 32 * kMiB, 0);
  run(io);
  EXPECT_FALSE(a.granted.has_value());  // b's bytes are not parked: b may finish
  b.acquire(io, budget, 28 * kMiB, true, 32 * kMiB, 0);
  run(io);
  EXPECT_EQ(a.granted, true);
  EXPECT_FALSE(b.granted.has_value());
  EXPECT_EQ(budget.used(), 92 * kMiB);
  budget.release(60 * kMiB);  // a handled
  run(io);
  EXPECT_EQ(b.granted, true);
  EXPECT_EQ(budget.used(), 60 * kMiB);
}

TEST(MemoryBudget, GrowingFramesGoFirstAndOverdraftOnlyWhenAllHeldIsParked) {
  asio::io_context io;
  MemoryBudget budget(64 * kMiB);
  budget.charge(32 * kMiB);  // frame a's first part
  budget.charge(32 * kMiB);  // a handled request's bytes (will be released)
  Reader a(io), fresh(io);
  fresh.acquire(io, budget, 8 * kMiB, false, 0, 4 * kMiB);
  a.acquire(io, budget, 28 * kMiB, true, 32 * kMiB, 0);
  run(io);
  // 32 MiB held by something that will release: wait.
  EXPECT_FALSE(a.granted.has_value());
  EXPECT_FALSE(fresh.granted.has_value());
  budget.release(32 * kMiB);
  run(io);
  // Now everything held is a's (parked): a goes past the budget, first.
  EXPECT_EQ(a.granted, true);
  EXPECT_FALSE(fresh.granted.has_value());
  EXPECT_EQ(budget.used(), 60 * kMiB);
  budget.release(60 * kMiB);
  run(io);
  EXPECT_EQ(fresh.granted, true);
}

TEST(MemoryBudget, ASmallConnectionUsesTheReserveAheadOfTheLine) {
  asio::io_context io;
  MemoryBudget budget(64 * kMiB);
  budget.charge(64 * kMiB);  // unread responses fill the budget
  Reader hog(io), small(io);
  hog.acquire(io, budget, 1 * kMiB, false, 0, 16 * kMiB);
  small.acquire(io, budget, 4096, false, 0, 0);
  run(io);
  EXPECT_FALSE(hog.granted.has_value());
  EXPECT_EQ(small.granted, true);
  // The reserve is bounded (1/8 of the budget).
  Reader too_many(io);
  budget.charge(8 * kMiB);
  too_many.acquire(io, budget, 4096, false, 0, 0);
  run(io);
  EXPECT_FALSE(too_many.granted.has_value());
  too_many.stop = true;
  hog.stop = true;
  too_many.wake.notify_all();
  hog.wake.notify_all();
  run(io);
  EXPECT_EQ(too_many.granted, false);
  EXPECT_EQ(hog.granted, false);
  EXPECT_EQ(budget.waiting(), 0U);
}

TEST(MemoryBudget, AReaderThatGivesUpLetsThoseBehindGo) {
  asio::io_context io;
  MemoryBudget budget(64 * kMiB);
  budget.charge(40 * kMiB);
  Reader first(io), second(io);
  first.acquire(io, budget, 40 * kMiB, false, 0, 10 * kMiB);
  second.acquire(io, budget, 10 * kMiB, false, 0, 10 * kMiB);
  run(io);
  EXPECT_FALSE(first.granted.has_value());
  EXPECT_FALSE(second.granted.has_value());  // FIFO: behind first
  first.stop = true;
  first.wake.notify_all();
  run(io);
  EXPECT_EQ(first.granted, false);
  EXPECT_EQ(second.granted, true);
  EXPECT_EQ(budget.used(), 50 * kMiB);
}

// A reader destroyed while it waits (its io_context torn down with the
// server) leaves the line: the budget keeps no pointer into its coroutine
// frame, and what it was granted but never resumed to take goes back.
TEST(MemoryBudget, AWaiterDestroyedWithItsIoContextLeavesTheLine) {
  MemoryBudget budget(64 * kMiB);
  budget.charge(60 * kMiB);
  {
    asio::io_context io;
    Reader r(io);
    r.acquire(io, budget, 8 * kMiB, true, 4 * kMiB, 0);
    run(io);
    ASSERT_FALSE(r.granted.has_value());
    ASSERT_EQ(budget.waiting(), 1U);
  }  // the suspended coroutine is destroyed here
  EXPECT_EQ(budget.waiting(), 0U);
  budget.release(60 * kMiB);  // would walk the line
  EXPECT_EQ(budget.used(), 0U);
  {
    // Granted by a release, destroyed before it resumed.
    asio::io_context io;
    Reader r(io);
    budget.charge(60 * kMiB);
    r.acquire(io, budget, 8 * kMiB, false, 0, 8 * kMiB);
    run(io);
    ASSERT_EQ(budget.waiting(), 1U);
    budget.release(60 * kMiB);  // grants, and posts the wake-up
    EXPECT_EQ(budget.used(), 8 * kMiB);
  }
  EXPECT_EQ(budget.used(), 0U);
  EXPECT_EQ(budget.waiting(), 0U);
}

}  // namespace
}  // namespace spate::net
