// SPDX-License-Identifier: Apache-2.0
//
// Seeded model test of PartitionLog (style.md §3.11, reliability.md S1/S2):
// thousands of random operations per seed against an in-memory model, with
// crashes, torn writes and injected EIO/ENOSPC, checking invariants after every
// step. Environment: SPATE_SIM_SEED=n replays one seed, SPATE_SIM_SEEDS=n runs
// n seeds (default 200 per test), SPATE_SIM_OPS=n operations per seed (2000),
// SPATE_SIM_ALL=1 reports every failing seed instead of stopping after three.

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/batches.h"
#include "support/log_testing.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::LogModel;
using spate::testing::make_varied_batch;
using spate::testing::split_batches;
using spate::testing::unexpected_files;

const std::filesystem::path kDir = "/data/topic-0";

// Operations that write: a fault there must surface as an error and fence.
enum class Kind : std::uint8_t { write, read, open };

// What the runs exercised, printed once per test (so that a change that
// makes the sim stop crashing, cutting or faulting shows).
struct SimStats {
  std::uint64_t ops = 0;
  std::uint64_t appends = 0;
  std::uint64_t crashes = 0;
  std::uint64_t reopens = 0;
  std::uint64_t cuts = 0;
  std::uint64_t faults = 0;
  std::uint64_t segments_deleted = 0;
  std::uint64_t truncations = 0;
  std::uint64_t restarts = 0;  // opens that restarted an emptied log at its start offset
  std::uint64_t fenced = 0;    // failed writes that fenced the log
  std::uint64_t refused = 0;   // failed writes after which the log refused writes
  std::uint64_t resumed = 0;   // refusing logs that took writes again without a restart
  std::uint64_t absorbed = 0;  // full disks absorbed on purpose (recovery point, retention roll)
};

