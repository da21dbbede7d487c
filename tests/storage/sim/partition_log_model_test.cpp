// SPDX-License-Identifier: Apache-2.0
//
// Randomized model test of PartitionLog: thousands of random operations
// (append, read, flush, flush tickets with appends in between, truncate, roll,
// advance start, retention, crash with unsynced bytes dropped or torn, clean
// and unclean reopen, injected EIO/ENOSPC) against a simple in-memory model,
// over many seeds. SPATE_SIM_SEED=n replays one seed; SPATE_SIM_SEEDS=n runs n.

#include <cstdlib>
#include <deque>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/batches.h"

namespace spate::storage {
namespace {

using spate::testing::make_batch;
using spate::testing::split_batches;

struct ModelBatch {
  Offset base;
  Offset next;  // exclusive
  Term term;
  std::vector<std::byte> bytes;  // as stored (offset and epoch rewritten)
};

class LogModelRun {
 public:
  LogModelRun(std::uint64_t seed, bool faults)
      : seed_(seed), rng_(seed), faults_(faults), faulty_(mem_) {
    config_.segment_bytes_max = 4096 + rng_.uniform(60000);
    config_.index_interval_bytes = static_cast<std::uint32_t>(rng_.uniform(3000));
    config_.retention_ms = -1;
    config_.segment_age_max = std::chrono::milliseconds(1 + rng_.uniform(100000));
  }

  // Runs `ops` operations; returns an empty string on success or a failure
  // description with the last operations.
  std::string run(int ops) {
    // The data directory exists durably (DataDir's job in the broker).
    if (!mem_.create_directories("/data") || !mem_.sync_directory("/")) return failure("setup");
    if (!reopen()) return failure("initial open failed");
    for (int i = 0; i < ops && failure_.empty(); ++i) {
      step();
      if (!failure_.empty() || log_ == nullptr) continue;
      if (auto s = log_->check_invariants(); !s) failure(s.error().message());
    }
    return failure_;
  }

 private:
  Filesystem& fs() { return faults_ ? static_cast<Filesystem&>(faulty_) : mem_; }

  void note(std::string line) {
    trail_.push_back(std::move(line));
    if (trail_.size() > 60) trail_.pop_front();
  }

  std::string failure(const std::string& what) {
    if (!failure_.empty()) return failure_;
    std::ostringstream out;
    out << "seed " << seed_ << (faults_ ? " (faults)" : "") << ": " << what
        << "\nlast operations:\n";
    for (const auto& l : trail_) out << "  " << l << "\n";
    failure_ = out.str();
    return failure_;
  }

  bool check(bool ok, const std::string& what) {
    if (!ok) failure(what);
    return ok;
  }

  Offset model_end() const { return batches_.empty() ? model_start_floor_ : batches_.back().next; }

  // An error from a mutating call: fine only if a fault was injected. Then an
  // EIO, or any failed fsync of data, fences the log (writes fail with
  // log_fenced until reopened); a full disk (ENOSPC) may instead make it
  // refuse writes with that error, not fenced, for a backoff (partition_log.h,
  // Failures). Close is a write too: a full disk makes it fail that way.
  void on_error(const Error& e, const std::string& op) {
    note(fmt::format("  -> {}", e.message()));
    if (!faults_ || faulty_.faults_fired() == fired_seen_) {
      failure(fmt::format("{} failed without an injected fault: {}", op, e.message()));
      return;
    }
    fired_seen_ = faulty_.faults_fired();
    bool data_sync_failed = false;
    for (const auto& f : faulty_.take_fired()) {
      const auto ext = f.path.extension();
      if (f.op == FaultOp::sync && ext != ".tmp") data_sync_failed = true;
    }
    if (e.code() == Errc::io_error || e.code() == Errc::no_space) {
      if (log_->fenced()) {
        auto again = log_->flush();
        check(!again && again.error().code() == Errc::log_fenced, "fenced log accepted a flush");
      } else {
        if (!check(e.code() == Errc::no_space && !data_sync_failed,
                   fmt::format("{} failed with {} but the log is not fenced", op, e.message()))) {
          return;
        }
        // Refusing writes: an append fails with the same retriable error and
        // changes nothing; the log is not fenced by it.
        const Offset end = log_->end_offset();
        auto batch = make_batch(rng_, 1, 10, timestamp_);
        auto a = log_->append(batch, term_);
        if (!check(!log_->writable() && !a && a.error().code() == Errc::no_space &&
                       !log_->fenced() && log_->end_offset() == end,
                   fmt::format("{} failed with {}: the log neither fenced nor refused an append "
                               "({})",
                               op, e.message(), a ? "accepted" : a.error().message()))) {
          return;
        }
      }
    }
    faulty_.clear();
    crash_and_reopen(0);
  }

