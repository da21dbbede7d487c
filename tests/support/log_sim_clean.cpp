// SPDX-License-Identifier: Apache-2.0
//
// ModelSim on a compacted log (cleanup.policy=compact): keyed batches (some
// compressed, some with tombstones), batches without a key (refused whole),
// and cleaning passes (the real CleanTask, on the same MemFs / FaultyFs)
// among the appends, rolls, retention, truncations, crashes and restarts.
// What a pass may do, as the model sees it:
//  - offsets never change: every record read is the one written there;
//  - at and above the clean point nothing changes (byte for byte);
//  - below it a record may go only if a later record has its key, or it is
//    the last of its key, a tombstone, and delete.retention.ms has passed
//    since it first lay below the clean point; so the last value of every
//    key survives;
//  - after a pass that ran through, a key appears at most once below the
//    clean point;
//  - after an injected fault at any step of a pass, and a crash, the reopened
//    log satisfies the same rules (old segments or new ones, never a mix:
//    a mix shows as a batch twice, a record lost or one changed).

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "spate/common/bytes.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/log_cleaner.h"

#include "support/compaction.h"
#include "support/log_sim.h"

namespace spate::storage::sim {
namespace {

using spate::testing::decode_keyed_batch;
using spate::testing::KeyedRecord;
using spate::testing::ModelBatch;
using spate::testing::ReadBatch;

constexpr protocol::Compression kCodecs[] = {
    protocol::Compression::gzip, protocol::Compression::snappy, protocol::Compression::lz4,
    protocol::Compression::zstd};

struct LogBatch {
  std::vector<std::byte> bytes;
  protocol::BatchHeader header;
};

std::uint32_t crc_of(std::span<const std::byte> batch) {
  return load_be<std::uint32_t>(batch.data() + protocol::batch_field::kCrc);
}

// The whole log, batch by batch, up to its end or a gap that runs to it.
// Bounded: every read moves forward or stops. "" or what went wrong.
std::string read_log(PartitionLog& log, std::vector<LogBatch>& out) {
  const Offset end = log.end_offset();
  for (Offset from = log.start_offset(); from < end;) {
    auto r = log.read(from, 1U << 20U);
    if (!r) return fmt::format("read({}): {}", from, r.error().message());
    auto bytes = r->bytes.read_all();
    if (!bytes) return fmt::format("read({}): {}", from, bytes.error().message());
    std::vector<std::span<const std::byte>> parts;
    if (!spate::testing::split_batches(*bytes, parts)) return "a read returned part of a batch";
    if (parts.empty()) break;  // a gap up to the end: judged by the caller
    for (auto p : parts) {
      auto h = protocol::decode_batch_header(p, 1U << 30U);
      if (!h) return fmt::format("undecodable batch read from {}", from);
      out.push_back({{p.begin(), p.end()}, *h});
    }
    if (r->next_offset <= from) return fmt::format("read({}) made no progress", from);
    from = r->next_offset;
  }
  return {};
}

// What the model holds from the start offset on: every record in offset
// order (pointing into the sim's decoded batches), whether the log still has
// it, the last offset of each key, and the record count of each batch.
struct Written {
  std::vector<const KeyedRecord*> records;
  std::vector<char> present;
  std::unordered_map<std::string_view, std::int64_t> last_of_key;
  std::map<std::int64_t, std::size_t> count;  // by base

