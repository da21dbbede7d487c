// SPDX-License-Identifier: Apache-2.0
//
// ProducerState: Kafka's sequence rules for idempotent producers
// (ProducerAppendInfo.checkProducerEpoch / checkSequence, ProducerStateEntry
// .findDuplicateBatch) and the snapshot body.

#include "spate/storage/producer_state.h"

#include <algorithm>
#include <limits>

#include "spate/common/bytes.h"

namespace spate::storage {
namespace {

constexpr std::int32_t kSequenceMax = std::numeric_limits<std::int32_t>::max();

bool in_sequence(std::int32_t last_seq, std::int32_t next_seq) {
  return static_cast<std::int64_t>(next_seq) == static_cast<std::int64_t>(last_seq) + 1 ||
         (next_seq == 0 && last_seq == kSequenceMax);
}

// Bytes of one entry in the snapshot body before its batches, and per batch.
constexpr std::size_t kEntryBytes = 8 + 2 + 8 + 1;
constexpr std::size_t kBatchBytes = 4 + 4 + 8 + 8 + 8;

}  // namespace

std::int32_t increment_sequence(std::int32_t seq, std::int32_t delta) {
  if (delta < 0) return seq;  // not a batch a producer sends; validation refuses it
  if (seq > kSequenceMax - delta) return delta - (kSequenceMax - seq) - 1;
  return seq + delta;
}

const ProducerEntry* ProducerState::find(std::int64_t id) const {
  auto it = producers_.find(id);
  return it == producers_.end() ? nullptr : &it->second;
}

Result<std::optional<ProducerBatch>> ProducerState::check(std::int64_t id, std::int16_t epoch,
                                                          std::int32_t first_seq,
                                                          std::int32_t last_seq) const {
  const ProducerEntry* entry = find(id);
  if (entry == nullptr) return std::optional<ProducerBatch>{};  // unknown: any sequence
  if (epoch == entry->epoch) {
    for (const auto& b : entry->batches) {
      if (b.first_seq == first_seq && b.last_seq == last_seq) return std::optional(b);
    }
  }
  if (epoch < entry->epoch) {
    return Error(Errc::invalid_producer_epoch,
                 fmt::format("producer {} epoch {} is older than its current epoch {}", id, epoch,
                             entry->epoch));
  }
  if (epoch != entry->epoch) {
    if (first_seq != 0 && entry->epoch != kNoProducerEpoch) {
      return Error(Errc::out_of_order_sequence,
                   fmt::format("producer {} new epoch {} starts at sequence {}, not 0", id, epoch,
                               first_seq));
    }
    return std::optional<ProducerBatch>{};
  }
  if (entry->batches.empty()) {
    if (first_seq == 0) return std::optional<ProducerBatch>{};
    return Error(Errc::out_of_order_sequence,
                 fmt::format("producer {} epoch {}: sequence {} with no batch before it", id, epoch,
                             first_seq));
  }
  const std::int32_t last = entry->batches.back().last_seq;
  if (!in_sequence(last, first_seq)) {
    return Error(Errc::out_of_order_sequence,
                 fmt::format("producer {} epoch {}: sequence {} does not follow {}", id, epoch,
                             first_seq, last));
  }
  return std::optional<ProducerBatch>{};
}

void ProducerState::record(std::int64_t id, std::int16_t epoch, const ProducerBatch& batch,
                           std::int64_t now_ms) {
  if (!producers_.contains(id)) make_room(now_ms);
  ProducerEntry& entry = producers_[id];
  if (entry.epoch != epoch) {
    entry.batches.clear();
    entry.epoch = epoch;
  }
  if (entry.batches.size() >= kProducerBatchesKept) {
    entry.batches.erase(entry.batches.begin(), entry.batches.end() - static_cast<std::ptrdiff_t>(
                                                                         kProducerBatchesKept - 1));
  }
  if (entry.batches.capacity() < kProducerBatchesKept) entry.batches.reserve(kProducerBatchesKept);
  entry.batches.push_back(batch);
  entry.last_timestamp = std::max(entry.last_timestamp, now_ms);
  end_offset_ = std::max(end_offset_, batch.last_offset + 1);
  dirty_ = true;
}

void ProducerState::make_room(std::int64_t now_ms) {
  if (limits_.producers_max == 0) return;
  if (producers_.size() < limits_.producers_max) return;
  (void)expire(now_ms);
  while (producers_.size() >= limits_.producers_max) {
    auto oldest = producers_.begin();
    for (auto it = producers_.begin(); it != producers_.end(); ++it) {
      if (it->second.last_timestamp < oldest->second.last_timestamp ||
          (it->second.last_timestamp == oldest->second.last_timestamp &&
           it->first < oldest->first)) {
        oldest = it;
      }
    }
    producers_.erase(oldest);
    dirty_ = true;
  }
}

std::size_t ProducerState::expire(std::int64_t now_ms) {
  const std::size_t before = producers_.size();
  std::erase_if(producers_, [&](const auto& p) {
    return now_ms - p.second.last_timestamp >= limits_.expiration_ms;
  });
  const std::size_t gone = before - producers_.size();
  if (gone > 0) dirty_ = true;
  return gone;
}

void ProducerState::truncate_from(Offset end) {
  for (auto it = producers_.begin(); it != producers_.end();) {
    auto& batches = it->second.batches;
    while (!batches.empty() && batches.back().last_offset >= end) batches.pop_back();
    if (batches.empty()) {
      it = producers_.erase(it);
    } else {
      ++it;
    }
  }
  end_offset_ = std::min(end_offset_, end);
  dirty_ = true;
}

// Body: reserved u16, end offset i64, count u32, then per producer (by id):
// id i64, epoch i16, last timestamp i64, batch count u8, and per batch first
// seq i32, last seq i32, first offset i64, last offset i64, max timestamp i64.
std::vector<std::byte> ProducerState::encode() const {
  std::vector<std::int64_t> ids;
  ids.reserve(producers_.size());
  for (const auto& p : producers_) ids.push_back(p.first);
  std::sort(ids.begin(), ids.end());
  ByteWriter out(14 + producers_.size() * (kEntryBytes + kBatchBytes));
  out.write<std::uint16_t>(0);
  out.write<std::int64_t>(end_offset_.value());
  out.write<std::uint32_t>(static_cast<std::uint32_t>(ids.size()));
  for (auto id : ids) {
    const auto& e = producers_.at(id);
    out.write<std::int64_t>(id);
    out.write<std::int16_t>(e.epoch);
    out.write<std::int64_t>(e.last_timestamp);
    out.write<std::uint8_t>(static_cast<std::uint8_t>(e.batches.size()));
    for (const auto& b : e.batches) {
      out.write<std::int32_t>(b.first_seq);
      out.write<std::int32_t>(b.last_seq);
      out.write<std::int64_t>(b.first_offset.value());
      out.write<std::int64_t>(b.last_offset.value());
      out.write<std::int64_t>(b.max_timestamp);
    }
  }
  return out.release();
}

namespace {

Result<ProducerBatch> decode_batch(ByteReader& in) {
  ProducerBatch b;
  auto first_seq = in.read<std::int32_t>();
  auto last_seq = in.read<std::int32_t>();
  auto first = in.read<std::int64_t>();
  auto last = in.read<std::int64_t>();
  auto ts = in.read<std::int64_t>();
  if (!first_seq || !last_seq || !first || !last || !ts) {
    return Error::corrupt("producer snapshot: truncated batch");
  }
  if (*first < 0 || *last < *first) {
    return Error::corrupt(fmt::format("producer snapshot: batch offsets {}..{}", *first, *last));
  }
  b.first_seq = *first_seq;
  b.last_seq = *last_seq;
  b.first_offset = Offset(*first);
  b.last_offset = Offset(*last);
  b.max_timestamp = *ts;
  return b;
}

}  // namespace

Result<ProducerState> ProducerState::decode(std::span<const std::byte> body,
                                            ProducerStateLimits limits) {
  ByteReader in(body);
  auto reserved = in.read<std::uint16_t>();
  auto end = in.read<std::int64_t>();
  auto count = in.read<std::uint32_t>();
  if (!reserved || !end || !count) return Error::corrupt("producer snapshot: truncated header");
  if (*reserved != 0 || *end < 0) return Error::corrupt("producer snapshot: bad header");
  if (*count > limits.producers_max || *count > in.remaining() / kEntryBytes) {
    return Error::corrupt(
        fmt::format("producer snapshot: {} producers in {} bytes", *count, in.remaining()));
  }
  ProducerState state(limits);
  state.end_offset_ = Offset(*end);
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto id = in.read<std::int64_t>();
    auto epoch = in.read<std::int16_t>();
    auto ts = in.read<std::int64_t>();
    auto n = in.read<std::uint8_t>();
    if (!id || !epoch || !ts || !n) return Error::corrupt("producer snapshot: truncated entry");
    // Activity times start at 0 and only grow (record()); a negative one would
    // overflow expire()'s now - last.
    if (*id < 0 || *ts < 0 || *n == 0 || *n > kProducerBatchesKept ||
        state.producers_.contains(*id)) {
      return Error::corrupt(fmt::format("producer snapshot: bad entry for producer {}", *id));
    }
    ProducerEntry entry{.epoch = *epoch, .last_timestamp = *ts, .batches = {}};
    entry.batches.reserve(*n);
    for (std::uint8_t j = 0; j < *n; ++j) {
      auto b = decode_batch(in);
      if (!b) return b.error();
      if (b->last_offset >= state.end_offset_) {
        return Error::corrupt("producer snapshot: a batch past the snapshot's end");
      }
      entry.batches.push_back(*b);
    }
    state.producers_.emplace(*id, std::move(entry));
  }
  if (!in.empty()) return Error::corrupt("producer snapshot: bytes after the last entry");
  return state;
}

}  // namespace spate::storage