  // A read failed: fine only if a fault was injected (sealed segments open
  // their files when read), and a failed read changes nothing: the log is
  // neither fenced nor refusing writes because of it.
  void on_read_error(const Error& e, const std::string& op) {
    note(fmt::format("  -> {}", e.message()));
    if (!faults_ || faulty_.faults_fired() == fired_seen_) {
      failure(fmt::format("{} failed without an injected fault: {}", op, e.message()));
      return;
    }
    fired_seen_ = faulty_.faults_fired();
    (void)faulty_.take_fired();
    if (!check((e.code() == Errc::io_error || e.code() == Errc::no_space) && !log_->fenced() &&
                   log_->writable(),
               fmt::format("{} failed with {}: fenced={} writable={}", op, e.message(),
                           log_->fenced(), log_->writable()))) {
      return;
    }
    faulty_.clear();
  }

  void maybe_inject() {
    if (!faults_ || !rng_.chance(3)) return;
    FaultPlan plan;
    plan.countdown = 1 + rng_.uniform(6);
    plan.err = rng_.chance(50) ? 5 : 28;
    plan.ops =
        static_cast<std::uint32_t>(FaultOp::append) | static_cast<std::uint32_t>(FaultOp::sync) |
        static_cast<std::uint32_t>(FaultOp::truncate) |
        static_cast<std::uint32_t>(FaultOp::directory) | static_cast<std::uint32_t>(FaultOp::open);
    plan.torn_append_bytes = rng_.uniform(200);
    (void)faulty_.take_fired();  // those of earlier plans, already judged
    faulty_.inject(plan);
    note(fmt::format("inject fault countdown={} errno={}", plan.countdown, plan.err));
  }

  void step() {
    maybe_inject();
    const auto dice = rng_.uniform(100);
    if (dice < 40) {
      append();
    } else if (dice < 55) {
      read();
    } else if (dice < 63) {
      flush();
    } else if (dice < 68) {
      ticket_flush();
    } else if (dice < 72) {
      truncate();
    } else if (dice < 75) {
      roll();
    } else if (dice < 78) {
      advance_start();
    } else if (dice < 81) {
      retention();
    } else if (dice < 85) {
      crash_and_reopen(rng_.chance(50) ? 0 : 1 + rng_.uniform(3000));
    } else if (dice < 88) {
      clean_reopen();
    } else if (dice < 91) {
      unclean_reopen();
    } else if (dice < 94) {
      time_lookup();
    } else {
      terms();
    }
  }

  void append() {
    if (rng_.chance(10)) term_ = term_ + static_cast<std::int64_t>(1 + rng_.uniform(3));
    const int records = static_cast<int>(1 + rng_.uniform(8));
    auto batch = make_batch(rng_, records, rng_.uniform(600), timestamp_);
    timestamp_ += records;
    note(fmt::format("append records={} bytes={} term={}", records, batch.size(), term_));
    auto r = log_->append(batch, term_);
    if (!r) return on_error(r.error(), "append");
    if (!check(r->base_offset == model_end(),
               fmt::format("append got base {} expected {}", r->base_offset, model_end()))) {
      return;
    }
    batches_.push_back({r->base_offset, r->last_offset + 1, term_, std::move(batch)});
  }

