// SPDX-License-Identifier: Apache-2.0
//
// What Kafka clients see of a Raft partition (partition.h): leader epochs for
// OffsetForLeaderEpoch and ListOffsets, and reads without Raft's membership
// entries.

#include <algorithm>
#include <array>
#include <optional>

#include "spate/cluster/partition.h"
#include "spate/protocol/record_batch.h"

namespace spate::cluster {

namespace {

// Trailing batches without records for clients (no-ops, membership
// entries) that client_high_watermark() looks past: a few failovers or
// membership changes with no write in between; more are shown.
constexpr int kTrailingEmptyMax = 16;

// Whether the batch at `start` holds no record (a leader's no-op); nothing
// when it could not be read (an I/O error, or the batch was deleted by
// retention meanwhile): then the batch is shown, and looked at again next
// time. Reads its header only: a term's first batch may be large.
std::optional<bool> record_less_batch_at(storage::PartitionLog& log, Offset start, Offset limit) {
  auto r = log.read(start, 1, limit);
  if (!r || r->bytes.empty()) return std::nullopt;
  if (r->bytes.size < protocol::kBatchHeaderBytes) return false;
  std::array<std::byte, protocol::kBatchHeaderBytes> header_bytes{};
  auto got = r->bytes.file->read_at(r->bytes.position, header_bytes);
  if (!got || *got != header_bytes.size()) return std::nullopt;
  auto header = protocol::decode_batch_header(header_bytes, r->bytes.size);
  return header && header->record_count == 0 && header->base() == start;
}

}  // namespace

bool Partition::record_less_term_start(Term term, Offset start, Offset limit) const {
  for (const auto& c : noop_checks_) {
    if (c.term == term && c.start == start) return c.record_less;
  }
  const auto record_less = record_less_batch_at(*log_, start, limit);
  if (!record_less) return false;
  NoopCheck& c = noop_checks_[noop_checks_next_];
  noop_checks_next_ = (noop_checks_next_ + 1) % kNoopChecks;
  c = NoopCheck{term, start, *record_less};
  return c.record_less;
}

Offset Partition::client_high_watermark() const {
  const Offset hw = high_watermark();
  if (closed_ || !view_) return hw;
  const auto terms = log_->term_starts();
  // Ascending; offset i - 1 holds the membership entry of index i.
  const auto& memberships = view_->state().membership_indexes;
  auto term = terms.rbegin();
  auto membership = memberships.rbegin();
  Offset end = hw;
  // Bounded by kTrailingEmptyMax; each pass looks at the batch ending at
  // end - 1, which is whole (the high watermark is at a batch's end).
  for (int hidden = 0; hidden < kTrailingEmptyMax && end > log_->start_offset(); ++hidden) {
    const Offset last = end - 1;
    while (membership != memberships.rend() && *membership > end.value()) ++membership;
    if (membership != memberships.rend() && *membership == end.value()) {
      end = last;  // a membership entry
      continue;
    }
    // A term whose committed part is one offset holds its leader's no-op
    // there, unless this was a group of one (whose terms start with
    // records, never hidden).
    while (term != terms.rend() && term->start > last) ++term;
    if (term == terms.rend() || term->start != last ||
        !record_less_term_start(term->term, last, hw)) {
      break;
    }
    end = last;
  }
  return end;
}

Result<ClientRead> Partition::read_for_client(Offset from, std::uint64_t bytes_max) {
  auto read = this->read(from, bytes_max);
  if (!read) return read.error();
  if (const Offset visible = client_high_watermark(); read->next_offset > visible) {
    // The read ends with trailing no-ops or membership entries
    // (client_high_watermark): nothing, if they are all the read holds,
    // else the rest.
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
