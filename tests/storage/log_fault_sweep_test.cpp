// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog fault sweeps (reliability.md S2): the Nth file system call of a
// roll, a truncation, an unclean open, a clean close and a whole scenario
// (appends, flushes, a ticket, a roll, a truncation, a start offset, retention,
// close and reopen) fails, for every N, with EIO or ENOSPC, torn or not, then
// a crash or a power loss: every acknowledged batch survives, whole.

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/faults.h"
#include "support/log_rig.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::expect_fenced;
using spate::testing::kAllOps;
using spate::testing::kEio;
using spate::testing::kEnospc;
using spate::testing::kLogDir;
using spate::testing::LogModel;
using spate::testing::LogRig;
using spate::testing::make_varied_batch;
using spate::testing::plan;
using spate::testing::unexpected_files;

constexpr auto kWrites = kAllOps & ~static_cast<std::uint32_t>(FaultOp::read);

TEST(LogFaultSweep, FailureAtEveryCallOfARollFencesAndRecovers) {
  std::uint64_t calls = 0;
  {
    LogRig probe;
    probe.prepare();
    ASSERT_TRUE(probe.try_append(*probe.log_));
    const auto before = probe.faulty_.calls(kAllOps);
    ASSERT_TRUE(probe.log_->roll());
    ASSERT_TRUE(probe.log_->flush());
    calls = probe.faulty_.calls(kAllOps) - before;
  }
  ASSERT_GT(calls, 3U);
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    ASSERT_TRUE(run.try_append(*run.log_));
    run.faulty_.inject(plan(kAllOps, n % 2 == 0 ? kEio : kEnospc, n));
    Status s = run.log_->roll();
    if (s) s = run.log_->flush();
    if (s) {
      // Only a full disk while writing the recovery point is shrugged off:
      // the data is durable, the old recovery point stays, writes go on.
      EXPECT_EQ(n % 2, 1U) << "an EIO surfaced no error";
      EXPECT_TRUE(run.log_->writable());
      EXPECT_EQ(run.log_->flushed_end_offset(), run.log_->end_offset());
    } else {
      EXPECT_TRUE(s.error().code() == Errc::io_error || s.error().code() == Errc::no_space)
          << s.error();
      expect_fenced(*run.log_);
    }
    run.expect_healthy(run.recover(std::move(run.log_), /*power_loss=*/n % 3 != 0, n % 5 * 40));
  }
}

TEST(LogFaultSweep, FailureAtEveryCallOfATruncationFencesAndRecovers) {
  std::uint64_t calls = 0;
  Offset to;
  {
    LogRig probe;
    probe.prepare();
    to = probe.model_.batches()[3].base;  // in the first segment: later ones go
    const auto before = probe.faulty_.calls(kAllOps);
    ASSERT_TRUE(probe.log_->truncate_suffix(to));
    calls = probe.faulty_.calls(kAllOps) - before;
  }
  ASSERT_GT(calls, 3U);
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    run.faulty_.inject(plan(kAllOps, n % 2 == 0 ? kEio : kEnospc, n));
    auto s = run.log_->truncate_suffix(to);
    ASSERT_FALSE(s) << "no error surfaced";
    expect_fenced(*run.log_);
    // A truncation that failed part-way may have dropped any suffix past `to`,
    // but never anything below it, and never part of a batch.
    run.acked_ = to;
    run.expect_healthy(run.recover(std::move(run.log_), /*power_loss=*/n % 2 == 1));
  }
}

TEST(LogFaultSweep, FailureAtEveryCallOfAnUncleanOpenIsReturnedAndALaterOpenWorks) {
  std::uint64_t calls = 0;
  {
    LogRig probe;
    probe.prepare();
    ASSERT_TRUE(probe.try_append(*probe.log_));  // unflushed: the open must sync it
    probe.log_.reset();
    const auto before = probe.faulty_.calls(kAllOps);
    auto log = probe.try_open();
    ASSERT_TRUE(log);
    calls = probe.faulty_.calls(kAllOps) - before;
  }
  ASSERT_GT(calls, 5U);
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    ASSERT_TRUE(run.try_append(*run.log_));
    run.log_.reset();
    run.faulty_.inject(plan(kAllOps, n % 2 == 0 ? kEio : kEnospc, n));
    auto failed = run.try_open();
    if (failed) {
      // Some calls may fail harmlessly (a damaged recovery point only means a
      // longer scan); the log must then be whole.
      EXPECT_EQ(compare_with_model(**failed, run.model_), "");
      continue;
    }
    EXPECT_TRUE(failed.error().code() == Errc::io_error || failed.error().code() == Errc::no_space)
        << failed.error();
    run.expect_healthy(run.recover(nullptr, /*power_loss=*/n % 2 == 0));
  }
}

