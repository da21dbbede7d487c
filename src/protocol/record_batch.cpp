// SPDX-License-Identifier: Apache-2.0
//
// RecordBatch v2 header decoding, validation, rewrites, record decoding and the
// batch builder. Every length read from the bytes is checked before use.

#include "spate/protocol/record_batch.h"

#include <algorithm>
#include <limits>

#include "spate/common/crc32c.h"
#include "spate/common/varint.h"
#include "spate/protocol/compression.h"

namespace spate::protocol {
namespace {

using namespace batch_field;  // NOLINT(google-build-using-namespace): field offsets

constexpr std::int16_t kAttributeBitsKnown = 0x7F;  // bits 0-6 (kafka-protocol.md §3.2)

}  // namespace

Result<BatchHeader> decode_batch_header(std::span<const std::byte> bytes,
                                        std::size_t batch_bytes_max) {
  if (bytes.size() < kBatchHeaderBytes) {
    return Error(Errc::invalid_record, fmt::format("batch header needs {} bytes, have {}",
                                                   kBatchHeaderBytes, bytes.size()));
  }
  const std::byte* p = bytes.data();
  BatchHeader h;
  h.base_offset = load_be<std::int64_t>(p + kBaseOffset);
  h.batch_length = load_be<std::int32_t>(p + kBatchLength);
  h.partition_leader_epoch = load_be<std::int32_t>(p + kPartitionLeaderEpoch);
  h.magic = load_be<std::int8_t>(p + kMagic);
  if (h.magic == 0 || h.magic == 1) {
    return Error(Errc::unsupported_format,
                 fmt::format("record batch magic {} (only v2 is supported)", h.magic));
  }
  if (h.magic != kMagicV2) {
    return Error::malformed(fmt::format("invalid record batch magic {}", h.magic));
  }
  if (h.batch_length < static_cast<std::int32_t>(kBatchHeaderBytes - kBatchLogOverheadBytes)) {
    return Error::malformed(fmt::format("batchLength {} below the header size", h.batch_length));
  }
  if (h.total_bytes() > batch_bytes_max) {
    return Error(Errc::record_too_large, fmt::format("batch of {} bytes exceeds the limit {}",
                                                     h.total_bytes(), batch_bytes_max));
  }
  h.crc = load_be<std::uint32_t>(p + kCrc);
  h.attributes = load_be<std::int16_t>(p + kAttributes);
  h.last_offset_delta = load_be<std::int32_t>(p + kLastOffsetDelta);
  h.base_timestamp = load_be<std::int64_t>(p + kBaseTimestamp);
  h.max_timestamp = load_be<std::int64_t>(p + kMaxTimestamp);
  h.producer_id = load_be<std::int64_t>(p + kProducerId);
  h.producer_epoch = load_be<std::int16_t>(p + kProducerEpoch);
  h.base_sequence = load_be<std::int32_t>(p + kBaseSequence);
  h.record_count = load_be<std::int32_t>(p + kRecordCount);
  if ((h.attributes & ~kAttributeBitsKnown) != 0) {
    return Error(Errc::invalid_record, fmt::format("unknown attribute bits {:#x}", h.attributes));
  }
  if ((h.attributes & 0x7) > 4) {
    return Error(Errc::invalid_record,
                 fmt::format("unknown compression codec {}", h.attributes & 0x7));
  }
  if (h.last_offset_delta < 0) {
    return Error(Errc::invalid_record,
                 fmt::format("lastOffsetDelta {} is negative", h.last_offset_delta));
  }
  if (h.base_offset < 0 || h.base_offset > std::numeric_limits<std::int64_t>::max() -
                                               std::int64_t{h.last_offset_delta} - 1) {
    return Error(Errc::invalid_record, fmt::format("baseOffset {} out of range", h.base_offset));
  }
  return h;
}

std::uint32_t compute_batch_crc(std::span<const std::byte> batch) {
  SPATE_ASSERT(batch.size() >= kBatchHeaderBytes, "batch too short for a CRC");
  return crc32c::value(batch.subspan(kAttributes));
}

namespace {
Result<BatchHeader> validate_stored(std::span<const std::byte> batch, std::size_t batch_bytes_max,
                                    bool compacted) {
  auto header = decode_batch_header(batch, batch_bytes_max);
  if (!header) return header;
  const BatchHeader& h = *header;
  if (h.total_bytes() != batch.size()) {
    return Error(Errc::invalid_record, fmt::format("batchLength {} says {} bytes, {} present",
                                                   h.batch_length, h.total_bytes(), batch.size()));
  }
  const std::uint32_t crc = compute_batch_crc(batch);
  if (crc != h.crc) {
    return Error(Errc::crc_mismatch,
                 fmt::format("batch CRC {:#010x}, computed {:#010x}", h.crc, crc));
  }
  if (compacted) {
    // The cleaner keeps each batch's offset range and drops records from it,
    // down to none for the last batch of a producer id (Kafka does the same).
    if (h.record_count < 0 ||
        std::int64_t{h.record_count} > std::int64_t{h.last_offset_delta} + 1) {
      return Error(Errc::invalid_record,
                   fmt::format("recordCount {} does not fit lastOffsetDelta {}", h.record_count,
                               h.last_offset_delta));
    }
  } else if (h.record_count < 1) {
    return Error(Errc::invalid_record,
                 fmt::format("recordCount {} (at least 1 needed)", h.record_count));
  } else if (std::int64_t{h.last_offset_delta} != std::int64_t{h.record_count} - 1) {
    return Error(Errc::invalid_record,
                 fmt::format("lastOffsetDelta {} does not match recordCount {}",
                             h.last_offset_delta, h.record_count));
  }
  if (h.compression() == Compression::none) {
    const std::size_t records_bytes = batch.size() - kBatchHeaderBytes;
    if (static_cast<std::size_t>(h.record_count) > records_bytes / kRecordBytesMin) {
      return Error(Errc::invalid_record, fmt::format("recordCount {} cannot fit in {} bytes",
                                                     h.record_count, records_bytes));
    }
  }
  return header;
}
}  // namespace

Result<BatchHeader> validate_batch(std::span<const std::byte> batch, std::size_t batch_bytes_max) {
  return validate_stored(batch, batch_bytes_max, false);
}

Result<BatchHeader> validate_compacted_batch(std::span<const std::byte> batch,
                                             std::size_t batch_bytes_max) {
  return validate_stored(batch, batch_bytes_max, true);
}

std::size_t records_bytes_max(std::size_t batch_bytes_max) {
  constexpr std::size_t kRatio = 16;
  constexpr std::size_t kCeiling = std::size_t{64} << 20U;
  const std::size_t scaled =
      batch_bytes_max > kCeiling / kRatio ? kCeiling : batch_bytes_max * kRatio;
  return std::max(scaled, batch_bytes_max);
}

namespace {

// A cursor over a records section for the validator: no allocation, and a
// failure is only a flag until the caller words the error once.
class RecordCursor {
 public:
  explicit RecordCursor(std::span<const std::byte> bytes)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  [[nodiscard]] std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

