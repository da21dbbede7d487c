// SPDX-License-Identifier: Apache-2.0
//
// raft::LogView over a PartitionLog (raft_log.h has the mapping).

#include "spate/cluster/raft_log.h"

#include <algorithm>

#include "spate/common/bytes.h"
#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"
#include "spate/raft/wire.h"

namespace spate::cluster {
namespace {

constexpr std::int16_t kControlAttribute = 0x20;

raft::Index index_of(Offset last) { return last.value() + 1; }
Offset last_of(raft::Index index) { return Offset(index - 1); }

}  // namespace

std::vector<std::byte> make_control_batch(std::int16_t type, std::span<const std::byte> value,
                                          Offset base, Term term) {
  ByteWriter key(4);
  key.write<std::int16_t>(0);  // control key version
  key.write<std::int16_t>(type);
  // No timestamp (-1), as the no-op: retention then ages the segment by the
  // wall time of its appends. A timestamp of 0 read as 1970, so a segment
  // holding only no-ops and a membership change (a reassignment of a
  // partition not yet written to) was rolled and deleted at once, the
  // change with it.
  protocol::BatchBuilder builder(-1);
  builder.add_value(value, key.view());
  auto batch = builder.build();
  // attributes: control; then the CRC over [21, end) again.
  store_be<std::int16_t>(batch.data() + protocol::batch_field::kAttributes, kControlAttribute);
  store_be<std::uint32_t>(batch.data() + protocol::batch_field::kCrc,
                          protocol::compute_batch_crc(batch));
  protocol::set_base_offset(batch, base);
  protocol::set_partition_leader_epoch(batch, static_cast<std::int32_t>(term.value()));
  return batch;
}

std::vector<std::byte> make_noop_batch(Offset base, Term term) {
  namespace f = protocol::batch_field;
  std::vector<std::byte> batch(protocol::kBatchHeaderBytes);
  std::byte* p = batch.data();
  store_be<std::int64_t>(p + f::kBaseOffset, base.value());
  store_be<std::int32_t>(
      p + f::kBatchLength,
      static_cast<std::int32_t>(protocol::kBatchHeaderBytes - protocol::kBatchLogOverheadBytes));
  store_be<std::int32_t>(p + f::kPartitionLeaderEpoch, static_cast<std::int32_t>(term.value()));
  store_be<std::int8_t>(p + f::kMagic, protocol::kMagicV2);
  store_be<std::int16_t>(p + f::kAttributes, 0);
  store_be<std::int32_t>(p + f::kLastOffsetDelta, 0);
  store_be<std::int64_t>(p + f::kBaseTimestamp, -1);  // Kafka's NO_TIMESTAMP
  store_be<std::int64_t>(p + f::kMaxTimestamp, -1);
  store_be<std::int64_t>(p + f::kProducerId, -1);
  store_be<std::int16_t>(p + f::kProducerEpoch, -1);
  store_be<std::int32_t>(p + f::kBaseSequence, -1);
  store_be<std::int32_t>(p + f::kRecordCount, 0);
  store_be<std::uint32_t>(p + f::kCrc, protocol::compute_batch_crc(batch));
  return batch;
}

Result<ControlRecord> read_control_batch(std::span<const std::byte> batch) {
  auto header = protocol::validate_batch(batch, batch.size());
  if (!header) return header.error();
  if (!header->is_control() || header->record_count != 1 ||
      header->compression() != protocol::Compression::none) {
    return Error::malformed("not a one-record uncompressed control batch");
  }
  auto records = protocol::decode_records(batch);
  if (!records) return records.error();
  const auto& r = records->front();
  if (!r.key || r.key->size() < 4) return Error::malformed("control record without a key");
  ControlRecord out;
  out.type = load_be<std::int16_t>(r.key->data() + 2);
  if (r.value) out.value.assign(r.value->begin(), r.value->end());
  return out;
}

PartitionRaftLog::PartitionRaftLog(storage::PartitionLog& log, RaftState state)
    : log_(log), state_(std::move(state)) {}

Status PartitionRaftLog::open() {
  std::vector<raft::Index> kept;
  for (raft::Index i : state_.membership_indexes) {
    if (i < first_index() || i > last_index()) continue;
    auto info = log_.batch_at(last_of(i));
    if (!info) return info.error();
    if (info->last != last_of(i) || !info->control) continue;
    auto read = log_.read(info->base, info->bytes, info->last + 1);
    if (!read) return read.error();
    auto bytes = read->bytes.read_all();
    if (!bytes) return bytes.error();
    auto control = read_control_batch(*bytes);
    if (!control || control->type != kControlMembership) continue;
    // Raft decodes it as it opens: damage is this partition's error, named.
    if (auto m = raft::decode_membership(control->value); !m) {
      return Error::corrupt(fmt::format("{}: the membership entry at offset {} does not decode: {}",
                                        log_.dir().string(), info->base, m.error().detail()));
    }
    raft::Entry e{i, info->term, std::move(control->value), raft::EntryKind::membership, 1};
    memberships_.emplace(i, std::move(e));
    kept.push_back(i);
  }
  state_.membership_indexes = std::move(kept);
  return {};
}

raft::Index PartitionRaftLog::first_index() const {
  // The entry holding the start offset (DeleteRecords may put the start
  // inside a batch; raft's start is always a batch's first offset).
  const Offset start = log_.start_offset();
  if (start >= log_.end_offset()) return log_.end_offset().value() + 1;
  if (!first_ || first_->start != start) {
    auto info = log_.batch_at(start);
    first_ = FirstBatch{start, info ? info->base : start};
  }
  return first_->base.value() + 1;
}

raft::Index PartitionRaftLog::last_index() const { return log_.end_offset().value(); }

const PartitionRaftLog::Boundary* PartitionRaftLog::cached(Offset offset) const {
  if (recent_.empty() || offset < recent_.front().base || offset > recent_.back().last) {
    return nullptr;
  }
  auto it = std::lower_bound(recent_.begin(), recent_.end(), offset,
                             [](const Boundary& b, Offset o) { return b.last < o; });
  return it == recent_.end() ? nullptr : &*it;
}

void PartitionRaftLog::remember(const Boundary& b) {
  if (!recent_.empty() && recent_.back().last + 1 != b.base) recent_.clear();
  recent_.push_back(b);
  if (recent_.size() > kRecentMax) recent_.pop_front();
}

std::optional<PartitionRaftLog::Boundary> PartitionRaftLog::batch_holding(Offset offset) const {
  if (const Boundary* b = cached(offset)) return *b;
  auto info = log_.batch_at(offset);
  if (!info) {
    log::get(log::Module::cluster)
        ->warn("{}: raft cannot read the batch at offset {}: {}", log_.dir().filename().string(),
               offset, info.error());
    return std::nullopt;
  }
  return Boundary{info->base, info->last, info->term};
}

std::optional<PartitionRaftLog::Boundary> PartitionRaftLog::batch_ending_at(Offset last) const {
  auto b = batch_holding(last);
  if (!b || b->last != last) return std::nullopt;
  return b;
}

Term PartitionRaftLog::term(raft::Index index) const {
  if (index == 0) return Term(0);
  if (index == first_index() - 1) {
    if (index == state_.start_index) return state_.start_term;
    // The start moved (retention) after raft.state was written: the first
    // kept batch's term is at least the true one, which costs at most a
    // needless restart of a follower's log, never a wrong match.
    if (index < last_index()) {
      if (auto b = batch_holding(Offset(index))) return b->term;
    } else if (index == last_index()) {
      // Nothing is left after the start (DeleteRecords or retention up to
      // the end): the last batch's term, which the log keeps past the
      // deletion of its batches (term_starts). Never unknown here, or raft
      // would send a term the wire refuses and no election could be won.
      return log_.last_term();
    }
    return Term(-1);
  }
  if (index < first_index() || index > last_index()) return Term(-1);
  auto b = batch_ending_at(last_of(index));
  return b ? b->term : Term(-1);
}

raft::Index PartitionRaftLog::previous_index(raft::Index index) const {
  auto b = batch_holding(last_of(index));
  // Unreadable: the log's start, from where raft probes again.
  if (!b) return first_index() - 1;
  return b->base.value();  // the entry before ends at offset base - 1: index base
}

raft::Entry PartitionRaftLog::to_entry(std::span<const std::byte> batch,
                                       const protocol::BatchHeader& header) const {
  const raft::Index index = index_of(header.last_offset());
  const auto span = static_cast<std::int32_t>(header.last_offset_delta + 1);
  const Term term(header.partition_leader_epoch);
  if (header.is_control()) {
    if (auto m = memberships_.find(index); m != memberships_.end()) return m->second;
    auto control = read_control_batch(batch);
    if (control && control->type == kControlMembership) {
      return raft::Entry{index, term, std::move(control->value), raft::EntryKind::membership, span};
    }
  }
  return raft::Entry{index, term, std::vector<std::byte>(batch.begin(), batch.end()),
                     raft::EntryKind::normal, span};
}

std::vector<raft::Entry> PartitionRaftLog::entries(raft::Index from, raft::Index to,
                                                   std::size_t max_bytes) const {
  std::vector<raft::Entry> out;
  if (from > to || from < first_index() || to > last_index()) return out;
  if (from == to) {
    if (auto m = memberships_.find(from); m != memberships_.end()) return {m->second};
  }
  std::size_t bytes = 0;
  // A read from inside a batch returns all of it; the start offset may lie
  // inside the first batch (DeleteRecords), and reads refuse what is below it.
  Offset next = std::max(last_of(from), log_.start_offset());
  // Bounded: each read moves `next` past at least one batch, or stops.
  while (next <= last_of(to) && (out.empty() || bytes < max_bytes)) {
    auto read = log_.read(next, std::max<std::size_t>(max_bytes - std::min(bytes, max_bytes), 1),
                          last_of(to) + 1);
    if (!read || read->bytes.empty()) break;
    auto data = read->bytes.read_all();
    if (!data) break;
    std::span<const std::byte> rest(*data);
    while (rest.size() >= protocol::kBatchHeaderBytes) {
      auto header = protocol::decode_batch_header(rest, rest.size());
      if (!header || header->total_bytes() > rest.size()) break;
      if (!out.empty() && bytes + header->total_bytes() > max_bytes) return out;
      out.push_back(to_entry(rest.first(header->total_bytes()), *header));
      bytes += header->total_bytes();
      rest = rest.subspan(header->total_bytes());
    }
    if (read->next_offset <= next) break;
    next = read->next_offset;
  }
  return out;
}

std::vector<raft::Index> PartitionRaftLog::membership_indexes() const {
  return state_.membership_indexes;
}

std::optional<raft::Membership> PartitionRaftLog::start_membership() const {
  // The latest recorded entry at or below the start; entries recorded above
  // it are still in the log (a deletion stopped short of them).
  const raft::Index start = first_index() - 1;
  const auto& deleted = state_.deleted_memberships;
  auto it = std::upper_bound(deleted.begin(), deleted.end(), start,
                             [](raft::Index i, const auto& d) { return i < d.first; });
  if (it == deleted.begin()) return state_.start_membership;
  return std::prev(it)->second;
}

std::optional<raft::Index> PartitionRaftLog::first_unrecorded_membership() const {
  const auto& deleted = state_.deleted_memberships;
  auto it = deleted.empty() ? memberships_.begin() : memberships_.upper_bound(deleted.back().first);
  if (it == memberships_.end()) return std::nullopt;
  return it->first;
}

bool PartitionRaftLog::record_memberships_through(raft::Index through) {
  auto& deleted = state_.deleted_memberships;
  bool added = false;
  for (const auto& [index, entry] : memberships_) {
    if (index > through) break;
    if (!deleted.empty() && index <= deleted.back().first) continue;
    // Decoded when the entry was appended (raft) or read (open).
    auto m = raft::decode_membership(entry.data);
    if (!m) continue;
    deleted.emplace_back(index, std::move(*m));
    added = true;
  }
  return added;
}

void PartitionRaftLog::forget_below_start() {
  const raft::Index first = first_index();
  auto& deleted = state_.deleted_memberships;
  auto above = std::upper_bound(deleted.begin(), deleted.end(), first - 1,
                                [](raft::Index i, const auto& d) { return i < d.first; });
  // Above the start: still in the log, recorded again before a deletion.
  deleted.erase(above, deleted.end());
  // Below the latest at or below the start: no start can need them again.
  if (deleted.size() > 1) deleted.erase(deleted.begin(), deleted.end() - 1);
  memberships_.erase(memberships_.begin(), memberships_.lower_bound(first));
  auto& indexes = state_.membership_indexes;
  indexes.erase(indexes.begin(), std::lower_bound(indexes.begin(), indexes.end(), first));
}

std::vector<std::byte> PartitionRaftLog::start_snapshot() const { return state_.start_snapshot; }

Status PartitionRaftLog::append(const raft::Entry& entry, bool own) {
  if (entry.first() != last_index() + 1) {
    return Error::invalid(fmt::format("raft entry {} (span {}) does not follow the log's end {}",
                                      entry.index, entry.span, last_index()));
  }
  const Offset base(entry.first() - 1);
  std::vector<std::byte> control;
  std::span<const std::byte> batch = entry.data;
  if (entry.kind == raft::EntryKind::membership || entry.data.empty()) {
    if (entry.span != 1) return Error::invalid("a no-op or membership entry spans one index");
    control = entry.kind == raft::EntryKind::membership
                  ? make_control_batch(kControlMembership, entry.data, base, entry.term)
                  : make_noop_batch(base, entry.term);
    batch = control;
  }
  auto header = protocol::decode_batch_header(batch, batch.size());
  if (!header) return header.error();
  if (header->base() != base || index_of(header->last_offset()) != entry.index ||
      header->partition_leader_epoch != entry.term.value()) {
    return Error::invalid(fmt::format("raft entry {} term {} holds a batch [{}, {}] of epoch {}",
                                      entry.index, entry.term, header->base(),
                                      header->last_offset(), header->partition_leader_epoch));
  }
  auto appended = log_.append_replicated(batch, own);
  if (!appended) return appended.error();
  remember({header->base(), header->last_offset(), entry.term});
  if (entry.kind == raft::EntryKind::membership) {
    memberships_.emplace(entry.index, entry);
    if (state_.membership_indexes.empty() || state_.membership_indexes.back() < entry.index) {
      state_.membership_indexes.push_back(entry.index);
    }
  }
  return {};
}

Status PartitionRaftLog::truncate_from(raft::Index first) {
  if (auto s = log_.truncate_suffix(last_of(first)); !s) return s;
  while (!recent_.empty() && recent_.back().last >= last_of(first)) recent_.pop_back();
  memberships_.erase(memberships_.lower_bound(first), memberships_.end());
  auto& indexes = state_.membership_indexes;
  indexes.erase(std::lower_bound(indexes.begin(), indexes.end(), first), indexes.end());
  return {};
}

Status PartitionRaftLog::restart(raft::Index index) {
  if (index != state_.start_index) {
    return Error::invalid(
        fmt::format("log restart after {} but raft.state names {}", index, state_.start_index));
  }
  recent_.clear();
  memberships_.clear();
  first_.reset();
  state_.deleted_memberships.clear();
  return log_.restart_at(Offset(index));
}

}  // namespace spate::cluster