TEST(LogFaultSweep, FailureAtEveryCallOfACleanCloseAndOpenRecovers) {
  std::uint64_t calls = 0;
  {
    LogRig probe;
    probe.prepare();
    ASSERT_TRUE(probe.try_append(*probe.log_));
    const auto before = probe.faulty_.calls(kAllOps);
    ASSERT_TRUE(probe.log_->close());
    probe.log_.reset();
    auto log = probe.try_open();
    ASSERT_TRUE(log);
    calls = probe.faulty_.calls(kAllOps) - before;
  }
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    ASSERT_TRUE(run.try_append(*run.log_));
    run.faulty_.inject(plan(kAllOps, n % 2 == 0 ? kEio : kEnospc, n));
    auto closed = run.log_->close();
    if (!closed) {
      expect_fenced(*run.log_);
      run.expect_healthy(run.recover(std::move(run.log_), /*power_loss=*/n % 2 == 0));
      continue;
    }
    run.acked_ = run.log_->end_offset();  // a clean close flushed everything
    run.log_.reset();
    auto opened = run.try_open();
    if (opened) {
      EXPECT_EQ(compare_with_model(**opened, run.model_), "");
      continue;
    }
    run.expect_healthy(run.recover(nullptr, /*power_loss=*/n % 2 == 0));
  }
}

// reliability.md S2: a scenario touching every kind of write (appends,
// flushes, a flush ticket, rolls, a truncation, a start offset, retention, a
// clean close and reopen) with its Nth file system call failing, for every N.
// After the failure the process dies (in three variants of four the power
// too); the reopened log must hold every acknowledged batch, whole, and
// nothing half-written.
class ScenarioRun {
 public:
  ScenarioRun(std::uint64_t fail_at, int err, std::uint64_t torn, bool power_loss,
              std::uint64_t keep)
      : fail_at_(fail_at), err_(err), torn_(torn), power_loss_(power_loss), keep_(keep) {
    config_.segment_bytes_max = 1200;
    config_.index_interval_bytes = 150;
    config_.retention_ms = -1;
  }

  // Runs the scenario; returns the number of calls it made (for the probe)
  // and sets failure() on a broken invariant.
  std::uint64_t run() {
    if (!mem_.create_directories("/data") || !mem_.sync_directory("/")) return fail("setup");
    const auto start = faulty_.calls(kWrites);
    if (fail_at_ > 0) {
      // Reads are left out: a failed read does not fence, and read faults
      // have their own tests above.
      FaultPlan p = plan(kWrites, err_, fail_at_);
      p.torn_append_bytes = torn_;
      faulty_.inject(p);
    }
    scenario();
    const auto made = faulty_.calls(kWrites) - start;
    if (failure_.empty() && fail_at_ > 0) verify_recovery();
    return made;
  }

  [[nodiscard]] const std::string& failure() const { return failure_; }
  [[nodiscard]] bool errored() const { return errored_; }

 private:
  std::uint64_t fail(const std::string& what) {
    if (failure_.empty()) {
      std::ostringstream out;
      out << "fail_at=" << fail_at_ << " errno=" << err_ << " torn=" << torn_
          << " power_loss=" << power_loss_ << " keep=" << keep_ << ": " << what << "\n steps:";
      for (const auto& s : steps_) out << "\n  " << s;
      failure_ = out.str();
    }
    return 0;
  }

