// SPDX-License-Identifier: Apache-2.0
//
// The disk thread (design.md, Threading): runs blocking work (fsync of a
// flush ticket) off the network thread and posts each completion back to the
// executor that asked. One thread; work runs in submission order.

#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "spate/common/asio.h"

namespace spate::cluster {

class DiskThread {
 public:
  DiskThread();   // the thread starts with the first submit()
  ~DiskThread();  // finishes queued work, then joins
  DiskThread(const DiskThread&) = delete;
  DiskThread& operator=(const DiskThread&) = delete;

  // Runs `work` on the disk thread, then `done` on `executor`.
  void submit(std::function<void()> work, asio::any_io_executor executor,
              std::function<void()> done);
  // The same for a coroutine on `executor`: resumes there once `work` ran.
  // Results come back through state `work` captured.
  awaitable<void> run(std::function<void()> work, asio::any_io_executor executor);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::thread thread_;                       // guarded by mutex_ until started
};

}  // namespace spate::cluster