  void read() {
    const Offset start = log_->start_offset();
    const Offset end = log_->end_offset();
    const Offset from = start + static_cast<std::int64_t>(
                                    rng_.uniform(static_cast<std::uint64_t>(end - start) + 1));
    const std::uint64_t bytes_max = rng_.uniform(20000);
    note(fmt::format("read from={} bytes_max={}", from, bytes_max));
    auto r = log_->read(from, bytes_max);
    if (!r) return on_read_error(r.error(), "read");
    auto bytes = r->bytes.read_all();
    if (!bytes) return on_read_error(bytes.error(), "read_all");
    std::vector<std::span<const std::byte>> parts;
    if (!check(split_batches(*bytes, parts), "read returned a partial batch")) return;
    if (from == end) {
      check(parts.empty(), "read at the end returned data");
      return;
    }
    if (!check(!parts.empty(), fmt::format("read from {} < end {} returned nothing", from, end))) {
      return;
    }
    if (!check(parts.size() == 1 || bytes->size() <= bytes_max, "read exceeded bytes_max")) return;
    // Locate the model batch containing `from`.
    auto it = std::find_if(batches_.begin(), batches_.end(),
                           [&](const ModelBatch& b) { return b.base <= from && from < b.next; });
    if (!check(it != batches_.end(), fmt::format("model has no batch for {}", from))) return;
    for (const auto& part : parts) {
      if (!check(it != batches_.end(), "read returned batches past the model's end")) return;
      if (!check(std::equal(part.begin(), part.end(), it->bytes.begin(), it->bytes.end()),
                 fmt::format("batch at {} differs from the model", it->base))) {
        return;
      }
      ++it;
    }
    const Offset expected_next = it == batches_.end() ? model_end() : it->base;
    check(r->next_offset == expected_next,
          fmt::format("next_offset {} expected {}", r->next_offset, expected_next));
  }

  void flush() {
    note("flush");
    auto s = log_->flush();
    if (!s) return on_error(s.error(), "flush");
    durable_end_ = log_->end_offset();
    check(log_->flushed_end_offset() == log_->end_offset(), "flush did not reach the end");
  }

  void ticket_flush() {
    note("begin_flush");
    FlushTicket ticket = log_->begin_flush();
    const std::uint64_t owner = opens_;
    in_ticket_ = true;
    const auto extra = rng_.uniform(4);
    for (std::uint64_t i = 0; i < extra && failure_.empty() && opens_ == owner; ++i) append();
    in_ticket_ = false;
    if (opens_ != owner) return;  // an append failed and the log was reopened
    if (log_->fenced()) {
      auto ignored = log_->finish_flush(ticket, Error::io("abandoned"));
      (void)ignored;
      return;
    }
    note("sync + finish_flush");
    Status synced = ticket.sync();
    auto s = log_->finish_flush(ticket, synced);
    if (!s) return on_error(s.error(), "finish_flush");
    durable_end_ = std::max(durable_end_, ticket.end_offset());
    check(log_->flushed_end_offset() == ticket.end_offset(),
          fmt::format("flushed end {} expected ticket end {}", log_->flushed_end_offset(),
                      ticket.end_offset()));
  }

  void truncate() {
    std::vector<Offset> candidates;
    for (const auto& b : batches_) {
      if (b.base >= log_->start_offset()) candidates.push_back(b.base);
    }
    if (candidates.empty()) return;
    const Offset to = candidates[rng_.uniform(candidates.size())];
    note(fmt::format("truncate_suffix {}", to));
    auto s = log_->truncate_suffix(to);
    if (!s) {
      // A truncation that failed part-way may have dropped any suffix past `to`.
      durable_end_ = std::min(durable_end_, to);
      return on_error(s.error(), "truncate_suffix");
    }
    while (!batches_.empty() && batches_.back().base >= to) batches_.pop_back();
    durable_end_ = std::min(durable_end_, to);
    check(log_->end_offset() == to, "end after truncate");
    // Terms may go back to what the remaining log holds.
    term_ = std::max(log_->last_term(), Term(0));
    if (!batches_.empty()) term_ = std::max(term_, batches_.back().term);
  }

  void roll() {
    note("roll");
    auto s = log_->roll();
    if (!s) return on_error(s.error(), "roll");
  }

