// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog: the append-only log of one partition, kept as a directory of
// segment files with sparse offset and time indexes. Byte layout and recovery
// rules: docs/storage-format.md.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
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

// Offsets follow Kafka's convention throughout this module:
//   - an offset names one record;
//   - an *end* offset is exclusive: the offset the next record will get.
// An empty log therefore has start_offset() == end_offset().

// When appended data is made durable (Kafka's flush.messages/flush.ms, but
// safe by default).
enum class FlushPolicy : std::uint8_t {
  always,    // an append is acknowledged only after a flush covers it (group commit)
  interval,  // flush every flush_interval; a crash may lose the last interval
  none,      // never flush for appends (only on roll and close); the OS decides
};

[[nodiscard]] std::string_view flush_policy_name(FlushPolicy policy);
[[nodiscard]] Result<FlushPolicy> parse_flush_policy(std::string_view name);

// Per-log settings. Built from broker defaults plus topic overrides in one
// place (the caller's); validate() before use.
struct LogConfig {
  std::uint64_t segment_bytes_max = std::uint64_t{1} << 30;                // segment.bytes
  std::chrono::milliseconds segment_age_max = std::chrono::hours{24 * 7};  // segment.ms
  std::uint32_t index_interval_bytes = 4096;  // one index entry per this many log bytes
  // retention.ms: segments whose newest record is older are deleted; -1 = forever.
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  // retention.bytes: oldest segments deleted while the log is larger; -1 = no limit.
  std::int64_t retention_bytes = -1;
  // max.message.bytes: the largest batch accepted (Kafka default: 1 MiB + 12).
  std::uint32_t batch_bytes_max = 1048588;
  FlushPolicy flush_policy = FlushPolicy::always;
  std::chrono::milliseconds flush_interval = std::chrono::milliseconds{1000};

  // cleanup.policy: "delete" (retention above), "compact" (keep the last
  // record of each key below the active segment), or both.
  bool cleanup_delete = true;
  bool cleanup_compact = false;
  // delete.retention.ms: how long a tombstone (a record with a null value)
  // survives in a cleaned segment before the cleaner removes it.
  std::int64_t delete_retention_ms = 24LL * 3600 * 1000;
  // min.cleanable.dirty.ratio: the cleaner runs when the uncleaned share of
  // the log below the active segment is at least this.
  double min_cleanable_dirty_ratio = 0.5;
  // min.compaction.lag.ms / max.compaction.lag.ms: a record stays uncompacted
  // at least the first; a dirty log is cleaned at the latest after the second
  // (whatever its dirty ratio).
  std::int64_t min_compaction_lag_ms = 0;
  std::int64_t max_compaction_lag_ms = std::numeric_limits<std::int64_t>::max();
  // flush.messages: flush after this many appended records (interval policy);
  // INT64 max = never by count.
  std::int64_t flush_messages = std::numeric_limits<std::int64_t>::max();
  // segment.jitter.ms: a random amount up to this is taken off segment.ms per
  // segment, so that many partitions do not roll at once.
  std::int64_t segment_jitter_ms = 0;
  // preallocate: allocate a new segment's full size on creation.
  bool preallocate = false;
  // compression.type: nullopt is `producer` (batches stored as sent);
  // otherwise every batch in another codec is recompressed into this one
  // (Compression::none: `uncompressed`), at the codec's level below
  // (compression.gzip.level, .lz4.level, .zstd.level; protocol/compression.h).
  std::optional<protocol::Compression> compression;
  int gzip_level = -1;
  int lz4_level = 9;
  int zstd_level = 3;

