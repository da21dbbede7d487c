// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog: appends, reads, time lookups, truncation, retention, rolls and
// flushes. Opening and recovery live in partition_log_open.cpp.

#include "spate/storage/partition_log.h"

#include <algorithm>
#include <limits>

#include "spate/common/limits.h"
#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"

#include "log_files.h"
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
  SPATE_ASSERT(it != terms_.begin(), "no term recorded for offset {}", offset);
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
  if (auto s = check_usable(); !s) return s.error();
  // Kafka's log validator: the records too, and maxTimestamp made true.
  auto header = protocol::validate_client_batch(batch, config_.batch_bytes_max, budget);
  if (!header) return header.error();
  if (term < last_term()) {
    return Error::invalid(fmt::format("term {} below the log's last term {}", term, last_term()));
  }
  if (term.value() < 0 || term.value() > std::numeric_limits<std::int32_t>::max()) {
    return Error::invalid(fmt::format("term {} does not fit partitionLeaderEpoch", term));
  }
  const Segment& current = *segments_.back();
  const bool full = current.size_bytes() + batch.size() > config_.segment_bytes_max;
  const bool old = clock_.steady_now() - current.created() >= config_.segment_age_max;
  // Relative offsets in the index are 32-bit.
  const bool offsets_wide = (end_offset_ - current.base()) + header->last_offset_delta + 1 >
                            std::int64_t{std::numeric_limits<std::int32_t>::max()};
  if (!current.empty() && (full || old || offsets_wide)) {
    if (auto s = roll(); !s) return s.error();
  }
  Segment& segment = active();
  const std::uint64_t position = segment.size_bytes();
  protocol::set_base_offset(batch, end_offset_);
  protocol::set_partition_leader_epoch(batch, static_cast<std::int32_t>(term.value()));
  if (auto s = segment.pinned()->append(batch); !s) return fail_write(s.error(), true).error();
  backoff_ = std::chrono::milliseconds{0};
  header->base_offset = end_offset_.value();
  header->partition_leader_epoch = static_cast<std::int32_t>(term.value());
  segment.note_appended(*header, position, config_.index_interval_bytes);
  segment.note_wall_time(clock_.wall_ms());
  mark_dirty(segment.pinned());
  note_term(term, end_offset_);
  AppendResult result{end_offset_, header->last_offset()};
  end_offset_ = header->next_offset();
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
  auto file = segment->log();
  if (!file) return file.error();
  auto first = segment->find_batch(from);
  if (!first) return first.error();
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
  while (next < limit && next < segment->end()) {
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

Status PartitionLog::open_new_segment(Offset base) {
  auto file = fs_.open(dir_ / segment_file_name(base, kLogSuffix), OpenMode::create_exclusive);
  if (!file) return file.error();
  segments_.push_back(std::make_unique<Segment>(base, *file, dir_, clock_.steady_now(),
                                                clock_.wall_ms(), *cache_, cache_owner_));
  directory_dirty_ = true;
  // Not durable until the next flush syncs the folder (a truncation may have
  // removed a newer, durable segment of the same or a higher base).
  segments_durable_through_ = std::min(segments_durable_through_, base - 1);
  return {};
}

Status PartitionLog::seal_active() {
  Segment& segment = active();
  segment.finish_time_index();
  auto files = segment.write_indexes(fs_);
  if (!files) return files.error();
  for (const auto& f : *files) mark_dirty(f);
  mark_dirty(segment.pinned());
  return {};
}

Status PartitionLog::roll() {
  if (auto s = check_usable(); !s) return s;
  if (active().empty()) return {};
  // Neither failure changes what is on disk for good: the index files are
  // rewritten by the next attempt, and no segment was added.
  if (auto s = seal_active(); !s) return fail_write(s.error(), false);
  if (auto s = open_new_segment(end_offset_); !s) return fail_write(s.error(), false);
  // The sealed segment's descriptor: kept by the flush ticket until its sync,
  // then closed. Reads borrow one from the cache (the descriptor budget).
  segments_[segments_.size() - 2]->unpin();
  // Everything below the new segment becomes the recovery point once the
  // next flush has made the sealed segment durable.
  pending_recovery_point_ = end_offset_;
  log::get(log::Module::storage)
      ->info("[{}] rolled segment base_offset={} previous_size_bytes={}", name_, end_offset_,
             segments_[segments_.size() - 2]->size_bytes());
  return {};
}

Status PartitionLog::maybe_roll() {
  if (auto s = check_usable(); !s) return s;
  const Segment& current = *segments_.back();
  if (current.empty()) return {};
  if (clock_.steady_now() - current.created() < config_.segment_age_max) return {};
  return roll();
}

Status PartitionLog::remove_segment_files(Offset base) {
  cache_->forget(cache_owner_, base.value());
  for (const char* suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix}) {
    auto s = fs_.remove(dir_ / segment_file_name(base, suffix));
    if (!s && s.error().code() != Errc::not_found) return s;
  }
  directory_dirty_ = true;
  return {};
}