  // Signed (zigzag) varints of at most 5 or 10 bytes, decoded inline (the
  // walk is on the produce path): the same rules as varint::decode_uvarint.
  bool varint32(std::int32_t& out) {
    std::uint64_t u = 0;
    if (!uvarint<varint::kBytesMax32, 32>(u)) return false;
    out = static_cast<std::int32_t>(varint::zigzag_decode(u));
    return true;
  }
  bool varint64(std::int64_t& out) {
    std::uint64_t u = 0;
    if (!uvarint<varint::kBytesMax64, 64>(u)) return false;
    out = varint::zigzag_decode(u);
    return true;
  }
  bool skip(std::size_t n) {
    if (n > remaining()) return false;
    p_ += n;
    return true;
  }
  // A VARINT length then that many bytes; -1 (null) only when `nullable`.
  bool skip_sized(bool nullable) {
    std::int32_t length = 0;
    if (!varint32(length)) return false;
    if (length == -1) return nullable;
    return length >= 0 && skip(static_cast<std::size_t>(length));
  }
  // skip_sized(true), telling whether the field was null.
  bool skip_nullable(bool& null) {
    std::int32_t length = 0;
    if (!varint32(length)) return false;
    null = length == -1;
    return null || (length >= 0 && skip(static_cast<std::size_t>(length)));
  }