  // message.timestamp.type=LogAppendTime: the broker stamps each batch with
  // its clock (maxTimestamp and the timestamp-type attribute bit).
  bool log_append_time = false;
  // message.timestamp.before.max.ms / after.max.ms (or difference.max.ms):
  // a CreateTime record further before / after the broker's clock than this
  // is refused (INVALID_TIMESTAMP); INT64 max = no limit.
  std::int64_t timestamp_before_max_ms = std::numeric_limits<std::int64_t>::max();
  std::int64_t timestamp_after_max_ms = std::numeric_limits<std::int64_t>::max();
  // Broker-wide, not topic configs: the idempotent producers each partition
  // remembers (storage/producer_state.h, docs/limits.md).
  std::size_t producer_ids_max = 10'000;  // spate.max.producer.ids.per.partition
  std::int64_t producer_id_expiration_ms =
      7LL * 24 * 3600 * 1000;  // transactional.id.expiration.ms
};

// Errors: invalid_argument naming the setting.
[[nodiscard]] Status validate(const LogConfig& config);

// The timestamp rules of a log's config at wall-clock time `now_ms`.
[[nodiscard]] protocol::TimestampRules timestamp_rules(const LogConfig& config,
                                                       std::int64_t now_ms);

// Where an appended batch landed. Both offsets are inclusive.
struct AppendResult {
  Offset base_offset;
  Offset last_offset;
  // The time the broker stamped the batch with (LogAppendTime); -1 otherwise.
  std::int64_t log_append_time_ms = -1;
  // Not appended: a retry of an idempotent producer's batch that the log
  // already holds at these offsets (cluster::Partition, ProducerState).
  bool duplicate = false;
  // The Raft term it was proposed in (cluster::Partition; -1: unknown).
  Term term{-1};
};

// A validated, stamped batch not yet written (PartitionLog::prepare_append):
// `bytes` views the caller's batch or its rewrite.
struct PreparedBatch {
  std::span<std::byte> bytes;
  protocol::BatchHeader header;
};

// One stored batch as replication sees it (cluster's raft log view).
struct BatchInfo {
  Offset base;
  Offset last;  // inclusive
  Term term;    // partitionLeaderEpoch
  bool control = false;
  std::uint64_t position = 0;  // in its segment's .log file
  std::uint32_t bytes = 0;     // the whole batch
};

// Whole record batches, verbatim, ready to be handed to sendfile(2). All the
// batches come from one segment; call read() again from next_offset for more.
struct ReadResult {
  FileSlice bytes;     // empty when the read starts at the end
  Offset next_offset;  // where the following read should start
};

// The first record at or after a timestamp.
struct TimestampHit {
  Offset offset;
  std::int64_t timestamp = 0;
};

// What open() found and did; also logged in one line.
struct RecoveryReport {
  bool clean = false;                  // a clean-shutdown marker let open skip the scan
  std::uint32_t segments_scanned = 0;  // CRC-checked batch by batch
  std::uint64_t bytes_scanned = 0;
  std::uint32_t indexes_rebuilt = 0;
  // Set when a torn or corrupt tail was cut.
  std::optional<std::string> cut_reason;
  std::uint64_t bytes_cut = 0;
  std::uint32_t segments_removed = 0;  // whole segments after the cut
};

struct RetentionResult {
  std::uint32_t segments_deleted = 0;
  std::uint64_t bytes_deleted = 0;
};

class Segment;         // private: src/storage/segment.h
class CleanTask;       // spate/storage/log_cleaner.h
struct CleanStats;     // spate/storage/log_cleaner.h
struct CleanerState;   // private: src/storage/log_cleaner_task.h
struct BatchLocation;  // private: src/storage/segment.h

// Serializes writes of the recovery point file between a flush ticket being
// synced on another thread and a truncation on the owning thread, and caps
// what the ticket may write: a truncation while the ticket is in flight must
// never be undone by the ticket writing the older, higher value after it.
struct RecoveryPointGate {
  std::mutex mutex;
  std::optional<Offset> cap;      // guarded by mutex
  std::optional<Offset> written;  // guarded by mutex: what the in-flight ticket wrote
};
struct CleanMarker;  // private: src/storage/log_files.h

