// SPDX-License-Identifier: Apache-2.0
//
// Segment: one .log file of record batches and its in-memory sparse offset and
// time indexes, persisted as .index and .timeindex files when the segment is
// sealed or the log closes cleanly (docs/storage-format.md §Segments, §Indexes).

#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/common/types.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/file.h"
#include "spate/storage/file_cache.h"

namespace spate::storage {

// File names: the base offset in 20 digits, then the kind.
inline constexpr const char* kLogSuffix = ".log";
inline constexpr const char* kIndexSuffix = ".index";
inline constexpr const char* kTimeIndexSuffix = ".timeindex";
inline constexpr std::size_t kOffsetDigits = 20;

[[nodiscard]] std::string segment_file_name(Offset base, const char* suffix);
// Parses "<20 digits><suffix>" back to a base offset; nullopt if not one.
[[nodiscard]] std::optional<Offset> parse_segment_file_name(std::string_view name,
                                                            const char* suffix);

// An offset index entry: the batch starting at base + relative_offset begins
// at byte `position` of the .log file.
struct IndexEntry {
  std::uint32_t relative_offset = 0;
  std::uint32_t position = 0;
  bool operator==(const IndexEntry&) const = default;
};

// A time index entry: every batch before and including the one starting at
// base + relative_offset has a maxTimestamp <= timestamp, and that batch's
// maxTimestamp is `timestamp`.
struct TimeIndexEntry {
  std::int64_t timestamp = 0;
  std::uint32_t relative_offset = 0;
  bool operator==(const TimeIndexEntry&) const = default;
};

// Index file encoding (docs/storage-format.md §Indexes): a 20-byte header
// (magic, version, entry size, entry count, CRC-32C of the entries), then the
// entries, big-endian.
[[nodiscard]] std::vector<std::byte> encode_offset_index(const std::vector<IndexEntry>& entries);
[[nodiscard]] std::vector<std::byte> encode_time_index(const std::vector<TimeIndexEntry>& entries);
// Decode and check against the segment: entries strictly increasing, inside
// [0, segment_bytes) and below the segment's offset span.
// Errors: corrupt_index with the reason.
[[nodiscard]] Result<std::vector<IndexEntry>> decode_offset_index(std::span<const std::byte> bytes,
                                                                  std::uint64_t segment_bytes,
                                                                  std::int64_t offset_span);
[[nodiscard]] Result<std::vector<TimeIndexEntry>> decode_time_index(
    std::span<const std::byte> bytes, std::int64_t offset_span);

// One batch header as found in a segment file.
struct BatchLocation {
  protocol::BatchHeader header;
  std::uint64_t position = 0;  // of the batch's first byte in the .log file
};

// Owner: PartitionLog. Threading: the owner's thread only, except that its
// file is shared with FlushTickets and FileSlices (File is thread-safe).
// Descriptors: the active segment pins its .log file open (it is written);
// a sealed one holds none and borrows its file from the log's FileCache for
// each read (docs/limits.md).
class Segment {
 public:
  // `log` is pinned if not null; `cache` (outliving the segment) serves the
  // file when it is not. `wall_ms`: the wall-clock time of creation (or the
  // file's modification time, for a segment found on disk), which retention
  // uses while no batch carries a timestamp.
  Segment(Offset base, std::shared_ptr<File> log, std::filesystem::path dir,
          Clock::SteadyTime created, std::int64_t wall_ms, FileCache& cache,
          std::uint64_t cache_owner);

  [[nodiscard]] Offset base() const { return base_; }
  // Exclusive: the offset after the last batch in this segment.
  [[nodiscard]] Offset end() const { return end_; }
  [[nodiscard]] bool empty() const { return size_bytes_ == 0; }
  [[nodiscard]] std::uint64_t size_bytes() const { return size_bytes_; }
  [[nodiscard]] std::int64_t max_timestamp() const { return max_timestamp_; }
  [[nodiscard]] Clock::SteadyTime created() const { return created_; }
  // The .log file: the pinned one, else one from the cache (opened read-only
  // on a miss). Errors: the file system's (io_error, not_found).
  [[nodiscard]] Result<std::shared_ptr<File>> log() const;
  // The pinned file, or null.
  [[nodiscard]] const std::shared_ptr<File>& pinned() const { return log_; }
  // Keeps `file` (opened read-write) open while the segment is active.
  void pin(std::shared_ptr<File> file);
  // Lets go of the pinned file (the segment was sealed); reads borrow from
  // the cache from now on.
  void unpin() { log_.reset(); }
  // Drops the cache's copy (the file is about to be deleted or truncated).
  void forget_cached() const;
  // The time retention ages this segment by: its newest record timestamp or,
  // when no record has one (all -1), the wall time of its last append (or of
  // its creation or loading), never the epoch.
  [[nodiscard]] std::int64_t retention_timestamp() const {
    return max_timestamp_ >= 0 ? max_timestamp_ : wall_ms_;
  }
  void note_wall_time(std::int64_t wall_ms) { wall_ms_ = std::max(wall_ms_, wall_ms); }
  [[nodiscard]] std::filesystem::path path(const char* suffix) const;
  [[nodiscard]] const std::vector<IndexEntry>& index() const { return index_; }
  [[nodiscard]] const std::vector<TimeIndexEntry>& time_index() const { return time_index_; }