 private:
  template <std::size_t kBytesMax, unsigned kBits>
  bool uvarint(std::uint64_t& out) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < kBytesMax; ++i) {
      if (p_ + i == end_) return false;
      const auto b = static_cast<std::uint64_t>(p_[i]);
      const auto shift = static_cast<unsigned>(7 * i);
      // The last allowed byte may only carry the bits that still fit.
      if (i == kBytesMax - 1 && ((b & 0x80U) != 0 || ((b & 0x7FU) >> (kBits - shift)) != 0)) {
        return false;
      }
      value |= (b & 0x7FU) << shift;
      if ((b & 0x80U) == 0) {
        p_ += i + 1;
        out = value;
        return true;
      }
    }
    return false;
  }

  const std::byte* p_;
  const std::byte* end_;
};

Error invalid_record_at(std::int32_t index, std::string_view what) {
  return Error(Errc::invalid_record, fmt::format("record {}: {}", index, what));
}

}  // namespace

namespace {

// The smallest and largest record timestamps, NO_TIMESTAMP (-1) aside; both
// -1 when no record has one.
struct TimestampRange {
  std::int64_t min = -1;
  std::int64_t max = -1;
};

// `keys_required`: a compacted topic's batch, where every record needs a key
// (Kafka's LogValidator.validateKey).
Result<TimestampRange> check_section_timestamps(const BatchHeader& header,
                                                std::span<const std::byte> records_bytes,
                                                bool keys_required) {
  RecordCursor in(records_bytes);
  std::int64_t max_timestamp = -1;  // Kafka's NO_TIMESTAMP
  std::int64_t min_timestamp = -1;
  // Bounded by recordCount, and each pass consumes at least one byte.
  for (std::int32_t i = 0; i < header.record_count; ++i) {
    std::int32_t length = 0;
    if (!in.varint32(length)) {
      return invalid_record_at(i, in.remaining() == 0 ? "premature end of the records (fewer "
                                                        "records than recordCount)"
                                                      : "bad length varint");
    }
    if (length < 0 || static_cast<std::size_t>(length) > in.remaining()) {
      return invalid_record_at(i,
                               fmt::format("length {} with {} bytes left", length, in.remaining()));
    }
    RecordCursor body(
        std::span<const std::byte>(records_bytes.data() + (records_bytes.size() - in.remaining()),
                                   static_cast<std::size_t>(length)));
    (void)in.skip(static_cast<std::size_t>(length));
    std::int64_t ts_delta = 0;
    std::int32_t offset_delta = 0;
    if (!body.skip(1) || !body.varint64(ts_delta) || !body.varint32(offset_delta)) {
      return invalid_record_at(i, "truncated record header");
    }
    if (offset_delta != i) {
      return invalid_record_at(i, fmt::format("offsetDelta {} (records must be numbered 0, 1, "
                                              "2, ...)",
                                              offset_delta));
    }
    std::int64_t timestamp = 0;
    if (__builtin_add_overflow(header.base_timestamp, ts_delta, &timestamp)) {
      return invalid_record_at(i, fmt::format("timestampDelta {} overflows baseTimestamp {}",
                                              ts_delta, header.base_timestamp));
    }
    max_timestamp = std::max(max_timestamp, timestamp);
    if (timestamp != -1 && (min_timestamp == -1 || timestamp < min_timestamp)) {
      min_timestamp = timestamp;
    }
    bool null_key = false;
    if (!body.skip_nullable(null_key)) return invalid_record_at(i, "bad key");
    if (null_key && keys_required) {
      return invalid_record_at(i,
                               "a compacted topic (cleanup.policy=compact) cannot accept a record "
                               "without a key");
    }
    if (!body.skip_sized(true)) return invalid_record_at(i, "bad value");
    std::int32_t header_count = 0;
    if (!body.varint32(header_count) || header_count < 0 ||
        static_cast<std::size_t>(header_count) > body.remaining() / 2) {
      return invalid_record_at(i, "bad header count");
    }
    // Bounded by header_count, itself bounded by the record's bytes.
    for (std::int32_t k = 0; k < header_count; ++k) {
      if (!body.skip_sized(false)) return invalid_record_at(i, "bad header key");
      if (!body.skip_sized(true)) return invalid_record_at(i, "bad header value");
    }
    if (body.remaining() != 0) {
      return invalid_record_at(i,
                               fmt::format("{} bytes left over in the record", body.remaining()));
    }
  }
  if (in.remaining() != 0) {
    return Error(Errc::invalid_record,
                 fmt::format("{} bytes after the last of {} records (more records than "
                             "recordCount?)",
                             in.remaining(), header.record_count));
  }
  return TimestampRange{min_timestamp, max_timestamp};
}

}  // namespace

