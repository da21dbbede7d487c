// SPDX-License-Identifier: Apache-2.0

#include "support/compaction.h"

#include <set>

#include <fmt/format.h>

#include "spate/common/bytes.h"
#include "spate/protocol/compression.h"

#include "support/batches.h"

namespace spate::testing {
namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  auto b = std::as_bytes(std::span<const char>(s.data(), s.size()));
  return {b.begin(), b.end()};
}

std::string string_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

std::vector<std::byte> keyed_batch(const std::vector<KeyedRecord>& records, std::int64_t ts,
                                   protocol::Compression codec, std::int64_t producer_id,
                                   std::int32_t base_sequence) {
  protocol::BatchBuilder builder(ts);
  for (std::size_t i = 0; i < records.size(); ++i) {
    protocol::RecordSpec spec;
    if (records[i].key) spec.key = bytes_of(*records[i].key);
    if (records[i].value) spec.value = bytes_of(*records[i].value);
    spec.timestamp = ts + static_cast<std::int64_t>(i);
    builder.add(spec);
  }
  auto batch = builder.build();
  if (codec != protocol::Compression::none) {
    auto packed = protocol::compress_batch(batch, codec);
    if (packed) batch = std::move(*packed);
  }
  if (producer_id >= 0) {
    store_be<std::int64_t>(batch.data() + 43, producer_id);
    store_be<std::int16_t>(batch.data() + 51, 0);
    store_be<std::int32_t>(batch.data() + 53, base_sequence);
    store_be<std::uint32_t>(batch.data() + 17, protocol::compute_batch_crc(batch));
  }
  return batch;
}

Result<ReadBatch> decode_keyed_batch(std::span<const std::byte> b) {
  auto header = protocol::decode_batch_header(b, 1 << 30);
  if (!header) return header.error();
  std::vector<std::byte> records(b.begin() + protocol::kBatchHeaderBytes, b.end());
  if (header->compression() != protocol::Compression::none) {
    auto plain = protocol::batch_records(b, 1 << 28);
    if (!plain) return plain.error();
    records = std::move(*plain);
  }
  auto views = protocol::decode_record_section(*header, records);
  if (!views) return views.error();
  ReadBatch rb{*header, {}};
  for (const auto& v : *views) {
    KeyedRecord k;
    k.offset = v.offset;
    if (v.key) k.key = string_of(*v.key);
    if (v.value) k.value = string_of(*v.value);
    rb.records.push_back(k);
  }
  return rb;
}

Result<std::vector<ReadBatch>> read_keyed_batches(storage::PartitionLog& log,
                                                  std::optional<Offset> end) {
  std::vector<ReadBatch> out;
  Offset from = log.start_offset();
  const Offset stop = end.value_or(log.end_offset());
  // Bounded: every read moves forward or ends the loop.
  for (int guard = 0; from < stop && guard < 1'000'000; ++guard) {
    auto r = log.read(from, 1 << 20, stop);
    if (!r) return r.error();
    if (r->bytes.size == 0) break;
    auto bytes = r->bytes.read_all();
    if (!bytes) return bytes.error();
    std::vector<std::span<const std::byte>> batches;
    if (!split_batches(*bytes, batches)) return Error::malformed("read did not end at a batch");
    for (auto b : batches) {
      auto rb = decode_keyed_batch(b);
      if (!rb) return rb.error();
      out.push_back(std::move(*rb));
    }
    if (r->next_offset <= from) break;
    from = r->next_offset;
  }
  return out;
}

std::vector<KeyedRecord> flatten(const std::vector<ReadBatch>& batches) {
  std::vector<KeyedRecord> out;
  for (const auto& b : batches) out.insert(out.end(), b.records.begin(), b.records.end());
  return out;
}

void KeyModel::append(std::int64_t base_offset, const std::vector<KeyedRecord>& records) {
  for (std::size_t i = 0; i < records.size(); ++i) {
    KeyedRecord r = records[i];
    r.offset = base_offset + static_cast<std::int64_t>(i);
    written_[r.offset] = r;
  }
}

void KeyModel::truncate(Offset end) {
  written_.erase(written_.lower_bound(end.value()), written_.end());
}

std::string KeyModel::check(const std::vector<KeyedRecord>& read, Offset compacted_end,
                            Offset log_end) const {
  std::int64_t previous = -1;
  std::set<std::int64_t> present;
  std::set<std::string> keys_present;
  for (const auto& r : read) {
    if (r.offset <= previous) return fmt::format("offset {} after {}", r.offset, previous);
    previous = r.offset;
    auto it = written_.find(r.offset);
    if (it == written_.end() || !(it->second == r)) {
      return fmt::format("offset {} holds a record that was never written there", r.offset);
    }
    present.insert(r.offset);
    if (r.key) keys_present.insert(*r.key);
  }
  std::map<std::string, const KeyedRecord*> last;
  for (const auto& [offset, r] : written_) {
    if (offset >= log_end.value()) break;
    if (offset >= compacted_end.value() || !r.key) {
      if (!present.contains(offset)) {
        return fmt::format("record at {} ({}) is missing", offset,
                           r.key ? "above the compacted part" : "keyless");
      }
    }
    if (r.key) last[*r.key] = &r;
  }
  for (const auto& [key, r] : last) {
    if (r->offset >= compacted_end.value()) continue;
    if (r->value && !present.contains(r->offset)) {
      return fmt::format("the last value of key {} (offset {}) is missing", key, r->offset);
    }
    if (!r->value && !present.contains(r->offset) && keys_present.contains(key)) {
      return fmt::format("key {} was deleted, its tombstone removed, but an older value is back",
                         key);
    }
  }
  return "";
}

}  // namespace spate::testing