  // Records a batch written at the current end of the file (already on disk):
  // advances end and size, adds index entries every `index_interval_bytes`.
  // `gaps`: the segment was compacted (below the cleaner point): a batch may
  // start past end() (the records between were cleaned away).
  void note_appended(const protocol::BatchHeader& header, std::uint64_t position,
                     std::uint32_t index_interval_bytes, bool gaps = false);
  // A compacted segment ends where the next one begins, whatever its last
  // batch: raises end() to `end`. REQUIRES: end >= end().
  void extend_end(Offset end);
  // Replaces the in-memory state with what a load found.
  void reset(Offset end, std::uint64_t size_bytes, std::int64_t max_timestamp,
             std::vector<IndexEntry> index, std::vector<TimeIndexEntry> time_index);
  // Adds the final time index entry (the segment's max timestamp) if the last
  // entry does not already carry it. Called when sealing.
  void finish_time_index();

  // Reads the header of the batch at `position`.
  // Errors: io_error; malformed if fewer than 61 bytes are there or the header
  //   is not a valid v2 header.
  [[nodiscard]] Result<protocol::BatchHeader> read_header(std::uint64_t position) const;
  // The same in `file` (this segment's, from log()), to look it up once.
  [[nodiscard]] Result<protocol::BatchHeader> read_header(const File& file,
                                                          std::uint64_t position) const;
  // The batch containing `offset`, or the first batch after it.
  // REQUIRES: base() <= offset < end(). Errors: io_error, corrupt_log;
  //   not_found when no batch ends at or after `offset` (a compacted segment).
  [[nodiscard]] Result<BatchLocation> find_batch(Offset offset) const;
  // Largest indexed position whose batch starts at or below `offset`.
  [[nodiscard]] IndexEntry index_floor(Offset offset) const;

  // Walks the batch headers from position 0 to `size_bytes` without reading
  // payloads, rebuilding the indexes and the max timestamp, and checking that
  // offsets are contiguous from base() and the chain ends exactly at
  // `size_bytes` (the file's size, or where it was just truncated). Calls
  // `on_batch` for each header.
  // Errors: io_error; corrupt_log naming the file and position of the damage.
  // `gaps`: compacted segment (see note_appended).
  [[nodiscard]] Status rebuild_from_headers(
      std::uint64_t size_bytes, std::uint32_t index_interval_bytes,
      const std::function<void(const protocol::BatchHeader&)>& on_batch, bool gaps = false);

  // Writes the .index and .timeindex files (not synced) and returns them so
  // the caller can sync them. Errors: io_error, no_space.
  [[nodiscard]] Result<std::vector<std::shared_ptr<File>>> write_indexes(Filesystem& fs) const;

 private:
  // corrupt_log for a header that does not parse; any other error (a failed
  // read) keeps its code. Both name the file and position.
  [[nodiscard]] Error header_error(std::uint64_t position, const Error& error) const;

  Offset base_;
  Offset end_;
  std::uint64_t size_bytes_ = 0;
  std::int64_t max_timestamp_ = -1;
  Offset max_timestamp_batch_;  // base offset of the batch holding max_timestamp_
  std::uint64_t bytes_since_index_entry_ = 0;
  std::shared_ptr<File> log_;  // pinned while active; null when sealed
  std::filesystem::path dir_;
  FileCache* cache_;
  std::uint64_t cache_owner_;
  Clock::SteadyTime created_;
  std::int64_t wall_ms_;  // see retention_timestamp()
  std::vector<IndexEntry> index_;
  std::vector<TimeIndexEntry> time_index_;
};

// Scans a segment file from `position`, batch by batch, validating each batch
// fully (header, length, CRC) and that offsets continue from `expected_base`
// (when set) and terms never decrease. Stops at the first invalid batch or at
// end of file. Calls `on_batch` for every valid batch.
struct ScanResult {
  std::uint64_t valid_end = 0;             // position after the last valid batch
  Offset next_offset;                      // offset after the last valid batch
  std::optional<std::string> stop_reason;  // why the scan stopped early, if it did
};
[[nodiscard]] Result<ScanResult> scan_segment(
    const File& file, std::uint64_t position, Offset expected_base, std::int32_t last_term,
    std::size_t batch_bytes_max,
    const std::function<void(const protocol::BatchHeader&, std::uint64_t)>& on_batch,
    bool gaps = false);

}  // namespace spate::storage