// What one flush must make durable. Captured on the owning thread by
// PartitionLog::begin_flush(), synced anywhere (the disk thread), then handed
// back to PartitionLog::finish_flush() on the owning thread.
class FlushTicket {
 public:
  // fdatasync()s every file written since the last flush, fsync()s the
  // partition directory if a file was created or removed, and persists a new
  // recovery point if a segment was sealed. Blocking. Safe on any thread: it
  // touches only the files it holds, never PartitionLog state.
  // Errors: io_error, no_space. The owner must pass the result to finish_flush.
  [[nodiscard]] Status sync() const;

  // The log's end offset when the ticket was taken: what a successful sync covers.
  [[nodiscard]] Offset end_offset() const { return end_offset_; }
  [[nodiscard]] bool empty() const {
    return dirty_files_.empty() && !sync_directory_ && !recovery_point_;
  }

 private:
  friend class PartitionLog;
  Filesystem* fs_ = nullptr;
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<File>> dirty_files_;
  bool sync_directory_ = false;
  std::optional<Offset> recovery_point_;  // written after everything else is durable
  std::shared_ptr<RecoveryPointGate> gate_;
  Offset end_offset_;
  Offset active_base_;  // every segment up to this one exists durably after sync()
  // Set by sync() when the data is durable but the recovery point file could
  // not be written for a transient reason (a full disk): finish_flush keeps
  // the old recovery point and retries later.
  mutable bool recovery_point_skipped_ = false;
};

// A new start offset on its way to disk (DeleteRecords). Taken on the
// owning thread by PartitionLog::begin_advance_start(), persisted anywhere
// (the disk thread), then handed back to PartitionLog::finish_advance_start().
class StartTicket {
 public:
  // Writes the start offset file (a temporary file, fdatasync, rename,
  // directory fsync). Blocking. Safe on any thread: touches only that file.
  // Errors: io_error, no_space.
  [[nodiscard]] Status persist() const;
  // Nothing to persist: the start offset was already at or past the target.
  [[nodiscard]] bool empty() const { return fs_ == nullptr; }
  [[nodiscard]] Offset offset() const { return start_; }

 private:
  friend class PartitionLog;
  Filesystem* fs_ = nullptr;
  std::filesystem::path dir_;
  Offset start_;
  // Set by persist(): the new file was renamed into place (see write_file_atomic).
  mutable bool replaced_ = false;
};

// The log of one partition.
//
// Owner: the partition (later cluster::Partition), which lives on one shard.
// Threading: not thread-safe. Every member runs on the owner's thread; only
//   FlushTicket::sync() runs elsewhere.
// Durability: append() writes to the page cache only. A batch is durable once
//   a FlushTicket covering it has been synced and passed to finish_flush().
// Failures (docs/limits.md):
//   - transient: a write, open or truncate failed with ENOSPC/EDQUOT or
//     EMFILE/ENFILE. The log refuses writes with that error (the batch is
//     not appended; cluster::Partition turns it into a retriable refusal,
//     docs/limits.md) but keeps serving reads. After a backoff
//     (resume_writes(), or the next write once it has passed) it cuts a torn
//     tail back to the last whole batch, syncs it, and accepts writes again;
//     the first write after that probes whether the disk has room.
//   - fencing: any other failed write, and every failed sync, fences the log:
//     writes fail with Errc::log_fenced until a restart. A failed fsync is
//     never retried, whatever its errno: afterwards the page cache state is
//     unknown (PostgreSQL's "fsyncgate"). Reads still serve what was durable
//     before (up to flushed_end_offset()).
// Invariant: start_offset() <= flushed_end_offset() <= end_offset() after
//   recovery; start_offset() <= end_offset() always.
class PartitionLog {
 public:
  // Opens the log in `dir`, creating the directory if missing. After a clean
  // close() it trusts the index files and skips scanning. Otherwise it scans,
  // batch by batch with CRCs, every segment from the last recovery point
  // (docs/storage-format.md §Recovery), cuts the log before the first batch
  // that is torn or corrupt there, and rebuilds the indexes it scanned.
  // Errors: io_error; corrupt_log if damage is found where data was known
  //   durable (before the recovery point, e.g. in the middle of a sealed
  //   segment); malformed for a file in `dir` that is not part of a log.
  // Sealed segments borrow their files from `cache` (shared by the logs of a
  // broker: the descriptor budget); without one the log makes a small
  // private cache. On a full disk open still succeeds when only index or
  // recovery point files could not be written (they are rewritten later).
  [[nodiscard]] static Result<std::unique_ptr<PartitionLog>> open(
      Filesystem& fs, const std::filesystem::path& dir, const LogConfig& config, const Clock& clock,
      std::string name = {}, std::shared_ptr<FileCache> cache = nullptr);

  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;
  // Out of line: Segment is incomplete here. Does not flush: destroying a log
  // without close() is what a crash looks like to the next open().
  ~PartitionLog();

