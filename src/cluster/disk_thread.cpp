// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/disk_thread.h"

#include <pthread.h>

namespace spate::cluster {

DiskThread::DiskThread() = default;

DiskThread::~DiskThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void DiskThread::submit(std::function<void()> work, asio::any_io_executor executor,
                        std::function<void()> done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back([work = std::move(work), executor, done = std::move(done)]() mutable {
      work();
      asio::post(executor, std::move(done));
    });
    // Started at the first job: a broker that takes no writes and runs no
    // topic operation starts (and idles) without it.
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  wake_.notify_one();
}

awaitable<void> DiskThread::run(std::function<void()> work, asio::any_io_executor executor) {
  // The initiation is a named variable holding only shared_ptrs: GCC 12
  // destroys a lambda temporary with non-trivial captures twice when it sits
  // in a co_await expression.
  auto job = std::make_shared<std::function<void()>>(std::move(work));
  auto initiation = [this, job, executor](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    submit([job] { (*job)(); }, executor, [h] { std::move (*h)(); });
  };
  co_await asio::async_initiate<decltype(use_awaitable), void()>(initiation, use_awaitable);
}

void DiskThread::loop() {
  pthread_setname_np(pthread_self(), "spate-disk");
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace spate::cluster
