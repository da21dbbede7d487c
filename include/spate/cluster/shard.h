// SPDX-License-Identifier: Apache-2.0
//
// Shard (design.md, Threading): one io_context run by exactly one thread, the
// disk thread that does its fsyncs, and its periodic tick. Every partition
// belongs to one shard, so partition state needs no locks. On a 2-core
// machine a node has one shard.

#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "spate/cluster/disk_thread.h"
#include "spate/common/asio.h"

namespace spate::cluster {

class Shard {
 public:
  // `name` names the thread (at most 15 bytes are kept: pthread's limit).
  explicit Shard(std::string name);
  ~Shard();  // stop()
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  [[nodiscard]] asio::io_context& io() { return io_; }
  [[nodiscard]] asio::any_io_executor executor() { return io_.get_executor(); }
  [[nodiscard]] DiskThread& disk() { return disk_; }

  // Starts the thread that runs the io_context. Work posted before runs then.
  void start();
  // Calls `tick` on the shard every `period` until stop_ticking(). Call once.
  void start_ticking(std::chrono::milliseconds period, std::function<void()> tick);
  // No tick runs after this returns. On the shard's thread.
  void stop_ticking();

  // Runs `work` on the shard and waits for its result. Never on the shard's
  // own thread (it would wait for itself); exceptions come back to the caller.
  template <typename F>
  auto call(F&& work) -> std::invoke_result_t<F> {
    return asio::post(io_, asio::use_future(std::forward<F>(work))).get();
  }
  // The same for a coroutine.
  template <typename T>
  T call_awaitable(std::function<awaitable<T>()> work) {
    return asio::co_spawn(io_, std::move(work), asio::use_future).get();
  }

  // Lets the io_context finish, then joins its thread. Queued disk work
  // still runs (the destructor of the disk thread drains it). Idempotent.
  void stop();

 private:
  std::string name_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer ticker_;
  bool ticking_ = false;
  // After the io_context: its completions are posted there, so it is joined first.
  DiskThread disk_;
  std::thread thread_;
};

}  // namespace spate::cluster
