// SPDX-License-Identifier: Apache-2.0
//
// Read and recovery benchmarks on a real disk, each beside a raw POSIX scan of the
// same files.

#include "storage_bench.h"

namespace spate_bench {
namespace {

// ---------------------------------------------------------------------------------------------
// Logs written once and shared by the read and recovery benchmarks (kept until exit).
// ---------------------------------------------------------------------------------------------

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

}  // namespace
}  // namespace spate_bench
