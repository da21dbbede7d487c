// SPDX-License-Identifier: Apache-2.0
//
// What the storage benchmarks share: settings, a fresh directory per log, raw POSIX
// helpers for the baselines, a disk thread like cluster::DiskThread. One header for the
// three files of spate_storage_bench.

#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "spate/common/clock.h"
#include "spate/common/crc32c.h"
#include "spate/common/limits.h"
#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/file.h"
#include "spate/storage/partition_log.h"

namespace spate_bench {

namespace stdfs = std::filesystem;
using spate::Error;
using spate::Offset;
using spate::Status;
using spate::Term;
using spate::storage::FileSlice;
using spate::storage::FlushPolicy;
using spate::storage::FlushTicket;
using spate::storage::LogConfig;
using spate::storage::PartitionLog;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
constexpr std::size_t kRecordValueBytes = 1024;
constexpr std::size_t kRecordsPerBatch = 16;
// One flush per 64 batches of ~16 KiB: a ~1 MiB group commit.
constexpr std::size_t kBatchesPerFlush = 64;
constexpr std::size_t kReadChunkBytes = 1 << 20;
constexpr const char* kRecoveryPointFile = "recovery.point";  // docs/storage-format.md
constexpr const char* kCleanShutdownFile = "clean.shutdown";

// Sizes; --smoke shrinks them so that the ctest smoke run takes seconds.
struct Settings {
  bool smoke = false;
  stdfs::path dir;                          // fresh, removed at exit
  std::uint64_t append_bytes = 256 * kMiB;  // written per append iteration
  std::uint64_t log_bytes = 1 * kGiB;       // the read and recovery logs
};
inline Settings g_settings;
inline std::uint64_t g_path_counter = 0;

inline const spate::SystemClock& system_clock() {
  static const spate::SystemClock clock;
  return clock;
}

inline spate::storage::Filesystem& posix_fs() {
  static const std::unique_ptr<spate::storage::Filesystem> fs = spate::storage::make_posix_fs();
  return *fs;
}

// A client-built batch of 16 records with 1 KiB values (~16.5 KiB).
inline const std::vector<std::byte>& batch_template() {
  static const std::vector<std::byte> batch = [] {
    spate::protocol::BatchBuilder builder(1'700'000'000'000);
    std::vector<std::byte> value(kRecordValueBytes);
    for (std::size_t i = 0; i < value.size(); ++i) {
      value[i] = static_cast<std::byte>((i * 131 + 7) & 0xFF);
    }
    for (std::size_t i = 0; i < kRecordsPerBatch; ++i) builder.add_value(value);
    return builder.build();
  }();
  return batch;
}

inline std::size_t batches_for(std::uint64_t bytes) {
  return static_cast<std::size_t>(bytes / batch_template().size());
}

// A new path under the benchmark directory (not created).
inline stdfs::path fresh_path(std::string_view name) {
  return g_settings.dir / (std::string(name) + "-" + std::to_string(g_path_counter++));
}

inline void remove_quietly(const stdfs::path& path) {
  std::error_code ignored;
  stdfs::remove_all(path, ignored);
}

inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Benchmarks never assert (style.md §3.12); a failure skips the benchmark with its reason.
inline void skip(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
}

inline std::string errno_text(const char* call) {
  return std::string(call) + ": " + std::strerror(errno);
}

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// write(2) until all of `data` is written. Returns the error text on failure.
inline std::optional<std::string> write_all(int fd, std::span<const std::byte> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_text("write");
    }
    done += static_cast<std::size_t>(n);
  }
  return std::nullopt;
}

// pread(2) until `out` is full or end of file. Returns the bytes read, or -1 (errno set).
inline ssize_t pread_full(int fd, std::span<std::byte> out, std::uint64_t position) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// A broker's disk thread: runs one blocking job (an fdatasync, a FlushTicket::sync) at a time
// while the owner thread keeps appending.
class DiskThread {
 public:
  DiskThread() : thread_([this] { run(); }) {}
  DiskThread(const DiskThread&) = delete;
  DiskThread& operator=(const DiskThread&) = delete;
  ~DiskThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // REQUIRES: idle().
  void submit(std::function<Status()> job) {
    {
      std::lock_guard lock(mutex_);
      job_ = std::move(job);
      busy_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
  }
  // True once the last submitted job has finished; cheap enough to poll after every append.
  [[nodiscard]] bool idle() const { return !busy_.load(std::memory_order_acquire); }
  // Blocks until the last submitted job has finished and returns its result.
  Status wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return !busy_.load(std::memory_order_acquire); });
    return result_;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || job_ != nullptr; });
      if (job_ == nullptr) return;  // stopping and nothing left to do
      auto job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      Status result = job();
      lock.lock();
      result_ = std::move(result);
      busy_.store(false, std::memory_order_release);
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::function<Status()> job_;
  Status result_;
  std::atomic<bool> busy_{false};
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

inline Status fdatasync_status(int fd) {
  if (::fdatasync(fd) != 0) return Error::io(errno_text("fdatasync"));
  return {};
}

// Logs written once and shared by the read and recovery benchmarks (kept until exit).
struct LogFixture {
  stdfs::path dir;
  LogConfig config;
  std::unique_ptr<PartitionLog> log;  // open (after an unclean recovery) or null
  std::uint64_t bytes = 0;            // of all segment files
  std::size_t segments = 0;
};
inline std::map<std::string, std::unique_ptr<LogFixture>> g_fixtures;

}  // namespace spate_bench
