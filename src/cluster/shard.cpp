// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/shard.h"

#include <pthread.h>

namespace spate::cluster {

Shard::Shard(std::string name)
    : name_(std::move(name)), work_(asio::make_work_guard(io_)), ticker_(io_) {}

Shard::~Shard() { stop(); }

void Shard::start() {
  thread_ = std::thread([this] {
    const std::string name = name_.substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
    io_.run();
  });
}

void Shard::start_ticking(std::chrono::milliseconds period, std::function<void()> tick) {
  ticking_ = true;
  asio::co_spawn(
      io_,
      [this, period, tick = std::move(tick)]() -> awaitable<void> {
        boost::system::error_code ec;
        // Bounded by stop_ticking(), which cancels the wait.
        while (ticking_) {
          ticker_.expires_after(period);
          co_await ticker_.async_wait(asio::redirect_error(use_awaitable, ec));
          if (ticking_) tick();
        }
      },
      asio::detached);
}

void Shard::stop_ticking() {
  ticking_ = false;
  ticker_.cancel();
}

void Shard::stop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace spate::cluster
