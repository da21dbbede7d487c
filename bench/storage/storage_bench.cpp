// SPDX-License-Identifier: Apache-2.0
//
// Storage benchmarks on a real disk: PartitionLog append (no flush, group commit inline and on a
// disk thread), read and recovery, each beside a raw POSIX baseline measured in the same run on
// the same directory. How to run and read them: bench/README.md.

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

namespace {

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
Settings g_settings;
std::uint64_t g_path_counter = 0;

const spate::SystemClock& system_clock() {
  static const spate::SystemClock clock;
  return clock;
}

spate::storage::Filesystem& posix_fs() {
  static const std::unique_ptr<spate::storage::Filesystem> fs = spate::storage::make_posix_fs();
  return *fs;
}

// A client-built batch of 16 records with 1 KiB values (~16.5 KiB).
const std::vector<std::byte>& batch_template() {
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

std::size_t batches_for(std::uint64_t bytes) {
  return static_cast<std::size_t>(bytes / batch_template().size());
}

// A new path under the benchmark directory (not created).
stdfs::path fresh_path(std::string_view name) {
  return g_settings.dir / (std::string(name) + "-" + std::to_string(g_path_counter++));
}

void remove_quietly(const stdfs::path& path) {
  std::error_code ignored;
  stdfs::remove_all(path, ignored);
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Benchmarks never assert (style.md §3.12); a failure skips the benchmark with its reason.
void skip(benchmark::State& state, const std::string& why) { state.SkipWithError(why.c_str()); }

std::string errno_text(const char* call) { return std::string(call) + ": " + std::strerror(errno); }

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
std::optional<std::string> write_all(int fd, std::span<const std::byte> data) {
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
ssize_t pread_full(int fd, std::span<std::byte> out, std::uint64_t position) {
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

Status fdatasync_status(int fd) {
  if (::fdatasync(fd) != 0) return Error::io(errno_text("fdatasync"));
  return {};
}

// ---------------------------------------------------------------------------------------------
// CRC32C
// ---------------------------------------------------------------------------------------------

void run_crc(benchmark::State& state, bool hardware) {
  if (hardware && !spate::crc32c::has_hardware()) {
    skip(state, "no SSE4.2 crc32 instruction");
    return;
  }
  std::vector<std::byte> data(static_cast<std::size_t>(state.range(0)));
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i & 0xFF);
  for (auto _ : state) {
    const std::uint32_t crc = hardware ? spate::crc32c::extend_hardware(0, data)
                                       : spate::crc32c::extend_portable(0, data);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Crc32c_Hardware(benchmark::State& state) { run_crc(state, true); }
void BM_Crc32c_Portable(benchmark::State& state) { run_crc(state, false); }
BENCHMARK(BM_Crc32c_Hardware)->Arg(16 * 1024)->Arg(1 << 20);
BENCHMARK(BM_Crc32c_Portable)->Arg(1 << 20);

// ---------------------------------------------------------------------------------------------
// Append: 16 KiB batches of 1 KiB records into a new log per iteration.
// ---------------------------------------------------------------------------------------------

enum class Durability : std::uint8_t {
  none,         // no flush at all (FlushPolicy::none)
  inline_sync,  // one flush() per ~1 MiB on the appending thread
  disk_thread,  // begin_flush here, FlushTicket::sync on a disk thread, finish_flush here
};

// Appends `batches` copies of `batch` to `log`, flushing as `mode` says. Returns the number of
// syncs, or the first error.
spate::Result<std::uint64_t> append_run(PartitionLog& log, std::vector<std::byte>& batch,
                                        std::size_t batches, Durability mode, DiskThread* disk) {
  std::uint64_t syncs = 0;
  std::size_t since_flush = 0;
  std::optional<FlushTicket> ticket;  // in flight on the disk thread
  // On every return, including errors, the disk thread is done with `ticket` before it goes.
  struct WaitForDisk {
    DiskThread* disk;
    ~WaitForDisk() {
      if (disk != nullptr) (void)disk->wait();
    }
  } wait_for_disk{disk};
  for (std::size_t i = 0; i < batches; ++i) {
    auto appended = log.append(batch, Term(1));
    if (!appended) return appended.error();
    ++since_flush;
    switch (mode) {
      case Durability::none:
        break;
      case Durability::inline_sync:
        if (since_flush == kBatchesPerFlush) {
          if (auto s = log.flush(); !s) return s.error();
          ++syncs;
          since_flush = 0;
        }
        break;
      case Durability::disk_thread:
        if (ticket && disk->idle()) {
          auto s = log.finish_flush(*ticket, disk->wait());
          ticket.reset();
          if (!s) return s.error();
        }
        if (!ticket && since_flush >= kBatchesPerFlush) {
          ticket = log.begin_flush();
          const FlushTicket* in_flight = &*ticket;
          disk->submit([in_flight] { return in_flight->sync(); });
          ++syncs;
          since_flush = 0;
        }
        break;
    }
  }
  // Make everything durable before the clock stops (except for Durability::none).
  if (mode == Durability::disk_thread) {
    if (ticket) {
      auto s = log.finish_flush(*ticket, disk->wait());
      ticket.reset();
      if (!s) return s.error();
    }
    FlushTicket last = log.begin_flush();
    if (!last.empty()) {
      disk->submit([&last] { return last.sync(); });
      if (auto s = log.finish_flush(last, disk->wait()); !s) return s.error();
      ++syncs;
    }
  } else if (mode == Durability::inline_sync && since_flush > 0) {
    if (auto s = log.flush(); !s) return s.error();
    ++syncs;
  }
  return syncs;
}

// One timed pass of a write benchmark.
struct Pass {
  double seconds = 0;
  std::uint64_t syncs = 0;
};

// Runs `pass` once untimed, then once per iteration. The warm-up pass matters on this VM: the
// first writes into page-cache memory the guest has not touched yet can be several times slower.
void drive_passes(benchmark::State& state, const std::function<spate::Result<Pass>()>& pass,
                  std::uint64_t bytes_per_pass, std::uint64_t records_per_pass) {
  if (auto warm_up = pass(); !warm_up) {
    skip(state, warm_up.error().message());
    return;
  }
  std::uint64_t syncs = 0;
  for (auto _ : state) {
    auto done = pass();
    if (!done) {
      skip(state, done.error().message());
      break;
    }
    syncs += done->syncs;
    state.SetIterationTime(done->seconds);
  }
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(bytes_per_pass));
  if (records_per_pass > 0) {
    state.SetItemsProcessed(iterations * static_cast<std::int64_t>(records_per_pass));
  }
  state.counters["syncs"] =
      benchmark::Counter(static_cast<double>(syncs), benchmark::Counter::kAvgIterations);
}

void run_append(benchmark::State& state, Durability mode) {
  std::vector<std::byte> batch = batch_template();
  const std::size_t batches = batches_for(g_settings.append_bytes);
  LogConfig config;  // 1 GiB segments: no roll inside one pass
  config.flush_policy = mode == Durability::none ? FlushPolicy::none : FlushPolicy::always;
  std::optional<DiskThread> disk;
  if (mode == Durability::disk_thread) disk.emplace();
  auto pass = [&]() -> spate::Result<Pass> {
    const stdfs::path dir = fresh_path("append");
    auto log = PartitionLog::open(posix_fs(), dir, config, system_clock());
    if (!log) return log.error();
    const auto start = SteadyClock::now();
    auto syncs = append_run(**log, batch, batches, mode, disk ? &*disk : nullptr);
    const double seconds = seconds_since(start);
    log->reset();  // without close(): no flush outside the measured part
    remove_quietly(dir);
    if (!syncs) return syncs.error();
    return Pass{seconds, *syncs};
  };
  drive_passes(state, pass, batches * batch.size(), batches * kRecordsPerBatch);
}

// The raw counterpart of run_append: write(2) of the same bytes to a new file, fdatasync as
// `mode` says.
void run_raw_write(benchmark::State& state, Durability mode) {
  const std::vector<std::byte>& batch = batch_template();
  const std::size_t writes = batches_for(g_settings.append_bytes);
  std::optional<DiskThread> disk;
  if (mode == Durability::disk_thread) disk.emplace();
  auto pass = [&]() -> spate::Result<Pass> {
    const stdfs::path path = fresh_path("raw-write");
    const Fd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
    if (fd.get() < 0) return Error::io(errno_text("open"));
    std::optional<std::string> failure;
    std::uint64_t syncs = 0;
    const auto start = SteadyClock::now();
    std::size_t since_sync = 0;
    bool syncing = false;
    const int raw_fd = fd.get();
    for (std::size_t i = 0; i < writes && !failure; ++i) {
      failure = write_all(raw_fd, batch);
      ++since_sync;
      if (mode == Durability::inline_sync && since_sync == kBatchesPerFlush) {
        if (auto s = fdatasync_status(raw_fd); !s) failure = s.error().message();
        ++syncs;
        since_sync = 0;
      } else if (mode == Durability::disk_thread) {
        if (syncing && disk->idle()) {
          if (auto s = disk->wait(); !s) failure = s.error().message();
          syncing = false;
        }
        if (!syncing && since_sync >= kBatchesPerFlush) {
          disk->submit([raw_fd] { return fdatasync_status(raw_fd); });
          syncing = true;
          ++syncs;
          since_sync = 0;
        }
      }
    }
    if (mode == Durability::disk_thread) {
      // Never leave a job running on a descriptor about to be closed.
      if (syncing) {
        if (auto s = disk->wait(); !s && !failure) failure = s.error().message();
      }
      if (!failure && since_sync > 0) {
        disk->submit([raw_fd] { return fdatasync_status(raw_fd); });
        if (auto s = disk->wait(); !s) failure = s.error().message();
        ++syncs;
      }
    } else if (!failure && mode == Durability::inline_sync && since_sync > 0) {
      if (auto s = fdatasync_status(raw_fd); !s) failure = s.error().message();
      ++syncs;
    }
    const double seconds = seconds_since(start);
    remove_quietly(path);
    if (failure) return Error::io(*failure);
    return Pass{seconds, syncs};
  };
  drive_passes(state, pass, writes * batch.size(), 0);
}

void BM_Append_PolicyNone_RealDisk(benchmark::State& state) { run_append(state, Durability::none); }
void BM_Raw_WriteLoop_RealDisk(benchmark::State& state) { run_raw_write(state, Durability::none); }
void BM_Append_GroupCommit_RealDisk(benchmark::State& state) {
  run_append(state, Durability::inline_sync);
}
void BM_Raw_WriteFdatasyncPerMiB_RealDisk(benchmark::State& state) {
  run_raw_write(state, Durability::inline_sync);
}
void BM_Append_GroupCommitDiskThread_RealDisk(benchmark::State& state) {
  run_append(state, Durability::disk_thread);
}
void BM_Raw_WriteFdatasyncDiskThread_RealDisk(benchmark::State& state) {
  run_raw_write(state, Durability::disk_thread);
}

BENCHMARK(BM_Append_PolicyNone_RealDisk)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_WriteLoop_RealDisk)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Append_GroupCommit_RealDisk)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_WriteFdatasyncPerMiB_RealDisk)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Append_GroupCommitDiskThread_RealDisk)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_WriteFdatasyncDiskThread_RealDisk)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Logs written once and shared by the read and recovery benchmarks (kept until exit).
// ---------------------------------------------------------------------------------------------

