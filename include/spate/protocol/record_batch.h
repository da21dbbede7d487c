// SPDX-License-Identifier: Apache-2.0
//
// Kafka RecordBatch v2 (magic 2): header view, validation, in-place rewrites of
// baseOffset and partitionLeaderEpoch, record iteration for uncompressed
// batches, and a builder. Layout: kafka-protocol.md §3; docs/storage-format.md.

#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "spate/common/bytes.h"
#include "spate/common/result.h"
#include "spate/common/types.h"

namespace spate::protocol {

// Byte positions of the header fields, from the start of the batch.
namespace batch_field {
inline constexpr std::size_t kBaseOffset = 0;
inline constexpr std::size_t kBatchLength = 8;
inline constexpr std::size_t kPartitionLeaderEpoch = 12;
inline constexpr std::size_t kMagic = 16;
inline constexpr std::size_t kCrc = 17;
inline constexpr std::size_t kAttributes = 21;
inline constexpr std::size_t kLastOffsetDelta = 23;
inline constexpr std::size_t kBaseTimestamp = 27;
inline constexpr std::size_t kMaxTimestamp = 35;
inline constexpr std::size_t kProducerId = 43;
inline constexpr std::size_t kProducerEpoch = 51;
inline constexpr std::size_t kBaseSequence = 53;
inline constexpr std::size_t kRecordCount = 57;
inline constexpr std::size_t kRecords = 61;
}  // namespace batch_field

inline constexpr std::size_t kBatchHeaderBytes = 61;  // Kafka's RECORD_BATCH_OVERHEAD
// baseOffset + batchLength: the bytes before what batchLength counts.
inline constexpr std::size_t kBatchLogOverheadBytes = 12;
inline constexpr std::int8_t kMagicV2 = 2;
// The smallest possible record: length, attributes, timestampDelta,
// offsetDelta, keyLength, valueLength, headerCount, one byte each.
inline constexpr std::size_t kRecordBytesMin = 7;

enum class Compression : std::uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

// The decoded 61-byte header of a v2 batch.
struct BatchHeader {
  std::int64_t base_offset = 0;
  std::int32_t batch_length = 0;  // bytes after this field: total_bytes() - 12
  std::int32_t partition_leader_epoch = 0;
  std::int8_t magic = kMagicV2;
  std::uint32_t crc = 0;
  std::int16_t attributes = 0;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = 0;
  std::int64_t max_timestamp = 0;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  std::int32_t record_count = 0;

