// SPDX-License-Identifier: Apache-2.0
//
// ModelSim: the random operations on the log and what is checked after each.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"

#include "support/batches.h"
#include "support/log_sim.h"

namespace spate::storage::sim {

using spate::testing::compare_with_model;
using spate::testing::make_varied_batch;
using spate::testing::split_batches;
using spate::testing::unexpected_files;

// ------------------------------------------------------------ operations
void ModelSim::one_step() {
  if (compact_ && rng_.chance(8)) return clean();
  if (compact_ && rng_.chance(1)) return keyless_append();
  const auto dice = rng_.uniform(1000);
  if (dice < 340) return append();
  if (dice < 360) return bad_append();
  if (dice < 500) return read();
  if (dice < 580) return flush();
  if (dice < 640) return ticket_flush();
  if (dice < 680) return truncate();
  if (dice < 710) return roll();
  if (dice < 730) return age();
  if (dice < 760) return advance_start();
  if (dice < 800) return retention();
  if (dice < 840) return time_lookup();
  if (dice < 870) return terms();
  if (dice < 920) return crash(rng_.uniform(2));
  if (dice < 960) return clean_reopen();
  return unclean_reopen();
}

ModelSim::BatchShape ModelSim::batch_shape(std::uint64_t records_max, std::size_t largest) {
  BatchShape shape;
  shape.records = 1 + static_cast<int>(rng_.uniform(records_max));
  const auto size_class = rng_.uniform(100);
  shape.value_max = size_class < 70 ? 40 : size_class < 95 ? 400 : largest;
  ts_ = std::max(ts_, clock_.wall_ms());
  // CreateTime is the client's: now and then a batch from the past.
  shape.first_ts = rng_.chance(10) ? ts_ - rng_.range(1, 5000) : ts_;
  ts_ += shape.records;
  return shape;
}

std::vector<std::byte> ModelSim::random_batch() {
  if (compact_) return random_keyed_batch();
  const auto shape = batch_shape(50, 3000);
  return make_varied_batch(rng_, shape.records, shape.value_max, shape.first_ts);
}

void ModelSim::append() {
  if (rng_.chance(8)) term_ = term_ + rng_.range(1, 3);
  term_ = std::max(term_, log_->last_term());
  auto batch = random_batch();
  const auto sent = batch;
  const Offset at = log_->end_offset();
  note(fmt::format("append records={} bytes={} term={} at={}",
                   spate::testing::batch_record_count(sent), sent.size(), term_, at));
  auto r = log_->append(batch, term_);
  if (!r) {
    // It may have reached the file whole before failing: maybe kept.
    model_.append(sent, at, term_);
    return on_error(r.error(), "append", Kind::write);
  }
  after_success("append", Kind::write);
  ++stats_.appends;
  const Offset last = at + (spate::testing::batch_record_count(sent) - 1);
  if (!check(r->base_offset == model_.end() && r->last_offset == last,
             fmt::format("append landed at [{}, {}], expected [{}, {}]", r->base_offset,
                         r->last_offset, model_.end(), last))) {
    return;
  }
  model_.append(sent, r->base_offset, term_);
}

// A batch the log must refuse without changing anything.
void ModelSim::bad_append() {
  auto batch = random_batch();
  Errc want = Errc::crc_mismatch;
  Term term = term_;
  const auto how = rng_.uniform(3);
  if (how == 0) {
    batch[batch.size() - 1 - rng_.uniform(batch.size() - protocol::kBatchHeaderBytes)] ^=
        std::byte{0x10};
  } else if (how == 1) {
    batch[protocol::batch_field::kMagic] = std::byte{1};
    want = Errc::unsupported_format;
  } else {
    if (log_->last_term() == Term(0)) return;
    term = log_->last_term() - 1;
    want = Errc::invalid_argument;
  }
  note(fmt::format("bad append how={} term={}", how, term));
  const Offset end = log_->end_offset();
  const auto size = log_->size_bytes();
  auto r = log_->append(batch, term);
  if (!check(!r, "a bad batch was accepted")) return;
  check(r.error().code() == want && !log_->fenced() && log_->end_offset() == end &&
            log_->size_bytes() == size,
        fmt::format("bad batch: got {}, fenced={}, end {} -> {}", r.error().message(),
                    log_->fenced(), end, log_->end_offset()));
}

void ModelSim::read() {
  const Offset start = log_->start_offset();
  const Offset end = log_->end_offset();
  const Offset from = rng_.chance(10) ? end : start + rng_.range(0, end - start);
  const std::uint64_t choices[] = {0, 1, rng_.uniform(5000), rng_.uniform(100'000), 1U << 20U};
  const std::uint64_t bytes_max = choices[rng_.uniform(5)];
  std::optional<Offset> limit;
  if (rng_.chance(20)) limit = from + rng_.range(0, end - from + 3);
  note(fmt::format("read from={} bytes_max={} end={}", from, bytes_max,
                   limit ? limit->value() : -1));
  auto r = log_->read(from, bytes_max, limit);
  if (!r) return on_error(r.error(), "read", Kind::read);
  auto bytes = r->bytes.read_all();
  if (!bytes) return on_error(bytes.error(), "read_all", Kind::read);
  after_success("read", Kind::read);
  std::vector<std::span<const std::byte>> parts;
  if (!check(split_batches(*bytes, parts), "read returned a partial batch")) return;
  const Offset stop = limit ? std::min(*limit, end) : end;
  const auto* first = model_.at_or_after(from);
  if (from >= stop || first == nullptr || first->next > stop) {
    check(parts.empty() && r->next_offset <= std::max(from, stop),
          fmt::format("read from {} up to {} returned {} batches, next {}", from, stop,
                      parts.size(), r->next_offset));
    return;
  }
  if (!check(!parts.empty(), fmt::format("read from {} < {} returned nothing", from, stop))) {
    return;
  }
  if (!check(parts.size() == 1 || bytes->size() <= bytes_max,
             fmt::format("read returned {} bytes in {} batches over bytes_max {}", bytes->size(),
                         parts.size(), bytes_max))) {
    return;
  }
  const auto* want = first;
  Offset next = from;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) want = model_.at_or_after(next);
    if (!check(want != nullptr, fmt::format("read returned a batch past {}", next))) return;
    if (!check(std::equal(parts[i].begin(), parts[i].end(), want->bytes.begin(), want->bytes.end()),
               fmt::format("batch {} of the read from {} (the one at {}) differs from the model", i,
                           from, want->base))) {
      return;
    }
    if (!check(want->next <= stop,
               fmt::format("read returned a batch ending at {} past {}", want->next, stop))) {
      return;
    }
    next = want->next;
  }
  check(r->next_offset >= next && model_.gap(next, r->next_offset),
        fmt::format("read next_offset {} but the batches end at {}", r->next_offset, next));
}

void ModelSim::flush() {
  note("flush");
  auto s = log_->flush();
  if (!s) return on_error(s.error(), "flush", Kind::write);
  after_success("flush", Kind::write);
  durable_end_ = log_->end_offset();
  check(log_->flushed_end_offset() == log_->end_offset(),
        fmt::format("flush: flushed end {} but end {}", log_->flushed_end_offset(),
                    log_->end_offset()));
  check(!log_->flush_due(), "flush_due right after a flush");
}

// One operation between begin_flush and finish_flush: sets `op` and `kind`,
// and `error` if it failed. False if a check failed (the run is over).
bool ModelSim::ticket_operation(std::optional<Offset>& truncated, std::optional<Error>& error,
                                const char*& op, Kind& kind) {
  const auto what = rng_.uniform(12);
  if (what < 5) {
    term_ = std::max(term_, log_->last_term());
    auto batch = random_batch();
    const auto sent = batch;
    const Offset at = log_->end_offset();
    note(fmt::format("  append records={} at={}", spate::testing::batch_record_count(sent), at));
    auto r = log_->append(batch, term_);
    model_.append(sent, at, term_);
    if (!r) error = r.error();
  } else if (what < 7) {
    op = "truncate_suffix";
    const auto targets = truncation_targets(log_->start_offset());
    const Offset to = targets[rng_.uniform(targets.size())];
    note(fmt::format("  truncate_suffix {}", to));
    durable_end_ = std::min(durable_end_, to);
    truncated = std::min(truncated.value_or(to), to);
    auto s = log_->truncate_suffix(to);
    if (s) {
      model_.truncate(to);
    } else {
      error = s.error();
    }
  } else if (what < 9) {
    op = "roll";
    note("  roll");
    auto s = log_->roll();
    if (!s) error = s.error();
  } else if (what < 10) {
    op = "read";
    kind = Kind::read;
    note("  read");
    auto r = log_->read(log_->start_offset(), rng_.uniform(10000));
    if (!r) error = r.error();
  } else if (what < 11) {
    op = "advance_start";
    const Offset target =
        log_->start_offset() + rng_.range(0, (log_->end_offset() - log_->start_offset()) / 3);
    note(fmt::format("  advance_start {}", target));
    start_ceiling_ = std::max(start_ceiling_, target);
    auto s = log_->advance_start(target);
    if (s) {
      persisted_start_ = std::max(persisted_start_, target);
    } else {
      error = s.error();
    }
  } else {
    op = "apply_retention";
    LogConfig c = config_;
    c.retention_bytes = static_cast<std::int64_t>(rng_.uniform(200'000));
    note(fmt::format("  retention bytes={}", c.retention_bytes));
    if (!check(static_cast<bool>(log_->set_config(c)), "set_config")) return false;
    start_ceiling_ = std::max(start_ceiling_, log_->end_offset());
    auto r = log_->apply_retention();
    if (!check(static_cast<bool>(log_->set_config(config_)), "set_config back")) return false;
    if (!r) error = r.error();
  }
  return true;
}

// A flush ticket synced "on the disk thread" while the owner keeps working:
// appends, truncations, rolls, reads, start offsets and retention between
// begin_flush and finish_flush.
void ModelSim::ticket_flush() {
  note("begin_flush");
  FlushTicket ticket = log_->begin_flush();
  std::optional<Offset> truncated;
  const auto extra = rng_.uniform(5);
  for (std::uint64_t i = 0; i < extra; ++i) {
    std::optional<Error> error;
    Kind kind = Kind::write;
    const char* op = "append";
    if (!ticket_operation(truncated, error, op, kind)) return;
    if (error) {
      auto ignored = log_->finish_flush(ticket, Error::io("abandoned: the log failed"));
      (void)ignored;
      return on_error(*error, op, kind);
    }
    after_success(op, kind);
    if (!failure_.empty()) return;
  }
  const Offset flushed_before = log_->flushed_end_offset();
  note(fmt::format("sync + finish_flush (ticket end {})", ticket.end_offset()));
  const Status synced = ticket.sync();
  auto s = log_->finish_flush(ticket, synced);
  if (!s) return on_error(s.error(), "finish_flush", Kind::write);
  after_success("finish_flush", Kind::write);
  const Offset covered = std::min(ticket.end_offset(), truncated.value_or(ticket.end_offset()));
  const Offset expected = std::max(flushed_before, std::min(covered, log_->end_offset()));
  if (!check(log_->flushed_end_offset() == expected,
             fmt::format("finish_flush: flushed end {} expected {} (ticket end {}, truncated "
                         "to {})",
                         log_->flushed_end_offset(), expected, ticket.end_offset(),
                         truncated ? truncated->value() : -1))) {
    return;
  }
  durable_end_ = std::max(durable_end_, expected);
}

void ModelSim::truncate() {
  const Offset start = log_->start_offset();
  if (rng_.chance(15)) {
    // Not a batch boundary, or past the end: refused, nothing changes.
    Offset bad = log_->end_offset() + rng_.range(1, 5);
    const auto* b = model_.containing(start + rng_.range(0, log_->end_offset() - start));
    if (b != nullptr && b->next - b->base > 1 && b->base + 1 >= start) bad = b->base + 1;
    note(fmt::format("truncate_suffix {} (invalid)", bad));
    auto s = log_->truncate_suffix(bad);
    // Telling a batch boundary needs the segment, read through a file the
    // cache may open: an injected fault there fails the call as a write.
    if (!s && s.error().code() != Errc::invalid_argument && faults_ &&
        faulty_.faults_fired() != fired_seen_) {
      return on_error(s.error(), "truncate_suffix", Kind::write);
    }
    check(!s && s.error().code() == Errc::invalid_argument && !log_->fenced() &&
              log_->end_offset() == model_.end(),
          fmt::format("invalid truncate_suffix({}) gave {}", bad,
                      s ? "success" : s.error().message()));
    return;
  }
  const auto targets = truncation_targets(start);
  // Mostly near the end, as raft does.
  const std::size_t pick = rng_.chance(70) && targets.size() > 3
                               ? targets.size() - 1 - rng_.uniform(3)
                               : rng_.uniform(targets.size());
  const Offset to = targets[pick];
  note(fmt::format("truncate_suffix {}", to));
  durable_end_ = std::min(durable_end_, to);  // even a failed one may have dropped the rest
  auto s = log_->truncate_suffix(to);
  if (!s) return on_error(s.error(), "truncate_suffix", Kind::write);
  after_success("truncate_suffix", Kind::write);
  ++stats_.truncations;
  model_.truncate(to);
  if (!check(log_->end_offset() == to && log_->flushed_end_offset() <= to,
             fmt::format("after truncate_suffix({}): end {} flushed {}", to, log_->end_offset(),
                         log_->flushed_end_offset()))) {
    return;
  }
  if (rng_.chance(50)) term_ = log_->last_term();  // a new leader may use a lower term now
}

void ModelSim::roll() {
  note("roll");
  const auto before = log_->segment_count();
  auto s = log_->roll();
  if (!s) return on_error(s.error(), "roll", Kind::write);
  after_success("roll", Kind::write);
  check(log_->segment_count() <= before + 1, "roll made more than one segment");
}

void ModelSim::age() {
  const auto by = std::chrono::milliseconds(
      rng_.uniform(static_cast<std::uint64_t>(config_.segment_age_max.count()) * 2 + 1));
  clock_.advance(by);
  note(fmt::format("clock +{}ms, maybe_roll", by.count()));
  auto s = log_->maybe_roll();
  if (!s) return on_error(s.error(), "maybe_roll", Kind::write);
  after_success("maybe_roll", Kind::write);
}

void ModelSim::advance_start() {
  const Offset start = log_->start_offset();
  const Offset end = log_->end_offset();
  if (rng_.chance(5)) {
    const Offset past = end + rng_.range(1, 10);
    note(fmt::format("advance_start {} (past the end)", past));
    auto s = log_->advance_start(past);
    check(!s && s.error().code() == Errc::offset_out_of_range && !log_->fenced() &&
              log_->start_offset() == start,
          "advance_start past the end");
    return;
  }
  // Mostly small steps, sometimes all the way.
  const Offset to = rng_.chance(10) ? end : start + rng_.range(0, (end - start) / 4 + 1);
  const Offset target = std::min(to, end);
  note(fmt::format("advance_start {}", target));
  start_ceiling_ = std::max(start_ceiling_, target);
  auto s = log_->advance_start(target);
  if (!s) return on_error(s.error(), "advance_start", Kind::write);
  after_success("advance_start", Kind::write);
  persisted_start_ = std::max(persisted_start_, target);
  check(
      log_->start_offset() == std::max(start, target),
      fmt::format("start {} after advance_start({}) from {}", log_->start_offset(), target, start));
}

void ModelSim::retention() {
  LogConfig c = config_;
  c.retention_bytes = rng_.chance(70) ? static_cast<std::int64_t>(rng_.uniform(300'000)) : -1;
  c.retention_ms = rng_.chance(50) ? static_cast<std::int64_t>(rng_.uniform(3'600'000)) : -1;
  const auto by = std::chrono::milliseconds(rng_.uniform(1'800'000));
  clock_.advance(by);
  note(fmt::format("clock +{}ms, retention bytes={} ms={}", by.count(), c.retention_bytes,
                   c.retention_ms));
  if (!check(static_cast<bool>(log_->set_config(c)), "set_config")) return;
  const Offset start = log_->start_offset();
  const Offset end = log_->end_offset();
  start_ceiling_ = std::max(start_ceiling_, end);  // whatever it deletes
  auto r = log_->apply_retention();
  auto restored = log_->set_config(config_);
  if (!r) return on_error(r.error(), "apply_retention", Kind::write);
  after_success("apply_retention", Kind::write);
  if (!check(static_cast<bool>(restored), "set_config back")) return;
  stats_.segments_deleted += r->segments_deleted;
  note(fmt::format("  deleted {} segments, start {} -> {}", r->segments_deleted, start,
                   log_->start_offset()));
  check(log_->start_offset() >= start && log_->end_offset() == end,
        fmt::format("retention moved start {} -> {} end {} -> {}", start, log_->start_offset(), end,
                    log_->end_offset()));
  check(log_->start_offset() == start || model_.is_boundary(log_->start_offset()) ||
            (compact_ && model_.containing(log_->start_offset()) == nullptr),
        fmt::format("retention left start {} inside a batch", log_->start_offset()));
}

void ModelSim::time_lookup() {
  // The model answers record by record, the log batch by batch for
  // compressed batches (which compacted logs hold here): not compared.
  if (compact_) return;
  const Offset start = log_->start_offset();
  std::int64_t target = clock_.wall_ms() + rng_.range(-6000, 100);
  const auto* near = model_.containing(start + rng_.range(0, log_->end_offset() - start));
  if (near != nullptr && rng_.chance(60)) {
    target = load_be<std::int64_t>(near->bytes.data() + protocol::batch_field::kBaseTimestamp) +
             rng_.range(-3, 60);
  }
  note(fmt::format("find_offset_by_timestamp {}", target));
  auto r = log_->find_offset_by_timestamp(target);
  if (!r) return on_error(r.error(), "find_offset_by_timestamp", Kind::read);
  after_success("find_offset_by_timestamp", Kind::read);
  const auto want = model_.first_at_or_after(target, start);
  if (!want) {
    check(!r->has_value(), fmt::format("time lookup {} found {} past every record", target,
                                       r->has_value() ? (*r)->offset.value() : -1));
    return;
  }
  check(r->has_value() && (*r)->offset == *want,
        fmt::format("time lookup {} gave {}, the first record at or after it is {}", target,
                    r->has_value() ? (*r)->offset.value() : -1, *want));
}

void ModelSim::terms() {
  const Offset start = log_->start_offset();
  const Offset end = log_->end_offset();
  note("term_at / last_term");
  if (start < end) {
    const Offset at = start + rng_.range(0, end - start - 1);
    auto t = log_->term_at(at);
    const auto* b = model_.containing(at);
    if (compact_ && b == nullptr) {
      // In a gap compaction left: the term, or not_found before the first
      // batch an open found.
      check(t || t.error().code() == Errc::not_found,
            fmt::format("term_at({}) in a gap: {}", at, t ? "ok" : t.error().message()));
      return;
    }
    if (!check(t && b != nullptr && *t == b->term,
               fmt::format("term_at({}) = {}, model {}", at, t ? t->value() : -1,
                           b != nullptr ? b->term.value() : -1))) {
      return;
    }
    // The last batch went (tombstones past delete.retention.ms).
    if (compact_ && (model_.batches().empty() || model_.batches().back().next != end)) return;
    check(log_->last_term() == model_.batches().back().term,
          fmt::format("last_term {} model {}", log_->last_term(), model_.batches().back().term));
  }
  auto past = log_->term_at(end);
  check(!past && past.error().code() == Errc::offset_out_of_range, "term_at(end)");
}

}  // namespace spate::storage::sim
