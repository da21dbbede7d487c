// SPDX-License-Identifier: Apache-2.0

#include "spate/net/background_task.h"

#include <exception>
#include <functional>

namespace spate::net {

void BackgroundTask::spawn(const asio::any_io_executor& executor, awaitable<void> body) {
  if (running_) return;
  running_ = true;
  asio::co_spawn(executor, std::move(body), [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::get(module_)->error("{}: {}", name_, ex.what());
      } catch (...) {
        log::get(module_)->error("{}: ended by an exception of no standard type", name_);
      }
    }
    running_ = false;
    ended_.notify_all();
  });
}

awaitable<void> BackgroundTask::ended() {
  const std::function<bool()> done = [this] { return !running_; };
  (void)co_await ended_.wait_for(done, kNoDeadline);
}

}  // namespace spate::net
