// SPDX-License-Identifier: Apache-2.0
//
// Segment bookkeeping, index file encoding, and the batch-by-batch scan used by
// recovery.

#include "segment.h"

#include <algorithm>
#include <charconv>
#include <functional>

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/common/limits.h"

namespace spate::storage {
namespace {

constexpr std::uint32_t kOffsetIndexMagic = 0x53504958;  // "SPIX"
constexpr std::uint32_t kTimeIndexMagic = 0x53505449;    // "SPTI"
constexpr std::uint16_t kIndexVersion = 1;
constexpr std::size_t kIndexHeaderBytes = 20;
constexpr std::size_t kOffsetEntryBytes = 8;
constexpr std::size_t kTimeEntryBytes = 12;
constexpr std::size_t kScanChunkBytes = 1U << 20U;

std::vector<std::byte> encode_index(std::uint32_t magic, std::size_t entry_bytes, std::size_t count,
                                    const ByteWriter& entries) {
  ByteWriter out(kIndexHeaderBytes + entries.size());
  out.write<std::uint32_t>(magic);
  out.write<std::uint16_t>(kIndexVersion);
  out.write<std::uint16_t>(static_cast<std::uint16_t>(entry_bytes));
  out.write<std::uint32_t>(static_cast<std::uint32_t>(count));
  out.write<std::uint32_t>(crc32c::value(entries.view()));
  out.write<std::uint32_t>(0);  // reserved
  out.write_bytes(entries.view());
  return out.release();
}

// Checks the header and returns the entries' bytes.
Result<std::span<const std::byte>> index_entries(std::span<const std::byte> bytes,
                                                 std::uint32_t magic, std::size_t entry_bytes) {
  ByteReader in(bytes);
  auto m = in.read<std::uint32_t>();
  auto version = in.read<std::uint16_t>();
  auto size = in.read<std::uint16_t>();
  auto count = in.read<std::uint32_t>();
  auto crc = in.read<std::uint32_t>();
  auto reserved = in.read<std::uint32_t>();
  if (!m || !version || !size || !count || !crc || !reserved) {
    return Error(Errc::corrupt_index, "index file shorter than its header");
  }
  if (*m != magic) return Error(Errc::corrupt_index, fmt::format("bad magic {:#x}", *m));
  if (*version != kIndexVersion) {
    return Error(Errc::corrupt_index, fmt::format("unknown index version {}", *version));
  }
  if (*size != entry_bytes) {
    return Error(Errc::corrupt_index, fmt::format("entry size {}", *size));
  }
  if (in.remaining() != std::size_t{*count} * entry_bytes) {
    return Error(Errc::corrupt_index,
                 fmt::format("{} entries but {} bytes", *count, in.remaining()));
  }
  auto entries = bytes.subspan(kIndexHeaderBytes);
  if (crc32c::value(entries) != *crc) return Error(Errc::corrupt_index, "entries CRC mismatch");
  return entries;
}

}  // namespace

std::string segment_file_name(Offset base, const char* suffix) {
  return fmt::format("{:020d}{}", base.value(), suffix);
}

std::optional<Offset> parse_segment_file_name(std::string_view name, const char* suffix) {
  std::string_view s(suffix);
  if (name.size() != kOffsetDigits + s.size() || !name.ends_with(s)) return std::nullopt;
  std::int64_t value = 0;
  auto digits = name.substr(0, kOffsetDigits);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return Offset(value);
}

std::vector<std::byte> encode_offset_index(const std::vector<IndexEntry>& entries) {
  ByteWriter body(entries.size() * kOffsetEntryBytes);
  for (const auto& e : entries) {
    body.write<std::uint32_t>(e.relative_offset);
    body.write<std::uint32_t>(e.position);
  }
  return encode_index(kOffsetIndexMagic, kOffsetEntryBytes, entries.size(), body);
}

std::vector<std::byte> encode_time_index(const std::vector<TimeIndexEntry>& entries) {
  ByteWriter body(entries.size() * kTimeEntryBytes);
  for (const auto& e : entries) {
    body.write<std::int64_t>(e.timestamp);
    body.write<std::uint32_t>(e.relative_offset);
  }
  return encode_index(kTimeIndexMagic, kTimeEntryBytes, entries.size(), body);
}

Result<std::vector<IndexEntry>> decode_offset_index(std::span<const std::byte> bytes,
                                                    std::uint64_t segment_bytes,
                                                    std::int64_t offset_span) {
  auto body = index_entries(bytes, kOffsetIndexMagic, kOffsetEntryBytes);
  if (!body) return body.error();
  std::vector<IndexEntry> out;
  out.reserve(body->size() / kOffsetEntryBytes);
  for (std::size_t at = 0; at < body->size(); at += kOffsetEntryBytes) {
    IndexEntry e{load_be<std::uint32_t>(body->data() + at),
                 load_be<std::uint32_t>(body->data() + at + 4)};
    if (e.position >= segment_bytes || std::int64_t{e.relative_offset} >= offset_span) {
      return Error(Errc::corrupt_index,
                   fmt::format("entry ({}, {}) beyond the segment", e.relative_offset, e.position));
    }
    if (!out.empty() &&
        (e.relative_offset <= out.back().relative_offset || e.position <= out.back().position)) {
      return Error(Errc::corrupt_index, "entries not increasing");
    }
    out.push_back(e);
  }
  return out;
}

Result<std::vector<TimeIndexEntry>> decode_time_index(std::span<const std::byte> bytes,
                                                      std::int64_t offset_span) {
  auto body = index_entries(bytes, kTimeIndexMagic, kTimeEntryBytes);
  if (!body) return body.error();
  std::vector<TimeIndexEntry> out;
  out.reserve(body->size() / kTimeEntryBytes);
  for (std::size_t at = 0; at < body->size(); at += kTimeEntryBytes) {
    TimeIndexEntry e{load_be<std::int64_t>(body->data() + at),
                     load_be<std::uint32_t>(body->data() + at + 8)};
    if (std::int64_t{e.relative_offset} >= offset_span) {
      return Error(Errc::corrupt_index, "time entry beyond the segment");
    }
    if (!out.empty() &&
        (e.timestamp <= out.back().timestamp || e.relative_offset < out.back().relative_offset)) {
      return Error(Errc::corrupt_index, "time entries not increasing");
    }
    out.push_back(e);
  }
  return out;
}

Segment::Segment(Offset base, std::shared_ptr<File> log, std::filesystem::path dir,
                 Clock::SteadyTime created, std::int64_t wall_ms, FileCache& cache,
                 std::uint64_t cache_owner)
    : base_(base),
      end_(base),
      max_timestamp_batch_(base),
      log_(std::move(log)),
      dir_(std::move(dir)),
      cache_(&cache),
      cache_owner_(cache_owner),
      created_(created),
      wall_ms_(wall_ms) {}

Result<std::shared_ptr<File>> Segment::log() const {
  if (log_) return log_;
  return cache_->get(cache_owner_, base_.value(), path(kLogSuffix));
}

void Segment::pin(std::shared_ptr<File> file) {
  forget_cached();
  log_ = std::move(file);
}

void Segment::forget_cached() const { cache_->forget(cache_owner_, base_.value()); }

std::filesystem::path Segment::path(const char* suffix) const {
  return dir_ / segment_file_name(base_, suffix);
}

void Segment::note_appended(const protocol::BatchHeader& header, std::uint64_t position,
                            std::uint32_t index_interval_bytes, bool gaps) {
  SPATE_ASSERT(position == size_bytes_, "append at {} but segment size {}", position, size_bytes_);
  SPATE_ASSERT(gaps ? header.base() >= end_ : header.base() == end_,
               "batch base {} but segment end {}", header.base_offset, end_);
  const auto relative = static_cast<std::uint32_t>(header.base() - base_);
  // Index the first batch after every index_interval_bytes of log (Kafka's
  // rule); the first batch of a segment needs no entry (position 0).
  if (bytes_since_index_entry_ >= index_interval_bytes) {
    index_.push_back({relative, static_cast<std::uint32_t>(position)});
    bytes_since_index_entry_ = 0;
    if (max_timestamp_ >= 0 &&
        (time_index_.empty() || max_timestamp_ > time_index_.back().timestamp)) {
      time_index_.push_back(
          {max_timestamp_, static_cast<std::uint32_t>(max_timestamp_batch_ - base_)});
    }
  }
  if (header.max_timestamp > max_timestamp_) {
    max_timestamp_ = header.max_timestamp;
    max_timestamp_batch_ = header.base();
  }
  bytes_since_index_entry_ += header.total_bytes();
  size_bytes_ += header.total_bytes();
  end_ = header.next_offset();
}

void Segment::extend_end(Offset end) {
  SPATE_ASSERT(end >= end_, "segment end {} lowered to {}", end_, end);
  end_ = end;
}

void Segment::reset(Offset end, std::uint64_t size_bytes, std::int64_t max_timestamp,
                    std::vector<IndexEntry> index, std::vector<TimeIndexEntry> time_index) {
  end_ = end;
  size_bytes_ = size_bytes;
  index_ = std::move(index);
  time_index_ = std::move(time_index);
  max_timestamp_ = max_timestamp;
  max_timestamp_batch_ = time_index_.empty() ? base_ : base_ + time_index_.back().relative_offset;
  bytes_since_index_entry_ = index_.empty() ? size_bytes : size_bytes - index_.back().position;
}

void Segment::finish_time_index() {
  if (max_timestamp_ < 0) return;
  if (!time_index_.empty() && time_index_.back().timestamp >= max_timestamp_) return;
  time_index_.push_back({max_timestamp_, static_cast<std::uint32_t>(max_timestamp_batch_ - base_)});
}

Result<protocol::BatchHeader> Segment::read_header(std::uint64_t position) const {
  auto file = log();
  if (!file) return file.error();
  return read_header(**file, position);
}

Result<protocol::BatchHeader> Segment::read_header(const File& file, std::uint64_t position) const {
  std::byte buffer[protocol::kBatchHeaderBytes];
  auto n = file.read_at(position, buffer);
  if (!n) return n.error();
  if (*n < sizeof(buffer)) {
    return Error::malformed(
        fmt::format("{}: only {} header bytes at position {}", file.path().string(), *n, position));
  }
  auto header = protocol::decode_batch_header(buffer, limits::kBatchBytesMax);
  if (!header && header.error().code() != Errc::malformed) {
    // Any header that does not decode (bad magic, bad length, ...) is bad
    // bytes to the caller, whatever the decoder called it.
    return Error::malformed(header.error().message());
  }
  return header;
}

Error Segment::header_error(std::uint64_t position, const Error& error) const {
  const std::string where = fmt::format("{} at position {}", path(kLogSuffix).string(), position);
  // Bytes that do not parse are damage; a failed read (EIO, ...) is not, and
  // the caller must see it as the I/O error it is.
  if (error.code() == Errc::malformed) {
    return Error::corrupt(fmt::format("{}: {}", where, error.detail()));
  }
  return Error(error.code(), fmt::format("{}: {}", where, error.detail()));
}

IndexEntry Segment::index_floor(Offset offset) const {
  const auto relative = offset - base_;
  auto it = std::upper_bound(
      index_.begin(), index_.end(), relative,
      [](std::int64_t r, const IndexEntry& e) { return r < std::int64_t{e.relative_offset}; });
  if (it == index_.begin()) return {0, 0};
  return *std::prev(it);
}

Result<BatchLocation> Segment::find_batch(Offset offset) const {
  SPATE_ASSERT(offset >= base_ && offset < end_, "offset {} outside segment [{}, {})", offset,
               base_, end_);
  std::uint64_t position = index_floor(offset).position;
  auto file = log();
  if (!file) return file.error();
  // Bounded: each step moves forward by at least one header.
  while (position < size_bytes_) {
    auto header = read_header(**file, position);
    if (!header) return header_error(position, header.error());
    if (header->last_offset() >= offset) return BatchLocation{*header, position};
    position += header->total_bytes();
  }
  // Only a compacted segment may end before its offsets do (the caller knows).
  return Error::not_found(fmt::format("{}: offset {} not found before position {}",
                                      path(kLogSuffix).string(), offset, size_bytes_));
}

Status Segment::rebuild_from_headers(
    std::uint64_t size, std::uint32_t index_interval_bytes,
    const std::function<void(const protocol::BatchHeader&)>& on_batch, bool gaps) {
  reset(base_, 0, -1, {}, {});
  auto file = log();
  if (!file) return file.error();
  std::uint64_t position = 0;
  // Bounded: each step moves forward by at least one header.
  while (position < size) {
    auto header = read_header(**file, position);
    if (!header) return header_error(position, header.error());
    if (gaps ? header->base() < end_ : header->base() != end_) {
      return Error::corrupt(fmt::format("{} at position {}: batch base offset {}, expected {}",
                                        path(kLogSuffix).string(), position, header->base_offset,
                                        end_));
    }
    if (position + header->total_bytes() > size) {
      return Error::corrupt(fmt::format("{} at position {}: batch of {} bytes runs past {}",
                                        path(kLogSuffix).string(), position, header->total_bytes(),
                                        size));
    }
    note_appended(*header, position, index_interval_bytes, gaps);
    on_batch(*header);
    position += header->total_bytes();
  }
  return {};
}

Result<std::vector<std::shared_ptr<File>>> Segment::write_indexes(Filesystem& fs) const {
  std::vector<std::shared_ptr<File>> files;
  auto write = [&](const char* suffix, const std::vector<std::byte>& bytes) -> Status {
    auto file = fs.open(path(suffix), OpenMode::create);
    if (!file) return file.error();
    if (auto s = (*file)->truncate(0); !s) return s;
    if (auto s = (*file)->append(bytes); !s) return s;
    files.push_back(std::move(*file));
    return {};
  };
  if (auto s = write(kIndexSuffix, encode_offset_index(index_)); !s) return s.error();
  if (auto s = write(kTimeIndexSuffix, encode_time_index(time_index_)); !s) return s.error();
  return files;
}

Result<ScanResult> scan_segment(
    const File& file, std::uint64_t position, Offset expected_base, std::int32_t last_term,
    std::size_t batch_bytes_max,
    const std::function<void(const protocol::BatchHeader&, std::uint64_t)>& on_batch, bool gaps) {
  const std::uint64_t file_size = file.size();
  ScanResult result{position, expected_base, std::nullopt};
  std::vector<std::byte> buffer;
  std::uint64_t buffer_start = position;  // file position of buffer[0]
  // Makes [at, at + bytes) available in the buffer; false at end of file.
  auto ensure = [&](std::uint64_t at, std::uint64_t bytes) -> Result<bool> {
    if (at + bytes > file_size) return false;
    if (at >= buffer_start && at + bytes <= buffer_start + buffer.size()) return true;
    const std::uint64_t want =
        std::min<std::uint64_t>(file_size - at, std::max<std::uint64_t>(bytes, kScanChunkBytes));
    buffer.resize(want);
    buffer_start = at;
    std::size_t done = 0;
    while (done < want) {
      auto n = file.read_at(at + done, std::span<std::byte>(buffer).subspan(done));
      if (!n) return n.error();
      if (*n == 0) break;
      done += *n;
    }
    buffer.resize(done);
    return done >= bytes;
  };
  while (result.valid_end < file_size) {
    const std::uint64_t at = result.valid_end;
    auto have_header = ensure(at, protocol::kBatchHeaderBytes);
    if (!have_header) return have_header.error();
    if (!*have_header) {
      result.stop_reason =
          fmt::format("{} trailing bytes shorter than a batch header at {}", file_size - at, at);
      break;
    }
    auto header = protocol::decode_batch_header(
        std::span<const std::byte>(buffer).subspan(at - buffer_start, protocol::kBatchHeaderBytes),
        batch_bytes_max);
    if (!header) {
      result.stop_reason = fmt::format("bad batch header at {}: {}", at, header.error().message());
      break;
    }
    auto have_batch = ensure(at, header->total_bytes());
    if (!have_batch) return have_batch.error();
    if (!*have_batch) {
      result.stop_reason = fmt::format("batch at {} of {} bytes runs past the end of the file ({})",
                                       at, header->total_bytes(), file_size);
      break;
    }
    auto batch =
        std::span<const std::byte>(buffer).subspan(at - buffer_start, header->total_bytes());
    // A replicated partition's Raft no-op is a batch without records
    // (cluster/raft_log.h): one offset, no record; valid in any segment.
    const bool noop = header->record_count == 0 && header->last_offset_delta == 0;
    auto valid = gaps || noop ? protocol::validate_compacted_batch(batch, batch_bytes_max)
                              : protocol::validate_batch(batch, batch_bytes_max);
    if (!valid) {
      result.stop_reason = fmt::format("invalid batch at {}: {}", at, valid.error().message());
      break;
    }
    if (gaps ? header->base() < result.next_offset : header->base() != result.next_offset) {
      result.stop_reason = fmt::format("batch at {} has base offset {}, expected {}", at,
                                       header->base_offset, result.next_offset);
      break;
    }
    if (header->partition_leader_epoch < last_term) {
      result.stop_reason = fmt::format("batch at {} has term {} below the previous term {}", at,
                                       header->partition_leader_epoch, last_term);
      break;
    }
    last_term = header->partition_leader_epoch;
    on_batch(*header, at);
    result.valid_end = at + header->total_bytes();
    result.next_offset = header->next_offset();
  }
  return result;
}

}  // namespace spate::storage