  // Validates `batch` as Kafka's log validator does
  // (protocol::validate_client_batch: header, length, CRC, batch_bytes_max,
  // every record) and appends it, assigning its offsets: baseOffset becomes
  // end_offset() and partitionLeaderEpoch becomes `term`. The CRC does not
  // cover those two fields; the only other byte rewritten is maxTimestamp when
  // it is not the records' largest timestamp (then the CRC is recomputed).
  // Rolls the active segment first if it is full or too old.
  // Errors: those of validate_client_batch (malformed, crc_mismatch,
  //   invalid_record, unsupported_format, invalid_timestamp, record_too_large:
  //   the batch is rejected, the log unchanged); invalid_argument if `term`
  //   is below last_term() or above INT32_MAX; no_space or io_error (EMFILE):
  //   writes are refused until the log recovers (see Failures above); other
  //   io_error (the log is fenced); log_fenced.
  // `budget`: see protocol::check_client_batch.
  [[nodiscard]] Result<AppendResult> append(std::span<std::byte> batch, Term term,
                                            protocol::DecompressBudget* budget = nullptr);

  // append()'s validation without the write, for a replicated log whose
  // leader proposes the batch first: validates `batch` as append() does
  // (rewriting it into `rewritten` when the topic's compression.type asks)
  // and stamps base offset `base` and partitionLeaderEpoch `term` in place.
  // Errors: append()'s, except the write errors.
  [[nodiscard]] Result<PreparedBatch> prepare_append(std::span<std::byte> batch, Offset base,
                                                     Term term, std::vector<std::byte>& rewritten,
                                                     protocol::DecompressBudget* budget = nullptr);

  // Appends a batch another replica stored (its leader's, through Raft)
  // verbatim: its framing and CRC are checked (validate_batch, or
  // validate_compacted_batch for one a cleaner rewrote), never its records,
  // and nothing in it is rewritten. Errors: the framing's (malformed,
  // crc_mismatch, invalid_record, record_too_large); invalid_argument unless
  // its base offset is end_offset() and its partitionLeaderEpoch is at least
  // last_term(); the write errors of append(). `validated`: the caller made
  // or validated the batch itself (a leader's own proposal): only its header
  // is read, not its CRC again.
  [[nodiscard]] Result<AppendResult> append_replicated(std::span<const std::byte> batch,
                                                       bool validated = false);

  // The batch holding `offset`, or (in a gap compaction left) the first
  // batch after it. Errors: offset_out_of_range unless start_offset() <=
  // offset < end_offset(); not_found past the last batch (a compacted-away
  // tail); io_error; corrupt_log; log_fenced once closed.
  [[nodiscard]] Result<BatchInfo> batch_at(Offset offset);
  // Returns whole batches from one segment, starting with the batch that
  // contains `from` and stopping before `end` (default: end_offset()) and
  // before exceeding `bytes_max`, except that the first batch is always
  // returned whole, so that one large batch cannot stall a consumer.
  // Works while writes are refused or fenced; a fenced log serves only what
  // was durable (below flushed_end_offset()).
  // Errors: offset_out_of_range unless start_offset() <= from <= end_offset();
  //   io_error; log_fenced once closed.
  [[nodiscard]] Result<ReadResult> read(Offset from, std::uint64_t bytes_max,
                                        std::optional<Offset> end = std::nullopt);

