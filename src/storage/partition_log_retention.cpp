// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's start offset and retention: moving the start (a ticket the
// disk thread persists), deleting whole segments below it, and retention by
// age and size.

#include <algorithm>

#include "spate/common/log.h"
#include "spate/storage/partition_log.h"

#include "log_files.h"
#include "segment.h"

namespace spate::storage {

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
  // A compaction pass in flight holds the segments: retention deletes them later.
  while (segments_.size() > 1 && segments_[1]->base() <= start_offset_ && !clean_in_flight_) {
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

bool PartitionLog::retention_deletes(std::size_t k, std::uint64_t size, Offset start,
                                     std::optional<Offset> keep_from, std::int64_t now_ms) const {
  // The active segment is never deleted, and none while a compaction pass
  // holds them.
  if (k + 1 >= segments_.size() || clean_in_flight_) return false;
  const Segment& front = *segments_[k];
  const Offset next = segments_[k + 1]->base();
  // cleanup.policy without "delete" (compact only): no retention by age or size.
  const bool expired = config_.cleanup_delete && config_.retention_ms >= 0 &&
                       front.retention_timestamp() < now_ms - config_.retention_ms;
  const bool too_big =
      config_.cleanup_delete && config_.retention_bytes >= 0 &&
      size - front.size_bytes() >= static_cast<std::uint64_t>(config_.retention_bytes);
  // Not below a start offset that is not durable yet (a start ticket in flight).
  const bool below_start = next <= start_before_ticket_.value_or(start);
  if (!expired && !too_big && !below_start) return false;
  if (keep_from && next > *keep_from) return false;
  // Deleting is durable at once, so only delete a segment once its
  // successor's file is durable: otherwise a crash could leave neither.
  return next <= segments_durable_through_;
}

Offset PartitionLog::retention_start(std::optional<Offset> keep_from) const {
  if (fenced_ || closed_) return start_offset_;
  const std::int64_t now_ms = clock_.wall_ms();
  std::uint64_t size = size_bytes();
  Offset start = start_offset_;
  // Bounded by the number of segments.
  for (std::size_t k = 0; retention_deletes(k, size, start, keep_from, now_ms); ++k) {
    size -= segments_[k]->size_bytes();
    start = std::max(start, segments_[k + 1]->base());
  }
  return start;
}

Result<RetentionResult> PartitionLog::apply_retention(std::optional<Offset> keep_from) {
  // Runs while writes are refused (it frees space), without the roll.
  if (auto s = check_not_fenced(); !s) return s.error();
  RetentionResult result;
  const std::int64_t now_ms = clock_.wall_ms();
  if (writable() && !active().empty() && config_.cleanup_delete && config_.retention_ms >= 0 &&
      active().retention_timestamp() < now_ms - config_.retention_ms) {
    if (auto s = roll(); !s && !write_block_) return s.error();
  }
  // Bounded by the number of segments.
  while (retention_deletes(0, size_bytes(), start_offset_, keep_from, now_ms)) {
    const Segment& front = *segments_.front();
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

}  // namespace spate::storage
