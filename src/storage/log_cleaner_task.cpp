// SPDX-License-Identifier: Apache-2.0
//
// One compaction pass (CleanTask::run), on whatever thread runs it: the key
// map of the dirty part, then group by group the rewrite of the batches with
// only the records that survive, and the swap (docs/storage-format.md
// §Compaction).

#include "log_cleaner_task.h"

#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/common/limits.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/log_cleaner.h"

#include "segment.h"

namespace spate::storage {
namespace {

constexpr std::size_t kReadChunkBytes = std::size_t{1} << 20U;
constexpr std::size_t kWriteChunkBytes = std::size_t{1} << 20U;
constexpr std::size_t kKeyOverheadBytes = 64;  // per map entry, besides the key
// Header field positions (kafka-protocol.md §3.1).
constexpr std::size_t kBatchLengthAt = 8;
constexpr std::size_t kCrcAt = 17;
constexpr std::size_t kRecordCountAt = 57;

// Whole batches of one segment file, read in large chunks.
class BatchReader {
 public:
  BatchReader(const File& file, std::uint64_t size) : file_(file), size_(size) {}

  // The next batch, validated (CRC included); an empty span at the end.
  Result<std::span<const std::byte>> next() {
    if (position_ >= size_) return std::span<const std::byte>{};
    auto head = view(protocol::kBatchHeaderBytes);
    if (!head) return head.error();
    auto header = protocol::decode_batch_header(*head, limits::kBatchBytesMax);
    if (!header) return damage(header.error());
    auto batch = view(header->total_bytes());
    if (!batch) return batch.error();
    auto valid = protocol::validate_compacted_batch(*batch, limits::kBatchBytesMax);
    if (!valid) return damage(valid.error());
    position_ += batch->size();
    return *batch;
  }

 private:
  Result<std::span<const std::byte>> view(std::uint64_t bytes) {
    if (position_ + bytes > size_) {
      return Error::corrupt(
          fmt::format("{}: batch at {} runs past {}", file_.path().string(), position_, size_));
    }
    if (position_ < start_ || position_ + bytes > start_ + buffer_.size()) {
      buffer_.resize(std::min<std::uint64_t>(size_ - position_,
                                             std::max<std::uint64_t>(bytes, kReadChunkBytes)));
      start_ = position_;
      std::size_t done = 0;
      while (done < buffer_.size()) {
        auto n = file_.read_at(start_ + done, std::span<std::byte>(buffer_).subspan(done));
        if (!n) return n.error();
        if (*n == 0) return Error::corrupt(fmt::format("{}: short read", file_.path().string()));
        done += *n;
      }
    }
    return std::span<const std::byte>(buffer_).subspan(position_ - start_, bytes);
  }
  Error damage(const Error& e) const {
    return Error::corrupt(
        fmt::format("{} at {}: {}", file_.path().string(), position_, e.message()));
  }

  const File& file_;
  std::uint64_t size_;
  std::uint64_t position_ = 0;
  std::uint64_t start_ = 0;
  std::vector<std::byte> buffer_;
};

// One record of a batch: its raw bytes (length prefix included) and what the
// cleaner decides by.
struct RawRecord {
  std::span<const std::byte> bytes;
  std::int64_t offset = 0;
  std::optional<std::string_view> key;
  bool tombstone = false;
};

Result<std::vector<RawRecord>> split_records(const protocol::BatchHeader& header,
                                             std::span<const std::byte> records) {
  std::vector<RawRecord> out;
  out.reserve(static_cast<std::size_t>(header.record_count));
  ByteReader in(records);
  auto bad = [&](std::string_view why) {
    return Error::corrupt(fmt::format("batch at offset {}: {}", header.base_offset, why));
  };
  for (std::int32_t i = 0; i < header.record_count; ++i) {
    const std::size_t at = in.position();
    auto length = in.read_varint32();
    if (!length || *length < 0 || static_cast<std::size_t>(*length) > in.remaining()) {
      return bad("record length");
    }
    auto body = *in.read_bytes(static_cast<std::size_t>(*length));
    ByteReader r(body);
    auto attributes = r.read<std::int8_t>();
    auto ts_delta = r.read_varint64();
    auto offset_delta = r.read_varint32();
    auto key_length = r.read_varint32();
    if (!attributes || !ts_delta || !offset_delta || !key_length) return bad("record fields");
    RawRecord rec;
    rec.offset = header.base_offset + *offset_delta;
    if (*key_length >= 0) {
      auto key = r.read_bytes(static_cast<std::size_t>(*key_length));
      if (!key) return bad("key");
      rec.key = std::string_view(reinterpret_cast<const char*>(key->data()), key->size());
    }
    auto value_length = r.read_varint32();
    if (!value_length) return bad("value length");
    rec.tombstone = *value_length < 0;
    rec.bytes = records.subspan(at, in.position() - at);
    out.push_back(rec);
  }
  return out;
}

// The records section of a batch, decompressed if needed (into `scratch`).
Result<std::span<const std::byte>> records_of(const protocol::BatchHeader& header,
                                              std::span<const std::byte> batch,
                                              std::vector<std::byte>& scratch) {
  auto body = batch.subspan(protocol::kBatchHeaderBytes);
  if (header.compression() == protocol::Compression::none) return body;
  auto s = protocol::decompress_into(header.compression(), body,
                                     protocol::records_bytes_max(limits::kBatchBytesMax), scratch);
  if (!s)
    return Error::corrupt(
        fmt::format("batch at offset {}: {}", header.base_offset, s.error().message()));
  return std::span<const std::byte>(scratch);
}

class Pass {
 public:
  Pass(CleanTask::State& st, const std::atomic<bool>& cancelled) : st_(st), cancelled_(cancelled) {}

