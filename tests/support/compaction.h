// SPDX-License-Identifier: Apache-2.0
//
// Test helpers for log compaction: keyed batches (optionally compressed or
// from an idempotent producer), reading a log back record by record, and the
// model a compacted log must satisfy (the last value of every key).

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spate/common/result.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

namespace spate::testing {

// One record as a test writes or reads it. value nullopt = tombstone.
struct KeyedRecord {
  std::int64_t offset = -1;  // set when read (or once appended)
  std::optional<std::string> key;
  std::optional<std::string> value;
  bool operator==(const KeyedRecord&) const = default;
};

// A batch of the given records, timestamps ts, ts + 1, ...; compressed with
// `codec`; with producer fields when producer_id >= 0.
[[nodiscard]] std::vector<std::byte> keyed_batch(
    const std::vector<KeyedRecord>& records, std::int64_t ts,
    protocol::Compression codec = protocol::Compression::none, std::int64_t producer_id = -1,
    std::int32_t base_sequence = 0);

// One batch header and its records as read back.
struct ReadBatch {
  protocol::BatchHeader header;
  std::vector<KeyedRecord> records;
};

// One stored batch, decoded (decompressed if need be).
// Errors: malformed bytes.
[[nodiscard]] Result<ReadBatch> decode_keyed_batch(std::span<const std::byte> batch);

// Every batch of the log from its start to `end` (default: its end), decoded.
// Errors: the log's, or malformed bytes.
[[nodiscard]] Result<std::vector<ReadBatch>> read_keyed_batches(storage::PartitionLog& log,
                                                                std::optional<Offset> end = {});
[[nodiscard]] std::vector<KeyedRecord> flatten(const std::vector<ReadBatch>& batches);

// What was written: every record at its offset, and the last one per key.
class KeyModel {
 public:
  void append(std::int64_t base_offset, const std::vector<KeyedRecord>& records);
  // The log holds, below `compacted_end`, only records that were written at
  // their offsets, in order, and, for every key whose last record lies below
  // `compacted_end` and is not a tombstone, that record; at and above it,
  // exactly what was written (up to the log's end). "" if so, else what is wrong.
  [[nodiscard]] std::string check(const std::vector<KeyedRecord>& read, Offset compacted_end,
                                  Offset log_end) const;
  // Drops what lies at or after `end` (a crash cut it).
  void truncate(Offset end);
  [[nodiscard]] const std::map<std::int64_t, KeyedRecord>& written() const { return written_; }

 private:
  std::map<std::int64_t, KeyedRecord> written_;  // by offset
};

}  // namespace spate::testing
