// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's segments: opening and sealing them, rolls, truncating the
// suffix, and restarting the log empty. Appends, reads and flushes live in partition_log.cpp, the
// start offset and retention in partition_log_retention.cpp, opening and recovery in
// partition_log_open.cpp.

#include <algorithm>

#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

#include "log_files.h"
#include "segment.h"

namespace spate::storage {

Status PartitionLog::open_new_segment(Offset base) {
  auto file = fs_.open(dir_ / segment_file_name(base, kLogSuffix), OpenMode::create_exclusive);
  if (!file) return file.error();
  segments_.push_back(std::make_unique<Segment>(base, *file, dir_, clock_.steady_now(),
                                                clock_.wall_ms(), *cache_, cache_owner_));
  preallocate_active();
  directory_dirty_ = true;
  // Not durable until the next flush syncs the folder (a truncation may have
  // removed a newer, durable segment of the same or a higher base).
  segments_durable_through_ = std::min(segments_durable_through_, base - 1);
  return {};
}

Status PartitionLog::seal_active() {
  if (auto s = trim_active(); !s) return s;
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
  if (clock_.steady_now() - current.created() < roll_age(current)) return {};
  return roll();
}

std::chrono::milliseconds PartitionLog::roll_age(const Segment& segment) const {
  const std::int64_t age = config_.segment_age_max.count();
  const std::int64_t jitter = std::min(config_.segment_jitter_ms, age);
  if (jitter <= 0) return config_.segment_age_max;
  // FNV-1a over the name and base offset: the same segment always rolls at
  // the same age, different partitions at different ones.
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::uint64_t byte) { h = (h ^ byte) * 1099511628211ULL; };
  for (char c : name_) mix(static_cast<unsigned char>(c));
  for (int i = 0; i < 8; ++i) {
    mix((static_cast<std::uint64_t>(segment.base().value()) >> (8 * i)) & 0xFFU);
  }
  return std::chrono::milliseconds(
      age - static_cast<std::int64_t>(h % static_cast<std::uint64_t>(jitter)));
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
  if (clean_in_flight_) {
    return Error(Errc::busy,
                 fmt::format("{}: truncate to {} while a compaction pass runs", name_, end));
  }
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

Status PartitionLog::restart_at(Offset start) {
  if (auto s = check_usable(); !s) return s;
  if (start < start_offset_) {
    return Error::invalid(
        fmt::format("{}: restart at {} below the start offset {}", name_, start, start_offset_));
  }
  if (clean_in_flight_ || start_before_ticket_) {
    return Error(Errc::busy, fmt::format("{}: restart at {} while a compaction pass or a start "
                                         "offset change is in flight",
                                         name_, start));
  }
  if (start < end_offset_) {
    // Cut first, so that a crash before the start offset file names `start`
    // cannot leave batches at or past it behind a start of `start`.
    auto holding = batch_at(start);
    if (!holding) return holding.error();
    if (holding->base > start) {
      return Error::invalid(fmt::format("{}: restart at {} inside a compacted gap", name_, start));
    }
    if (auto s = truncate_suffix(holding->base); !s) return s;
  }
  // The commit point: an open from here on finds the start past (or at) the
  // end of what is left and restarts the log empty there (load()).
  if (auto s = write_offset_file(fs_, dir_ / kStartOffsetFile, kStartOffsetMagic, start); !s) {
    return fail_write(s.error(), false);
  }
  // Newest first, as truncation does. From here a failure fences the log;
  // the next open finishes the restart.
  start_offset_ = start;
  while (!segments_.empty()) {
    if (auto s = remove_segment_files(segments_.back()->base()); !s) return fence(s.error());
    segments_.pop_back();
  }
  terms_.clear();
  dirty_files_.clear();
  if (auto s = open_new_segment(start); !s) return fence(s.error());
  if (auto s = fs_.sync_directory(dir_); !s) return fence(s.error());
  mark_dirty(active().pinned());
  end_offset_ = start;
  // An in-flight flush ticket covers the old log only: it must not claim
  // anything of the new one, nor write a recovery point past `start`.
  flushed_end_offset_ = start;
  truncated_since_ticket_ = std::min(truncated_since_ticket_.value_or(start), start);
  segments_durable_through_ = start;
  if (pending_recovery_point_ && *pending_recovery_point_ > start) pending_recovery_point_ = start;
  {
    std::lock_guard lock(gate_->mutex);
    if (ticket_in_flight_ && in_flight_recovery_point_) {
      gate_->cap = std::min(gate_->cap.value_or(start), start);
    }
  }
  recovery_point_ = std::min(recovery_point_, start);
  log::get(log::Module::storage)->info("[{}] log restarted empty at offset {}", name_, start);
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

}  // namespace spate::storage
