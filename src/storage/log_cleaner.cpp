// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's side of compaction, on the owner's thread: deciding whether
// a pass is due and what it covers (begin_clean), putting the swapped
// segments in place (finish_clean), and reading past the gaps compaction
// leaves. The pass itself: log_cleaner_task.cpp; the swap:
// log_cleaner_swap.cpp.

#include "spate/storage/log_cleaner.h"

#include <algorithm>

#include "spate/common/log.h"
#include "spate/storage/partition_log.h"

#include "log_cleaner_task.h"
#include "segment.h"

namespace spate::storage {

std::unique_ptr<CleanTask> PartitionLog::begin_clean(Offset committed_end, bool force) {
  if (!config_.cleanup_compact || clean_in_flight_ || fenced_ || closed_ || start_before_ticket_) {
    return nullptr;
  }
  const std::int64_t now = clock_.wall_ms();
  // Whole sealed segments that are committed, durable (data and name) and,
  // from the first dirty one on, older than min.compaction.lag.ms.
  const Offset limit = std::min(committed_end, recovery_point_);
  std::size_t count = 0;
  std::uint64_t total = 0;
  std::uint64_t dirty = 0;
  std::optional<std::int64_t> oldest_dirty;
  for (std::size_t i = 0; i + 1 < segments_.size() && count < kCleanerSegmentsMax; ++i) {
    const Segment& s = *segments_[i];
    if (s.end() > limit || s.base() > segments_durable_through_) break;
    const bool is_dirty = s.end() > clean_point_;
    if (is_dirty && config_.min_compaction_lag_ms > 0 &&
        s.retention_timestamp() > now - config_.min_compaction_lag_ms) {
      break;
    }
    ++count;
    total += s.size_bytes();
    if (is_dirty) {
      dirty += s.size_bytes();
      if (!oldest_dirty) oldest_dirty = s.retention_timestamp();
    }
  }
  if (dirty == 0) return nullptr;
  const double ratio = static_cast<double>(dirty) / static_cast<double>(total);
  const bool lag_due = config_.max_compaction_lag_ms < std::numeric_limits<std::int64_t>::max() &&
                       *oldest_dirty < now - config_.max_compaction_lag_ms;
  if (!force && ratio < config_.min_cleanable_dirty_ratio && !lag_due) return nullptr;

  auto task = std::make_unique<CleanTask>();
  CleanTask::State& st = *task->state_;
  st.fs = &fs_;
  st.dir = dir_;
  st.name = name_;
  st.config = config_;
  st.now_ms = now;
  st.cache = cache_.get();
  st.cache_owner = cache_owner_;
  st.cleaner = *cleaner_;
  for (std::size_t i = 0; i < count; ++i) {
    Segment& s = *segments_[i];
    // Readers keep using the old file while the pass renames and removes
    // names: the segment holds it until finish_clean.
    auto file = s.log();
    if (!file) {  // retried on the next tick; the cache logs nothing
      for (std::size_t j = 0; j < i; ++j) segments_[j]->unpin();
      return nullptr;
    }
    s.pin(*file);
    st.sources.push_back(CleanSource{s.base(), s.end(), s.size_bytes(), s.retention_timestamp(),
                                     *file, s.end() > clean_point_});
  }
  st.clean_end = st.sources.back().end;
  clean_in_flight_ = true;
  log::get(log::Module::storage)
      ->info("[{}] compaction due: segments={} bytes={} dirty_ratio={:.2f}{}{}", name_, count,
             total, ratio, lag_due ? " max.compaction.lag.ms passed" : "", force ? " forced" : "");
  return task;
}

Status PartitionLog::finish_clean(CleanTask& task, const Status& ran) {
  SPATE_ASSERT(clean_in_flight_, "{}: finish_clean without begin_clean", name_);
  clean_in_flight_ = false;
  CleanTask::State& st = *task.state_;
  for (const auto& src : st.sources) {
    Segment* s = segment_for(src.base);
    if (s != nullptr && s->base() == src.base && s != segments_.back().get()) s->unpin();
  }
  // Bounded by the groups swapped; each replaces segments with bases in its range.
  for (const auto& g : st.swapped) {
    auto first = std::find_if(segments_.begin(), segments_.end(),
                              [&](const auto& s) { return s->base() >= g.base; });
    auto last =
        std::find_if(first, segments_.end(), [&](const auto& s) { return s->base() >= g.end; });
    SPATE_ASSERT(first != segments_.end() && (*first)->base() == g.base && last != segments_.end(),
                 "{}: cleaned group [{}, {}) does not match the segments", name_, g.base, g.end);
    for (auto it = first; it != last; ++it) (*it)->forget_cached();
    auto segment = std::make_unique<Segment>(g.base, nullptr, dir_, clock_.steady_now(), g.wall_ms,
                                             *cache_, cache_owner_);
    segment->reset(g.end, g.size_bytes, g.max_timestamp, g.index, g.time_index);
    auto at = segments_.erase(first, last);
    segments_.insert(at, std::move(segment));
  }
  *cleaner_ = st.cleaner;
  clean_point_ = cleaner_->clean_point;
  st.stats.clean_point = clean_point_;
  auto logger = log::get(log::Module::storage);
  if (!ran) {
    logger->warn("[{}] compaction pass stopped after {} groups: {}", name_, st.swapped.size(),
                 ran.error().message());
    // Between a manifest and the end of its swap the files and this log's
    // view disagree: reads go on from the old files; a restart finishes it.
    if (st.swap_broken) return fence(ran.error());
    return ran;
  }
  logger->info(
      "[{}] compacted segments={}->{} bytes={}->{} records={}->{} tombstones_removed={} keys={} "
      "clean_point={}",
      name_, st.stats.segments_read, st.stats.segments_written, st.stats.bytes_read,
      st.stats.bytes_written, st.stats.records_read, st.stats.records_kept,
      st.stats.tombstones_removed, st.stats.keys, clean_point_);
  return {};
}

Result<std::optional<CleanStats>> PartitionLog::clean(Offset committed_end, bool force) {
  auto task = begin_clean(committed_end, force);
  if (!task) return std::optional<CleanStats>{};
  const Status ran = task->run();
  if (auto s = finish_clean(*task, ran); !s) return s.error();
  return std::optional<CleanStats>(task->stats());
}

Result<BatchLocation> PartitionLog::locate_batch(Segment*& segment, Offset from) const {
  auto found = segment->find_batch(from);
  // Bounded by the segments: a compacted segment may end in a gap (its last
  // batches were cleaned away); the batch is then the first of a later one.
  while (!found && found.error().code() == Errc::not_found && segment->end() <= clean_point_) {
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const auto& s) { return s.get() == segment; });
    if (std::next(it) == segments_.end()) break;
    segment = std::next(it)->get();
    if (segment->end() == segment->base()) return Error::not_found("empty segment");
    found = segment->find_batch(segment->base());
  }
  if (!found && found.error().code() == Errc::not_found)
    return Error::corrupt(found.error().detail());
  return found;
}

}  // namespace spate::storage