  // An operation's outcome. False stops the scenario (an error happened).
  bool done(const Status& s, const char* what, bool writes = true) {
    steps_.push_back(fmt::format("{} -> {}", what, s ? "ok" : s.error().message()));
    if (s) return true;
    errored_ = true;
    if (fail_at_ == 0 || faulty_.faults_fired() == 0) {
      fail(fmt::format("{} failed without an injected fault", what));
      return false;
    }
    const Errc code = s.error().code();
    if (code != Errc::io_error && code != Errc::no_space) {
      fail(fmt::format("{} failed with {}, not the injected errno", what, s.error().message()));
      return false;
    }
    // Fenced, or refusing writes until storage recovers (ENOSPC).
    if (writes && log_ != nullptr && log_->writable()) {
      fail(fmt::format("{} failed but the log still takes writes", what));
    }
    return false;
  }

  bool open() {
    auto log = PartitionLog::open(faulty_, kLogDir, config_, clock_);
    if (!log) return done(log.error(), "open", false);
    log_ = std::move(*log);
    steps_.emplace_back("open -> ok");
    return true;
  }

  bool append(int records) {
    auto batch = make_varied_batch(rng_, records, 120, ts_);
    ts_ += records;
    auto sent = batch;
    auto r = log_->append(batch, term_);
    if (!r) {
      // It may have reached the file whole: it may survive, or not.
      model_.append(sent, log_->end_offset(), term_);
      return done(r.error(), "append");
    }
    model_.append(sent, r->base_offset, term_);
    steps_.push_back(fmt::format("append [{}, {}]", r->base_offset, r->last_offset));
    return true;
  }

  bool flush() {
    auto s = log_->flush();
    if (s) acked_ = log_->end_offset();
    return done(s, "flush");
  }

  void scenario() {
    if (!open()) return;
    for (int i = 0; i < 5; ++i) {
      if (!append(2)) return;
    }
    if (!flush()) return;
    // A flush ticket with appends while it is in flight.
    for (int i = 0; i < 3; ++i) {
      if (!append(3)) return;
    }
    FlushTicket ticket = log_->begin_flush();
    if (!append(1)) {
      (void)log_->finish_flush(ticket, Error::io("abandoned"));
      return;
    }
    const Status synced = ticket.sync();
    auto finished = log_->finish_flush(ticket, synced);
    if (finished) acked_ = std::max(acked_, ticket.end_offset());
    if (!done(finished, "ticket flush")) return;
    if (!done(log_->roll(), "roll")) return;
    term_ = Term(2);
    for (int i = 0; i < 4; ++i) {
      if (!append(2)) return;
    }
    // Raft replaces a divergent tail: back to a batch in an earlier segment.
    const Offset to = model_.batches()[6].base;
    auto truncated = log_->truncate_suffix(to);
    acked_ = std::min(acked_, to);  // even a failed truncation may have dropped the rest
    if (!done(truncated, "truncate_suffix")) return;
    model_.truncate(to);
    term_ = Term(3);
    for (int i = 0; i < 4; ++i) {
      if (!append(2)) return;
    }
    if (!flush()) return;
    const Offset new_start = model_.batches()[3].base + 1;
    start_ceiling_ = new_start;
    auto advanced = log_->advance_start(new_start);
    // A full disk while replacing start.offset leaves the old file and the
    // old start: nothing changed, and writes go on.
    const bool refusal_expected = !advanced && !is_transient_storage_error(advanced.error());
    if (!done(advanced, "advance_start", refusal_expected)) return;
    persisted_start_ = new_start;
    LogConfig c = config_;
    c.retention_bytes = 2000;
    if (!done(log_->set_config(c), "set_config", false)) return;
    auto retained = log_->apply_retention();
    start_ceiling_ = log_->end_offset();  // whatever retention deletes
    if (!done(retained ? Status() : Status(retained.error()), "apply_retention")) return;
    if (!append(1)) return;
    auto closed = log_->close();
    if (closed) acked_ = log_->end_offset();
    if (!done(closed, "close")) return;
    log_.reset();
    if (!open()) return;
    if (!append(2)) return;
    if (!flush()) return;
    done(log_->close(), "close again");
    log_.reset();
  }

