// SPDX-License-Identifier: Apache-2.0
//
// BackgroundTask: one long-running coroutine of a component (the metadata
// applier's loop, the leader balancer's, the single node's migration),
// spawned on the component's executor, with what its owner's stop() needs:
// whether it still runs, and a wait until it has ended. An exception that
// escapes the body is logged under the task's name, never rethrown. One
// thread only (the executor's), like Signal.

#pragma once

#include <string>

#include "spate/common/asio.h"
#include "spate/common/log.h"
#include "spate/net/signal.h"

namespace spate::net {

class BackgroundTask {
 public:
  BackgroundTask(log::Module module, std::string name) : module_(module), name_(std::move(name)) {}
  BackgroundTask(const BackgroundTask&) = delete;
  BackgroundTask& operator=(const BackgroundTask&) = delete;

  // Spawns `body` on `executor`. A task that runs already is left alone.
  void spawn(const asio::any_io_executor& executor, awaitable<void> body);
  [[nodiscard]] bool running() const { return running_; }
  // Returns once the body has ended (at once if it is not running). The
  // owner tells the body to end first (its own flag and signal).
  awaitable<void> ended();

 private:
  log::Module module_;
  std::string name_;
  bool running_ = false;
  Signal ended_;
};

}  // namespace spate::net