  [[nodiscard]] std::size_t total_bytes() const {
    return kBatchLogOverheadBytes + static_cast<std::size_t>(batch_length);
  }
  [[nodiscard]] Offset base() const { return Offset(base_offset); }
  [[nodiscard]] Offset last_offset() const { return Offset(base_offset + last_offset_delta); }
  // Exclusive: the offset after the batch's last record.
  [[nodiscard]] Offset next_offset() const { return last_offset() + 1; }
  [[nodiscard]] Compression compression() const {
    return static_cast<Compression>(attributes & 0x7);
  }
  [[nodiscard]] bool log_append_time() const { return (attributes & 0x8) != 0; }
  [[nodiscard]] bool is_transactional() const { return (attributes & 0x10) != 0; }
  [[nodiscard]] bool is_control() const { return (attributes & 0x20) != 0; }
};

// Decodes the header from the first 61 bytes of `bytes` and checks what the
// header alone can tell: magic 2, batchLength large enough for a header and at
// most `batch_bytes_max` in total, lastOffsetDelta >= 0, a known codec, unused
// attribute bits clear. Does not check the CRC or that the whole batch is present.
// Errors (detail says which field; the codes follow Kafka, kafka-protocol.md §3.5):
//   invalid_record for fewer than 61 bytes, unknown attribute bits or codec, a
//     negative lastOffsetDelta or an out-of-range baseOffset;
//   unsupported_format for magic 0 or 1 (the legacy message sets);
//   malformed for any other magic or a batchLength below the header (bytes
//     that a bit flip outside the CRC could have made: Kafka's CORRUPT_MESSAGE);
//   record_too_large past batch_bytes_max.
[[nodiscard]] Result<BatchHeader> decode_batch_header(std::span<const std::byte> bytes,
                                                      std::size_t batch_bytes_max);

// The CRC-32C a batch should carry: over bytes [21, end).
// REQUIRES: batch.size() >= kBatchHeaderBytes.
[[nodiscard]] std::uint32_t compute_batch_crc(std::span<const std::byte> batch);

// Validation of the framing of exactly one batch occupying all of `batch`:
// the header checks above, batchLength + 12 == batch.size(), CRC, recordCount
// >= 1 and lastOffsetDelta == recordCount - 1 (as Kafka requires of client
// batches), and, for uncompressed batches, recordCount no larger than the
// records bytes allow. Does not look at the records (see check_client_batch);
// this is what recovery checks of a batch it once stored.
// Errors: those of decode_batch_header, invalid_record (length or count),
//   crc_mismatch.
[[nodiscard]] Result<BatchHeader> validate_batch(std::span<const std::byte> batch,
                                                 std::size_t batch_bytes_max);
// validate_batch for a batch the log cleaner rewrote: records may be missing
// from its offset range (0 <= recordCount <= lastOffsetDelta + 1).
[[nodiscard]] Result<BatchHeader> validate_compacted_batch(std::span<const std::byte> batch,
                                                           std::size_t batch_bytes_max);

// The most bytes the records of a compressed batch may decompress to, for a
// batch limit of `batch_bytes_max`: 16 times the limit, at most 64 MiB, and
// never less than the limit itself. A decompression bomb stops there.
[[nodiscard]] std::size_t records_bytes_max(std::size_t batch_bytes_max);

// What the compressed batches of one request may still decompress to, all
// together (the broker's per-request budget: validation runs on the network
// thread). The first compressed batch of a request may always use its own
// limit (records_bytes_max), so one batch of the largest size still goes
// through; the later ones share what is left. A batch whose records fail to
// decompress costs all it was allowed (it may have inflated that much).
struct DecompressBudget {
  std::size_t left = 0;
  bool first = true;
};

// What check_client_batch found.
struct ClientBatch {
  BatchHeader header;  // as sent
  // The largest record timestamp; -1 (Kafka's NO_TIMESTAMP) when no record
  // has a larger one.
  std::int64_t max_timestamp = -1;
  // The smallest record timestamp other than NO_TIMESTAMP; -1 if none.
  std::int64_t min_timestamp = -1;
};

// The timestamp-type attribute bit (set: LogAppendTime).
inline constexpr std::int16_t kLogAppendTimeBit = 0x8;

// A topic's timestamp rules (message.timestamp.type and the
// message.timestamp.before/after/difference.max.ms limits), with the
// broker's wall-clock time.
struct TimestampRules {
  bool log_append_time = false;
  std::int64_t before_max_ms = std::numeric_limits<std::int64_t>::max();
  std::int64_t after_max_ms = std::numeric_limits<std::int64_t>::max();
  std::int64_t now_ms = 0;
};

// Kafka's timestamp check of a CreateTime batch: every record timestamp
// (NO_TIMESTAMP aside) at most before_max_ms before now and after_max_ms
// after it. Nothing to check under LogAppendTime.
// Errors: invalid_timestamp naming the range.
[[nodiscard]] Status check_timestamp_rules(const ClientBatch& batch, const TimestampRules& rules);

// Kafka's log validator (LogValidator, DefaultRecordBatch's iterators) for a
// batch a producer sent: validate_batch, then no control batch, CreateTime
// (the timestamp-type bit clear), a baseSequence for a producer id; then the
// records, decompressed (bounded by records_bytes_max) if the batch is
// compressed and walked in place otherwise: exactly recordCount records, each
// parsing completely (lengths, key, value, headers with non-null keys),
// offsetDelta equal to the record's index (Kafka rewrites other deltas; Spate
// stores batches verbatim, so it refuses them), timestampDelta not
// overflowing, and no bytes after the last record. With `keys_required` (a
// topic whose cleanup.policy includes compact), a record with a null key
// refuses the whole batch, as Kafka's LogValidator.validateKey does.
//
// `budget`, if given, is what the request may still decompress (see
// DecompressBudget); what this batch used is taken off.
// Errors: those of validate_batch; invalid_record (detail names the record);
//   invalid_timestamp for a LogAppendTime batch; record_too_large when the
//   records decompress past records_bytes_max or past the budget.
[[nodiscard]] Result<ClientBatch> check_client_batch(std::span<const std::byte> batch,
                                                     std::size_t batch_bytes_max,
                                                     DecompressBudget* budget = nullptr,
                                                     bool keys_required = false);

// check_client_batch and check_timestamp_rules, then, as Kafka does, makes
// the header's maxTimestamp the records' largest timestamp when it differs
// (some clients send -1 there: sarama 1.22), or, under LogAppendTime, the
// broker's time with the timestamp-type bit set, recomputing the CRC since
// both fields are inside it. Returns the header as it now is.
[[nodiscard]] Result<BatchHeader> validate_client_batch(std::span<std::byte> batch,
                                                        std::size_t batch_bytes_max,
                                                        DecompressBudget* budget = nullptr,
                                                        const TimestampRules& rules = {},
                                                        bool keys_required = false);

// Walks the records section of a batch (`records_bytes`: the bytes after the
// header, decompressed if the batch was compressed) with the checks of
// check_client_batch, without copying. Returns the largest record timestamp
// (-1 if none is larger). Errors: invalid_record.
[[nodiscard]] Result<std::int64_t> check_record_section(const BatchHeader& header,
                                                        std::span<const std::byte> records_bytes);

// In-place rewrites of the fields outside the CRC (kafka-protocol.md §3.3).
// REQUIRES: batch.size() >= kBatchHeaderBytes.
void set_base_offset(std::span<std::byte> batch, Offset base);
void set_partition_leader_epoch(std::span<std::byte> batch, std::int32_t epoch);

// One record of an uncompressed batch, viewing the batch's bytes.
struct RecordHeaderView {
  std::string_view key;
  std::optional<std::span<const std::byte>> value;  // nullopt = null value
};
struct RecordView {
  std::int64_t offset = 0;                          // absolute: baseOffset + offsetDelta
  std::int64_t timestamp = 0;                       // absolute: baseTimestamp + timestampDelta
  std::optional<std::span<const std::byte>> key;    // nullopt = null key
  std::optional<std::span<const std::byte>> value;  // nullopt = null value (tombstone)
  std::vector<RecordHeaderView> headers;
};

// Decodes every record of an uncompressed, validated batch. Bounded by the
// batch's bytes and its recordCount.
// Errors: malformed; invalid_argument for a compressed batch.
[[nodiscard]] Result<std::vector<RecordView>> decode_records(std::span<const std::byte> batch);

// Decodes the records section of a batch (`records_bytes`: the bytes after
// the header, decompressed if the batch was compressed). The views point into
// `records_bytes`. Errors: malformed.
[[nodiscard]] Result<std::vector<RecordView>> decode_record_section(
    const BatchHeader& header, std::span<const std::byte> records_bytes);

// What a producer would put in one record.
struct RecordSpec {
  std::optional<std::vector<std::byte>> key;
  std::optional<std::vector<std::byte>> value;
  std::vector<std::pair<std::string, std::optional<std::vector<std::byte>>>> headers;
  std::int64_t timestamp = 0;
};

// Builds uncompressed v2 batches the way a client would (baseOffset 0,
// partitionLeaderEpoch -1 unless set, producer fields -1). Used by the CLI,
// benchmarks and tests.
class BatchBuilder {
 public:
  explicit BatchBuilder(std::int64_t base_timestamp = 0) : base_timestamp_(base_timestamp) {}

  BatchBuilder& add(const RecordSpec& record);
  // A record with the given value and key, timestamp = base timestamp + index.
  BatchBuilder& add_value(std::span<const std::byte> value,
                          std::optional<std::span<const std::byte>> key = std::nullopt);

  [[nodiscard]] std::size_t record_count() const { return records_.size(); }
  // Finishes the batch: header, records, CRC. The builder is then empty.
  [[nodiscard]] std::vector<std::byte> build();

 private:
  std::int64_t base_timestamp_;
  std::int64_t max_timestamp_ = 0;
  std::vector<std::vector<std::byte>> records_;  // encoded records without the length prefix
};

}  // namespace spate::protocol