Result<std::int64_t> check_record_section(const BatchHeader& header,
                                          std::span<const std::byte> records_bytes) {
  auto range = check_section_timestamps(header, records_bytes, false);
  if (!range) return range.error();
  return range->max;
}

// Validation decompresses every compressed batch into a buffer kept per
// thread, so that its pages are faulted in once, not once per batch; a
// buffer that a larger batch filled past this is given back afterwards.
constexpr std::size_t kScratchKeepBytes = std::size_t{16} << 20U;

Result<ClientBatch> check_client_batch(std::span<const std::byte> batch,
                                       std::size_t batch_bytes_max, DecompressBudget* budget,
                                       bool keys_required) {
  auto header = validate_batch(batch, batch_bytes_max);
  if (!header) return header.error();
  const BatchHeader& h = *header;
  if (h.is_control()) {
    return Error(Errc::invalid_record, "clients may not write control batches");
  }
  if (h.log_append_time()) {
    return Error(Errc::invalid_timestamp,
                 "the producer set the LogAppendTime timestamp type (topics use CreateTime)");
  }
  if (h.producer_id >= 0 && h.base_sequence < 0) {
    return Error(Errc::invalid_record,
                 fmt::format("producerId {} with baseSequence {}", h.producer_id, h.base_sequence));
  }
  const auto section = batch.subspan(kBatchHeaderBytes);
  Result<TimestampRange> timestamps = TimestampRange{};
  if (h.compression() == Compression::none) {
    timestamps = check_section_timestamps(h, section, keys_required);
  } else {
    const std::size_t batch_max = records_bytes_max(batch_bytes_max);
    const bool request_bound = budget != nullptr && !budget->first && budget->left < batch_max;
    const std::size_t bytes_max = request_bound ? budget->left : batch_max;
    const Error past_budget(Errc::record_too_large,
                            "the request's compressed batches decompress past the broker's "
                            "per-request limit (--max-request-decompressed-bytes); send fewer or "
                            "smaller batches per request");
    if (request_bound && bytes_max == 0) return past_budget;
    // One buffer per thread, kept between batches. Reserved whole at once:
    // untouched pages cost nothing, and growing by doubling would copy and
    // fault in twice as much.
    thread_local std::vector<std::byte> scratch;
    if (scratch.capacity() < bytes_max + 1) scratch.reserve(bytes_max + 1);
    struct Trim {
      ~Trim() {
        if (scratch.size() > kScratchKeepBytes) std::vector<std::byte>().swap(scratch);
      }
    } trim;
    const Status inflated = decompress_into(h.compression(), section, bytes_max, scratch);
    const std::span<const std::byte> records = scratch;
    if (budget != nullptr) {
      // A failed decompression may have inflated all it was allowed before it
      // failed (a bomb with a bad trailer): it costs that much.
      const std::size_t used = inflated ? records.size() : bytes_max;
      budget->left -= std::min(budget->left, used);
      budget->first = false;
    }
    if (!inflated) {
      if (inflated.error().code() == Errc::limit_exceeded && request_bound) return past_budget;
      if (inflated.error().code() == Errc::limit_exceeded) {
        return Error(Errc::record_too_large,
                     fmt::format("the records decompress past {} bytes", bytes_max));
      }
      return Error(Errc::invalid_record,
                   fmt::format("the records do not decompress: {}", inflated.error().detail()));
    }
    timestamps = check_section_timestamps(h, records, keys_required);
  }
  if (!timestamps) return timestamps.error();
  return ClientBatch{h, timestamps->max, timestamps->min};
}