  void add(std::int64_t base, const std::vector<KeyedRecord>& batch) {
    count[base] = batch.size();
    for (const auto& r : batch) {
      records.push_back(&r);
      present.push_back(0);
      if (r.key) {
        auto& last = last_of_key[*r.key];
        last = std::max(last, r.offset);
      }
    }
  }
  // The index of the record at `offset`, or records.size().
  std::size_t find(std::int64_t offset) const {
    auto it = std::lower_bound(records.begin(), records.end(), offset,
                               [](const KeyedRecord* r, std::int64_t o) { return r->offset < o; });
    return it != records.end() && (*it)->offset == offset
               ? static_cast<std::size_t>(it - records.begin())
               : records.size();
  }
  // Every record the log no longer has (from `start` on) lies below the
  // clean point and has a later record of its key, or is the last of its
  // key, a tombstone, below the clean point for delete.retention.ms.
  std::string check_removed(std::int64_t start, std::int64_t point, std::int64_t now,
                            std::int64_t retention_ms,
                            const std::map<std::int64_t, std::int64_t>& cleaned_ms) const {
    for (std::size_t i = 0; i < records.size(); ++i) {
      const KeyedRecord& r = *records[i];
      if (r.offset < start || present[i] != 0) continue;
      if (r.offset >= point) {
        return fmt::format("the record at {} above the clean point {} is gone", r.offset, point);
      }
      if (r.key && last_of_key.at(*r.key) > r.offset) continue;  // a later value of its key
      if (!r.key || r.value) {
        return fmt::format("the last value of key {} (offset {}) is gone", r.key.value_or("(none)"),
                           r.offset);
      }
      const auto cleaned = cleaned_ms.find(r.offset);
      if (cleaned == cleaned_ms.end() || now - cleaned->second < retention_ms) {
        return fmt::format("the tombstone of key {} at {} went before delete.retention.ms ({} ms)",
                           *r.key, r.offset, retention_ms);
      }
    }
    return {};
  }
};

// The batches read against the model: each at a base the model has, in
// order, unchanged or (below the clean point only) the same batch with
// fewer records, every record the one written at its offset; after a pass,
// no key twice below the clean point. Marks what is present in `w`.
struct Batches {
  const std::vector<LogBatch>& read;
  Written& w;
  Offset point;
  bool pass_done;
  mutable std::map<std::int64_t, std::size_t> kept;  // records per batch read, by base

  template <class RecordsOf>
  std::string check(const spate::testing::LogModel& model, RecordsOf records_of) const {
    std::int64_t previous_next = -1;
    std::unordered_set<std::string_view> keys_below;
    for (const auto& b : read) {
      const auto& h = b.header;
      const auto* want = model.starting_at(Offset(h.base_offset));
      if (want == nullptr || h.base_offset < previous_next) {
        return fmt::format("the log holds a batch at {} the model does not (or twice)",
                           h.base_offset);
      }
      previous_next = want->next.value();
      std::optional<ReadBatch> changed;
      if (b.bytes != want->bytes) {
        auto e = check_changed(b, *want);
        if (!e.empty()) return e;
        auto d = decode_keyed_batch(b.bytes);
        if (!d) return fmt::format("undecodable batch at {}", h.base_offset);
        changed = std::move(*d);
      }
      const auto& records = changed ? changed->records : *records_of(*want);
      kept[h.base_offset] = records.size();
      for (const auto& r : records) {
        const auto i = w.find(r.offset);
        if (i == w.records.size() || !(*w.records[i] == r)) {
          return fmt::format("offset {} holds a record never written there", r.offset);
        }
        w.present[i] = 1;
        if (pass_done && r.offset < point.value() && r.key &&
            !keys_below.insert(*w.records[i]->key).second) {
          return fmt::format("key {} twice below the clean point {} after a pass", *r.key, point);
        }
      }
    }
    return {};
  }