  void advance_start() {
    const Offset start = log_->start_offset();
    const Offset end = log_->end_offset();
    const Offset to = start + static_cast<std::int64_t>(
                                  rng_.uniform(static_cast<std::uint64_t>(end - start) + 1));
    note(fmt::format("advance_start {}", to));
    auto s = log_->advance_start(to);
    if (!s) return on_error(s.error(), "advance_start");
    persisted_start_ = std::max(persisted_start_, to);
    check(log_->start_offset() == std::max(start, to), "start after advance");
  }

  void retention() {
    LogConfig c = config_;
    c.retention_bytes = static_cast<std::int64_t>(rng_.uniform(200000));
    note(fmt::format("retention bytes={}", c.retention_bytes));
    if (!check(static_cast<bool>(log_->set_config(c)), "set_config")) return;
    const Offset before = log_->start_offset();
    auto r = log_->apply_retention();
    if (!check(static_cast<bool>(log_->set_config(config_)), "set_config back")) return;
    if (!r) return on_error(r.error(), "apply_retention");
    check(log_->start_offset() >= before, "retention moved the start back");
  }

  void time_lookup() {
    if (batches_.empty()) return;
    const std::int64_t target = rng_.range(0, timestamp_ + 5);
    note(fmt::format("find_offset_by_timestamp {}", target));
    auto r = log_->find_offset_by_timestamp(target);
    if (!r) return on_read_error(r.error(), "find_offset_by_timestamp");
    // Records carry timestamps increasing with their offsets in this test, so
    // the answer is the first record at or after `target` (at least start).
    std::optional<Offset> expected;
    for (const auto& b : batches_) {
      auto records = protocol::decode_records(b.bytes);
      if (!check(static_cast<bool>(records), "model batch decodes")) return;
      for (const auto& rec : *records) {
        if (rec.timestamp >= target && Offset(rec.offset) >= log_->start_offset()) {
          expected = Offset(rec.offset);
          break;
        }
      }
      if (expected) break;
    }
    if (!expected) {
      check(!r->has_value(), "time lookup found a record past the newest");
      return;
    }
    check(r->has_value() && (*r)->offset == *expected,
          fmt::format("time lookup {} gave {} expected {}", target,
                      r->has_value() ? (*r)->offset.value() : -1, expected->value()));
  }

  void terms() {
    if (batches_.empty()) return;
    const auto& b = batches_[rng_.uniform(batches_.size())];
    if (b.next <= log_->start_offset()) return;
    const Offset at = std::max(b.base, log_->start_offset());
    auto t = log_->term_at(at);
    check(t && *t == b.term, fmt::format("term_at {}", at));
    check(log_->last_term() == batches_.back().term, "last_term");
  }

  bool reopen() {
    ++opens_;
    log_.reset();
    // Bounded: faults are cleared after a failed attempt.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto opened = PartitionLog::open(fs(), "/data/topic-0", config_, clock_);
      if (opened) {
        log_ = std::move(*opened);
        return true;
      }
      note(fmt::format("  open failed: {}", opened.error().message()));
      if (!faults_ || faulty_.faults_fired() == fired_seen_) {
        failure(fmt::format("open failed without an injected fault: {}", opened.error().message()));
        return false;
      }
      fired_seen_ = faulty_.faults_fired();
      faulty_.clear();
      mem_.crash();
    }
    failure("open kept failing");
    return false;
  }