  // The first record whose timestamp is >= `timestamp` (Kafka ListOffsets by
  // time), or nullopt if every record is older. For a compressed batch the
  // answer is the batch's base offset (records are not decompressed here).
  // Errors: io_error, corrupt_log, log_fenced.
  [[nodiscard]] Result<std::optional<TimestampHit>> find_offset_by_timestamp(
      std::int64_t timestamp);

  // Drops every batch at or after `end`. Raft calls this when a new leader's
  // log disagrees with ours. The truncation is durable when this returns (it
  // syncs the segment: rare, and otherwise a crash could resurrect the
  // dropped batches behind newer ones).
  // Errors: invalid_argument unless start_offset() <= end <= end_offset() and
  //   `end` is the base offset of a batch or end_offset(); no_space or
  //   io_error (EMFILE) before anything changed: writes are refused for a
  //   while; any other failure fences, and the fenced log then serves reads
  //   only below `end`.
  [[nodiscard]] Status truncate_suffix(Offset end);

  // Discards the whole log and restarts it empty at `start` (Raft: a
  // follower behind its leader's log start, whose leader no longer has the
  // batches it lacks): afterwards start_offset() == end_offset() == `start`,
  // durably. The order keeps a crash harmless: batches at and after the
  // batch holding `start` are cut first (as truncate_suffix, durable), then
  // the start offset file names `start` (the commit point: from then on an
  // open finds the log empty at `start`, see open()), then every segment is
  // removed and a new one made at `start`. A crash before the commit point
  // leaves the old log, at most cut back to that batch (its caller, Raft,
  // relies on nothing there: it keeps only its persisted commit, which is
  // below `start`, before a restart). Errors: invalid_argument if `start` <
  // start_offset(), if `start` lies in a gap compaction left, or inside the
  // first batch when start_offset() is inside it too (no boundary to cut
  // at; nothing changed in any of these); busy while
  // a compaction pass or a start ticket is in flight; the write errors of
  // truncate_suffix (no_space or io_error (EMFILE) before anything changed;
  // any failure after the commit point fences the log).
  [[nodiscard]] Status restart_at(Offset start);

  // Raises start_offset() to `new_start` (DeleteRecords) and deletes the
  // segments that lie entirely below it. Never deletes the active segment.
  // The new start offset is persisted before this returns.
  // Errors: offset_out_of_range if new_start > end_offset(); no_space or
  //   io_error (EMFILE) writing the start offset file: writes are refused for
  //   a while, and the start is the old one, or the new one if only the
  //   directory sync after its rename failed (what a restart reads); other
  //   io_error (fenced).
  [[nodiscard]] Status advance_start(Offset new_start);

  // advance_start in three steps, so that the file work runs off the owning
  // thread: begin raises start_offset() in memory at once (reads refuse what
  // is below it; retention deletes nothing for it yet), the ticket's persist()
  // writes the file anywhere, finish deletes the segments below the new start
  // or, if the file could not be written, goes back to the old start (as
  // advance_start does). An empty ticket needs no persist() or finish.
  // REQUIRES: no start ticket of this log in flight.
  // Errors: of begin, as advance_start's first checks; of finish, as
  //   advance_start's file and deletion errors.
  [[nodiscard]] Result<StartTicket> begin_advance_start(Offset new_start);
  [[nodiscard]] Status finish_advance_start(const StartTicket& ticket, const Status& persisted);

  // Deletes whole sealed segments by retention_ms (the segment's newest
  // timestamp is older than now - retention_ms; a segment whose records carry
  // no timestamp ages from its last append, or from its file's modification
  // time if it was found on disk; from when it was loaded where the file
  // system keeps no such time) and
  // retention_bytes (the
  // oldest, while the log would stay at or above the limit without it). An
  // active segment that has expired is first rolled. With `keep_from`, no
  // segment holding that offset or a later one is deleted (a replicated log
  // deletes only what its Raft group committed).
  [[nodiscard]] Result<RetentionResult> apply_retention(
      std::optional<Offset> keep_from = std::nullopt);
  // The start offset apply_retention(keep_from) would leave if it ran now,
  // without the roll of an expired active segment (whose deletion it may
  // then add: pass the answer as keep_from to delete no further). Changes
  // nothing. For a caller that must record something about the entries a
  // deletion takes before it is made (a replicated log's membership).
  [[nodiscard]] Offset retention_start(std::optional<Offset> keep_from = std::nullopt) const;

