// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog: state and failures, appends, reads, time lookups, flushes and
// the invariants. Rolls and truncation live in partition_log_segments.cpp, the
// start offset and retention in partition_log_retention.cpp, opening and
// recovery in partition_log_open.cpp.

#include "spate/storage/partition_log.h"

#include <algorithm>
#include <limits>

#include "spate/common/limits.h"
#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"

#include "log_files.h"
#include "recompress.h"
#include "segment.h"

namespace spate::storage {
namespace {

// Retrying writes after a transient failure: first after this, doubling while
// the failures go on, never more than the maximum.
constexpr std::chrono::milliseconds kWriteRetryFirst{50};
constexpr std::chrono::milliseconds kWriteRetryMax{1000};

// A header that does not parse is damage (corrupt_log); a read that failed
// keeps its own code (io_error, ...), so callers never mistake EIO for rot.
Error as_read_error(const Error& error) {
  if (error.code() == Errc::malformed) return Error::corrupt(error.detail());
  return error;
}

}  // namespace

std::string_view flush_policy_name(FlushPolicy policy) {
  switch (policy) {
    case FlushPolicy::always:
      return "always";
    case FlushPolicy::interval:
      return "interval";
    case FlushPolicy::none:
      return "none";
  }
  return "unknown";
}

Result<FlushPolicy> parse_flush_policy(std::string_view name) {
  if (name == "always") return FlushPolicy::always;
  if (name == "interval") return FlushPolicy::interval;
  if (name == "none") return FlushPolicy::none;
  return Error::invalid(fmt::format("flush policy '{}' (expected always, interval or none)", name));
}

Status validate(const LogConfig& config) {
  if (config.segment_bytes_max < protocol::kBatchHeaderBytes ||
      config.segment_bytes_max > limits::kSegmentBytesMax) {
    return Error::invalid(fmt::format("segment.bytes {} outside [{}, {}]", config.segment_bytes_max,
                                      protocol::kBatchHeaderBytes, limits::kSegmentBytesMax));
  }
  // Ages are compared with the clock in nanoseconds: past about 292 years
  // the conversion overflows. Callers map Kafka's "never" (INT64 max) to a
  // century.
  constexpr auto kAgeMax = std::chrono::hours(24 * 366 * 100);
  if (config.segment_age_max.count() <= 0 || config.segment_age_max > kAgeMax) {
    return Error::invalid(fmt::format("segment.ms {} must be positive and at most 100 years",
                                      config.segment_age_max.count()));
  }
  if (config.retention_ms < -1) {
    return Error::invalid(fmt::format("retention.ms {} (-1 or more)", config.retention_ms));
  }
  if (config.retention_bytes < -1) {
    return Error::invalid(fmt::format("retention.bytes {} (-1 or more)", config.retention_bytes));
  }
  if (config.batch_bytes_max < protocol::kBatchHeaderBytes ||
      config.batch_bytes_max > limits::kBatchBytesMax) {
    return Error::invalid(fmt::format("max.message.bytes {} outside [{}, {}]",
                                      config.batch_bytes_max, protocol::kBatchHeaderBytes,
                                      limits::kBatchBytesMax));
  }
  if (config.flush_interval.count() <= 0 || config.flush_interval > kAgeMax) {
    return Error::invalid(fmt::format("flush interval {} ms must be positive and at most 100 years",
                                      config.flush_interval.count()));
  }
  return {};
}

protocol::TimestampRules timestamp_rules(const LogConfig& config, std::int64_t now_ms) {
  return {.log_append_time = config.log_append_time,
          .before_max_ms = config.timestamp_before_max_ms,
          .after_max_ms = config.timestamp_after_max_ms,
          .now_ms = now_ms};
}

Status FlushTicket::sync() const {
  for (const auto& file : dirty_files_) {
    if (auto s = file->sync(); !s) return s;
  }
  if (sync_directory_) {
    if (auto s = fs_->sync_directory(dir_); !s) return s;
  }
  if (recovery_point_) {
    // Written only after the data below it is durable (the syncs above), and
    // never above a truncation made while this ticket was in flight.
    std::lock_guard lock(gate_->mutex);
    const Offset value = gate_->cap ? std::min(*recovery_point_, *gate_->cap) : *recovery_point_;
    bool replaced = false;
    if (auto s = write_offset_file(*fs_, dir_ / kRecoveryPointFile, kRecoveryPointMagic, value,
                                   &replaced);
        !s) {
      // Renamed into place, only the directory sync failed: the new value may
      // be what a restart reads, so a truncation below it must lower it.
      if (replaced) gate_->written = value;
      // The data above is durable: its syncs succeeded. The recovery point
      // file is replaced atomically (a temporary file, then a rename), so a
      // full disk leaves the old one, which is still true; the owner retries.
      // Anything else (EIO) fences as before.
      if (!is_transient_storage_error(s.error())) return s;
      recovery_point_skipped_ = true;
      return {};
    }
    gate_->written = value;
  }
  return {};
}

PartitionLog::PartitionLog(Filesystem& fs, std::filesystem::path dir, LogConfig config,
                           const Clock& clock, std::string name)
    : fs_(fs),
      dir_(std::move(dir)),
      config_(config),
      clock_(clock),
      name_(std::move(name)),
      last_flush_(clock.steady_now()) {
  if (name_.empty()) name_ = dir_.filename().string();
}

PartitionLog::~PartitionLog() {
  // Close the cached descriptors of our sealed segments now: a deleted
  // partition's disk space is freed only once no descriptor refers to it.
  if (cache_) cache_->forget_owner(cache_owner_);
}

Status PartitionLog::check_readable() const {
  if (closed_) return Error::fenced(fmt::format("log {} is closed", name_));
  return {};
}

Status PartitionLog::check_not_fenced() const {
  if (auto s = check_readable(); !s) return s;
  if (fenced_) return Error::fenced(fmt::format("log {} is fenced after an I/O error", name_));
  return {};
}

Error PartitionLog::refused() const {
  const std::string what =
      fmt::format("log {} refuses writes until storage recovers (retriable): {}", name_,
                  write_block_->detail());
  // Keeps the errno, so that callers can tell it is transient.
  if (write_block_->system_errno() != 0)
    return Error::from_errno(write_block_->system_errno(), what);
  return Error(write_block_->code(), what);
}

Status PartitionLog::check_usable() {
  if (auto s = check_not_fenced(); !s) return s;
  if (write_block_) {
    if (clock_.steady_now() < retry_at_) return refused();
    return try_resume();
  }
  return {};
}

Status PartitionLog::fence(const Error& error) {
  if (!fenced_) {
    log::get(log::Module::storage)->error("[{}] log fenced after {}", name_, error.message());
  }
  fenced_ = true;
  return error;
}

Status PartitionLog::fail_write(const Error& error, bool torn_tail) {
  if (!is_transient_storage_error(error)) return fence(error);
  torn_tail_ = torn_tail_ || torn_tail;
  if (!write_block_) {
    log::get(log::Module::storage)
        ->warn("[{}] refusing writes until storage recovers: {}", name_, error.message());
  }
  write_block_ = error;
  backoff_ = std::min(kWriteRetryMax, std::max(kWriteRetryFirst, backoff_ * 2));
  retry_at_ = clock_.steady_now() + backoff_;
  return error;
}

Status PartitionLog::try_resume() {
  if (torn_tail_) {
    // Cut whatever a failed append left past the last whole batch, and make
    // that durable before anything is appended behind it.
    const std::shared_ptr<File>& file = active().pinned();
    SPATE_ASSERT(file != nullptr, "{}: the active segment has no open file", name_);
    if (file->size() != active().size_bytes()) {
      if (auto s = file->truncate(active().size_bytes()); !s) return fail_write(s.error(), true);
      // Never retried (see Failures in partition_log.h).
      if (auto s = file->sync(); !s) return fence(s.error());
    }
    torn_tail_ = false;
  }
  log::get(log::Module::storage)
      ->info("[{}] accepting writes again after {}", name_, write_block_->message());
  write_block_.reset();
  return {};
}

Status PartitionLog::resume_writes() {
  if (auto s = check_not_fenced(); !s) return s;
  if (!write_block_) return {};
  return check_usable();
}

void PartitionLog::mark_dirty(const std::shared_ptr<File>& file) {
  if (std::find(dirty_files_.begin(), dirty_files_.end(), file) == dirty_files_.end()) {
    dirty_files_.push_back(file);
  }
}

Term PartitionLog::last_term() const { return terms_.empty() ? Term(0) : terms_.back().term; }

Result<Term> PartitionLog::term_at(Offset offset) const {
  if (offset < start_offset_ || offset >= end_offset_) {
    return Error::out_of_range(
        fmt::format("offset {} outside [{}, {})", offset, start_offset_, end_offset_));
  }
  auto it = std::upper_bound(terms_.begin(), terms_.end(), offset,
                             [](Offset o, const TermStart& t) { return o < t.start; });
  if (it == terms_.begin()) {
    return Error::not_found(fmt::format("no term recorded for offset {} (compacted away)", offset));
  }
  return std::prev(it)->term;
}

void PartitionLog::note_term(Term term, Offset start) {
  if (terms_.empty() || terms_.back().term != term) terms_.push_back({term, start});
}

std::uint64_t PartitionLog::size_bytes() const {
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s->size_bytes();
  return total;
}

Segment* PartitionLog::segment_for(Offset offset) {
  auto it =
      std::upper_bound(segments_.begin(), segments_.end(), offset,
                       [](Offset o, const std::unique_ptr<Segment>& s) { return o < s->base(); });
  if (it == segments_.begin()) return nullptr;
  return std::prev(it)->get();
}

Result<AppendResult> PartitionLog::append(std::span<std::byte> batch, Term term,
                                          protocol::DecompressBudget* budget) {
  std::vector<std::byte> recompressed;
  auto prepared = prepare_append(batch, end_offset_, term, recompressed, budget);
  if (!prepared) return prepared.error();
  return append_stamped(prepared->bytes, prepared->header);
}

Result<PreparedBatch> PartitionLog::prepare_append(std::span<std::byte> batch, Offset base,
                                                   Term term, std::vector<std::byte>& rewritten,
                                                   protocol::DecompressBudget* budget) {
  if (auto s = check_usable(); !s) return s.error();
  // Kafka's log validator: the records too (each with a key on a compacted
  // topic), and maxTimestamp made true.
  auto header = protocol::validate_client_batch(batch, config_.batch_bytes_max, budget,
                                                timestamp_rules(config_, clock_.wall_ms()),
                                                config_.cleanup_compact);
  if (!header) return header.error();
  if (needs_recompression(config_, *header)) {  // compression.type other than the batch's
    if (auto s = recompress(config_, batch, *header, rewritten); !s) return s.error();
    batch = rewritten;
  }
  if (term < last_term()) {
    return Error::invalid(fmt::format("term {} below the log's last term {}", term, last_term()));
  }
  if (term.value() < 0 || term.value() > std::numeric_limits<std::int32_t>::max()) {
    return Error::invalid(fmt::format("term {} does not fit partitionLeaderEpoch", term));
  }
  protocol::set_base_offset(batch, base);
  protocol::set_partition_leader_epoch(batch, static_cast<std::int32_t>(term.value()));
  header->base_offset = base.value();
  header->partition_leader_epoch = static_cast<std::int32_t>(term.value());
  return PreparedBatch{batch, *header};
}

Result<AppendResult> PartitionLog::append_stamped(std::span<const std::byte> batch,
                                                  const protocol::BatchHeader& header) {
  const Term term(header.partition_leader_epoch);
  const Segment& current = *segments_.back();
  const bool full = current.size_bytes() + batch.size() > config_.segment_bytes_max;
  const bool old = clock_.steady_now() - current.created() >= roll_age(current);
  // Relative offsets in the index are 32-bit.
  const bool offsets_wide = (end_offset_ - current.base()) + header.last_offset_delta + 1 >
                            std::int64_t{std::numeric_limits<std::int32_t>::max()};
  if (!current.empty() && (full || old || offsets_wide)) {
    if (auto s = roll(); !s) return s.error();
  }
  Segment& segment = active();
  const std::uint64_t position = segment.size_bytes();
  if (auto s = segment.pinned()->append(batch); !s) return fail_write(s.error(), true).error();
  backoff_ = std::chrono::milliseconds{0};
  segment.note_appended(header, position, config_.index_interval_bytes);
  segment.note_wall_time(clock_.wall_ms());
  mark_dirty(segment.pinned());
  note_term(term, end_offset_);
  AppendResult result{end_offset_, header.last_offset()};
  if (header.log_append_time()) result.log_append_time_ms = header.max_timestamp;
  end_offset_ = header.next_offset();
  return result;
}

Result<ReadResult> PartitionLog::read(Offset from, std::uint64_t bytes_max,
                                      std::optional<Offset> end) {
  if (auto s = check_readable(); !s) return s.error();
  if (from < start_offset_ || from > end_offset_) {
    return Error::out_of_range(
        fmt::format("{}: offset {} outside [{}, {}]", name_, from, start_offset_, end_offset_));
  }
  Offset limit = end ? std::min(*end, end_offset_) : end_offset_;
  // After a failed sync only what was durable before is trustworthy.
  if (fenced_) limit = std::min(limit, flushed_end_offset_);
  ReadResult result{{}, from};
  if (from >= limit) return result;
  Segment* segment = segment_for(from);
  // Skip empty segments (a rolled, never-written active one cannot hold `from`).
  while (segment != nullptr && from >= segment->end()) {
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const auto& s) { return s.get() == segment; });
    segment = std::next(it) == segments_.end() ? nullptr : std::next(it)->get();
  }
  SPATE_ASSERT(segment != nullptr, "{}: no segment holds offset {} below end {}", name_, from,
               end_offset_);
  auto first = locate_batch(segment, from);
  if (!first && first.error().code() == Errc::not_found) return result;  // a compacted-away tail
  if (!first) return first.error();
  auto file = segment->log();
  if (!file) return file.error();
  if (first->header.next_offset() > limit) return result;
  std::uint64_t bytes = first->header.total_bytes();
  Offset next = first->header.next_offset();
  // Jump with the offset index: an entry marks a batch boundary, so every
  // batch before it is whole. Only the last stretch is walked header by header.
  const auto& index = segment->index();
  auto beyond =
      std::upper_bound(index.begin(), index.end(), first->position + bytes_max,
                       [](std::uint64_t p, const IndexEntry& e) { return p < e.position; });
  while (beyond != index.begin()) {
    const IndexEntry& e = *std::prev(beyond);
    if (e.position <= first->position + bytes) break;
    if (segment->base() + e.relative_offset <= limit) {
      bytes = e.position - first->position;
      next = segment->base() + e.relative_offset;
      break;
    }
    --beyond;
  }
  // Bounded by the segment: each step consumes one batch.
  // (A compacted segment's batches may end before its offsets do.)
  while (next < limit && next < segment->end() && first->position + bytes < segment->size_bytes()) {
    auto header = segment->read_header(**file, first->position + bytes);
    if (!header) return as_read_error(header.error());
    if (bytes + header->total_bytes() > bytes_max || header->next_offset() > limit) break;
    bytes += header->total_bytes();
    next = header->next_offset();
  }
  result.bytes = FileSlice{std::move(*file), first->position, bytes};
  result.next_offset = next;
  return result;
}

