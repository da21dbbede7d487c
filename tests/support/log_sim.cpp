// SPDX-License-Identifier: Apache-2.0
//
// ModelSim: the run, its checks, how injected faults are judged, and crashes
// and reopens with what is checked after them.

#include "support/log_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"

#include "support/batches.h"

namespace spate::storage::sim {

using spate::testing::compare_with_model;
using spate::testing::make_varied_batch;
using spate::testing::split_batches;
using spate::testing::unexpected_files;

ModelSim::ModelSim(std::uint64_t seed, bool faults, SimStats& stats, bool compact)
    : seed_(seed), rng_(seed), faults_(faults), compact_(compact), stats_(stats) {
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
  if (compact_) setup_compaction();  // after the draws above: other seeds run as before
}

// Runs `ops` random operations. Returns an empty string, or the seed, what
// broke and the last operations, one line each.
std::string ModelSim::run(int ops) {
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

void ModelSim::note(std::string line) {
  // SPATE_SIM_TRACE=1 prints every operation as it runs (for a seed that
  // ends in an assertion, which leaves no trail behind).
  static const bool trace = std::getenv("SPATE_SIM_TRACE") != nullptr;
  if (trace) std::fprintf(stderr, "#%d %s\n", step_, line.c_str());
  trail_.push_back(fmt::format("#{} {}", step_, std::move(line)));
  if (trail_.size() > 50) trail_.pop_front();
}

std::string ModelSim::fail(const std::string& what) {
  if (failure_.empty()) {
    std::ostringstream out;
    out << "seed " << seed_ << (faults_ ? " (FaultyFs)" : " (MemFs)") << " step " << step_ << ": "
        << what << "\n  replay: SPATE_SIM_SEED=" << seed_ << " --gtest_filter=LogModelSim."
        << (compact_ ? "Compacted*" : "*") << (faults_ ? "Faults" : "MemFs")
        << "*\n  last operations:";
    for (const auto& l : trail_) out << "\n    " << l;
    failure_ = out.str();
  }
  return failure_;
}

bool ModelSim::check(bool ok, const std::string& what) {
  if (!ok) fail(what);
  return ok;
}

// ------------------------------------------------------------ faults
void ModelSim::maybe_inject() {
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

bool ModelSim::fault_fired() {
  const auto fired = faulty_.faults_fired();
  if (fired == fired_seen_) return false;
  stats_.faults += fired - fired_seen_;
  fired_seen_ = fired;
  return true;
}

bool ModelSim::named(const std::filesystem::path& p, std::string_view name) {
  return p.parent_path() == kDir && p.filename() == name;
}

// A fault inside the atomic rewrite of the recovery point (write_file_atomic:
// the temporary file's open, truncate, append, sync and removal, its rename,
// then the directory sync right after that rename).
bool ModelSim::in_recovery_point_write(const FaultyFs::Fired& f) {
  if (named(f.path, "recovery.point.tmp")) return true;
  return f.op == FaultOp::directory && f.path == kDir &&
         named(f.previous_path, "recovery.point.tmp");
}

// A fault inside a roll that wrote nothing for good: the sealed segment's
// index files (open, truncate, append; never a sync) or the new segment's
// file (open).
bool ModelSim::in_roll(const FaultyFs::Fired& f) {
  const auto ext = f.path.extension();
  if (f.path.parent_path() != kDir) return false;
  if (ext == ".index" || ext == ".timeindex") {
    return f.op == FaultOp::open || f.op == FaultOp::truncate || f.op == FaultOp::append;
  }
  return ext == ".log" && f.op == FaultOp::open;
}

// Call after an operation succeeded: a fault that fired inside a write and
// did not reach the caller is a swallowed write error, except where the
// log absorbs it on purpose (partition_log.h, Failures; docs/limits.md):
//  - flush, finish_flush, close (which flushes first): a full disk while
//    rewriting the recovery point (the data is durable; the old recovery
//    point is still true);
//  - apply_retention: a full disk in the roll of an expired active segment
//    (retention goes on; the log refuses writes for a while).
// Nothing else, and no EIO, is ever absorbed.
void ModelSim::after_success(const char* op, Kind kind) {
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
void ModelSim::resume() {
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
void ModelSim::check_reads_match_model(Offset limit, const char* why) {
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
    // Compaction may leave a gap up to the limit: nothing more to read.
    const auto* next = model_.at_or_after(from);
    if (bytes->empty() && (next == nullptr || next->base >= limit)) return;
    if (!check(
            split_batches(*bytes, parts) && !parts.empty(),
            fmt::format("{}: read from {} (limit {}) returned no whole batch", why, from, limit))) {
      return;
    }
    for (const auto& part : parts) {
      const auto* want = model_.at_or_after(from);
      if (!check(want != nullptr && (compact_ || want->base <= from) && want->next <= limit &&
                     std::equal(part.begin(), part.end(), want->bytes.begin(), want->bytes.end()),
                 fmt::format("{}: the batch read at {} differs from the model", why, from))) {
        return;
      }
      from = want->next;
    }
    if (!check(r->next_offset >= from && model_.gap(from, r->next_offset),
               fmt::format("{}: read next_offset {} but batches end at {}", why, r->next_offset,
                           from))) {
      return;
    }
    from = r->next_offset;
  }
}

// An operation failed. Fine only if a fault fired; then the log must be
// fenced (for writes) and recovery must work.
void ModelSim::on_error(const Error& e, const char* op, Kind kind) {
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

// ------------------------------------------------------------ restarts
// Power loss: unsynced bytes are dropped (mode 0) or torn at a random point
// per file (mode 1).
void ModelSim::crash(std::uint64_t mode) {
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

void ModelSim::clean_reopen() {
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

void ModelSim::unclean_reopen() {
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
bool ModelSim::reopen() {
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
void ModelSim::verify_after_reopen(const char* why, bool nothing_lost) {
  const Offset start = log_->start_offset();
  const Offset end = log_->end_offset();
  if (!check(end >= durable_end_, fmt::format("{}: recovered end {} lost durable data below {}",
                                              why, end, durable_end_))) {
    return;
  }
  if (!check(end <= model_.end() || (start == end && end <= start_ceiling_),
             fmt::format("{}: recovered end {} past the model's end {}", why, end, model_.end()))) {
    return;
  }
  if (!check(start >= persisted_start_, fmt::format("{}: start {} below the persisted start {}",
                                                    why, start, persisted_start_))) {
    return;
  }
  if (!check(start <= start_ceiling_, fmt::format("{}: start {} past anything asked for ({})", why,
                                                  start, start_ceiling_))) {
    return;
  }
  if (model_.is_boundary(end)) {
    model_.truncate(end);
  } else {
    // Only if the start offset was persisted past everything that survived:
    // the log restarts empty there. Otherwise half a batch is visible.
    if (!check(start == end,
               fmt::format("{}: recovered end {} is inside a batch (not a whole-batch prefix)", why,
                           end))) {
      return;
    }
    model_.restart_at(end);
    tombstone_cleaned_ms_.clear();
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
  if (compact_) {
    committed_ = std::min(committed_, end);
    verify_compaction(why, false);
    if (!failure_.empty()) return;
  } else if (auto diff = compare_with_model(*log_, model_); !diff.empty()) {
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
void ModelSim::check_steady() {
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
        fmt::format("start {} flushed {} end {}", log_->start_offset(), log_->flushed_end_offset(),
                    end));
  check(log_->segment_count() >= 1, "no segment");
  if (config_.flush_policy == FlushPolicy::always && log_->flushed_end_offset() < end) {
    check(log_->flush_due(), "unflushed data under policy always but flush_due() is false");
  }
}

}  // namespace spate::storage::sim