  std::string check_changed(const LogBatch& b, const spate::testing::ModelBatch& want) const {
    const auto& h = b.header;
    auto m = protocol::decode_batch_header(want.bytes, 1U << 30U);
    if (want.next <= point && m && m->last_offset_delta == h.last_offset_delta &&
        m->attributes == h.attributes && m->producer_id == h.producer_id &&
        m->base_sequence == h.base_sequence) {
      return {};
    }
    return fmt::format("the batch at {} changed (clean point {})", h.base_offset, point);
  }
};

}  // namespace

void ModelSim::setup_compaction() {
  config_.cleanup_compact = true;
  config_.cleanup_delete = rng_.chance(50);  // compact,delete
  config_.delete_retention_ms = rng_.chance(30) ? 0 : rng_.range(1, 1'200'000);
  config_.min_compaction_lag_ms = rng_.chance(70) ? 0 : rng_.range(1, 600'000);
  config_.min_cleanable_dirty_ratio = rng_.chance(50) ? 0.0 : 0.5;
  keys_ = rng_.range(3, 80);
}

std::vector<std::byte> ModelSim::random_keyed_batch() {
  const auto shape = batch_shape(30, 2000);
  std::vector<KeyedRecord> rs;
  for (int i = 0; i < shape.records; ++i) {
    KeyedRecord r;
    r.key = fmt::format("k{}", rng_.uniform(static_cast<std::uint64_t>(keys_)));
    if (!rng_.chance(8)) {
      r.value = fmt::format("{}:{}", i,
                            std::string(rng_.uniform(shape.value_max + 1),
                                        static_cast<char>('a' + rng_.uniform(26))));
    }
    rs.push_back(std::move(r));
  }
  const auto codec = rng_.chance(25) ? kCodecs[rng_.uniform(4)] : protocol::Compression::none;
  return spate::testing::keyed_batch(rs, shape.first_ts, codec);
}

// A batch with one record without a key: refused whole, nothing changes.
void ModelSim::keyless_append() {
  const auto codec = rng_.chance(50) ? kCodecs[rng_.uniform(4)] : protocol::Compression::none;
  auto batch =
      spate::testing::keyed_batch({{-1, "k0", "v"}, {-1, std::nullopt, "no key"}}, ts_, codec);
  const Offset end = log_->end_offset();
  const auto size = log_->size_bytes();
  note(fmt::format("append without a key (codec {})", static_cast<int>(codec)));
  auto r = log_->append(batch, std::max(term_, log_->last_term()));
  if (!check(!r, "a compacted log took a record without a key")) return;
  check(r.error().code() == Errc::invalid_record && !log_->fenced() && log_->end_offset() == end &&
            log_->size_bytes() == size,
        fmt::format("a batch without a key: got {}, end {} -> {}", r.error().message(), end,
                    log_->end_offset()));
}

std::vector<Offset> ModelSim::truncation_targets(Offset start) const {
  auto targets = model_.boundaries_from(start);
  if (!compact_) return targets;
  std::erase_if(targets, [&](Offset o) { return o < committed_; });
  if (targets.empty()) targets.push_back(model_.end());
  return targets;
}

// A pass that ran through may have swallowed only a failed open of a
// segment's file while choosing what to clean (no pass then; the next tick
// retries). Nothing else: a failed write, sync or rename must fail the pass.
bool ModelSim::clean_tolerated(const std::vector<FaultyFs::Fired>& fired, bool ran) {
  return !ran && std::all_of(fired.begin(), fired.end(), [](const FaultyFs::Fired& f) {
    return f.op == FaultOp::open && f.path.extension() == ".log";
  });
}

void ModelSim::clean() {
  const Offset end = log_->end_offset();
  // Raft commits a prefix: mostly all of it, sometimes less.
  if (committed_ < end) {
    committed_ = rng_.chance(70) ? end : committed_ + rng_.range(0, end - committed_);
  }
  const bool force = rng_.chance(60);
  note(fmt::format("clean committed={} force={} (clean point {})", committed_, force,
                   log_->clean_point()));
  auto r = log_->clean(committed_, force);
  if (!r) return on_clean_error(r.error());
  if (faults_ && fault_fired()) {
    const auto fired = faulty_.take_fired();
    if (!check(clean_tolerated(fired, r->has_value()),
               fmt::format("a pass swallowed an injected fault: errno {} on {}",
                           fired.empty() ? 0 : fired.front().err,
                           fired.empty() ? "?" : fired.front().path.string()))) {
      return;
    }
    plan_pending_ = false;
  }
  if (!r->has_value()) return note("  nothing due");
  ++stats_.passes;
  const CleanStats& st = **r;
  stats_.tombstones_removed += st.tombstones_removed;
  note(fmt::format("  records {} -> {}, tombstones removed {}, clean point {}", st.records_read,
                   st.records_kept, st.tombstones_removed, st.clean_point));
  verify_compaction("clean", true);
}

// A failed pass: before its commit point the old segments hold and the log
// goes on; after it (the swap broke), the log fences and a restart finishes
// the swap.
void ModelSim::on_clean_error(const Error& e) {
  note(fmt::format("  -> {}", e.message()));
  if (!faults_ || !fault_fired()) {
    fail(fmt::format("clean failed without an injected fault: {}", e.message()));
    return;
  }
  if (e.code() != Errc::io_error && e.code() != Errc::no_space) {
    fail(fmt::format("clean failed with {} for an injected errno", e.message()));
    return;
  }
  (void)faulty_.take_fired();
  faulty_.clear();
  plan_pending_ = false;
  ++stats_.passes_failed;
  if (!log_->fenced()) {
    if (!check(log_->writable(), "a failed pass left the log refusing writes")) return;
    verify_compaction("after a failed pass", false);
    if (!failure_.empty() || !rng_.chance(30)) return;
    return crash(rng_.uniform(2));  // and then the power went
  }
  if (rng_.chance(50)) return crash(rng_.uniform(2));
  note("process restart");
  log_.reset();
  if (reopen()) verify_after_reopen("restart after a failed pass", false);
}

const std::vector<KeyedRecord>* ModelSim::records_of(const spate::testing::ModelBatch& b) {
  auto& d = decoded_[b.base.value()];
  if (d.size == b.bytes.size() && d.crc == crc_of(b.bytes)) return &d.records;
  auto read = decode_keyed_batch(b.bytes);
  if (!read) return nullptr;
  d = {b.bytes.size(), crc_of(b.bytes), std::move(read->records)};
  return &d.records;
}

void ModelSim::verify_compaction(const char* why, bool pass_done) {
  faulty_.clear();  // the reads here run without faults
  plan_pending_ = false;
  const Offset start = log_->start_offset();
  std::vector<LogBatch> read;
  if (auto e = read_log(*log_, read); !e.empty()) return (void)fail(fmt::format("{}: {}", why, e));
  Written w;
  for (const auto& b : model_.batches()) {
    if (b.next <= start) continue;
    const auto* records = records_of(b);
    if (!check(records != nullptr, "the model holds an undecodable batch")) return;
    w.add(b.base.value(), *records);
  }
  const Batches kept = {read, w, log_->clean_point(), pass_done, {}};
  std::string e = kept.check(model_, [&](const ModelBatch& b) { return records_of(b); });
  if (e.empty()) {
    e = w.check_removed(start.value(), log_->clean_point().value(), clock_.wall_ms(),
                        config_.delete_retention_ms, tombstone_cleaned_ms_);
  }
  if (!e.empty()) return (void)fail(fmt::format("{}: {}", why, e));
  // Tombstones now below the clean point start their delete.retention.ms.
  for (std::size_t i = 0; i < w.records.size(); ++i) {
    const KeyedRecord& r = *w.records[i];
    if (r.offset >= log_->clean_point().value()) break;
    if (!r.value && w.present[i] != 0)
      tombstone_cleaned_ms_.try_emplace(r.offset, clock_.wall_ms());
  }
  // The model becomes what the log holds (its bytes below the clean point).
  std::set<std::int64_t> bases;
  for (const auto& b : read) {
    const auto base = b.header.base_offset;
    bases.insert(base);
    stats_.records_removed += w.count[base] - kept.kept.at(base);
    model_.replace(Offset(base), b.bytes);
  }
  std::vector<Offset> gone;
  for (const auto& b : model_.batches()) {
    if (b.next > start && !bases.contains(b.base.value())) gone.push_back(b.base);
  }
  for (auto base : gone) {
    stats_.records_removed += w.count[base.value()];
    model_.erase(base);
  }
}

}  // namespace spate::storage::sim
