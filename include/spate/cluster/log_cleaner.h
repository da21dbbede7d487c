// SPDX-License-Identifier: Apache-2.0
//
// LogCleaner: the thread that runs compaction passes (storage::CleanTask) for
// the partitions of a broker, one partition at a time, off the shards' event
// loops and off the disk thread (whose fsyncs acknowledge producers). Each
// Partition asks from its tick (Partition::tick); the pass's result comes
// back to the partition's shard (docs/storage-format.md §Compaction).

#pragma once

#include <atomic>
#include <cstdint>

#include "spate/cluster/disk_thread.h"

namespace spate::cluster {

class LogCleaner {
 public:
  LogCleaner() = default;
  LogCleaner(const LogCleaner&) = delete;
  LogCleaner& operator=(const LogCleaner&) = delete;

  // Takes the one slot; false if a pass runs. Any thread.
  [[nodiscard]] bool try_acquire() { return !busy_.exchange(true); }
  void release() { busy_.store(false); }
  [[nodiscard]] DiskThread& thread() { return thread_; }

  // Totals for /metrics (any thread).
  std::atomic<std::uint64_t> runs{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> bytes_read{0};
  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<std::uint64_t> records_removed{0};

 private:
  std::atomic<bool> busy_{false};
  DiskThread thread_;  // last: joined first, while the counters live
};

}  // namespace spate::cluster