  void verify_recovery() {
    log_.reset();
    faulty_.clear();
    if (power_loss_) {
      mem_.crash([&](const std::filesystem::path&, std::uint64_t) { return keep_; });
    }
    auto log = PartitionLog::open(faulty_, kLogDir, config_, clock_);
    if (!log) {
      fail(fmt::format("reopen failed: {}", log.error().message()));
      return;
    }
    auto& l = **log;
    if (l.end_offset() < acked_) {
      fail(fmt::format("recovered end {} below the acknowledged end {}", l.end_offset(), acked_));
      return;
    }
    if (!model_.is_boundary(l.end_offset())) {
      fail(fmt::format("recovered end {} is not a batch boundary (model end {})", l.end_offset(),
                       model_.end()));
      return;
    }
    if (l.start_offset() < persisted_start_) {
      fail(
          fmt::format("start {} below the persisted start {}", l.start_offset(), persisted_start_));
      return;
    }
    if (l.start_offset() > std::max(start_ceiling_, persisted_start_)) {
      fail(fmt::format("start {} past anything the scenario asked for", l.start_offset()));
      return;
    }
    model_.truncate(l.end_offset());
    if (auto diff = compare_with_model(l, model_); !diff.empty()) {
      fail(diff);
      return;
    }
    if (auto files = unexpected_files(mem_, kLogDir, l.segment_count()); !files.empty()) {
      fail(files);
      return;
    }
    // It goes on.
    auto batch = make_varied_batch(rng_, 1, 10, ts_);
    auto r = l.append(batch, l.last_term());
    if (!r || r->base_offset != l.end_offset() - 1) {
      fail("append after recovery");
      return;
    }
    if (!l.close()) fail("close after recovery");
  }

  std::uint64_t fail_at_;
  int err_;
  std::uint64_t torn_;
  bool power_loss_;
  std::uint64_t keep_;
  MemFs mem_;
  FaultyFs faulty_{mem_};
  ManualClock clock_;
  LogConfig config_;
  Rng rng_{8};
  std::int64_t ts_ = 1'700'000'000'000;
  Term term_{1};
  std::unique_ptr<PartitionLog> log_;
  LogModel model_;
  Offset acked_{0};
  Offset persisted_start_{0};
  Offset start_ceiling_{0};
  bool errored_ = false;
  std::vector<std::string> steps_;
  std::string failure_;
};

TEST(LogFaultSweep, FailingEveryCallOfAScenarioInTurnNeverLosesAnAcknowledgedBatch) {
  spate::testing::quiet_storage_logs();
  ScenarioRun probe(0, 0, 0, false, 0);
  const std::uint64_t calls = probe.run();
  ASSERT_EQ(probe.failure(), "");
  ASSERT_GT(calls, 50U);
  int runs = 0;
  int errored = 0;  // runs where the failed call surfaced as an error
  int eio_runs = 0;
  int eio_errored = 0;
  std::vector<std::string> failures;
  for (std::uint64_t n = 1; n <= calls; ++n) {
    // Each call fails four ways: EIO or ENOSPC, a torn or a clean append, then
    // a process crash or a power loss keeping some unsynced bytes.
    for (int variant = 0; variant < 4; ++variant) {
      ScenarioRun run(n, variant % 2 == 0 ? kEio : kEnospc, variant < 2 ? 0 : 37 * n, variant != 1,
                      variant == 3 ? 100 : 0);
      run.run();
      ++runs;
      errored += run.errored() ? 1 : 0;
      if (variant % 2 == 0) {
        ++eio_runs;
        eio_errored += run.errored() ? 1 : 0;
      }
      if (!run.failure().empty()) {
        failures.push_back(fmt::format("variant {}: {}", variant, run.failure()));
      }
    }
  }
  for (std::size_t i = 0; i < std::min<std::size_t>(failures.size(), 3); ++i) {
    ADD_FAILURE() << failures[i];
  }
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << runs << " runs failed";
  EXPECT_GE(runs, 200);
  // A full disk while replacing the recovery point is absorbed (the data is
  // durable; the old recovery point stays true), so count EIO alone.
  EXPECT_GT(eio_errored, eio_runs * 9 / 10) << "most failed calls must reach the caller";
  EXPECT_GT(errored, runs * 8 / 10) << "most failed calls must reach the caller";
  std::printf("[ sweep    ] %llu calls, %d runs, %d surfaced an error\n",
              static_cast<unsigned long long>(calls), runs, errored);
}

}  // namespace
}  // namespace spate::storage