  // Starts a new active segment if the current one is non-empty and older than
  // roll_age() (size rolls happen inside append()).
  [[nodiscard]] Status maybe_roll();
  // Starts a new active segment now if the current one is non-empty.
  [[nodiscard]] Status roll();

  // Captures what is not yet durable. REQUIRES: no other ticket from this log
  // is in flight (the owner flushes one ticket at a time per partition).
  [[nodiscard]] FlushTicket begin_flush();
  // Records the outcome of synced.sync(). On success flushed_end_offset()
  // advances to synced.end_offset() (less any truncation since begin_flush).
  // On failure the log is fenced and the error returned.
  [[nodiscard]] Status finish_flush(const FlushTicket& synced, const Status& sync_result);
  // begin_flush + sync + finish_flush on the calling thread.
  [[nodiscard]] Status flush();

  // Whether the owner should flush now under the flush policy: always → any
  // unflushed data; interval → unflushed data and the interval has passed;
  // none → only a sealed segment waiting to become durable.
  [[nodiscard]] bool flush_due() const;

  // Flushes everything, writes the index files of the active segment and the
  // clean-shutdown marker. The log is unusable afterwards (log_fenced).
  [[nodiscard]] Status close();

  // Replaces the configuration (AlterConfigs). Takes effect from the next
  // append, roll or retention pass. Errors: invalid_argument.
  [[nodiscard]] Status set_config(const LogConfig& config);

  // Log compaction (cleanup.policy=compact; log_cleaner.cpp,
  // docs/storage-format.md §Compaction). begin_clean decides whether a pass
  // is due: sealed, durable segments below `committed_end` (and older than
  // min.compaction.lag.ms) whose dirty share (bytes above clean_point()) is
  // at least min.cleanable.dirty.ratio, or whose oldest dirty record passed
  // max.compaction.lag.ms, or `force`. It returns null when none is (or the
  // policy is not compact, or a pass or start ticket is in flight). The task
  // runs anywhere (CleanTask::run); finish_clean puts the swapped segments in
  // place of the old ones and returns `ran`. While a task is in flight,
  // appends, rolls and reads go on; retention and DeleteRecords delete no
  // segment, and truncation into the cleaned range or close() is refused
  // (busy). A failure after a swap's commit point fences the log (a restart
  // finishes the swap). REQUIRES: finish_clean gets the task begin_clean gave.
  [[nodiscard]] std::unique_ptr<CleanTask> begin_clean(Offset committed_end, bool force = false);
  [[nodiscard]] Status finish_clean(CleanTask& task, const Status& ran);
  // begin_clean, run and finish_clean on this thread. nullopt: nothing due.
  [[nodiscard]] Result<std::optional<CleanStats>> clean(Offset committed_end, bool force = false);
  // Every offset below this lies in compacted segments (gaps are normal).
  [[nodiscard]] Offset clean_point() const { return clean_point_; }
  [[nodiscard]] bool clean_in_flight() const { return clean_in_flight_; }

  // Checks what must hold between any two calls (the Invariant above and the
  // shape of the segment list: contiguous, non-empty, covering [first base,
  // end), start inside it, terms non-decreasing, the recovery point and the
  // flushed end not past the end). Tests and the simulators call it after
  // every mutating call. Errors: invalid_argument naming the broken rule.
  [[nodiscard]] Status check_invariants() const;

