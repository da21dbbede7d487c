// SPDX-License-Identifier: Apache-2.0

#include "spate/net/background_task.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace spate::net {
namespace {

void poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

// Spawns a wait for the task's end; `ended` is set when it returns.
void wait_ended(asio::io_context& io, BackgroundTask& task, bool& ended) {
  asio::co_spawn(
      io,
      [&task, &ended]() -> awaitable<void> {
        co_await task.ended();
        ended = true;
      },
      asio::detached);
}

TEST(BackgroundTask, EndedWaitsForTheBodyAndASecondSpawnWhileRunningIsIgnored) {
  asio::io_context io;
  BackgroundTask task(log::Module::cluster, "test task");
  Signal wake;
  bool stop = false;
  int bodies = 0;
  auto body = [&]() -> awaitable<void> {
    ++bodies;
    // Bounded: until stop.
    while (!stop) co_await wake.wait();
  };
  EXPECT_FALSE(task.running());
  task.spawn(io.get_executor(), body());
  task.spawn(io.get_executor(), body());  // running: left alone
  poll(io);
  EXPECT_TRUE(task.running());
  EXPECT_EQ(bodies, 1);
  bool ended = false;
  wait_ended(io, task, ended);
  poll(io);
  EXPECT_FALSE(ended);
  stop = true;
  wake.notify_all();
  poll(io);
  EXPECT_TRUE(ended);
  EXPECT_FALSE(task.running());
  // Ended already: returns at once; and it may run again.
  ended = false;
  wait_ended(io, task, ended);
  poll(io);
  EXPECT_TRUE(ended);
  stop = false;
  task.spawn(io.get_executor(), body());
  poll(io);
  EXPECT_EQ(bodies, 2);
  stop = true;
  wake.notify_all();
  poll(io);
  EXPECT_FALSE(task.running());
}

TEST(BackgroundTask, AnExceptionEndsTheTaskWithoutEscaping) {
  asio::io_context io;
  BackgroundTask task(log::Module::cluster, "throwing task");
  task.spawn(io.get_executor(), []() -> awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  }());
  EXPECT_NO_THROW(poll(io));
  EXPECT_FALSE(task.running());
  // Nor one of no standard type (it was rethrown from the completion
  // handler: the process ended).
  task.spawn(io.get_executor(), []() -> awaitable<void> {
    throw 42;
    co_return;
  }());
  EXPECT_NO_THROW(poll(io));
  EXPECT_FALSE(task.running());
}

}  // namespace
}  // namespace spate::net
