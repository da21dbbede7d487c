// SPDX-License-Identifier: Apache-2.0
//
// Log compaction (cleanup.policy=compact): the cleaner keeps the last record
// of each key below the active segment. One pass is a CleanTask taken from a
// PartitionLog on its owner's thread (PartitionLog::begin_clean), run anywhere
// (CleanTask::run: reads the old segments, writes the cleaned ones, swaps them
// in crash-safely) and handed back (PartitionLog::finish_clean), so that the
// blocking work never runs on a network thread. Format, rules and the swap
// protocol: docs/storage-format.md §Compaction.

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "spate/common/result.h"
#include "spate/common/types.h"

namespace spate::storage {

// What one cleaner pass did.
struct CleanStats {
  std::uint32_t segments_read = 0;
  std::uint32_t segments_written = 0;  // the groups swapped in
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t records_read = 0;
  std::uint64_t records_kept = 0;
  std::uint64_t tombstones_removed = 0;
  std::uint64_t keys = 0;  // distinct keys in the dirty part
  Offset clean_point;      // everything below is compacted after this pass
  std::int64_t cleaned_at_ms = 0;
};

// At most this many key bytes (plus a fixed overhead per key) are held in the
// map of one pass; a longer dirty part is cleaned in several passes.
inline constexpr std::size_t kCleanerKeyBytesMax = std::size_t{128} << 20U;
// At most this many segments are rewritten by one pass (they stay open for
// readers while the pass runs: a descriptor budget).
inline constexpr std::size_t kCleanerSegmentsMax = 256;

// Threading: created and finished on the log owner's thread; run() on any
// one thread; cancel() from anywhere. Holds its own references to the files
// it reads, so the log's readers are never affected.
class CleanTask {
 public:
  CleanTask();
  ~CleanTask();
  CleanTask(const CleanTask&) = delete;
  CleanTask& operator=(const CleanTask&) = delete;

  // Blocking: builds the key map of the dirty part, rewrites the cleanable
  // segments group by group, and swaps each group in (write, fsync,
  // manifest, rename; docs/storage-format.md §Compaction). Stops early,
  // before the next group's commit point, once cancel() was called.
  // Errors: io_error, no_space, corrupt_log (a batch that does not
  //   validate: nothing is swapped from that group on), shutting_down
  //   (cancelled). Groups swapped before an error stay swapped.
  [[nodiscard]] Status run();
  void cancel() { cancelled_.store(true); }

  [[nodiscard]] const CleanStats& stats() const;

  struct State;  // private: src/storage/log_cleaner_task.h

 private:
  friend class PartitionLog;
  std::unique_ptr<State> state_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace spate::storage