Status PartitionLog::truncate_suffix(Offset end) {
  if (auto s = check_usable(); !s) return s;
  if (end < start_offset_ || end > end_offset_) {
    return Error::invalid(
        fmt::format("{}: truncate to {} outside [{}, {}]", name_, end, start_offset_, end_offset_));
  }
  if (end == end_offset_) return {};
  Segment* segment = segment_for(end);
  SPATE_ASSERT(segment != nullptr, "no segment for offset {}", end);
  std::uint64_t position = 0;
  if (end > segment->base()) {
    auto location = segment->find_batch(end);
    if (!location) return fail_write(location.error(), false);  // nothing changed yet
    if (location->header.base() != end) {
      return Error::invalid(fmt::format("{}: truncate to {} inside the batch [{}, {}]", name_, end,
                                        location->header.base_offset,
                                        location->header.last_offset()));
    }
    position = location->position;
  }
  // A sealed segment truncated into becomes the active one: written again.
  std::shared_ptr<File> file = segment->pinned();
  if (!file) {
    auto opened = fs_.open(segment->path(kLogSuffix), OpenMode::read_write);
    if (!opened) return fail_write(opened.error(), false);  // nothing changed yet
    file = std::move(*opened);
  }
  // From here on the batches at and after `end` may be gone: a failure fences
  // the log, which then serves reads only below `end`.
  auto fence_cut = [&](const Error& error) {
    flushed_end_offset_ = std::min(flushed_end_offset_, end);
    return fence(error);
  };
  // Drop later segments, newest first, so that a crash leaves a prefix.
  while (segments_.back().get() != segment) {
    if (auto s = remove_segment_files(segments_.back()->base()); !s) return fence_cut(s.error());
    segments_.pop_back();
  }
  segment->pin(file);
  if (auto s = file->truncate(position); !s) return fence_cut(s.error());
  auto rebuilt = segment->rebuild_from_headers(position, config_.index_interval_bytes,
                                               [](const protocol::BatchHeader&) {});
  if (!rebuilt) return fence_cut(rebuilt.error());
  // Truncation is rare (a raft leader change) and is made durable at once:
  // otherwise a crash could bring the dropped batches back behind batches
  // appended after them.
  if (auto s = file->sync(); !s) return fence_cut(s.error());
  if (directory_dirty_) {
    if (auto s = fs_.sync_directory(dir_); !s) return fence_cut(s.error());
  }
  while (!terms_.empty() && terms_.back().start >= end) terms_.pop_back();
  end_offset_ = end;
  flushed_end_offset_ = std::min(flushed_end_offset_, end);
  truncated_since_ticket_ = std::min(truncated_since_ticket_.value_or(end), end);
  if (pending_recovery_point_ && *pending_recovery_point_ > end) pending_recovery_point_ = end;
  {
    // The recovery point promises that data up to it is valid: lower it to
    // the truncation, and stop an in-flight ticket from raising it again. On
    // disk is what the in-flight ticket wrote (after syncing everything below
    // it), else the last known value; never write more than either.
    std::lock_guard lock(gate_->mutex);
    if (ticket_in_flight_ && in_flight_recovery_point_) {
      gate_->cap = std::min(gate_->cap.value_or(end), end);
    }
    const Offset on_disk = std::max(recovery_point_, gate_->written.value_or(Offset(0)));
    if (on_disk > end) {
      if (auto s = write_offset_file(fs_, dir_ / kRecoveryPointFile, kRecoveryPointMagic, end);
          !s) {
        return fence_cut(s.error());
      }
      gate_->written.reset();
      recovery_point_ = end;
    }
  }
  log::get(log::Module::storage)->info("[{}] truncated suffix end_offset={}", name_, end);
  return {};
}

Status PartitionLog::delete_front_segment() {
  SPATE_ASSERT(segments_.size() > 1, "never delete the active segment");
  if (auto s = remove_segment_files(segments_.front()->base()); !s) return fence(s.error());
  segments_.erase(segments_.begin());
  // Keep the term of the first remaining offset; drop older ones.
  while (terms_.size() > 1 && terms_[1].start <= segments_.front()->base()) {
    terms_.erase(terms_.begin());
  }
  return {};
}