Result<std::optional<TimestampHit>> PartitionLog::find_offset_by_timestamp(std::int64_t timestamp) {
  if (auto s = check_readable(); !s) return s.error();
  for (const auto& segment : segments_) {
    if (segment->empty() || segment->max_timestamp() < timestamp) continue;
    if (segment->end() <= start_offset_) continue;
    // Start at the last time index entry below the target: no batch before it
    // can reach the target.
    Offset from = std::max(segment->base(), start_offset_);
    const auto& time_index = segment->time_index();
    auto it =
        std::lower_bound(time_index.begin(), time_index.end(), timestamp,
                         [](const TimeIndexEntry& e, std::int64_t t) { return e.timestamp < t; });
    if (it != time_index.begin())
      from = std::max(from, segment->base() + std::prev(it)->relative_offset);
    auto file = segment->log();
    if (!file) return file.error();
    auto location = segment->find_batch(from);
    if (!location) return location.error();
    std::uint64_t position = location->position;
    protocol::BatchHeader header = location->header;
    // Bounded by the segment size: each step moves one batch forward.
    while (true) {
      if (header.max_timestamp >= timestamp) {
        Offset hit = header.base();
        std::int64_t hit_time = header.max_timestamp;
        if (header.compression() == protocol::Compression::none && !header.log_append_time()) {
          auto bytes = FileSlice{*file, position, header.total_bytes()}.read_all();
          if (!bytes) return bytes.error();
          auto records = protocol::decode_records(*bytes);
          if (!records) return Error::corrupt(records.error().message());
          bool found = false;
          for (const auto& r : *records) {
            if (r.timestamp >= timestamp && Offset(r.offset) >= start_offset_) {
              hit = Offset(r.offset);
              hit_time = r.timestamp;
              found = true;
              break;
            }
          }
          // Only records below the start offset reach the target (timestamps
          // need not increase inside a batch): the answer is in a later batch.
          if (!found) hit = Offset(-1);
        }
        if (hit != Offset(-1)) {
          hit = std::max(hit, start_offset_);
          return std::optional<TimestampHit>(TimestampHit{hit, hit_time});
        }
      }
      position += header.total_bytes();
      if (position >= segment->size_bytes()) break;
      auto next = segment->read_header(**file, position);
      if (!next) return as_read_error(next.error());
      header = *next;
    }
  }
  return std::optional<TimestampHit>{};
}

