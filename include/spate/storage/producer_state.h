// SPDX-License-Identifier: Apache-2.0
//
// ProducerState: what one partition knows of its idempotent producers (Kafka's
// ProducerStateManager): per producer id its epoch and the metadata of its
// last kProducerBatchesKept batches, so that a retried batch is recognised and
// answered with its original offsets instead of being appended again.
//
// Pure: no clock (times are passed in), no threads, no files. The snapshot
// file beside the segments and the rebuild from the log are the free
// functions at the end (docs/idempotence.md).

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "spate/common/result.h"
#include "spate/common/types.h"
#include "spate/storage/file.h"

namespace spate::storage {

class PartitionLog;

// Kafka keeps the last 5 batches of each producer (its producers send at most
// 5 requests in flight per connection).
inline constexpr std::size_t kProducerBatchesKept = 5;
inline constexpr std::int64_t kNoProducerId = -1;
inline constexpr std::int16_t kNoProducerEpoch = -1;

// One appended batch of a producer. Sequences and offsets are inclusive.
struct ProducerBatch {
  std::int32_t first_seq = 0;
  std::int32_t last_seq = 0;
  Offset first_offset;
  Offset last_offset;
  std::int64_t max_timestamp = -1;
  bool operator==(const ProducerBatch&) const = default;
};

struct ProducerEntry {
  std::int16_t epoch = kNoProducerEpoch;
  // When the producer last appended (ms since the epoch): expiry ages from it.
  std::int64_t last_timestamp = 0;
  // Oldest first, at most kProducerBatchesKept (a vector of 5: a deque would
  // take a 512-byte block per producer).
  std::vector<ProducerBatch> batches;
  bool operator==(const ProducerEntry&) const = default;
};

struct ProducerStateLimits {
  // Entries kept per partition; when full the expired go first, then the
  // least recently active (docs/limits.md).
  std::size_t producers_max = 10'000;
  // transactional.id.expiration.ms: a producer silent this long is forgotten.
  std::int64_t expiration_ms = 7LL * 24 * 3600 * 1000;
};

// The sequence after `seq` by `delta` records, wrapping past INT32_MAX to 0
// as producers do (Kafka's DefaultRecordBatch.incrementSequence).
[[nodiscard]] std::int32_t increment_sequence(std::int32_t seq, std::int32_t delta);

// Class comment above. Owner: the partition, on its shard.
class ProducerState {
 public:
  explicit ProducerState(ProducerStateLimits limits = {}) : limits_(limits) {}

  // What appending a batch of producer `id` would mean, without changing
  // anything. Kafka's rules (ProducerAppendInfo): nullopt = append it; a
  // batch = the batch is a duplicate of that one (same epoch, same first and
  // last sequence, among the last kProducerBatchesKept): answer its offsets.
  // A producer without an entry (new, expired or evicted) is accepted at any
  // sequence. Errors: invalid_producer_epoch for an epoch below the one
  // known; out_of_order_sequence for a new epoch not starting at 0, or a
  // first sequence that does not follow the last one.
  [[nodiscard]] Result<std::optional<ProducerBatch>> check(std::int64_t id, std::int16_t epoch,
                                                           std::int32_t first_seq,
                                                           std::int32_t last_seq) const;

  // Records a batch appended at batch.first_offset..last_offset (live, after
  // check(), or replaying the log). `now_ms` is the entry's new activity time.
  // A new epoch drops the older epoch's batches. Making room for a new
  // producer when full: expire(now_ms), then the least recently active goes.
  void record(std::int64_t id, std::int16_t epoch, const ProducerBatch& batch, std::int64_t now_ms);

  // Forgets every producer inactive for limits().expiration_ms. Returns how
  // many went.
  std::size_t expire(std::int64_t now_ms);

  // The log lost every offset at or after `end` (log truncation): batches
  // there are forgotten, and producers left without a batch with them.
  void truncate_from(Offset end);

  void set_limits(const ProducerStateLimits& limits) { limits_ = limits; }
  [[nodiscard]] const ProducerStateLimits& limits() const { return limits_; }
  [[nodiscard]] std::size_t size() const { return producers_.size(); }
  [[nodiscard]] const ProducerEntry* find(std::int64_t id) const;
  // The offset after the last batch recorded: what the state covers.
  [[nodiscard]] Offset end_offset() const { return end_offset_; }
  void set_end_offset(Offset end) { end_offset_ = end; }
  // Changed since the last mark_clean() (worth a new snapshot).
  [[nodiscard]] bool dirty() const { return dirty_; }
  void mark_clean() { dirty_ = false; }

  // The snapshot body (docs/storage-format.md §producer.snapshot) and back.
  [[nodiscard]] std::vector<std::byte> encode() const;
  // Errors: corrupt_log for bytes that are not a snapshot body. Entries past
  // limits.producers_max are refused the same way (never allocated blindly).
  [[nodiscard]] static Result<ProducerState> decode(std::span<const std::byte> body,
                                                    ProducerStateLimits limits);

  bool operator==(const ProducerState& other) const {
    return producers_ == other.producers_ && end_offset_ == other.end_offset_;
  }

 private:
  void make_room(std::int64_t now_ms);

  ProducerStateLimits limits_;
  std::unordered_map<std::int64_t, ProducerEntry> producers_;
  Offset end_offset_{0};
  bool dirty_ = false;
};

// Beside the segments of each partition (allowed by PartitionLog's open).
inline constexpr const char* kProducerSnapshotFile = "producer.snapshot";
inline constexpr std::uint32_t kProducerSnapshotMagic = 0x53505053;  // "SPPS"
inline constexpr std::size_t kProducerSnapshotBytesMax = 64U << 20U;

// What load_producer_state found and did (logged by the caller).
struct ProducerLoadReport {
  bool snapshot_used = false;
  std::optional<std::string> snapshot_problem;  // why a snapshot present was not used
  std::uint64_t batches_replayed = 0;
  std::uint64_t bytes_read = 0;
};

// Rebuilds a partition's producer state: the snapshot in log.dir() if it is
// whole and does not claim offsets past the log's end, then every batch of
// the log from the snapshot's end (or the log start) to the log's end. A
// missing, damaged or too new snapshot means a scan from the log start.
// Errors: the log's read errors (io_error, ...).
[[nodiscard]] Result<ProducerLoadReport> load_producer_state(Filesystem& fs, PartitionLog& log,
                                                             ProducerState& state,
                                                             std::int64_t now_ms);

// Writes `body` (ProducerState::encode) as the snapshot of the partition in
// `dir`, atomically and durably (write_envelope). Blocking: run it off the
// shard. Errors: io_error, no_space.
[[nodiscard]] Status write_producer_snapshot(Filesystem& fs, const std::filesystem::path& dir,
                                             std::span<const std::byte> body);

}  // namespace spate::storage