Status StartTicket::persist() const {
  return write_offset_file(*fs_, dir_ / kStartOffsetFile, kStartOffsetMagic, start_, &replaced_);
}

Result<StartTicket> PartitionLog::begin_advance_start(Offset new_start) {
  SPATE_ASSERT(!start_before_ticket_, "{}: a start ticket is already in flight", name_);
  // Allowed while writes are refused: it frees space.
  if (auto s = check_not_fenced(); !s) return s.error();
  if (new_start > end_offset_) {
    return Error::out_of_range(
        fmt::format("{}: start offset {} beyond the end {}", name_, new_start, end_offset_));
  }
  StartTicket ticket;
  if (new_start <= start_offset_) return ticket;
  ticket.fs_ = &fs_;
  ticket.dir_ = dir_;
  ticket.start_ = new_start;
  start_before_ticket_ = start_offset_;
  start_offset_ = new_start;
  return ticket;
}

Status PartitionLog::finish_advance_start(const StartTicket& ticket, const Status& persisted) {
  if (ticket.empty()) return {};
  SPATE_ASSERT(start_before_ticket_.has_value(), "{}: finish without begin_advance_start", name_);
  const Offset old_start = *start_before_ticket_;
  start_before_ticket_.reset();
  if (!persisted) {
    // The file is replaced atomically: the old one still holds, unless only
    // the directory sync after the rename failed. Then the new start is what
    // a restart reads (if the rename is durable; the old one otherwise, also
    // true: nothing was deleted yet), and it stays. Retention may have moved
    // the start meanwhile, never below the first segment. A full disk refuses
    // writes for a while, as any failed write does (Failures).
    if (!ticket.replaced_) start_offset_ = std::max(old_start, segments_.front()->base());
    if (closed_) return check_readable();
    return fail_write(persisted.error(), false);
  }
  if (auto s = check_not_fenced(); !s) return s;
  while (segments_.size() > 1 && segments_[1]->base() <= start_offset_) {
    if (auto s = delete_front_segment(); !s) return s;
  }
  log::get(log::Module::storage)->info("[{}] advanced start_offset={}", name_, start_offset_);
  return {};
}

Status PartitionLog::advance_start(Offset new_start) {
  auto ticket = begin_advance_start(new_start);
  if (!ticket) return ticket.error();
  if (ticket->empty()) return {};
  return finish_advance_start(*ticket, ticket->persist());
}

Result<RetentionResult> PartitionLog::apply_retention() {
  // Runs while writes are refused (it frees space), without the roll.
  if (auto s = check_not_fenced(); !s) return s.error();
  RetentionResult result;
  const std::int64_t now_ms = clock_.wall_ms();
  auto expired = [&](const Segment& s) {
    return config_.retention_ms >= 0 && s.retention_timestamp() < now_ms - config_.retention_ms;
  };
  if (writable() && !active().empty() && expired(active())) {
    if (auto s = roll(); !s && !write_block_) return s.error();
  }
  // Bounded by the number of segments; the active one is never deleted.
  while (segments_.size() > 1) {
    const Segment& front = *segments_.front();
    const bool too_big =
        config_.retention_bytes >= 0 &&
        size_bytes() - front.size_bytes() >= static_cast<std::uint64_t>(config_.retention_bytes);
    // Not below a start offset that is not durable yet (a start ticket in flight).
    const bool below_start = segments_[1]->base() <= start_before_ticket_.value_or(start_offset_);
    if (!expired(front) && !too_big && !below_start) break;
    // Deleting is durable at once, so only delete a segment once its
    // successor's file is durable: otherwise a crash could leave neither.
    if (segments_[1]->base() > segments_durable_through_) break;
    result.segments_deleted++;
    result.bytes_deleted += front.size_bytes();
    // Reads stop at the new start first: if the deletion fails half way the
    // log is fenced but goes on serving reads, never from this segment.
    start_offset_ = std::max(start_offset_, segments_[1]->base());
    if (auto s = delete_front_segment(); !s) return s.error();
  }
  if (result.segments_deleted > 0) {
    log::get(log::Module::storage)
        ->info("[{}] retention deleted segments={} bytes={} start_offset={}", name_,
               result.segments_deleted, result.bytes_deleted, start_offset_);
  }
  return result;
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
    if (segments_[i]->empty() && segments_[i]->end() != segments_[i]->base()) {
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