Result<BatchHeader> validate_client_batch(std::span<std::byte> batch, std::size_t batch_bytes_max,
                                          DecompressBudget* budget, const TimestampRules& rules,
                                          bool keys_required) {
  auto checked = check_client_batch(batch, batch_bytes_max, budget, keys_required);
  if (!checked) return checked.error();
  if (auto s = check_timestamp_rules(*checked, rules); !s) return s.error();
  BatchHeader header = checked->header;
  std::int64_t max_timestamp = checked->max_timestamp;
  if (rules.log_append_time) {
    // Kafka's LogValidator: the batch's maxTimestamp is the append time and
    // the timestamp-type bit says so; readers take every record's timestamp
    // from there.
    max_timestamp = rules.now_ms;
    header.attributes = static_cast<std::int16_t>(header.attributes | kLogAppendTimeBit);
    store_be<std::int16_t>(batch.data() + kAttributes, header.attributes);
  }
  if (header.max_timestamp != max_timestamp || rules.log_append_time) {
    store_be<std::int64_t>(batch.data() + kMaxTimestamp, max_timestamp);
    header.max_timestamp = max_timestamp;
    header.crc = compute_batch_crc(batch);
    store_be<std::uint32_t>(batch.data() + kCrc, header.crc);
  }
  return header;
}

Status check_timestamp_rules(const ClientBatch& batch, const TimestampRules& rules) {
  if (rules.log_append_time || batch.min_timestamp == -1) return {};  // no timestamps
  // now - ts > before_max or ts - now > after_max, without overflow.
  auto too_far = [](std::int64_t from, std::int64_t to, std::int64_t limit) {
    std::int64_t d = 0;
    return __builtin_sub_overflow(to, from, &d) || d > limit;
  };
  const std::int64_t lo = batch.min_timestamp;
  const std::int64_t hi = batch.max_timestamp;
  if (too_far(lo, rules.now_ms, rules.before_max_ms) ||
      too_far(rules.now_ms, hi, rules.after_max_ms)) {
    return Error(Errc::invalid_timestamp,
                 fmt::format("record timestamps [{}, {}] are too far from the broker's time {} "
                             "(message.timestamp.before.max.ms {}, after.max.ms {})",
                             lo, hi, rules.now_ms, rules.before_max_ms, rules.after_max_ms));
  }
  return {};
}

void set_base_offset(std::span<std::byte> batch, Offset base) {
  SPATE_ASSERT(batch.size() >= kBatchHeaderBytes, "batch too short");
  store_be<std::int64_t>(batch.data() + kBaseOffset, base.value());
}

