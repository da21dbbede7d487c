// SPDX-License-Identifier: Apache-2.0
//
// Private parts of log compaction: the cleaner's state file, the swap
// manifest, and what a CleanTask carries between the owner's thread and the
// thread that runs it (docs/storage-format.md §Compaction).

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "spate/common/result.h"
#include "spate/common/types.h"
#include "spate/storage/file.h"
#include "spate/storage/log_cleaner.h"
#include "spate/storage/partition_log.h"

#include "segment.h"

namespace spate::storage {

inline constexpr const char* kCleanerStateFile = "cleaner.state";
inline constexpr const char* kSwapManifestFile = "cleaner.swap";
inline constexpr const char* kCleanedSuffix = ".cleaned";
inline constexpr std::uint32_t kCleanerStateMagic = 0x5350434C;  // "SPCL"
inline constexpr std::uint32_t kSwapManifestMagic = 0x53505357;  // "SPSW"

// cleaner.state: every offset below clean_point lies in compacted segments
// (batches may leave gaps); per compacted segment, when it was last written
// (tombstones in it are removed delete.retention.ms after that).
struct CleanerState {
  Offset clean_point{0};
  struct CleanedAt {
    std::int64_t base = 0;
    std::int64_t at_ms = 0;
  };
  std::vector<CleanedAt> cleaned_at;  // ascending by base

  [[nodiscard]] std::optional<std::int64_t> cleaned_at_ms(Offset base) const;
  // Records a new segment [base, end) written at `at_ms`: drops the entries
  // it replaces and raises the clean point to `end`.
  void note_swap(Offset base, Offset end, std::int64_t at_ms);
};

// cleaner.swap: the commit point of one group's swap. Present = the files
// <base>.{log,index,timeindex}.cleaned are complete and durable and replace
// every segment whose base is in [base, end).
struct SwapManifest {
  Offset base{0};
  Offset end{0};
  std::int64_t cleaned_at_ms = 0;
};

// Errors: io_error, no_space; reading: not_found, corrupt_log.
[[nodiscard]] Status write_cleaner_state(Filesystem& fs, const std::filesystem::path& dir,
                                         const CleanerState& state);
[[nodiscard]] Result<CleanerState> read_cleaner_state(Filesystem& fs,
                                                      const std::filesystem::path& dir);
// `replaced`: set once the manifest is in place (then, even on error, the
// swap is committed: its .cleaned files must stay).
[[nodiscard]] Status write_swap_manifest(Filesystem& fs, const std::filesystem::path& dir,
                                         const SwapManifest& manifest, bool* replaced);
[[nodiscard]] Result<SwapManifest> read_swap_manifest(Filesystem& fs,
                                                      const std::filesystem::path& dir);

// Steps 3-6 of a swap, also the redo of an interrupted one: updates and
// writes the state, removes the replaced segments (only while the cleaned
// .log is still there), renames the .cleaned files (indexes first, the .log
// last), syncs the folder and removes the manifest. Idempotent.
[[nodiscard]] Status apply_swap(Filesystem& fs, const std::filesystem::path& dir,
                                const SwapManifest& manifest, CleanerState& state);

// One segment the task reads, captured on the owner's thread.
struct CleanSource {
  Offset base;
  Offset end;
  std::uint64_t size_bytes = 0;
  std::int64_t wall_ms = 0;
  std::shared_ptr<File> file;  // the log's own (pinned while the task runs)
  bool dirty = false;          // at or above the clean point
};

// A group written and swapped in: the new segment, for finish_clean.
struct CleanedSegment {
  Offset base;
  Offset end;
  std::uint64_t size_bytes = 0;
  std::int64_t max_timestamp = -1;
  std::int64_t wall_ms = 0;
  std::vector<IndexEntry> index;
  std::vector<TimeIndexEntry> time_index;
};

struct CleanTask::State {
  Filesystem* fs = nullptr;
  std::filesystem::path dir;
  std::string name;
  LogConfig config;
  std::int64_t now_ms = 0;
  FileCache* cache = nullptr;  // for the Segment objects that build indexes (never read through)
  std::uint64_t cache_owner = 0;
  std::vector<CleanSource> sources;  // ascending, contiguous
  CleanerState cleaner;              // as before the task; updated by each swap
  Offset clean_end;                  // sources end here (may be lowered by the key budget)
  CleanStats stats;
  std::vector<CleanedSegment> swapped;
  bool swap_broken = false;  // an error after a manifest was written
};

}  // namespace spate::storage
