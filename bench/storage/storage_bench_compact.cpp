// SPDX-License-Identifier: Apache-2.0
//
// Compaction throughput: one cleaner pass over a log of keyed updates
// (10,000 keys, 100-byte values, 100 records per batch, 8 MiB segments), and
// the baseline of copying the same segment bytes to new files with fsync
// (what any rewrite must at least do). Bytes processed = segment bytes read.

#include "spate/storage/log_cleaner.h"

#include "storage_bench.h"

namespace spate_bench {
namespace {

constexpr int kKeys = 10'000;
constexpr int kRecordsPerKeyedBatch = 100;
constexpr std::size_t kKeyedValueBytes = 100;

std::uint64_t compact_log_bytes() { return g_settings.smoke ? 4 * kMiB : 128 * kMiB; }

// A fresh log of keyed updates, every segment sealed and durable.
spate::Result<std::unique_ptr<PartitionLog>> keyed_log(const stdfs::path& dir) {
  LogConfig config;
  config.flush_policy = FlushPolicy::none;
  config.segment_bytes_max = 8 * kMiB;
  config.cleanup_compact = true;
  config.cleanup_delete = false;
  auto log = PartitionLog::open(posix_fs(), dir, config, system_clock());
  if (!log) return log.error();
  std::vector<std::byte> value(kKeyedValueBytes, std::byte{0x5A});
  std::uint64_t counter = 0;
  while ((*log)->size_bytes() < compact_log_bytes()) {
    spate::protocol::BatchBuilder builder(1'700'000'000'000);
    std::vector<std::string> keys;
    for (int i = 0; i < kRecordsPerKeyedBatch; ++i, ++counter) {
      keys.push_back(fmt::format("key-{:05d}", counter % kKeys));
      auto key = std::as_bytes(std::span<const char>(keys.back().data(), keys.back().size()));
      builder.add_value(value, key);
    }
    auto batch = builder.build();
    if (auto a = (*log)->append(batch, Term(1)); !a) return a.error();
  }
  if (auto s = (*log)->roll(); !s) return s.error();
  if (auto s = (*log)->flush(); !s) return s.error();
  return log;
}

void BM_Compact_RealDisk(benchmark::State& state) {
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const stdfs::path dir = fresh_path("compact");
    auto log = keyed_log(dir);
    if (!log) {
      skip(state, log.error().message());
      break;
    }
    state.ResumeTiming();
    auto stats = (*log)->clean((*log)->end_offset(), true);
    state.PauseTiming();
    if (!stats || !stats->has_value()) {
      skip(state, stats ? "nothing to clean" : stats.error().message());
      break;
    }
    bytes += (*stats)->bytes_read;
    state.counters["kept_ratio"] =
        static_cast<double>((*stats)->records_kept) / static_cast<double>((*stats)->records_read);
    log->reset();
    remove_quietly(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// The same segment files copied to new ones (1 MiB preads and writes) and fsynced.
void BM_Raw_CopyFsync_RealDisk(benchmark::State& state) {
  std::uint64_t bytes = 0;
  std::vector<std::byte> buffer(kReadChunkBytes);
  for (auto _ : state) {
    state.PauseTiming();
    const stdfs::path dir = fresh_path("copy");
    auto log = keyed_log(dir);
    if (!log) {
      skip(state, log.error().message());
      break;
    }
    log->reset();
    std::vector<stdfs::path> sealed;
    for (const auto& e : stdfs::directory_iterator(dir)) {
      if (e.path().extension() == ".log" && stdfs::file_size(e.path()) > 0)
        sealed.push_back(e.path());
    }
    state.ResumeTiming();
    std::optional<std::string> failure;
    for (const auto& path : sealed) {
      Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      Fd out(::open((path.string() + ".copy").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                    0644));
      if (in.get() < 0 || out.get() < 0) {
        failure = errno_text("open");
        break;
      }
      std::uint64_t at = 0;
      // Bounded by the file size.
      while (!failure) {
        const ssize_t n = pread_full(in.get(), buffer, at);
        if (n < 0) failure = errno_text("pread");
        if (n <= 0) break;
        failure = write_all(out.get(),
                            std::span<const std::byte>(buffer).first(static_cast<std::size_t>(n)));
        at += static_cast<std::uint64_t>(n);
      }
      if (!failure && ::fsync(out.get()) != 0) failure = errno_text("fsync");
      bytes += at;
    }
    state.PauseTiming();
    remove_quietly(dir);
    state.ResumeTiming();
    if (failure) {
      skip(state, *failure);
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

}  // namespace

BENCHMARK(BM_Compact_RealDisk)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Raw_CopyFsync_RealDisk)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace spate_bench