void set_partition_leader_epoch(std::span<std::byte> batch, std::int32_t epoch) {
  SPATE_ASSERT(batch.size() >= kBatchHeaderBytes, "batch too short");
  store_be<std::int32_t>(batch.data() + kPartitionLeaderEpoch, epoch);
}

namespace {

// Reads a VARINT length; -1 means null. Anything else negative is malformed.
Result<std::optional<std::span<const std::byte>>> read_nullable(ByteReader& in,
                                                                std::string_view what) {
  auto length = in.read_varint32();
  if (!length) return length.error();
  if (*length == -1) return std::optional<std::span<const std::byte>>{};
  if (*length < 0) return Error::malformed(fmt::format("{} length {}", what, *length));
  auto bytes = in.read_bytes(static_cast<std::size_t>(*length));
  if (!bytes) return bytes.error();
  return std::optional<std::span<const std::byte>>(*bytes);
}

Result<RecordView> decode_record(std::span<const std::byte> body, const BatchHeader& h) {
  ByteReader in(body);
  RecordView r;
  auto attributes = in.read<std::int8_t>();
  if (!attributes) return attributes.error();
  auto ts_delta = in.read_varint64();
  if (!ts_delta) return ts_delta.error();
  auto offset_delta = in.read_varint32();
  if (!offset_delta) return offset_delta.error();
  if (*offset_delta < 0 || *offset_delta > h.last_offset_delta) {
    return Error::malformed(fmt::format("offsetDelta {} outside the batch", *offset_delta));
  }
  r.offset = h.base_offset + *offset_delta;
  if (__builtin_add_overflow(h.base_timestamp, *ts_delta, &r.timestamp)) {
    return Error::malformed(fmt::format("timestampDelta {} overflows the base timestamp {}",
                                        *ts_delta, h.base_timestamp));
  }
  auto key = read_nullable(in, "key");
  if (!key) return key.error();
  r.key = *key;
  auto value = read_nullable(in, "value");
  if (!value) return value.error();
  r.value = *value;
  auto header_count = in.read_varint32();
  if (!header_count) return header_count.error();
  // Each header takes at least two bytes, so the count is bounded by the bytes left.
  if (*header_count < 0 || static_cast<std::size_t>(*header_count) > in.remaining() / 2) {
    return Error::malformed(
        fmt::format("header count {} with {} bytes left", *header_count, in.remaining()));
  }
  r.headers.reserve(static_cast<std::size_t>(*header_count));
  for (std::int32_t i = 0; i < *header_count; ++i) {
    auto hkey = read_nullable(in, "header key");
    if (!hkey) return hkey.error();
    if (!hkey->has_value()) return Error::malformed("null header key");
    auto hvalue = read_nullable(in, "header value");
    if (!hvalue) return hvalue.error();
    const auto& kb = **hkey;
    r.headers.push_back(
        {std::string_view(reinterpret_cast<const char*>(kb.data()), kb.size()), *hvalue});
  }
  if (!in.empty()) {
    return Error::malformed(fmt::format("{} bytes left over in a record", in.remaining()));
  }
  return r;
}

}  // namespace

Result<std::vector<RecordView>> decode_records(std::span<const std::byte> batch) {
  auto header = decode_batch_header(batch, batch.size());
  if (!header) return header.error();
  if (header->compression() != Compression::none) {
    return Error::invalid("decode_records needs an uncompressed batch");
  }
  if (header->total_bytes() != batch.size()) return Error::malformed("batch size mismatch");
  return decode_record_section(*header, batch.subspan(kBatchHeaderBytes));
}