  Status run() {
    if (auto s = build_map(); !s) return s;
    st_.stats.keys = keys_.size();
    // Groups of consecutive segments no larger together than segment.bytes
    // (and whose offsets fit the 32-bit relative offsets of the index).
    std::size_t i = 0;
    while (i < st_.sources.size()) {
      std::size_t j = i + 1;
      std::uint64_t bytes = st_.sources[i].size_bytes;
      while (j < st_.sources.size() &&
             bytes + st_.sources[j].size_bytes <= st_.config.segment_bytes_max &&
             st_.sources[j].end - st_.sources[i].base <
                 std::int64_t{std::numeric_limits<std::int32_t>::max()}) {
        bytes += st_.sources[j].size_bytes;
        ++j;
      }
      if (cancelled_.load()) return Error(Errc::shutting_down, "compaction cancelled");
      if (auto s = clean_group(i, j); !s) return s;
      i = j;
    }
    return {};
  }

 private:
  // Pass 1: the last offset of every key in the dirty part, and the last
  // batch of every producer id in the range.
  Status build_map() {
    std::size_t key_bytes = 0;
    for (std::size_t i = 0; i < st_.sources.size(); ++i) {
      const CleanSource& src = st_.sources[i];
      if (src.dirty && key_bytes + src.size_bytes > kCleanerKeyBytesMax && i > 0 &&
          st_.sources[i - 1].dirty) {
        // The map would outgrow its budget: this pass stops before src.
        st_.sources.resize(i);
        st_.clean_end = src.base;
        break;
      }
      BatchReader reader(*src.file, src.size_bytes);
      while (true) {
        auto batch = reader.next();
        if (!batch) return batch.error();
        if (batch->empty()) break;
        auto header = *protocol::decode_batch_header(*batch, limits::kBatchBytesMax);
        if (header.producer_id >= 0) last_producer_batch_[header.producer_id] = header.base_offset;
        if (!src.dirty || header.is_control()) continue;
        auto records = records_of(header, *batch, scratch_);
        if (!records) return records.error();
        auto split = split_records(header, *records);
        if (!split) return split.error();
        for (const auto& r : *split) {
          if (!r.key) continue;
          auto [it, added] = keys_.try_emplace(std::string(*r.key), r.offset);
          if (added) key_bytes += r.key->size() + kKeyOverheadBytes;
          it->second = std::max(it->second, r.offset);
        }
      }
    }
    return {};
  }

  // Whether a record survives: the newest of its key, and not a tombstone
  // whose segment was compacted more than delete.retention.ms ago.
  bool keep(const RawRecord& r, const CleanSource& src) {
    if (!r.key) return true;  // keyless: never compacted (docs/storage-format.md)
    auto it = keys_.find(std::string(*r.key));
    if (it != keys_.end() && it->second > r.offset) return false;
    if (!r.tombstone || src.dirty) return true;
    auto cleaned = st_.cleaner.cleaned_at_ms(src.base);
    if (cleaned && st_.now_ms - *cleaned >= st_.config.delete_retention_ms) {
      st_.stats.tombstones_removed++;
      return false;
    }
    return true;
  }

  // The batch rewritten with its surviving records (offset range, producer
  // fields and timestamps kept; CRC recomputed), or empty if it goes.
  Result<std::vector<std::byte>> filter_batch(std::span<const std::byte> batch,
                                              const CleanSource& src) {
    auto header = *protocol::decode_batch_header(batch, limits::kBatchBytesMax);
    if (header.is_control()) return std::vector<std::byte>(batch.begin(), batch.end());
    auto records = records_of(header, batch, scratch_);
    if (!records) return records.error();
    auto split = split_records(header, *records);
    if (!split) return split.error();
    st_.stats.records_read += split->size();
    std::vector<std::byte> kept;
    std::int32_t count = 0;
    for (const auto& r : *split) {
      if (!keep(r, src)) continue;
      kept.insert(kept.end(), r.bytes.begin(), r.bytes.end());
      ++count;
    }
    st_.stats.records_kept += static_cast<std::uint64_t>(count);
    if (count == header.record_count) return std::vector<std::byte>(batch.begin(), batch.end());
    // The last batch of a producer id stays, even empty, so that its state
    // (id, epoch, last sequence) can be rebuilt from the log.
    const bool producer_last =
        header.producer_id >= 0 && last_producer_batch_[header.producer_id] == header.base_offset;
    if (count == 0 && !producer_last) return std::vector<std::byte>{};
    if (header.compression() != protocol::Compression::none) {
      auto packed = protocol::compress(header.compression(), kept);
      if (!packed) return packed.error();
      kept = std::move(*packed);
    }
    std::vector<std::byte> out(batch.begin(), batch.begin() + protocol::kBatchHeaderBytes);
    out.insert(out.end(), kept.begin(), kept.end());
    store_be<std::int32_t>(
        out.data() + kBatchLengthAt,
        static_cast<std::int32_t>(out.size() - protocol::kBatchLogOverheadBytes));
    store_be<std::int32_t>(out.data() + kRecordCountAt, count);
    store_be<std::uint32_t>(out.data() + kCrcAt, protocol::compute_batch_crc(out));
    return out;
  }

