// SPDX-License-Identifier: Apache-2.0
//
// What Kafka clients see of a Raft partition (partition.h): leader epochs for
// OffsetForLeaderEpoch and ListOffsets, and reads without Raft's membership
// entries.

#include <algorithm>

#include "spate/cluster/partition.h"
#include "spate/protocol/record_batch.h"

namespace spate::cluster {

namespace {

// Terms, from the last, whose committed part is a lone record-less batch
// that client_high_watermark() looks past: a few failovers with no write
// in between; more are shown.
constexpr int kTrailingNoopsMax = 16;

// The batch at `start` holds no record (a leader's no-op).
bool record_less_batch_at(storage::PartitionLog& log, Offset start, Offset limit) {
  auto r = log.read(start, 1, limit);
  if (!r || r->bytes.size == 0) return false;
  auto bytes = r->bytes.read_all();
  if (!bytes) return false;
  auto header = protocol::decode_batch_header(*bytes, bytes->size());
  return header && header->record_count == 0 && header->base() == start;
}

}  // namespace

Offset Partition::client_high_watermark() const {
  const Offset hw = high_watermark();
  if (closed_) return hw;
  const auto terms = log_->term_starts();
  Offset end = hw;
  int hidden = 0;
  // Bounded by the terms and kTrailingNoopsMax. A term whose committed part
  // is one offset holds its leader's no-op there, unless this was a group
  // of one (whose terms start with records, never hidden). The last term's
  // answer is kept (tail_noop_), as every Fetch asks; earlier ones are read
  // only while the last one is hidden (a batch that short is small).
  for (auto it = terms.rbegin(); it != terms.rend() && hidden < kTrailingNoopsMax; ++it) {
    if (it->start >= end) continue;  // nothing of this term committed
    if (it->start + 1 != end) break;
    bool empty = false;
    if (it == terms.rbegin()) {
      if (!tail_noop_ || std::get<0>(*tail_noop_) != it->term ||
          std::get<1>(*tail_noop_) != it->start) {
        tail_noop_ =
            std::make_tuple(it->term, it->start, record_less_batch_at(*log_, it->start, hw));
      }
      empty = std::get<2>(*tail_noop_);
    } else {
      empty = record_less_batch_at(*log_, it->start, hw);
    }
    if (!empty) break;
    end = it->start;
    ++hidden;
  }
  return end;
}

Result<ClientRead> Partition::read_for_client(Offset from, std::uint64_t bytes_max) {
  auto read = this->read(from, bytes_max);
  if (!read) return read.error();
  if (const Offset visible = client_high_watermark(); read->next_offset > visible) {
    // The read ends with trailing no-ops (client_high_watermark): nothing,
    // if they are all the read holds, else the rest.
    if (from >= visible) return ClientRead{{}, {}, from};
    read = log_->read(from, bytes_max, visible);
    if (!read) return read.error();
  }
  ClientRead out{read->bytes, {}, read->next_offset};
  if (read->bytes.empty()) return out;
  // A membership entry is one offset: index i is offset i - 1. Ascending;
  // every membership batch in the log is named (raft.state is written
  // before one is appended), so a read without one is sent as it is.
  const auto indexes = view_->membership_indexes();
  auto first = std::upper_bound(indexes.begin(), indexes.end(), from.value());
  if (first == indexes.end() || Offset(*first - 1) >= read->next_offset) return out;
  // Rare (a membership change): the read is copied, each membership batch
  // replaced by an empty batch of its offset and epoch (the client moves
  // past it as past a new leader's no-op), the batches around it kept.
  auto bytes = read->bytes.read_all();
  if (!bytes) return bytes.error();
  std::span<const std::byte> rest(*bytes);
  out.substitute.reserve(bytes->size());
  // Bounded: each pass consumes one whole batch of the read.
  while (!rest.empty()) {
    auto header = protocol::decode_batch_header(rest, rest.size());
    if (!header || header->total_bytes() > rest.size()) {
      return Error::corrupt(
          fmt::format("partition {}: the read from {} does not hold whole "
                      "batches",
                      id_.dir_name(), from));
    }
    const auto batch = rest.first(header->total_bytes());
    rest = rest.subspan(header->total_bytes());
    const raft::Index index = header->last_offset().value() + 1;
    if (header->is_control() && header->base() == header->last_offset() &&
        std::binary_search(first, indexes.end(), index)) {
      const auto noop = make_noop_batch(header->base(), Term(header->partition_leader_epoch));
      out.substitute.insert(out.substitute.end(), noop.begin(), noop.end());
    } else {
      out.substitute.insert(out.substitute.end(), batch.begin(), batch.end());
    }
  }
  out.bytes = {};
  return out;
}

Result<EpochEnd> Partition::end_offset_for_epoch(std::int64_t epoch) const {
  if (closed_) {
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  }
  if (!serving_reads()) {
    return Error(Errc::not_leader,
                 fmt::format("partition {}: this replica is not its leader", id_.dir_name()));
  }
  return epoch_end_offset(log_->term_starts(), log_->start_offset(), log_->end_offset(),
                          replica_->term(), epoch);
}

std::optional<Term> Partition::epoch_at(Offset offset) const {
  if (closed_) return std::nullopt;
  auto term = log_->term_at(offset);
  if (!term) return std::nullopt;
  return *term;
}

}  // namespace spate::cluster