FlushTicket PartitionLog::begin_flush() {
  SPATE_ASSERT(!ticket_in_flight_, "{}: a flush ticket is already in flight", name_);
  FlushTicket ticket;
  ticket.fs_ = &fs_;
  ticket.dir_ = dir_;
  ticket.dirty_files_ = std::move(dirty_files_);
  dirty_files_.clear();
  ticket.sync_directory_ = directory_dirty_;
  directory_dirty_ = false;
  ticket.recovery_point_ = pending_recovery_point_;
  in_flight_recovery_point_ = pending_recovery_point_;
  pending_recovery_point_.reset();
  {
    std::lock_guard lock(gate_->mutex);  // no ticket in flight: nobody else holds it
    gate_->cap.reset();
    gate_->written.reset();
  }
  ticket.gate_ = gate_;
  ticket.end_offset_ = end_offset_;
  ticket.active_base_ = active().base();
  ticket.recovery_point_skipped_ = false;
  truncated_since_ticket_.reset();
  ticket_in_flight_ = true;
  return ticket;
}

Status PartitionLog::finish_flush(const FlushTicket& synced, const Status& sync_result) {
  SPATE_ASSERT(ticket_in_flight_, "{}: finish_flush without begin_flush", name_);
  ticket_in_flight_ = false;
  in_flight_recovery_point_.reset();
  if (!sync_result) return fence(sync_result.error());
  if (fenced_ || closed_) return check_not_fenced();
  Offset covered = synced.end_offset();
  if (truncated_since_ticket_) covered = std::min(covered, *truncated_since_ticket_);
  flushed_end_offset_ = std::max(flushed_end_offset_, std::min(covered, end_offset_));
  if (synced.recovery_point_) {
    Offset written = *synced.recovery_point_;
    if (truncated_since_ticket_) written = std::min(written, *truncated_since_ticket_);
    if (synced.recovery_point_skipped_) {
      // Not written (a full disk): try again with a later flush, not at once.
      // If it reached the file anyway (only the directory sync failed), the
      // value on disk is known, for a truncation to lower it.
      std::optional<Offset> on_disk;
      {
        std::lock_guard lock(gate_->mutex);
        on_disk = gate_->written;
      }
      if (on_disk) recovery_point_ = std::max(recovery_point_, std::min(*on_disk, end_offset_));
      written = std::min(written, end_offset_);
      pending_recovery_point_ = std::max(pending_recovery_point_.value_or(written), written);
      recovery_point_retry_at_ = clock_.steady_now() + kWriteRetryMax;
    } else {
      recovery_point_ = std::max(recovery_point_, std::min(written, end_offset_));
    }
  }
  if (!truncated_since_ticket_) {
    segments_durable_through_ = std::max(segments_durable_through_, synced.active_base_);
  }
  last_flush_ = clock_.steady_now();
  return {};
}

