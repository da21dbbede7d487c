// SPDX-License-Identifier: Apache-2.0
//
// Helpers for PartitionLog tests: a model of what a log
// must hold (batches with their assigned offsets and terms), and a comparison
// of a live log against that model.

#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spate/common/rng.h"
#include "spate/common/types.h"
#include "spate/storage/file.h"
#include "spate/storage/partition_log.h"

#include "support/batches.h"  // make_varied_batch, split_batches

namespace spate::testing {

// Silences the storage logger below error level (recovery cuts are expected
// by the thousand in these tests).
void quiet_storage_logs();

// `sent` as the log must store it: baseOffset = base, partitionLeaderEpoch = term.
[[nodiscard]] std::vector<std::byte> as_stored(std::span<const std::byte> sent, Offset base,
                                               Term term);

// The number of records in a batch (lastOffsetDelta + 1), from its header.
[[nodiscard]] std::int64_t batch_record_count(std::span<const std::byte> batch);

// One batch the log holds in the model.
struct ModelBatch {
  Offset base;
  Offset next;  // exclusive
  Term term;
  std::vector<std::byte> bytes;  // as stored
};

// What a log must hold: its batches in offset order (including batches below
// the start offset that retention has not deleted yet; reads never see them).
class LogModel {
 public:
  void append(std::span<const std::byte> sent, Offset base, Term term);
  // Drops every batch at or after `end`.
  void truncate(Offset end);
  // Drops everything: the log restarted empty at `at`.
  void restart_at(Offset at);

  [[nodiscard]] Offset end() const {
    return batches_.empty() ? floor_ : std::max(floor_, batches_.back().next);
  }
  [[nodiscard]] const std::vector<ModelBatch>& batches() const { return batches_; }
  [[nodiscard]] bool empty() const { return batches_.empty(); }
  // The batch holding `offset`, if any.
  [[nodiscard]] const ModelBatch* containing(Offset offset) const;
  // The batch holding `offset`, or else the first one after it (compaction
  // leaves gaps: a read from inside one starts at the next batch); if any.
  [[nodiscard]] const ModelBatch* at_or_after(Offset offset) const;
  // Compaction rewrote the batch at `base` (same offsets, fewer records) or
  // removed it; the end stays where it was.
  void replace(Offset base, std::vector<std::byte> bytes);
  void erase(Offset base);
  // Whether no batch holds an offset in [from, to) and `to` is not past the
  // end: a read may step over it.
  [[nodiscard]] bool gap(Offset from, Offset to) const {
    const ModelBatch* b = at_or_after(from);
    return b == nullptr ? to <= end() : b->base >= to;
  }
  [[nodiscard]] const ModelBatch* starting_at(Offset base) const;
  // Whether `offset` is a base offset of a batch or end().
  [[nodiscard]] bool is_boundary(Offset offset) const;
  // The first record at or after `timestamp` whose offset is >= start.
  [[nodiscard]] std::optional<Offset> first_at_or_after(std::int64_t timestamp, Offset start) const;
  // The base offsets of batches at or above `start`, and end().
  [[nodiscard]] std::vector<Offset> boundaries_from(Offset start) const;

 private:
  std::vector<ModelBatch> batches_;
  Offset floor_{0};  // end() of an empty model; never above end() (a removed last batch)
};

// Reads every batch from log.start_offset() to log.end_offset() and checks
// that each read returns whole batches, beginning at the batch holding `from`
// (or the next one, past a gap compaction left), each identical to the model's. Returns an empty
// string if all is well, or what differs.
[[nodiscard]] std::string compare_with_model(storage::PartitionLog& log, const LogModel& model);

// Reads the whole log into separate batches (for equality checks).
// Errors: whatever read() returns; malformed if a read is not whole batches.
[[nodiscard]] Result<std::vector<std::vector<std::byte>>> read_batches(
    storage::PartitionLog& log, std::uint64_t bytes_max = std::uint64_t{1} << 20U);

// Files in a partition directory that should not be there after an open: any
// clean.shutdown or *.tmp, index files without their .log, unknown names; and
// a count of .log files different from `segments`. Empty if all is well.
[[nodiscard]] std::string unexpected_files(storage::Filesystem& fs,
                                           const std::filesystem::path& dir, std::size_t segments);

}  // namespace spate::testing