Result<std::vector<RecordView>> decode_record_section(const BatchHeader& header,
                                                      std::span<const std::byte> records_bytes) {
  ByteReader in(records_bytes);
  if (header.record_count < 0 ||
      static_cast<std::size_t>(header.record_count) > in.remaining() / kRecordBytesMin) {
    return Error::malformed(fmt::format("recordCount {} too large", header.record_count));
  }
  std::vector<RecordView> records;
  records.reserve(static_cast<std::size_t>(header.record_count));
  for (std::int32_t i = 0; i < header.record_count; ++i) {
    auto length = in.read_varint32();
    if (!length) return length.error();
    if (*length < 0) return Error::malformed(fmt::format("record length {}", *length));
    auto body = in.read_bytes(static_cast<std::size_t>(*length));
    if (!body) return body.error();
    auto record = decode_record(*body, header);
    if (!record) return record.error();
    records.push_back(std::move(*record));
  }
  if (!in.empty()) return Error::malformed("bytes after the last record");
  return records;
}

BatchBuilder& BatchBuilder::add(const RecordSpec& record) {
  if (records_.empty()) {
    base_timestamp_ = record.timestamp;
    max_timestamp_ = record.timestamp;
  }
  max_timestamp_ = std::max(max_timestamp_, record.timestamp);
  ByteWriter w;
  w.write<std::int8_t>(0);
  w.write_varint(record.timestamp - base_timestamp_);
  w.write_varint(static_cast<std::int64_t>(records_.size()));
  auto put_nullable = [&w](const std::optional<std::vector<std::byte>>& bytes) {
    if (!bytes) {
      w.write_varint(-1);
      return;
    }
    w.write_varint(static_cast<std::int64_t>(bytes->size()));
    w.write_bytes(*bytes);
  };
  put_nullable(record.key);
  put_nullable(record.value);
  w.write_varint(static_cast<std::int64_t>(record.headers.size()));
  for (const auto& [name, value] : record.headers) {
    w.write_varint(static_cast<std::int64_t>(name.size()));
    w.write_string(name);
    put_nullable(value);
  }
  records_.push_back(w.release());
  return *this;
}

BatchBuilder& BatchBuilder::add_value(std::span<const std::byte> value,
                                      std::optional<std::span<const std::byte>> key) {
  RecordSpec spec;
  spec.timestamp = records_.empty() ? base_timestamp_ : max_timestamp_;
  spec.value = std::vector<std::byte>(value.begin(), value.end());
  if (key) spec.key = std::vector<std::byte>(key->begin(), key->end());
  return add(spec);
}

std::vector<std::byte> BatchBuilder::build() {
  SPATE_ASSERT(!records_.empty(), "BatchBuilder::build with no records");
  std::size_t body_bytes = 0;
  for (const auto& r : records_) body_bytes += r.size() + 5;
  ByteWriter w(kBatchHeaderBytes + body_bytes);
  w.write<std::int64_t>(0);                                               // baseOffset
  w.write<std::int32_t>(0);                                               // batchLength, patched
  w.write<std::int32_t>(-1);                                              // partitionLeaderEpoch
  w.write<std::int8_t>(kMagicV2);                                         // magic
  w.write<std::uint32_t>(0);                                              // crc, patched
  w.write<std::int16_t>(0);                                               // attributes
  w.write<std::int32_t>(static_cast<std::int32_t>(records_.size() - 1));  // lastOffsetDelta
  w.write<std::int64_t>(base_timestamp_);
  w.write<std::int64_t>(max_timestamp_);
  w.write<std::int64_t>(-1);  // producerId
  w.write<std::int16_t>(-1);  // producerEpoch
  w.write<std::int32_t>(-1);  // baseSequence
  w.write<std::int32_t>(static_cast<std::int32_t>(records_.size()));
  for (const auto& r : records_) {
    w.write_varint(static_cast<std::int64_t>(r.size()));
    w.write_bytes(r);
  }
  w.patch<std::int32_t>(kBatchLength, static_cast<std::int32_t>(w.size() - kBatchLogOverheadBytes));
  w.patch<std::uint32_t>(kCrc, crc32c::value(w.view().subspan(kAttributes)));
  records_.clear();
  return w.release();
}

}  // namespace spate::protocol