Status PartitionLog::flush() {
  // Runs while writes are refused: what was appended before still gets durable.
  if (auto s = check_not_fenced(); !s) return s;
  FlushTicket ticket = begin_flush();
  Status result = ticket.sync();
  return finish_flush(ticket, result);
}

bool PartitionLog::flush_due() const {
  if (fenced_ || closed_) return false;
  if (pending_recovery_point_ && clock_.steady_now() >= recovery_point_retry_at_) return true;
  const bool dirty = !dirty_files_.empty() || directory_dirty_;
  switch (config_.flush_policy) {
    case FlushPolicy::always:
      return dirty;
    case FlushPolicy::interval:
      return dirty && clock_.steady_now() - last_flush_ >= config_.flush_interval;
    case FlushPolicy::none:
      return false;
  }
  return dirty;
}

Status PartitionLog::set_config(const LogConfig& config) {
  if (auto s = validate(config); !s) return s;
  config_ = config;
  return {};
}

Status PartitionLog::check_invariants() const {
  auto broken = [&](std::string what) {
    return Error::invalid(fmt::format("{}: invariant broken: {}", name_, what));
  };
  if (segments_.empty()) return broken("no segment");
  if (start_offset_ > end_offset_) {
    return broken(fmt::format("start {} past end {}", start_offset_, end_offset_));
  }
  if (flushed_end_offset_ > end_offset_) {
    return broken(fmt::format("flushed end {} past end {}", flushed_end_offset_, end_offset_));
  }
  if (recovery_point_ > end_offset_) {
    return broken(fmt::format("recovery point {} past end {}", recovery_point_, end_offset_));
  }
  if (start_offset_ < segments_.front()->base()) {
    return broken(fmt::format("start {} below the first segment {}", start_offset_,
                              segments_.front()->base()));
  }
  for (std::size_t i = 0; i + 1 < segments_.size(); ++i) {
    if (segments_[i]->end() != segments_[i + 1]->base()) {
      return broken(fmt::format("segment {} ends at {}, the next begins at {}",
                                segments_[i]->base(), segments_[i]->end(),
                                segments_[i + 1]->base()));
    }
    if (segments_[i]->empty() && segments_[i]->end() != segments_[i]->base() &&
        segments_[i]->end() > clean_point_) {
      return broken(
          fmt::format("empty segment {} ends at {}", segments_[i]->base(), segments_[i]->end()));
    }
  }
  if (segments_.back()->end() != end_offset_) {
    return broken(fmt::format("the active segment ends at {}, the log at {}",
                              segments_.back()->end(), end_offset_));
  }
  for (std::size_t i = 0; i + 1 < terms_.size(); ++i) {
    if (terms_[i].term >= terms_[i + 1].term || terms_[i].start > terms_[i + 1].start) {
      return broken(fmt::format("terms out of order at {}", i));
    }
  }
  if (start_before_ticket_ && *start_before_ticket_ > start_offset_) {
    return broken("a start ticket lowered the start");
  }
  return {};
}

}  // namespace spate::storage