  Status clean_group(std::size_t from, std::size_t to) {
    const Offset base = st_.sources[from].base;
    const Offset end = st_.sources[to - 1].end;
    Filesystem& fs = *st_.fs;
    auto path = [&](const char* suffix) {
      return st_.dir / (segment_file_name(base, suffix) + kCleanedSuffix);
    };
    auto out = fs.open(path(kLogSuffix), OpenMode::create);
    if (!out) return out.error();
    if (auto s = (*out)->truncate(0); !s) return s;
    Segment built(base, nullptr, st_.dir, {}, 0, *st_.cache, st_.cache_owner);
    std::vector<std::byte> pending;
    std::uint64_t written = 0;
    std::int64_t wall = 0;
    bool any_dirty = false;
    std::int64_t cleaned_at = 0;
    for (std::size_t i = from; i < to; ++i) {
      const CleanSource& src = st_.sources[i];
      wall = std::max(wall, src.wall_ms);
      any_dirty = any_dirty || src.dirty;
      cleaned_at = std::max(cleaned_at, st_.cleaner.cleaned_at_ms(src.base).value_or(st_.now_ms));
      st_.stats.segments_read++;
      st_.stats.bytes_read += src.size_bytes;
      BatchReader reader(*src.file, src.size_bytes);
      while (true) {
        auto batch = reader.next();
        if (!batch) return batch.error();
        if (batch->empty()) break;
        auto filtered = filter_batch(*batch, src);
        if (!filtered) return filtered.error();
        if (filtered->empty()) continue;
        auto header = *protocol::decode_batch_header(*filtered, limits::kBatchBytesMax);
        built.note_appended(header, written, st_.config.index_interval_bytes, true);
        written += filtered->size();
        pending.insert(pending.end(), filtered->begin(), filtered->end());
        if (pending.size() >= kWriteChunkBytes) {
          if (auto s = (*out)->append(pending); !s) return s;
          pending.clear();
        }
      }
    }
    if (auto s = (*out)->append(pending); !s) return s;
    built.finish_time_index();
    if (auto s = write_index(path(kIndexSuffix), encode_offset_index(built.index())); !s) return s;
    if (auto s = write_index(path(kTimeIndexSuffix), encode_time_index(built.time_index())); !s) {
      return s;
    }
    if (auto s = (*out)->sync(); !s) return s;
    // The commit point: from the manifest on, a restart finishes this swap.
    SwapManifest manifest{base, end, any_dirty ? st_.now_ms : cleaned_at};
    bool placed = false;
    if (auto s = write_swap_manifest(fs, st_.dir, manifest, &placed); !s) {
      st_.swap_broken = placed;  // only the folder sync failed: committed all the same
      return s;
    }
    if (auto s = apply_swap(fs, st_.dir, manifest, st_.cleaner); !s) {
      st_.swap_broken = true;
      return s;
    }
    st_.stats.segments_written++;
    st_.stats.bytes_written += written;
    st_.stats.cleaned_at_ms = st_.now_ms;
    st_.swapped.push_back(CleanedSegment{base, end, written, built.max_timestamp(), wall,
                                         built.index(), built.time_index()});
    return {};
  }

  Status write_index(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
    auto file = st_.fs->open(path, OpenMode::create);
    if (!file) return file.error();
    if (auto s = (*file)->truncate(0); !s) return s;
    if (auto s = (*file)->append(bytes); !s) return s;
    return (*file)->sync();
  }

  CleanTask::State& st_;
  const std::atomic<bool>& cancelled_;
  std::unordered_map<std::string, std::int64_t> keys_;
  std::unordered_map<std::int64_t, std::int64_t> last_producer_batch_;
  std::vector<std::byte> scratch_;
};

}  // namespace

CleanTask::CleanTask() : state_(std::make_unique<State>()) {}
CleanTask::~CleanTask() = default;

const CleanStats& CleanTask::stats() const { return state_->stats; }

Status CleanTask::run() {
  Pass pass(*state_, cancelled_);
  auto s = pass.run();
  if (!s && !state_->swap_broken) {
    // Before a commit point: the old segments hold; drop the half-written
    // files now (a restart would too).
    for (const char* suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix}) {
      for (const auto& src : state_->sources) {
        (void)state_->fs->remove(state_->dir /
                                 (segment_file_name(src.base, suffix) + kCleanedSuffix));
      }
    }
  }
  return s;
}

}  // namespace spate::storage