class ModelSim {
 public:
  ModelSim(std::uint64_t seed, bool faults, SimStats& stats)
      : seed_(seed), rng_(seed), faults_(faults), stats_(stats) {
    config_.segment_bytes_max = 16384 + rng_.uniform(49153);  // 16..64 KiB
    config_.index_interval_bytes = static_cast<std::uint32_t>(rng_.uniform(8193));
    config_.segment_age_max = std::chrono::milliseconds(1 + rng_.uniform(600'000));
    config_.retention_ms = -1;
    config_.retention_bytes = -1;
    const auto policy = rng_.uniform(3);
    config_.flush_policy = policy == 0   ? FlushPolicy::always
                           : policy == 1 ? FlushPolicy::interval
                                         : FlushPolicy::none;
    config_.flush_interval = std::chrono::milliseconds(1 + rng_.uniform(5000));
    ts_ = clock_.wall_ms();
  }

  // Runs `ops` random operations. Returns an empty string, or the seed, what
  // broke and the last operations, one line each.
  std::string run(int ops) {
    if (!mem_.create_directories("/data") || !mem_.sync_directory("/")) return fail("setup");
    if (!reopen()) return failure_;
    verify_after_reopen("first open", false);
    for (step_ = 0; step_ < ops && failure_.empty(); ++step_) {
      maybe_inject();
      ++stats_.ops;
      one_step();
      if (failure_.empty() && log_ != nullptr) {
        auto invariants = log_->check_invariants();
        check(static_cast<bool>(invariants),
              invariants ? std::string() : invariants.error().message());
      }
      if (failure_.empty()) check_steady();
    }
    return failure_;
  }

 private:
  Filesystem& fs() { return faults_ ? static_cast<Filesystem&>(faulty_) : mem_; }

  void note(std::string line) {
    // SPATE_SIM_TRACE=1 prints every operation as it runs (for a seed that
    // ends in an assertion, which leaves no trail behind).
    static const bool trace = std::getenv("SPATE_SIM_TRACE") != nullptr;
    if (trace) std::fprintf(stderr, "#%d %s\n", step_, line.c_str());
    trail_.push_back(fmt::format("#{} {}", step_, std::move(line)));
    if (trail_.size() > 50) trail_.pop_front();
  }

  std::string fail(const std::string& what) {
    if (failure_.empty()) {
      std::ostringstream out;
      out << "seed " << seed_ << (faults_ ? " (FaultyFs)" : " (MemFs)") << " step " << step_ << ": "
          << what << "\n  replay: SPATE_SIM_SEED=" << seed_ << " --gtest_filter=LogModelSim.*"
          << (faults_ ? "Faults" : "MemFs") << "*\n  last operations:";
      for (const auto& l : trail_) out << "\n    " << l;
      failure_ = out.str();
    }
    return failure_;
  }

  bool check(bool ok, const std::string& what) {
    if (!ok) fail(what);
    return ok;
  }

  // ------------------------------------------------------------ faults

  void maybe_inject() {
    if (!faults_ || plan_pending_ || !rng_.chance(4)) return;
    FaultPlan plan;
    plan.countdown = 1 + rng_.uniform(20);
    plan.err = rng_.chance(50) ? 5 : 28;
    // Reads are left out: log_faults_test covers them, and here they would
    // end most runs at the first read.
    const FaultOp kinds[] = {FaultOp::append, FaultOp::sync, FaultOp::truncate, FaultOp::directory,
                             FaultOp::open};
    plan.ops = 0;
    while (plan.ops == 0) {
      for (auto k : kinds) {
        if (rng_.chance(40)) plan.ops |= static_cast<std::uint32_t>(k);
      }
    }
    plan.torn_append_bytes = rng_.chance(30) ? 0 : rng_.uniform(5000);
    plan.sticky = rng_.chance(10);
    (void)faulty_.take_fired();  // those of earlier plans, already judged
    faulty_.inject(plan);
    plan_pending_ = true;
    note(fmt::format("inject ops={:#x} countdown={} errno={} torn={} sticky={}", plan.ops,
                     plan.countdown, plan.err, plan.torn_append_bytes, plan.sticky));
  }

  bool fault_fired() {
    const auto fired = faulty_.faults_fired();
    if (fired == fired_seen_) return false;
    stats_.faults += fired - fired_seen_;
    fired_seen_ = fired;
    return true;
  }

  static bool named(const std::filesystem::path& p, std::string_view name) {
    return p.parent_path() == kDir && p.filename() == name;
  }

  // A fault inside the atomic rewrite of the recovery point (write_file_atomic:
  // the temporary file's open, truncate, append, sync and removal, its rename,
  // then the directory sync right after that rename).
  static bool in_recovery_point_write(const FaultyFs::Fired& f) {
    if (named(f.path, "recovery.point.tmp")) return true;
    return f.op == FaultOp::directory && f.path == kDir &&
           named(f.previous_path, "recovery.point.tmp");
  }

  // A fault inside a roll that wrote nothing for good: the sealed segment's
  // index files (open, truncate, append; never a sync) or the new segment's
  // file (open).
  static bool in_roll(const FaultyFs::Fired& f) {
    const auto ext = f.path.extension();
    if (f.path.parent_path() != kDir) return false;
    if (ext == ".index" || ext == ".timeindex") {
      return f.op == FaultOp::open || f.op == FaultOp::truncate || f.op == FaultOp::append;
    }
    return ext == ".log" && f.op == FaultOp::open;
  }

  static bool transient_errno(int err) { return err == 28; }  // the only one injected here

  // Call after an operation succeeded: a fault that fired inside a write and
  // did not reach the caller is a swallowed write error, except where the
  // log absorbs it on purpose (partition_log.h, Failures; docs/limits.md):
  //  - flush, finish_flush, close (which flushes first): a full disk while
  //    rewriting the recovery point (the data is durable; the old recovery
  //    point is still true);
  //  - apply_retention: a full disk in the roll of an expired active segment
  //    (retention goes on; the log refuses writes for a while).
  // Nothing else, and no EIO, is ever absorbed.
  void after_success(const char* op, Kind kind) {
    if (!faults_ || !fault_fired()) return;
    const auto fired = faulty_.take_fired();
    if (kind == Kind::write) {
      const std::string_view name = op;
      const bool flushing = name == "flush" || name == "finish_flush" || name == "close";
      const bool retention = name == "apply_retention";
      bool absorbed = !fired.empty() && (flushing || retention);
      for (const auto& f : fired) {
        absorbed = absorbed && transient_errno(f.err) &&
                   (flushing ? in_recovery_point_write(f) : in_roll(f));
      }
      if (!absorbed) {
        fail(fmt::format("{} succeeded although an injected fault fired inside it ({} on {})", op,
                         fired.empty() ? 0 : fired.front().err,
                         fired.empty() ? "?" : fired.front().path.string()));
        return;
      }
      if (!check(!log_->fenced(), fmt::format("{} absorbed a fault but fenced", op))) return;
      if (retention && !check(!log_->writable(),
                              "retention absorbed a failed roll but the log still takes writes")) {
        return;
      }
      note(fmt::format("  ({} absorbed a full disk on {})", op, fired.front().path.string()));
      ++stats_.absorbed;
      faulty_.clear();
      plan_pending_ = false;
      if (retention) resume();
      return;
    }
    for (const auto& f : fired) {
      // A full disk while the open rewrote a small file, and then the removal
      // of its temporary file failed too: left for the next open.
      if (kind == Kind::open && f.op == FaultOp::directory && f.path.parent_path() == kDir &&
          f.path.extension() == ".tmp") {
        leftover_tmp_.push_back(f.path.filename().string());
      }
      // An open on a full disk leaves index files it cannot rewrite: a later
      // clean open finds them and scans instead (partition_log_open.cpp).
      if (kind == Kind::open && transient_errno(f.err) &&
          (f.path.extension() == ".index" || f.path.extension() == ".timeindex")) {
        index_skipped_ = true;
      }
    }
    note(fmt::format("  ({} tolerated an injected fault: errno {} on {})", op,
                     fired.empty() ? 0 : fired.front().err,
                     fired.empty() ? "?" : fired.front().path.string()));
    plan_pending_ = false;
  }

  // Past the longest backoff, with the faults gone, a refusing log takes
  // writes again (cutting a torn tail), without a restart.
  void resume() {
    (void)faulty_.take_fired();
    fired_seen_ = faulty_.faults_fired();
    clock_.advance(std::chrono::milliseconds(1001));
    note("clock +1001ms, resume_writes");
    auto s = log_->resume_writes();
    if (!check(static_cast<bool>(s) && log_->writable() && !log_->fenced(),
               fmt::format("resume_writes after the faults cleared: {}",
                           s ? "ok but not writable" : s.error().message()))) {
      return;
    }
    // A refused batch is never appended: the model drops the one it kept as
    // "maybe appended".
    const Offset end = log_->end_offset();
    if (!check(end <= model_.end() && model_.is_boundary(end),
               fmt::format("resumed at end {} (model end {})", end, model_.end()))) {
      return;
    }
    model_.truncate(end);
    ++stats_.resumed;
  }

  // Reads the whole readable log (up to `limit`) and compares it with the
  // model, batch by batch. A read may fail only if an injected fault fired
  // inside it (a sealed segment's file opened through the cache).
  void check_reads_match_model(Offset limit, const char* why) {
    Offset from = log_->start_offset();
    // Bounded: each read returns at least one batch, or stops the loop.
    for (int i = 0; i < 100'000 && from < limit; ++i) {
      const auto fired = faulty_.faults_fired();
      auto r = log_->read(from, 1U << 20U);
      Result<std::vector<std::byte>> bytes = Error::io("not read");
      if (r) bytes = r->bytes.read_all();
      if (!r || !bytes) {
        const Error e = !r ? r.error() : bytes.error();
        check(faulty_.faults_fired() != fired &&
                  (e.code() == Errc::io_error || e.code() == Errc::no_space),
              fmt::format("{}: read from {} failed: {}", why, from, e.message()));
        return;
      }
      std::vector<std::span<const std::byte>> parts;
      if (!check(split_batches(*bytes, parts) && !parts.empty(),
                 fmt::format("{}: read from {} (limit {}) returned no whole batch", why, from,
                             limit))) {
        return;
      }
      for (const auto& part : parts) {
        const auto* want = model_.containing(from);
        if (!check(want != nullptr && want->base <= from && want->next <= limit &&
                       std::equal(part.begin(), part.end(), want->bytes.begin(), want->bytes.end()),
                   fmt::format("{}: the batch read at {} differs from the model", why, from))) {
          return;
        }
        from = want->next;
      }
      if (!check(r->next_offset == from,
                 fmt::format("{}: read next_offset {} but batches end at {}", why, r->next_offset,
                             from))) {
        return;
      }
    }
  }

  // An operation failed. Fine only if a fault fired; then the log must be
  // fenced (for writes) and recovery must work.
  void on_error(const Error& e, const char* op, Kind kind) {
    note(fmt::format("  -> {}", e.message()));
    if (!faults_ || !fault_fired()) {
      fail(fmt::format("{} failed without an injected fault: {}", op, e.message()));
      return;
    }
    if (e.code() != Errc::io_error && e.code() != Errc::no_space) {
      fail(fmt::format("{} failed with {} for an injected errno", op, e.message()));
      return;
    }
    const auto fired = faulty_.take_fired();
    if (kind == Kind::write && log_ != nullptr) {
      // A failed write fences the log (EIO; any failed fsync of data, whatever
      // its errno) or, for a full disk, may instead make it refuse writes for
      // a while (retriable). Either way it takes no append now, and reads go
      // on: all of the log while refusing, what was durable once fenced.
      bool must_fence = !is_transient_storage_error(e);
      for (const auto& f : fired) {
        if (!transient_errno(f.err)) must_fence = true;
        if (f.op == FaultOp::sync && !in_recovery_point_write(f) &&
            !named(f.path, "start.offset.tmp") && !named(f.path, "clean.shutdown.tmp")) {
          must_fence = true;
        }
      }
      const bool fenced = log_->fenced();
      ++(fenced ? stats_.fenced : stats_.refused);
      if (!check(fenced || !must_fence,
                 fmt::format("{} failed with {} but the log is not fenced", op, e.message()))) {
        return;
      }
      if (!check(fenced || !log_->writable(),
                 fmt::format("{} failed but the log still takes writes", op))) {
        return;
      }
      auto batch = make_varied_batch(rng_, 1, 1, ts_);
      auto a = log_->append(batch, log_->last_term());
      const bool refused_right = !a && (fenced ? a.error().code() == Errc::log_fenced
                                               : is_transient_storage_error(a.error()));
      if (!check(refused_right && log_->fenced() == fenced,
                 fmt::format("a {} log: append gave {}", fenced ? "fenced" : "refusing",
                             a ? "success" : a.error().message()))) {
        return;
      }
      if (fenced) {
        if (!check(log_->flushed_end_offset() >= std::min(durable_end_, log_->end_offset()),
                   fmt::format("a fenced log lost durable data: flushed end {} below {}",
                               log_->flushed_end_offset(), durable_end_))) {
          return;
        }
        auto f = log_->flush();
        if (!check(!f && f.error().code() == Errc::log_fenced, "a fenced log flushed")) return;
      }
      check_reads_match_model(fenced ? log_->flushed_end_offset() : log_->end_offset(),
                              fenced ? "fenced" : "refusing writes");
      if (!failure_.empty()) return;
      if (!fenced && rng_.chance(50)) {
        // The partition's tick resumes writes after the backoff.
        faulty_.clear();
        plan_pending_ = false;
        return resume();
      }
    }
    faulty_.clear();
    plan_pending_ = false;
    // The broker restarts the partition: sometimes the machine went down too.
    if (rng_.chance(50)) {
      crash(rng_.chance(50) ? 0 : 1);
    } else {
      note("process restart");
      log_.reset();
      if (reopen()) verify_after_reopen("restart after a fault", false);
    }
  }

  // ------------------------------------------------------------ operations

  void one_step() {
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

  std::vector<std::byte> random_batch() {
    const int records = 1 + static_cast<int>(rng_.uniform(50));
    const auto size_class = rng_.uniform(100);
    const std::size_t value_max = size_class < 70 ? 40 : size_class < 95 ? 400 : 3000;
    ts_ = std::max(ts_, clock_.wall_ms());
    // CreateTime is the client's: now and then a batch from the past.
    const std::int64_t first = rng_.chance(10) ? ts_ - rng_.range(1, 5000) : ts_;
    ts_ += records;
    return make_varied_batch(rng_, records, value_max, first);
  }

  void append() {
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
  void bad_append() {
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

  void read() {
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
    const auto* first = model_.containing(from);
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
      if (i > 0) want = model_.starting_at(next);
      if (!check(want != nullptr, fmt::format("read returned a batch past {}", next))) return;
      if (!check(
              std::equal(parts[i].begin(), parts[i].end(), want->bytes.begin(), want->bytes.end()),
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
    check(r->next_offset == next,
          fmt::format("read next_offset {} but the batches end at {}", r->next_offset, next));
  }

  void flush() {
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

  // A flush ticket synced "on the disk thread" while the owner keeps working:
  // appends, truncations, rolls, reads, start offsets and retention between
  // begin_flush and finish_flush.
  void ticket_flush() {
    note("begin_flush");
    FlushTicket ticket = log_->begin_flush();
    std::optional<Offset> truncated;
    const auto extra = rng_.uniform(5);
    for (std::uint64_t i = 0; i < extra; ++i) {
      const auto what = rng_.uniform(12);
      std::optional<Error> error;
      Kind kind = Kind::write;
      const char* op = "append";
      if (what < 5) {
        term_ = std::max(term_, log_->last_term());
        auto batch = random_batch();
        const auto sent = batch;
        const Offset at = log_->end_offset();
        note(
            fmt::format("  append records={} at={}", spate::testing::batch_record_count(sent), at));
        auto r = log_->append(batch, term_);
        model_.append(sent, at, term_);
        if (!r) error = r.error();
      } else if (what < 7) {
        op = "truncate_suffix";
        const auto targets = model_.boundaries_from(log_->start_offset());
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
        if (!check(static_cast<bool>(log_->set_config(c)), "set_config")) return;
        start_ceiling_ = std::max(start_ceiling_, log_->end_offset());
        auto r = log_->apply_retention();
        if (!check(static_cast<bool>(log_->set_config(config_)), "set_config back")) return;
        if (!r) error = r.error();
      }
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

  void truncate() {
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
    const auto targets = model_.boundaries_from(start);
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

  void roll() {
    note("roll");
    const auto before = log_->segment_count();
    auto s = log_->roll();
    if (!s) return on_error(s.error(), "roll", Kind::write);
    after_success("roll", Kind::write);
    check(log_->segment_count() <= before + 1, "roll made more than one segment");
  }

  void age() {
    const auto by = std::chrono::milliseconds(
        rng_.uniform(static_cast<std::uint64_t>(config_.segment_age_max.count()) * 2 + 1));
    clock_.advance(by);
    note(fmt::format("clock +{}ms, maybe_roll", by.count()));
    auto s = log_->maybe_roll();
    if (!s) return on_error(s.error(), "maybe_roll", Kind::write);
    after_success("maybe_roll", Kind::write);
  }

  void advance_start() {
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
    check(log_->start_offset() == std::max(start, target),
          fmt::format("start {} after advance_start({}) from {}", log_->start_offset(), target,
                      start));
  }

  void retention() {
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
          fmt::format("retention moved start {} -> {} end {} -> {}", start, log_->start_offset(),
                      end, log_->end_offset()));
    check(log_->start_offset() == start || model_.is_boundary(log_->start_offset()),
          fmt::format("retention left start {} inside a batch", log_->start_offset()));
  }

  void time_lookup() {
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

  void terms() {
    const Offset start = log_->start_offset();
    const Offset end = log_->end_offset();
    note("term_at / last_term");
    if (start < end) {
      const Offset at = start + rng_.range(0, end - start - 1);
      auto t = log_->term_at(at);
      const auto* b = model_.containing(at);
      if (!check(t && b != nullptr && *t == b->term,
                 fmt::format("term_at({}) = {}, model {}", at, t ? t->value() : -1,
                             b != nullptr ? b->term.value() : -1))) {
        return;
      }
      check(log_->last_term() == model_.batches().back().term,
            fmt::format("last_term {} model {}", log_->last_term(), model_.batches().back().term));
    }
    auto past = log_->term_at(end);
    check(!past && past.error().code() == Errc::offset_out_of_range, "term_at(end)");
  }

  // ------------------------------------------------------------ restarts

  // Power loss: unsynced bytes are dropped (mode 0) or torn at a random point
  // per file (mode 1).
  void crash(std::uint64_t mode) {
    note(mode == 0 ? "crash (unsynced bytes dropped)" : "crash (unsynced bytes torn)");
    log_.reset();
    faulty_.clear();
    plan_pending_ = false;
    ++stats_.crashes;
    mem_.crash([&](const std::filesystem::path&, std::uint64_t unsynced) {
      return mode == 0 ? 0 : rng_.uniform(unsynced + 1);
    });
    if (reopen()) verify_after_reopen("crash", false);
  }

  void clean_reopen() {
    note("close + reopen");
    const Offset start = log_->start_offset();
    auto s = log_->close();
    if (!s) return on_error(s.error(), "close", Kind::write);
    after_success("close", Kind::write);
    durable_end_ = log_->end_offset();
    auto late = random_batch();
    if (!check(!log_->append(late, term_), "a closed log took an append")) return;
    log_.reset();
    const auto fired = faulty_.faults_fired();
    if (!reopen()) return;
    if (faulty_.faults_fired() == fired && !crashed_in_reopen_) {
      if (!check(log_->recovery().clean || index_skipped_,
                 "a clean close did not give a clean open")) {
        return;
      }
      if (!check(log_->start_offset() == start, "the start moved across a clean restart")) return;
    }
    verify_after_reopen("clean reopen", true);
  }

  void unclean_reopen() {
    note("reopen without close (the page cache survives)");
    const Offset start = log_->start_offset();
    log_.reset();
    if (!reopen()) return;
    check(!log_->recovery().clean, "an unclean restart opened clean");
    if (!crashed_in_reopen_) {
      check(log_->start_offset() == start, "the start moved across a process restart");
    }
    verify_after_reopen("unclean reopen", true);
  }

  // Opens, retrying when an injected fault made the open fail.
  bool reopen() {
    log_.reset();
    leftover_tmp_.clear();
    crashed_in_reopen_ = false;
    // Bounded: faults are cleared after a failed attempt.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto opened = PartitionLog::open(fs(), kDir, config_, clock_);
      if (opened) {
        log_ = std::move(*opened);
        if (log_->recovery().clean) index_skipped_ = false;
        ++stats_.reopens;
        if (log_->recovery().cut_reason) ++stats_.cuts;
        after_success("open", Kind::open);
        return failure_.empty();
      }
      note(fmt::format("  open failed: {}", opened.error().message()));
      if (!faults_ || !fault_fired()) {
        fail(fmt::format("open failed without an injected fault: {}", opened.error().message()));
        return false;
      }
      if (!check(opened.error().code() == Errc::io_error || opened.error().code() == Errc::no_space,
                 fmt::format("open reported {} for an injected errno", opened.error().message()))) {
        return false;
      }
      faulty_.clear();
      (void)faulty_.take_fired();  // the next attempt lists (and cleans) the folder again
      plan_pending_ = false;
      if (rng_.chance(50)) {
        note("  crash before retrying");
        mem_.crash();
        crashed_in_reopen_ = true;
      }
    }
    fail("open kept failing with the faults cleared");
    return false;
  }

  // The invariants of a reopened log against the model.
  void verify_after_reopen(const char* why, bool nothing_lost) {
    const Offset start = log_->start_offset();
    const Offset end = log_->end_offset();
    if (!check(end >= durable_end_, fmt::format("{}: recovered end {} lost durable data below {}",
                                                why, end, durable_end_))) {
      return;
    }
    if (!check(
            end <= model_.end() || (start == end && end <= start_ceiling_),
            fmt::format("{}: recovered end {} past the model's end {}", why, end, model_.end()))) {
      return;
    }
    if (!check(start >= persisted_start_, fmt::format("{}: start {} below the persisted start {}",
                                                      why, start, persisted_start_))) {
      return;
    }
    if (!check(start <= start_ceiling_, fmt::format("{}: start {} past anything asked for ({})",
                                                    why, start, start_ceiling_))) {
      return;
    }
    if (model_.is_boundary(end)) {
      model_.truncate(end);
    } else {
      // Only if the start offset was persisted past everything that survived:
      // the log restarts empty there. Otherwise half a batch is visible.
      if (!check(start == end,
                 fmt::format("{}: recovered end {} is inside a batch (not a whole-batch prefix)",
                             why, end))) {
        return;
      }
      model_.restart_at(end);
      ++stats_.restarts;
    }
    if (nothing_lost && !crashed_in_reopen_ &&
        !check(end == model_.end(), "data lost across a restart"))
      return;
    if (!check(log_->flushed_end_offset() == end && start <= end,
               fmt::format("{}: start {} flushed {} end {} after open", why, start,
                           log_->flushed_end_offset(), end))) {
      return;
    }
    durable_end_ = end;
    start_ceiling_ = start;
    term_ = std::max(term_, log_->last_term());
    // The comparison reads every segment (sealed ones open their files
    // through the cache): on a disk without injected faults. A plan that did
    // not fire during the open is dropped.
    faulty_.clear();
    plan_pending_ = false;
    if (auto diff = compare_with_model(*log_, model_); !diff.empty()) {
      fail(fmt::format("{}: {}", why, diff));
      return;
    }
    auto files = unexpected_files(mem_, kDir, log_->segment_count());
    for (const auto& name : leftover_tmp_) {
      const auto it = files.find(fmt::format(" unexpected file '{}';", name));
      if (it != std::string::npos) files.erase(it, name.size() + 20);
    }
    if (!files.empty()) fail(fmt::format("{}: directory:{}", why, files));
  }

  // Cheap invariants after every step.
  void check_steady() {
    if (log_ == nullptr) {
      fail("no log");
      return;
    }
    if (log_->fenced()) {
      fail("the log is fenced after a step that did not fail");
      return;
    }
    const Offset end = log_->end_offset();
    check(end == model_.end(), fmt::format("end {} model {}", end, model_.end()));
    check(log_->start_offset() <= end && log_->flushed_end_offset() <= end,
          fmt::format("start {} flushed {} end {}", log_->start_offset(),
                      log_->flushed_end_offset(), end));
    check(log_->segment_count() >= 1, "no segment");
    if (config_.flush_policy == FlushPolicy::always && log_->flushed_end_offset() < end) {
      check(log_->flush_due(), "unflushed data under policy always but flush_due() is false");
    }
  }

  std::uint64_t seed_;
  Rng rng_;
  bool faults_;
  SimStats& stats_;
  MemFs mem_;
  FaultyFs faulty_{mem_};
  ManualClock clock_;
  LogConfig config_;
  std::unique_ptr<PartitionLog> log_;
  LogModel model_;
  Offset durable_end_{0};      // every batch below is durable
  Offset persisted_start_{0};  // advance_start returned ok for this
  Offset start_ceiling_{0};    // the start may be anything up to here after a restart
  Term term_{1};
  std::int64_t ts_ = 0;
  bool plan_pending_ = false;
  bool crashed_in_reopen_ = false;
  std::vector<std::string> leftover_tmp_;  // an open failed to remove these
  bool index_skipped_ = false;             // an open could not rewrite an index file
  std::uint64_t fired_seen_ = 0;
  int step_ = 0;
  std::deque<std::string> trail_;
  std::string failure_;
};

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

std::vector<std::uint64_t> seeds(std::uint64_t first) {
  if (std::getenv("SPATE_SIM_SEED") != nullptr) return {env_or("SPATE_SIM_SEED", 1)};
  const auto count = env_or("SPATE_SIM_SEEDS", 200);
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 0; s < count; ++s) out.push_back(first + s);
  return out;
}

void run_seeds(bool faults, std::uint64_t first_seed) {
  spate::testing::quiet_storage_logs();
  const int ops = static_cast<int>(env_or("SPATE_SIM_OPS", 2000));
  // The first three failures in full; with SPATE_SIM_ALL=1, one line for
  // every further failing seed (to see how many seeds one bug breaks).
  const bool all = env_or("SPATE_SIM_ALL", 0) != 0;
  int failed = 0;
  SimStats stats;
  std::size_t ran = 0;
  for (auto seed : seeds(first_seed)) {
    ++ran;
    ModelSim sim(seed, faults, stats);
    auto failure = sim.run(ops);
    if (failure.empty()) continue;
    ++failed;
    if (failed <= 3) {
      ADD_FAILURE() << failure;
    } else if (all) {
      ADD_FAILURE() << failure.substr(0, failure.find('\n'));
    } else {
      break;
    }
  }
  std::printf(
      "[ sim      ] %zu seeds, %llu ops: %llu appends, %llu truncations, %llu crashes, %llu "
      "opens, %llu recovery cuts, %llu restarts at the start offset, %llu faults fired, %llu "
      "segments deleted by retention; failed writes: %llu fenced, %llu refused writes (%llu "
      "resumed without a restart), %llu full disks absorbed\n",
      ran, static_cast<unsigned long long>(stats.ops),
      static_cast<unsigned long long>(stats.appends),
      static_cast<unsigned long long>(stats.truncations),
      static_cast<unsigned long long>(stats.crashes),
      static_cast<unsigned long long>(stats.reopens), static_cast<unsigned long long>(stats.cuts),
      static_cast<unsigned long long>(stats.restarts),
      static_cast<unsigned long long>(stats.faults),
      static_cast<unsigned long long>(stats.segments_deleted),
      static_cast<unsigned long long>(stats.fenced), static_cast<unsigned long long>(stats.refused),
      static_cast<unsigned long long>(stats.resumed),
      static_cast<unsigned long long>(stats.absorbed));
}

TEST(LogModelSim, RandomOperationsOnMemFsMatchTheModel) { run_seeds(false, 1); }

TEST(LogModelSim, RandomOperationsWithInjectedFaultsMatchTheModel) { run_seeds(true, 100'001); }

// Seeds that once found bugs, replayed on every run whatever the seed range:
// 100279 (an EIO reading the recovery point at a clean open was taken for
// damage, leaving 0 in memory and a higher value on disk) and 100422 (a
// truncation during an in-flight flush ticket wrote its own offset as the
// recovery point over data that no sync had covered yet), 100286 (close
// wrote the recovery point, then failed on a full disk and the log went on;
// not knowing that value, a later truncation left it above the truncation,
// vouching for unsynced data: corrupt_log at the next open).
TEST(LogModelSim, RegressionSeedsWithInjectedFaults) {
  spate::testing::quiet_storage_logs();
  for (std::uint64_t seed : {100'279ULL, 100'422ULL, 100'286ULL}) {
    SimStats stats;
    ModelSim sim(seed, true, stats);
    const auto failure = sim.run(2000);
    EXPECT_EQ(failure, "") << "seed " << seed;
  }
}

}  // namespace
}  // namespace spate::storage