  // After any reopen: the log must hold every durable batch, be a prefix of
  // the model in whole batches, and never start before a persisted start.
  void verify_after_reopen() {
    const Offset end = log_->end_offset();
    if (!check(end >= durable_end_,
               fmt::format("recovered end {} lost durable data up to {}", end, durable_end_))) {
      return;
    }
    while (!batches_.empty() && batches_.back().next > end) batches_.pop_back();
    if (end == persisted_start_ && model_end() < end) {
      // Deleted records were past what survived: the log restarts at the start.
      batches_.clear();
      model_start_floor_ = end;
    }
    if (!check(model_end() == end || (batches_.empty() && end <= model_end()),
               fmt::format("recovered end {} is not a batch boundary of the model ({})", end,
                           model_end()))) {
      return;
    }
    check(log_->start_offset() >= std::min(persisted_start_, end),
          fmt::format("start {} went below the persisted start {}", log_->start_offset(),
                      persisted_start_));
    durable_end_ = end;
    term_ = batches_.empty() ? term_ : std::max(term_, batches_.back().term);
    // Read everything back from the start and compare.
    Offset from = log_->start_offset();
    for (int guard = 0; from < end && guard < 100000; ++guard) {
      auto r = log_->read(from, 1U << 20U);
      if (!check(static_cast<bool>(r), "read after reopen")) return;
      auto bytes = r->bytes.read_all();
      if (!check(static_cast<bool>(bytes), "read_all after reopen")) return;
      std::vector<std::span<const std::byte>> parts;
      if (!check(split_batches(*bytes, parts) && !parts.empty(), "partial batch after reopen")) {
        return;
      }
      for (const auto& part : parts) {
        const auto base = Offset(load_be<std::int64_t>(part.data()));
        auto it = std::find_if(batches_.begin(), batches_.end(),
                               [&](const ModelBatch& b) { return b.base == base; });
        if (!check(it != batches_.end() &&
                       std::equal(part.begin(), part.end(), it->bytes.begin(), it->bytes.end()),
                   fmt::format("batch at {} differs after reopen", base))) {
          return;
        }
      }
      from = r->next_offset;
    }
  }

  void crash_and_reopen(std::uint64_t tear_bytes) {
    note(fmt::format("crash keep_unsynced={}", tear_bytes));
    log_.reset();
    faulty_.clear();
    mem_.crash([&](const std::filesystem::path&, std::uint64_t unsynced) {
      return tear_bytes == 0 ? 0 : rng_.uniform(std::min(unsynced, tear_bytes) + 1);
    });
    if (reopen()) verify_after_reopen();
  }

  void clean_reopen() {
    note("close + reopen");
    auto s = log_->close();
    if (!s) return on_error(s.error(), "close");
    durable_end_ = log_->end_offset();
    if (!reopen()) return;
    check(log_->recovery().clean || faults_, "clean close did not reopen clean");
    verify_after_reopen();
  }

  void unclean_reopen() {
    note("drop without close + reopen (process crash, page cache kept)");
    if (!reopen()) return;
    verify_after_reopen();
  }

  std::uint64_t seed_;
  Rng rng_;
  bool faults_;
  MemFs mem_;
  FaultyFs faulty_;
  ManualClock clock_;
  LogConfig config_;
  std::unique_ptr<PartitionLog> log_;
  std::vector<ModelBatch> batches_;
  Offset model_start_floor_{0};
  Offset durable_end_{0};
  Offset persisted_start_{0};
  Term term_{0};
  std::int64_t timestamp_ = 1000;
  bool in_ticket_ = false;
  std::uint64_t opens_ = 0;
  std::uint64_t fired_seen_ = 0;
  std::deque<std::string> trail_;
  std::string failure_;
};

std::vector<std::uint64_t> seeds() {
  // Recovery cuts are expected here by the thousand; keep the output readable.
  log::set_level(spdlog::level::err);
  if (const char* one = std::getenv("SPATE_SIM_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t count = 100;
  if (const char* many = std::getenv("SPATE_SIM_SEEDS")) count = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1; s <= count; ++s) out.push_back(s);
  return out;
}

TEST(LogModel, RandomOperationsOnMemFsMatchTheModel) {
  for (auto seed : seeds()) {
    LogModelRun run(seed, false);
    auto failure = run.run(1500);
    ASSERT_TRUE(failure.empty()) << failure;
  }
}

TEST(LogModel, RandomOperationsWithInjectedFaultsMatchTheModel) {
  for (auto seed : seeds()) {
    LogModelRun run(seed, true);
    auto failure = run.run(1500);
    ASSERT_TRUE(failure.empty()) << failure;
  }
}

}  // namespace
}  // namespace spate::storage