struct LogFixture {
  stdfs::path dir;
  LogConfig config;
  std::unique_ptr<PartitionLog> log;  // open (after an unclean recovery) or null
  std::uint64_t bytes = 0;            // of all segment files
  std::size_t segments = 0;
};
std::map<std::string, std::unique_ptr<LogFixture>> g_fixtures;

// The .log files of a partition directory, in offset order.
std::vector<stdfs::path> segment_files(const stdfs::path& dir) {
  std::vector<stdfs::path> files;
  for (const auto& entry : stdfs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A log of ~log_bytes in `segments` segments, written once, flushed (so that no open pays for
// write-back) and left open.
spate::Result<LogFixture*> log_fixture(std::size_t segments) {
  const std::string name = "log-" + std::to_string(segments) + "seg";
  if (auto it = g_fixtures.find(name); it != g_fixtures.end()) return it->second.get();
  auto fixture = std::make_unique<LogFixture>();
  fixture->dir = fresh_path(name);
  const std::size_t batches = batches_for(g_settings.log_bytes);
  const std::uint64_t batch_bytes = batch_template().size();
  fixture->config.flush_policy = FlushPolicy::none;
  fixture->config.segment_bytes_max =
      segments == 1 ? spate::limits::kSegmentBytesMax  // 2 GiB: the whole log in one segment
                    : (batches + segments - 1) / segments * batch_bytes;
  auto log = PartitionLog::open(posix_fs(), fixture->dir, fixture->config, system_clock());
  if (!log) return log.error();
  std::vector<std::byte> batch = batch_template();
  for (std::size_t i = 0; i < batches; ++i) {
    if (auto a = (*log)->append(batch, Term(1)); !a) return a.error();
  }
  if (auto s = (*log)->flush(); !s) return s.error();
  fixture->bytes = (*log)->size_bytes();
  fixture->segments = (*log)->segment_count();
  fixture->log = std::move(*log);
  LogFixture* raw = fixture.get();
  g_fixtures.emplace(name, std::move(fixture));
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Read: the whole log from page cache, 1 MiB at a time.
// ---------------------------------------------------------------------------------------------

void BM_Read_RealDisk(benchmark::State& state) {
  auto fixture = log_fixture(1);
  if (!fixture) {
    skip(state, fixture.error().message());
    return;
  }
  if ((*fixture)->log == nullptr) {
    auto log = PartitionLog::open(posix_fs(), (*fixture)->dir, (*fixture)->config, system_clock());
    if (!log) {
      skip(state, log.error().message());
      return;
    }
    (*fixture)->log = std::move(*log);
  }
  PartitionLog& log = *(*fixture)->log;
  std::vector<std::byte> buffer(kReadChunkBytes);
  std::uint64_t bytes = 0;
  std::uint64_t reads = 0;
  for (auto _ : state) {
    std::optional<std::string> failure;
    Offset from = log.start_offset();
    while (from < log.end_offset() && !failure) {
      auto read = log.read(from, kReadChunkBytes);
      if (!read || read->bytes.empty()) {
        failure = read ? "empty read below the end offset" : read.error().message();
        break;
      }
      const FileSlice& slice = read->bytes;
      if (slice.size > buffer.size()) buffer.resize(static_cast<std::size_t>(slice.size));
      const auto out = std::span<std::byte>(buffer).first(static_cast<std::size_t>(slice.size));
      const int fd = slice.file->native_handle();
      if (fd >= 0) {
        if (pread_full(fd, out, slice.position) != static_cast<ssize_t>(out.size())) {
          failure = errno_text("pread");
        }
      } else if (auto n = slice.file->read_at(slice.position, out); !n || *n != out.size()) {
        failure = "read_at came back short";
      }
      benchmark::DoNotOptimize(buffer.data());
      bytes += slice.size;
      ++reads;
      from = read->next_offset;
    }
    if (failure) {
      skip(state, *failure);
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["reads"] =
      benchmark::Counter(static_cast<double>(reads), benchmark::Counter::kAvgIterations);
}

// Drops the (clean, already synced) pages of every .log file of `dir` from the page cache, so
// that the next read comes from the device, as after a reboot. Needs no privileges.
std::optional<std::string> drop_page_cache(const stdfs::path& dir) {
  for (const auto& path : segment_files(dir)) {
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return errno_text("open");
    if (const int rc = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED); rc != 0) {
      return std::string("posix_fadvise: ") + std::strerror(rc);
    }
  }
  return std::nullopt;
}

// pread(2) of every .log file of `dir` in 1 MiB chunks into `buffer`, optionally with CRC32C
// over each chunk. Adds the bytes read to `bytes`. Returns the error text on failure.
std::optional<std::string> scan_files(const stdfs::path& dir, std::vector<std::byte>& buffer,
                                      bool crc, std::uint64_t& bytes) {
  std::uint32_t checksum = 0;
  for (const auto& path : segment_files(dir)) {
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return errno_text("open");
    std::uint64_t position = 0;
    while (true) {
      const ssize_t n = pread_full(fd.get(), buffer, position);
      if (n < 0) return errno_text("pread");
      if (n == 0) break;
      const auto chunk = std::span<const std::byte>(buffer).first(static_cast<std::size_t>(n));
      if (crc) checksum ^= spate::crc32c::value(chunk);
      benchmark::DoNotOptimize(buffer.data());
      position += static_cast<std::uint64_t>(n);
    }
    bytes += position;
  }
  benchmark::DoNotOptimize(checksum);
  return std::nullopt;
}

// Untimed, before cold benchmarks: one drop-and-read pass, because on this VM the first read
// into page-cache memory the guest has not touched yet costs several times more CPU than later
// ones (seen as 2.5 s instead of 0.7 s for a cold 1 GiB scan).
std::optional<std::string> prime_cold_reads(const stdfs::path& dir) {
  if (auto failure = drop_page_cache(dir)) return failure;
  std::vector<std::byte> buffer(kReadChunkBytes);
  std::uint64_t ignored = 0;
  return scan_files(dir, buffer, false, ignored);
}

// The raw scan benchmarks; `cold` drops the files from the page cache before each (timed) pass.
void run_raw_scan(benchmark::State& state, const stdfs::path& dir, bool crc, bool cold) {
  if (cold) {
    if (auto failure = prime_cold_reads(dir)) {
      skip(state, *failure);
      return;
    }
  }
  std::vector<std::byte> buffer(kReadChunkBytes);
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    std::optional<std::string> failure;
    if (cold) {
      state.PauseTiming();
      failure = drop_page_cache(dir);
      state.ResumeTiming();
    }
    if (!failure) failure = scan_files(dir, buffer, crc, bytes);
    if (failure) {
      skip(state, *failure);
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_Raw_PreadScan_RealDisk(benchmark::State& state) {
  auto fixture = log_fixture(1);
  if (!fixture) {
    skip(state, fixture.error().message());
    return;
  }
  run_raw_scan(state, (*fixture)->dir, false, false);
}

BENCHMARK(BM_Read_RealDisk)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_PreadScan_RealDisk)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Recovery: PartitionLog::open of the ~1 GiB log, after an unclean or a clean shutdown, with the
// log in the page cache (a process crash) or not (`cold`: a reboot).
// ---------------------------------------------------------------------------------------------

void run_recovery(benchmark::State& state, bool clean, bool cold) {
  auto fixture_or = log_fixture(static_cast<std::size_t>(state.range(0)));
  if (!fixture_or) {
    skip(state, fixture_or.error().message());
    return;
  }
  LogFixture& fixture = **fixture_or;
  if (cold) {
    if (auto failure = prime_cold_reads(fixture.dir)) {
      skip(state, *failure);
      return;
    }
  }
  std::uint64_t bytes_scanned = 0;
  std::uint64_t segments_scanned = 0;
  for (auto _ : state) {
    // Untimed: get the directory into the state the open should find.
    if (clean) {
      if (fixture.log == nullptr) {
        auto log = PartitionLog::open(posix_fs(), fixture.dir, fixture.config, system_clock());
        if (!log) {
          skip(state, log.error().message());
          break;
        }
        fixture.log = std::move(*log);
      }
      auto closed = fixture.log->close();
      fixture.log.reset();
      if (!closed) {
        skip(state, closed.error().message());
        break;
      }
    } else {
      fixture.log.reset();  // a crash: no close()
      // Without these every segment below the recovery point would only have its headers
      // walked, and after the first open the recovery point is the end of the log.
      remove_quietly(fixture.dir / kRecoveryPointFile);
      remove_quietly(fixture.dir / kCleanShutdownFile);
    }
    if (cold) {
      if (auto failure = drop_page_cache(fixture.dir)) {
        skip(state, *failure);
        break;
      }
    }
    const auto start = SteadyClock::now();
    auto log = PartitionLog::open(posix_fs(), fixture.dir, fixture.config, system_clock());
    const double seconds = seconds_since(start);
    if (!log) {
      skip(state, log.error().message());
      break;
    }
    bytes_scanned += (*log)->recovery().bytes_scanned;
    segments_scanned += (*log)->recovery().segments_scanned;
    fixture.log = std::move(*log);
    state.SetIterationTime(seconds);
  }
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(fixture.bytes));
  state.counters["segments"] = static_cast<double>(fixture.segments);
  state.counters["scanned_bytes"] =
      benchmark::Counter(static_cast<double>(bytes_scanned), benchmark::Counter::kAvgIterations,
                         benchmark::Counter::OneK::kIs1024);
  state.counters["scanned_segments"] =
      benchmark::Counter(static_cast<double>(segments_scanned), benchmark::Counter::kAvgIterations);
}

void BM_Recovery_Unclean_1GiB_RealDisk(benchmark::State& state) {
  run_recovery(state, false, false);
}
void BM_Recovery_UncleanCold_1GiB_RealDisk(benchmark::State& state) {
  run_recovery(state, false, true);
}
void BM_Recovery_Clean_1GiB_RealDisk(benchmark::State& state) { run_recovery(state, true, false); }

// The best a full scan can do: pread + CRC32C over the same bytes.
void BM_Raw_PreadCrc32cScan_1GiB_RealDisk(benchmark::State& state) {
  auto fixture = log_fixture(1);
  if (!fixture) {
    skip(state, fixture.error().message());
    return;
  }
  run_raw_scan(state, (*fixture)->dir, true, false);
}

// The same from the device: what recovery after a reboot reads.
void BM_Raw_PreadCrc32cScanCold_1GiB_RealDisk(benchmark::State& state) {
  auto fixture = log_fixture(1);
  if (!fixture) {
    skip(state, fixture.error().message());
    return;
  }
  run_raw_scan(state, (*fixture)->dir, true, true);
}

BENCHMARK(BM_Recovery_Unclean_1GiB_RealDisk)
    ->ArgName("segments")
    ->Arg(1)
    ->Arg(4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Recovery_Clean_1GiB_RealDisk)
    ->ArgName("segments")
    ->Arg(1)
    ->Arg(4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_PreadCrc32cScan_1GiB_RealDisk)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Recovery_UncleanCold_1GiB_RealDisk)
    ->ArgName("segments")
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_PreadCrc32cScanCold_1GiB_RealDisk)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Machine context and main().
// ---------------------------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string fs_type(const stdfs::path& dir) {
  struct statfs info {};
  if (::statfs(dir.c_str(), &info) != 0) return errno_text("statfs");
  const auto magic = static_cast<std::uint64_t>(info.f_type);
  struct Known {
    std::uint64_t magic;
    const char* name;
  };
  static constexpr Known kKnown[] = {
      {0xEF53, "ext4"},        {0x58465342, "xfs"}, {0x9123683E, "btrfs"}, {0x01021994, "tmpfs"},
      {0x794C7630, "overlay"}, {0x2FC12FC1, "zfs"}, {0x6969, "nfs"},       {0xF2F52010, "f2fs"},
  };
  for (const auto& known : kKnown) {
    if (known.magic == magic) return known.name;
  }
  return fmt::format("{:#x}", magic);
}

void add_context() {
  struct utsname uts {};
  if (::uname(&uts) == 0) {
    benchmark::AddCustomContext("kernel", std::string(uts.sysname) + " " + uts.release + " " +
                                              uts.version + " " + uts.machine);
  }
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("nproc", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("bench_dir", g_settings.dir.string());
  benchmark::AddCustomContext("bench_dir_fs", fs_type(g_settings.dir));
  benchmark::AddCustomContext("crc32c", spate::crc32c::has_hardware() ? "hardware" : "portable");
  benchmark::AddCustomContext("sizes", "append " + std::to_string(g_settings.append_bytes) +
                                           " B/iteration, logs " +
                                           std::to_string(g_settings.log_bytes) + " B" +
                                           (g_settings.smoke ? " (--smoke)" : ""));
  benchmark::AddCustomContext("batch", std::to_string(batch_template().size()) + " B (" +
                                           std::to_string(kRecordsPerBatch) + " records of " +
                                           std::to_string(kRecordValueBytes) + " B)");
}

// A fresh directory inside $SPATE_BENCH_DIR, else inside $TMPDIR or /var/tmp.
std::optional<stdfs::path> make_bench_dir() {
  stdfs::path parent = "/var/tmp";
  if (const char* env = std::getenv("SPATE_BENCH_DIR"); env != nullptr && *env != '\0') {
    parent = env;
  } else if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0') {
    parent = tmp;
  }
  std::error_code ec;
  stdfs::create_directories(parent, ec);
  std::string pattern = (parent / "spate-storage-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "cannot create a directory in %s: %s\n", parent.c_str(),
                 std::strerror(errno));
    return std::nullopt;
  }
  return stdfs::path(pattern);
}

}  // namespace

int main(int argc, char** argv) {
  // --smoke is ours; every other flag goes to Google Benchmark.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    char* arg = argv[i];  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
    if (std::string_view(arg) == "--smoke") {
      g_settings.smoke = true;
    } else {
      args.push_back(arg);
    }
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  if (g_settings.smoke) {
    g_settings.append_bytes = 8 * kMiB;
    g_settings.log_bytes = 8 * kMiB;
  }
  spate::log::set_level(spdlog::level::warn);  // rolls and opens log at info
  auto dir = make_bench_dir();
  if (!dir) return 1;
  g_settings.dir = *dir;
  add_context();
  benchmark::RunSpecifiedBenchmarks();
  g_fixtures.clear();
  remove_quietly(g_settings.dir);
  benchmark::Shutdown();
  return 0;
}
