// SPDX-License-Identifier: Apache-2.0
//
// For tests of the modules above storage (cluster, broker) that run
// coroutines on an io_context of their own and hold the disk thread.
// Header-only: the binaries that include it link Asio through those modules.

#pragma once

#include <chrono>
#include <exception>
#include <future>
#include <optional>

#include "spate/cluster/disk_thread.h"
#include "spate/common/asio.h"
#include "spate/common/assert.h"

namespace spate::testing {

// Runs a coroutine on `io` (from the test's thread) to completion. Bounded:
// 10 s, then an assertion names the stuck test.
template <typename T>
T run_on(asio::io_context& io, awaitable<T> task) {
  std::optional<T> out;
  asio::co_spawn(
      io, [&]() -> awaitable<void> { out.emplace(co_await std::move(task)); },
      [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
  io.restart();
  for (int i = 0; i < 1000 && !out; ++i) io.run_one_for(std::chrono::milliseconds(10));
  SPATE_ASSERT(out.has_value(), "coroutine did not finish within 10 s");
  return std::move(*out);
}

// Holds the disk thread (every flush waits behind it) until released;
// released at the latest when it goes out of scope, so that a failing test
// still ends.
class DiskHold {
 public:
  DiskHold(cluster::DiskThread& disk, asio::any_io_executor ex) {
    auto held = released_.get_future().share();
    disk.submit([held] { held.wait(); }, std::move(ex), [] {});
  }
  DiskHold(const DiskHold&) = delete;
  DiskHold& operator=(const DiskHold&) = delete;
  ~DiskHold() { release(); }
  void release() {
    if (!done_) released_.set_value();
    done_ = true;
  }

 private:
  std::promise<void> released_;
  bool done_ = false;
};

}  // namespace spate::testing
