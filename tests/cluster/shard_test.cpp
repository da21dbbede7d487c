// SPDX-License-Identifier: Apache-2.0
//
// cluster::Shard: one io_context on one thread, its tick, and calls into it
// from other threads.

#include "spate/cluster/shard.h"

#include <atomic>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace spate::cluster {
namespace {

using namespace std::chrono_literals;

TEST(Shard, RunsWorkOnItsOwnThread) {
  Shard shard("test-shard");
  shard.start();
  const auto id = shard.call([] { return std::this_thread::get_id(); });
  EXPECT_NE(id, std::this_thread::get_id());
  // The same thread every time: a shard is one thread.
  EXPECT_EQ(shard.call([] { return std::this_thread::get_id(); }), id);
  EXPECT_EQ(shard.call_awaitable<int>([]() -> awaitable<int> { co_return 42; }), 42);
}

TEST(Shard, ExceptionsComeBackToTheCaller) {
  Shard shard("test-shard");
  shard.start();
  EXPECT_THROW(shard.call([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
  EXPECT_EQ(shard.call([] { return 1; }), 1);  // the shard goes on
}

TEST(Shard, TicksUntilStopped) {
  Shard shard("test-shard");
  shard.start();
  std::atomic<int> ticks{0};
  shard.call([&] { shard.start_ticking(1ms, [&] { ++ticks; }); });
  // Bounded: at most 5 s for three ticks.
  for (int i = 0; i < 500 && ticks < 3; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(ticks.load(), 3);
  shard.call([&] { shard.stop_ticking(); });
  const int after_stop = ticks.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ticks.load(), after_stop);
}

TEST(Shard, DiskWorkCompletesOnTheShard) {
  Shard shard("test-shard");
  shard.start();
  const auto shard_thread = shard.call([] { return std::this_thread::get_id(); });
  std::thread::id work_thread;
  std::thread::id done_thread;
  shard.call_awaitable<int>([&]() -> awaitable<int> {
    co_await shard.disk().run([&] { work_thread = std::this_thread::get_id(); }, shard.executor());
    done_thread = std::this_thread::get_id();
    co_return 0;
  });
  EXPECT_NE(work_thread, shard_thread);
  EXPECT_EQ(done_thread, shard_thread);
}

TEST(Shard, StopIsIdempotentAndWorksBeforeStart) {
  Shard never_started("test-shard");
  never_started.stop();
  Shard shard("test-shard");
  shard.start();
  shard.stop();
  shard.stop();
}

}  // namespace
}  // namespace spate::cluster