  [[nodiscard]] Offset start_offset() const { return start_offset_; }
  [[nodiscard]] Offset end_offset() const { return end_offset_; }
  [[nodiscard]] Offset flushed_end_offset() const { return flushed_end_offset_; }
  // The term of the last batch (0 for an empty log).
  [[nodiscard]] Term last_term() const;
  // The term of the batch holding `offset`.
  // Errors: offset_out_of_range unless start_offset() <= offset < end_offset();
  //   not_found for an offset in a gap compaction left before the first batch
  //   an open found (the terms are rebuilt from the batches).
  [[nodiscard]] Result<Term> term_at(Offset offset) const;
  // The first offset of each term that has a batch in the log, ascending by
  // term and offset (Kafka's leader-epoch cache). Kept with every append,
  // truncation and deletion of a front segment, saved in the clean-shutdown
  // marker and rebuilt by the scan of an unclean open; a term whose batches
  // were all compacted away before an unclean open is missing. The first
  // entry may start below start_offset() (a term still in effect there).
  struct TermStart {
    Term term;
    Offset start;
  };
  [[nodiscard]] std::span<const TermStart> term_starts() const { return terms_; }
  // Total bytes of all segment files.
  [[nodiscard]] std::uint64_t size_bytes() const;
  [[nodiscard]] std::size_t segment_count() const { return segments_.size(); }
  // Fenced for good (until a restart): a failed sync or a non-transient error.
  [[nodiscard]] bool fenced() const { return fenced_; }
  // Accepts writes: not closed, not fenced, not refusing after a transient error.
  [[nodiscard]] bool writable() const { return !closed_ && !fenced_ && !write_block_; }
  // The transient error writes are refused for, if any.
  [[nodiscard]] const std::optional<Error>& write_block() const { return write_block_; }
  // If writes are refused for a transient error and the backoff has passed,
  // restores a consistent tail (cut to the last whole batch, synced) and
  // accepts writes again. Called periodically by the owner.
  // Errors: the refusal (backoff not over, or the repair failed again);
  //   log_fenced if the repair's sync failed.
  [[nodiscard]] Status resume_writes();
  [[nodiscard]] const RecoveryReport& recovery() const { return recovery_; }
  [[nodiscard]] const LogConfig& config() const { return config_; }
  // The clock the log was opened with (the partition above it reads time from it too).
  [[nodiscard]] const Clock& clock() const { return clock_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  // The file system the log lives on (the producer state's snapshot sits beside it).
  [[nodiscard]] Filesystem& filesystem() const { return fs_; }

 private:
  PartitionLog(Filesystem& fs, std::filesystem::path dir, LogConfig config, const Clock& clock,
               std::string name);

  // The age at which `segment` rolls: segment.ms less its segment.jitter.ms
  // share, a value in [0, min(jitter, segment.ms)) drawn from the log's name
  // and the segment's base offset (Kafka draws it at random per segment).
  [[nodiscard]] std::chrono::milliseconds roll_age(const Segment& segment) const;

  // Recovery and opening (partition_log_open.cpp).
  [[nodiscard]] Status load();
  [[nodiscard]] Status load_clean(const std::vector<Offset>& bases, const CleanMarker& marker);
  [[nodiscard]] Status load_unclean(const std::vector<Offset>& bases, Offset recovery_point);
  [[nodiscard]] Status load_sealed(std::unique_ptr<Segment> segment, const File& file,
                                   Offset next_base, Offset recovery_point);
  [[nodiscard]] Status refresh_indexes(const Segment& segment, bool known_durable);
  [[nodiscard]] Result<std::vector<Offset>> list_segments();
  [[nodiscard]] Status remove_segment_files(Offset base);
  // Compaction (log_cleaner*.cpp): finishing an interrupted swap on open;
  // the batch holding `from` or the first after it, past the gaps that
  // compaction leaves at the end of segments.
  [[nodiscard]] Status recover_clean();
  [[nodiscard]] Result<BatchLocation> locate_batch(Segment*& segment, Offset from) const;

  // Writing.
  // The part of append() and append_replicated() after validation: roll if
  // due, write the (already stamped) batch, index it.
  [[nodiscard]] Result<AppendResult> append_stamped(std::span<const std::byte> batch,
                                                    const protocol::BatchHeader& header);
  [[nodiscard]] Status open_new_segment(Offset base);
  [[nodiscard]] Status seal_active();
  // log.preallocate (partition_log_preallocate.cpp): reserve the new active
  // segment's segment.bytes (never failing the append); give back what it
  // did not use when it is sealed or the log closes; on recovery, cut the
  // zeros past the last batch of the active segment quietly (unwritten
  // preallocated space, not damage). Returns whether the tail was all zeros.
  void preallocate_active();
  [[nodiscard]] Status trim_active();
  [[nodiscard]] Result<bool> cut_unwritten_tail(File& file, std::uint64_t valid_end);
  [[nodiscard]] Status fence(const Error& error);
  // A write-side failure: refuses writes if transient, else fences.
  // `torn_tail`: the active file may hold bytes past the last whole batch.
  [[nodiscard]] Status fail_write(const Error& error, bool torn_tail);
  [[nodiscard]] Status try_resume();
  [[nodiscard]] Error refused() const;
  // Closed, fenced or refusing writes (tries to resume once the backoff passed).
  [[nodiscard]] Status check_usable();
  // Closed or fenced: what retention and DeleteRecords need (they free space).
  [[nodiscard]] Status check_not_fenced() const;
  // Closed: what reads need.
  [[nodiscard]] Status check_readable() const;
  void note_term(Term term, Offset start);
  void mark_dirty(const std::shared_ptr<File>& file);
  [[nodiscard]] Segment& active() { return *segments_.back(); }
  [[nodiscard]] Segment* segment_for(Offset offset);
  [[nodiscard]] Status delete_front_segment();
  // Whether retention deletes segments_[k] once those before it are gone,
  // the log then `size` bytes and starting at `start`.
  [[nodiscard]] bool retention_deletes(std::size_t k, std::uint64_t size, Offset start,
                                       std::optional<Offset> keep_from, std::int64_t now_ms) const;

  Filesystem& fs_;
  std::filesystem::path dir_;
  LogConfig config_;
  const Clock& clock_;
  std::string name_;                                // for logs: "topic/partition"
  std::vector<std::unique_ptr<Segment>> segments_;  // by base offset; back() is active
  std::vector<TermStart> terms_;                    // ascending; first batch of each term
  Offset start_offset_;
  Offset end_offset_;
  Offset flushed_end_offset_;
  Offset recovery_point_;
  // The newest segment whose file name is durable (its folder was synced).
  Offset segments_durable_through_;
  Clock::SteadyTime last_flush_;
  // Since the last begin_flush(): files written, directory changes, the
  // lowest truncation point (so finish_flush never claims truncated data).
  std::vector<std::shared_ptr<File>> dirty_files_;
  bool directory_dirty_ = false;
  std::optional<Offset> pending_recovery_point_;
  std::optional<Offset> truncated_since_ticket_;
  bool ticket_in_flight_ = false;
  std::optional<Offset> in_flight_recovery_point_;  // what the in-flight ticket may write
  // While a start ticket is in flight: the start offset durable before it,
  // the most retention may delete below.
  std::optional<Offset> start_before_ticket_;
  std::shared_ptr<RecoveryPointGate> gate_ = std::make_shared<RecoveryPointGate>();
  bool fenced_ = false;
  bool closed_ = false;
  // Transient write failures (see Failures above).
  std::optional<Error> write_block_;
  bool torn_tail_ = false;            // the active file may hold a partial batch
  bool active_preallocated_ = false;  // space reserved past the active segment's end
  std::chrono::milliseconds backoff_{0};
  Clock::SteadyTime retry_at_{};
  Clock::SteadyTime recovery_point_retry_at_{};
  std::shared_ptr<FileCache> cache_;
  std::uint64_t cache_owner_ = 0;
  RecoveryReport recovery_;
  // Compaction: the cleaner state file's content, and the pass in flight.
  std::shared_ptr<CleanerState> cleaner_;
  Offset clean_point_{0};
  bool clean_in_flight_ = false;
};

}  // namespace spate::storage
