// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog opening, recovery and clean close (docs/storage-format.md
// §Recovery).

#include <algorithm>
#include <set>

#include "spate/common/limits.h"
#include "spate/common/log.h"
#include "spate/storage/partition_log.h"
#include "spate/storage/producer_state.h"

#include "log_cleaner_task.h"
#include "log_files.h"
#include "segment.h"

namespace spate::storage {
namespace {

// An index file is at most 12 bytes per batch of at least 61 bytes, plus its header.
std::size_t index_bytes_bound(std::uint64_t log_bytes) {
  return static_cast<std::size_t>(64 + (log_bytes / protocol::kBatchHeaderBytes + 1) * 12);
}

// Sealed segments' files a log without a shared cache keeps open.
constexpr std::size_t kPrivateFileCacheSize = 64;

struct DirectoryListing {
  std::vector<Offset> segment_bases;  // sorted
  bool has_clean_marker = false;
  bool has_start_offset = false;
  bool has_recovery_point = false;
};

}  // namespace

Result<std::unique_ptr<PartitionLog>> PartitionLog::open(Filesystem& fs,
                                                         const std::filesystem::path& dir,
                                                         const LogConfig& config,
                                                         const Clock& clock, std::string name,
                                                         std::shared_ptr<FileCache> cache) {
  if (auto s = validate(config); !s) return s.error();
  auto type = fs.entry_type(dir);
  if (!type) return type.error();
  if (*type == EntryType::none) {
    // A new partition folder must survive a crash like the files in it.
    if (auto s = fs.create_directories(dir); !s) return s.error();
    if (dir.has_parent_path()) {
      if (auto s = fs.sync_directory(dir.parent_path()); !s) return s.error();
    }
  } else if (*type != EntryType::directory) {
    return Error::malformed(fmt::format("{} exists and is not a directory", dir.string()));
  }
  std::unique_ptr<PartitionLog> log(new PartitionLog(fs, dir, config, clock, std::move(name)));
  log->cache_ = cache ? std::move(cache) : std::make_shared<FileCache>(fs, kPrivateFileCacheSize);
  log->cache_owner_ = log->cache_->new_owner();
  // An interrupted compaction swap is finished (or its leftovers dropped)
  // before the segments are listed (log_cleaner_swap.cpp).
  if (auto s = log->recover_clean(); !s) return s.error();
  if (auto s = log->load(); !s) return s.error();
  return log;
}

Result<std::vector<Offset>> PartitionLog::list_segments() {
  auto names = fs_.list_directory(dir_);
  if (!names) return names.error();
  std::set<std::int64_t> logs;
  std::vector<std::string> orphans;
  for (const auto& name : *names) {
    if (auto base = parse_segment_file_name(name, kLogSuffix)) {
      logs.insert(base->value());
    } else if (parse_segment_file_name(name, kIndexSuffix) ||
               parse_segment_file_name(name, kTimeIndexSuffix)) {
      orphans.push_back(name);  // checked against the .log files below
    } else if (name.ends_with(kTmpSuffix)) {
      // A write_file_atomic that did not finish: the old file is still valid.
      if (auto s = fs_.remove(dir_ / name); !s) return s.error();
    } else if (name != kRecoveryPointFile && name != kStartOffsetFile &&
               name != kCleanShutdownFile && name != kRaftStateFile &&
               name != kProducerSnapshotFile && name != kCleanerStateFile) {
      return Error::malformed(fmt::format(
          "{}: unexpected file '{}' in a partition directory (not a segment, index or log state "
          "file); move it away to open this log",
          dir_.string(), name));
    }
  }
  for (const auto& name : orphans) {
    auto base = parse_segment_file_name(name, kIndexSuffix);
    if (!base) base = parse_segment_file_name(name, kTimeIndexSuffix);
    if (!logs.contains(base->value())) {
      // Left by a crash while deleting a segment (.log goes first).
      if (auto s = fs_.remove(dir_ / name); !s) return s.error();
    }
  }
  std::vector<Offset> bases;
  for (auto b : logs) bases.emplace_back(b);
  return bases;
}

Status PartitionLog::load() {
  auto bases = list_segments();
  if (!bases) return bases.error();

  std::optional<Offset> stored_start;
  auto start = read_offset_file(fs_, dir_ / kStartOffsetFile, kStartOffsetMagic);
  if (start) {
    stored_start = *start;
  } else if (start.error().code() != Errc::not_found) {
    // Data below the stored start was deleted on request; guessing is not safe.
    return start.error();
  }
  Offset recovery_point(0);
  auto rp = read_offset_file(fs_, dir_ / kRecoveryPointFile, kRecoveryPointMagic);
  if (rp) {
    recovery_point = *rp;
  } else if (rp.error().code() != Errc::corrupt_log && rp.error().code() != Errc::not_found &&
             rp.error().code() != Errc::limit_exceeded) {
    return rp.error();  // a failed read is not damage: the caller may retry
  } else if (rp.error().code() != Errc::not_found) {
    log::get(log::Module::storage)
        ->warn("[{}] ignoring damaged recovery point, scanning everything: {}", name_,
               rp.error().message());
  }

  bool loaded = false;
  auto marker_bytes = read_file(fs_, dir_ / kCleanShutdownFile, 1U << 24U);
  if (marker_bytes) {
    // Remove the marker durably before anything can be appended, so that a
    // crash from now on is never mistaken for a clean shutdown.
    if (auto s = fs_.remove(dir_ / kCleanShutdownFile); !s) return s;
    if (auto s = fs_.sync_directory(dir_); !s) return s;
    auto marker = decode_clean_marker(*marker_bytes);
    Status clean = marker ? load_clean(*bases, *marker) : Status(marker.error());
    if (clean) {
      loaded = true;
    } else {
      log::get(log::Module::storage)
          ->warn("[{}] clean shutdown marker not usable, scanning: {}", name_,
                 clean.error().message());
      segments_.clear();
      terms_.clear();
    }
  } else if (marker_bytes.error().code() != Errc::not_found) {
    return marker_bytes.error();
  }
  if (!loaded) {
    if (auto s = load_unclean(*bases, recovery_point); !s) return s;
  }

  if (segments_.empty()) {
    const Offset base = stored_start.value_or(Offset(0));
    if (auto s = open_new_segment(base); !s) return s;
  }
  end_offset_ = segments_.back()->end();
  start_offset_ = std::max(stored_start.value_or(Offset(0)), segments_.front()->base());
  if (start_offset_ > end_offset_) {
    // Records were deleted (DeleteRecords) past what survived the crash: the
    // log restarts empty at the stored start offset, as Kafka does, so that
    // no offset a client saw deleted is ever handed out again.
    log::get(log::Module::storage)
        ->warn("[{}] stored start offset {} is past the recovered end {}: restarting the log there",
               name_, start_offset_, end_offset_);
    while (!segments_.empty()) {
      if (auto s = remove_segment_files(segments_.back()->base()); !s) return s;
      segments_.pop_back();
    }
    terms_.clear();
    if (auto s = open_new_segment(start_offset_); !s) return s;
    end_offset_ = start_offset_;
    recovery_point = std::min(recovery_point, end_offset_);
  }
  // After a clean shutdown everything up to the end is durable, and close()
  // wrote exactly that recovery point before the marker.
  recovery_point_ = recovery_.clean ? end_offset_ : std::min(recovery_point, end_offset_);
  // Make whatever recovery kept durable (a process crash leaves unsynced
  // data in the page cache); then all of it counts as flushed, and the
  // recovery point moves to the end.
  if (!recovery_.clean) {
    // Sealed segments are synced one by one here, not kept open for the flush
    // below: after a lost recovery point they may be thousands.
    for (const auto& s : segments_) {
      if (s.get() == segments_.back().get()) {
        mark_dirty(s->pinned());
      } else if (s->end() > recovery_point_) {
        auto file = s->log();
        if (!file) return file.error();
        if (auto synced = (*file)->sync(); !synced) return synced;
      }
    }
    pending_recovery_point_ = end_offset_;
  }
  flushed_end_offset_ = Offset(0);
  directory_dirty_ = true;  // so that every segment found counts as durably named
  if (auto s = flush(); !s) return s;
  flushed_end_offset_ = end_offset_;

  auto logger = log::get(log::Module::storage);
  if (recovery_.cut_reason) {
    logger->warn(
        "[{}] recovery cut the log at end_offset={} bytes_cut={} segments_removed={} reason=\"{}\" "
        "(segments_scanned={} bytes_scanned={})",
        name_, end_offset_, recovery_.bytes_cut, recovery_.segments_removed, *recovery_.cut_reason,
        recovery_.segments_scanned, recovery_.bytes_scanned);
  } else {
    logger->info(
        "[{}] opened {} start_offset={} end_offset={} segments={} segments_scanned={} "
        "bytes_scanned={} indexes_rebuilt={}",
        name_, recovery_.clean ? "clean" : "after recovery", start_offset_, end_offset_,
        segments_.size(), recovery_.segments_scanned, recovery_.bytes_scanned,
        recovery_.indexes_rebuilt);
  }
  return {};
}

Status PartitionLog::load_clean(const std::vector<Offset>& bases, const CleanMarker& marker) {
  if (marker.segments.size() != bases.size()) {
    return Error::corrupt(
        fmt::format("marker says {} segments, found {}", marker.segments.size(), bases.size()));
  }
  for (std::size_t i = 0; i < bases.size(); ++i) {
    const Offset base = bases[i];
    const bool last = i + 1 == bases.size();
    const Offset end = last ? marker.end_offset : bases[i + 1];
    if (end < base) return Error::corrupt(fmt::format("segment {} ends at {}", base, end));
    auto file = fs_.open(dir_ / segment_file_name(base, kLogSuffix), OpenMode::read_write);
    if (!file) return file.error();
    const std::uint64_t size = (*file)->size();
    if (marker.segments[i].base != base.value() || size != marker.segments[i].size_bytes) {
      return Error::corrupt(fmt::format("segment {} is {} bytes, the marker says {}", base, size,
                                        marker.segments[i].size_bytes));
    }
    // Only the active (last) segment keeps its descriptor.
    // A segment whose records carry no timestamp ages by its file's
    // modification time, as in Kafka (not from this restart).
    auto segment = std::make_unique<Segment>(
        base, last ? *file : nullptr, dir_, clock_.steady_now(),
        (*file)->modified_ms().value_or(clock_.wall_ms()), *cache_, cache_owner_);
    auto index_bytes = read_file(fs_, segment->path(kIndexSuffix), index_bytes_bound(size));
    if (!index_bytes) return index_bytes.error();
    auto index = decode_offset_index(*index_bytes, size, end - base);
    if (!index) return index.error();
    auto time_bytes = read_file(fs_, segment->path(kTimeIndexSuffix), index_bytes_bound(size));
    if (!time_bytes) return time_bytes.error();
    auto time_index = decode_time_index(*time_bytes, end - base);
    if (!time_index) return time_index.error();
    const std::int64_t max_ts = time_index->empty() ? -1 : time_index->back().timestamp;
    // A compacted segment may have lost every batch but still spans offsets.
    if ((size == 0) != (end == base) && !(size == 0 && !last && end <= clean_point_)) {
      return Error::corrupt(
          fmt::format("segment {} has {} bytes for offsets up to {}", base, size, end));
    }
    segment->reset(end, size, max_ts, std::move(*index), std::move(*time_index));
    segments_.push_back(std::move(segment));
  }
  for (const auto& t : marker.terms) note_term(Term(t.term), Offset(t.start));
  recovery_.clean = true;
  return {};
}

// A sealed segment known durable (below the recovery point): walk the
// headers (cheap) to rebuild the indexes and find structural damage, which
// here is corruption, not a torn write.
Status PartitionLog::load_sealed(std::unique_ptr<Segment> segment, const File& file,
                                 Offset next_base, Offset recovery_point) {
  const bool gaps = next_base <= clean_point_;  // compacted (docs/storage-format.md §Compaction)
  auto walked = segment->rebuild_from_headers(
      file.size(), config_.index_interval_bytes,
      [this](const protocol::BatchHeader& h) {
        note_term(Term(h.partition_leader_epoch), h.base());
      },
      gaps);
  if (walked && gaps && segment->end() < next_base) segment->extend_end(next_base);
  if (!walked && walked.error().code() != Errc::corrupt_log) return walked.error();
  if (!walked) {
    return Error::corrupt(fmt::format("{} (below the recovery point {}, so not a torn write)",
                                      walked.error().detail(), recovery_point));
  }
  if (segment->end() != next_base) {
    return Error::corrupt(fmt::format("{} ends at offset {} but the next segment starts at {}",
                                      segment->path(kLogSuffix).string(), segment->end(),
                                      next_base));
  }
  segment->finish_time_index();
  if (auto s = refresh_indexes(*segment, true); !s) return s;
  segment->unpin();  // sealed: reads borrow from the cache
  segments_.push_back(std::move(segment));
  return {};
}

Status PartitionLog::load_unclean(const std::vector<Offset>& bases, Offset recovery_point) {
  recovery_.clean = false;
  for (std::size_t i = 0; i < bases.size(); ++i) {
    const Offset base = bases[i];
    const std::optional<Offset> next_base =
        i + 1 < bases.size() ? std::optional<Offset>(bases[i + 1]) : std::nullopt;
    auto file = fs_.open(dir_ / segment_file_name(base, kLogSuffix), OpenMode::read_write);
    if (!file) return file.error();
    auto segment = std::make_unique<Segment>(base, *file, dir_, clock_.steady_now(),
                                             (*file)->modified_ms().value_or(clock_.wall_ms()),
                                             *cache_, cache_owner_);
    if (next_base && *next_base <= recovery_point) {
      if (auto s = load_sealed(std::move(segment), **file, *next_base, recovery_point); !s) {
        return s;
      }
      continue;
    }
    Segment& seg = *segment;
    const bool gaps = next_base && *next_base <= clean_point_;
    auto scan = scan_segment(
        **file, 0, base, static_cast<std::int32_t>(last_term().value()), limits::kBatchBytesMax,
        [&](const protocol::BatchHeader& h, std::uint64_t position) {
          seg.note_appended(h, position, config_.index_interval_bytes, gaps);
          note_term(Term(h.partition_leader_epoch), h.base());
        },
        gaps);
    if (!scan) return scan.error();
    if (gaps && !scan->stop_reason && scan->next_offset <= *next_base) {
      seg.extend_end(*next_base);
      scan->next_offset = *next_base;
    }
    recovery_.segments_scanned++;
    recovery_.bytes_scanned += scan->valid_end;
    std::optional<std::string> stop = scan->stop_reason;
    if (!stop && next_base && scan->next_offset != *next_base) {
      stop = fmt::format("segment ends at offset {} but the next starts at {}", scan->next_offset,
                         *next_base);
    }
    if (stop && !next_base) {
      auto unwritten = cut_unwritten_tail(**file, scan->valid_end);
      if (!unwritten) return unwritten.error();
      if (*unwritten) stop.reset();
    }
    if (!stop) {
      if (next_base) {
        seg.finish_time_index();
        if (auto s = refresh_indexes(seg, false); !s) return s;
        segment->unpin();
      }
      segments_.push_back(std::move(segment));
      continue;
    }
    if (scan->next_offset < recovery_point) {
      return Error::corrupt(fmt::format("{}: {} at offset {}, below the recovery point {}",
                                        seg.path(kLogSuffix).string(), *stop, scan->next_offset,
                                        recovery_point));
    }
    // A torn or corrupt tail past the recovery point: cut it and everything after.
    recovery_.cut_reason = fmt::format("{}: {}", segment_file_name(base, kLogSuffix), *stop);
    recovery_.bytes_cut += (*file)->size() - scan->valid_end;
    if (auto s = (*file)->truncate(scan->valid_end); !s) return s;
    for (std::size_t j = i + 1; j < bases.size(); ++j) {
      auto later = fs_.open(dir_ / segment_file_name(bases[j], kLogSuffix), OpenMode::read_only);
      if (later) recovery_.bytes_cut += (*later)->size();
      if (auto s = remove_segment_files(bases[j]); !s) return s;
      recovery_.segments_removed++;
    }
    segments_.push_back(std::move(segment));
    break;
  }
  return {};
}

// `known_durable`: the segment lies below the recovery point, so index files
// equal to what the walk built were synced before it was written.
Status PartitionLog::refresh_indexes(const Segment& segment, bool known_durable) {
  // Rewrite the index files only when they differ from what the walk built.
  auto current =
      read_file(fs_, segment.path(kIndexSuffix), index_bytes_bound(segment.size_bytes()));
  auto current_time =
      read_file(fs_, segment.path(kTimeIndexSuffix), index_bytes_bound(segment.size_bytes()));
  if (current && current_time && *current == encode_offset_index(segment.index()) &&
      *current_time == encode_time_index(segment.time_index())) {
    // Equal, but possibly only in the page cache (written by a roll just
    // before a process crash): sync them all the same, since a clean marker
    // written later vouches for them. Synced here rather than kept open for
    // the flush, so that opening a log with many segments needs few
    // descriptors.
    if (known_durable) return {};
    for (const char* suffix : {kIndexSuffix, kTimeIndexSuffix}) {
      auto file = fs_.open(segment.path(suffix), OpenMode::read_write);
      if (!file) return file.error();
      if (auto s = (*file)->sync(); !s) return s;
    }
    return {};
  }
  auto files = segment.write_indexes(fs_);
  if (!files) {
    // A full disk: the log is still right (the indexes live in memory). A
    // missing or partial index file is rewritten by a later open, and makes a
    // clean open fall back to scanning, so nothing trusts it.
    if (!is_transient_storage_error(files.error())) return files.error();
    log::get(log::Module::storage)
        ->warn("[{}] could not rewrite the indexes of segment {}: {}", name_, segment.base(),
               files.error().message());
    return {};
  }
  for (const auto& f : *files) {
    if (auto s = f->sync(); !s) return s;
  }
  recovery_.indexes_rebuilt++;
  return {};
}

Status PartitionLog::close() {
  if (auto s = check_not_fenced(); !s) return s;
  if (clean_in_flight_) return Error(Errc::busy, fmt::format("{}: a compaction pass runs", name_));
  // A torn tail must go before the clean marker vouches for the sizes.
  if (write_block_) {
    if (auto s = try_resume(); !s) return s;
  }
  if (auto s = trim_active(); !s) return fail_write(s.error(), false);
  Segment& segment = active();
  segment.finish_time_index();
  auto files = segment.write_indexes(fs_);
  if (!files) return fail_write(files.error(), false);
  for (const auto& f : *files) mark_dirty(f);
  if (auto s = flush(); !s) return s;
  // Everything is durable (the flush above): the recovery point is the end.
  // Known in memory even if only the directory sync failed, so that a
  // truncation after a failed close lowers it on disk again.
  bool replaced = false;
  auto written = write_offset_file(fs_, dir_ / kRecoveryPointFile, kRecoveryPointMagic, end_offset_,
                                   &replaced);
  if (written || replaced) recovery_point_ = std::max(recovery_point_, end_offset_);
  if (!written) return fail_write(written.error(), false);
  CleanMarker marker;
  marker.end_offset = end_offset_;
  for (const auto& s : segments_) marker.segments.push_back({s->base().value(), s->size_bytes()});
  for (const auto& t : terms_) marker.terms.push_back({t.term.value(), t.start.value()});
  bool marker_placed = false;
  if (auto s = write_file_atomic(fs_, dir_ / kCleanShutdownFile, encode_clean_marker(marker),
                                 &marker_placed);
      !s) {
    // Only the directory sync failed: the marker is in place, but the log
    // stays open (and may change): it must go, or the next open trusts it.
    if (marker_placed) {
      if (auto removed = fs_.remove(dir_ / kCleanShutdownFile); !removed) {
        return fence(removed.error());
      }
    }
    return fail_write(s.error(), false);
  }
  closed_ = true;
  log::get(log::Module::storage)
      ->info("[{}] closed cleanly end_offset={} segments={}", name_, end_offset_, segments_.size());
  return {};
}

}  // namespace spate::storage
