// SPDX-License-Identifier: Apache-2.0
//
// CRC-32C and append benchmarks (no flush, group commit inline and on a disk thread),
// each beside a raw POSIX baseline measured in the same run.

#include "storage_bench.h"

namespace spate_bench {
namespace {

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

}  // namespace
}  // namespace spate_bench
