// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog under disk faults (reliability.md S2-S4): ENOSPC and EIO on
// append, sync, roll, truncate and open fence the log and a reopen recovers
// every flushed batch; a sweep fails every file system call of a scenario in turn.

#include <cstdio>
#include <functional>
#include <sstream>

#include <gtest/gtest.h>

#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_testing.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::LogModel;
using spate::testing::make_varied_batch;
using spate::testing::unexpected_files;

const std::filesystem::path kDir = "/data/topic-0";
constexpr int kEio = 5;
constexpr int kEnospc = 28;
constexpr auto kAll = static_cast<std::uint32_t>(FaultOp::all);
constexpr auto kWrites = kAll & ~static_cast<std::uint32_t>(FaultOp::read);

std::uint32_t ops(std::initializer_list<FaultOp> list) {
  std::uint32_t out = 0;
  for (auto op : list) out |= static_cast<std::uint32_t>(op);
  return out;
}

FaultPlan plan(std::uint32_t on, int err, std::uint64_t countdown = 1) {
  FaultPlan p;
  p.ops = on;
  p.err = err;
  p.countdown = countdown;
  return p;
}

// After a failed write or sync the log refuses writes: for good (fenced: any
// failed sync, or EIO) or until storage recovers (ENOSPC, EMFILE; the clock
// of these tests does not move, so the backoff never ends). Either way it
// keeps serving reads of what was durable, unless `reads_work` is false (a
// dead disk fails the reads themselves).
void expect_fenced(PartitionLog& log, bool reads_work = true) {
  ASSERT_FALSE(log.writable());
  const bool fenced = log.fenced();
  if (!fenced) {
    ASSERT_TRUE(log.write_block().has_value());
    EXPECT_TRUE(is_transient_storage_error(*log.write_block())) << *log.write_block();
  }
  const Errc refused = fenced ? Errc::log_fenced : log.write_block()->code();
  auto expect = [&](const Status& s, const char* what) {
    ASSERT_FALSE(s) << what << " worked on a log that refuses writes";
    EXPECT_EQ(s.error().code(), refused) << what << ": " << s.error();
  };
  Rng rng(1);
  auto batch = make_varied_batch(rng, 1, 10, 0);
  auto a = log.append(batch, log.last_term());
  expect(a ? Status() : Status(a.error()), "append");
  if (reads_work) {
    auto r = log.read(log.start_offset(), 100);
    ASSERT_TRUE(r) << "read: " << r.error();
    EXPECT_LE(r->next_offset,
              std::max(log.start_offset(), fenced ? log.flushed_end_offset() : log.end_offset()));
    auto t = log.find_offset_by_timestamp(0);
    EXPECT_TRUE(t) << "find_offset_by_timestamp: " << t.error();
  }
  expect(log.truncate_suffix(log.start_offset()), "truncate_suffix");
  expect(log.roll(), "roll");
  if (fenced) {
    expect(log.advance_start(log.end_offset()), "advance_start");
    auto ret = log.apply_retention();
    expect(ret ? Status() : Status(ret.error()), "apply_retention");
    expect(log.flush(), "flush");
    expect(log.close(), "close");
    EXPECT_FALSE(log.flush_due());
  }
}

// A log on FaultyFs over MemFs with its model and acknowledged end.
class LogRig {
 public:
  LogRig() {
    spate::testing::quiet_storage_logs();
    EXPECT_TRUE(mem_.create_directories("/data"));
    EXPECT_TRUE(mem_.sync_directory("/"));
  }

  Result<std::unique_ptr<PartitionLog>> try_open() {
    return PartitionLog::open(faulty_, kDir, config_, clock_);
  }

  std::unique_ptr<PartitionLog> open_log() {
    auto log = try_open();
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  Result<AppendResult> append(PartitionLog& log, int records = 3, std::size_t value_bytes = 200,
                              Term term = Term(1)) {
    auto batch = make_varied_batch(rng_, records, value_bytes, ts_);
    ts_ += records;
    auto sent = batch;
    auto r = log.append(batch, term);
    if (r) model_.append(sent, r->base_offset, term);
    return r;
  }

  // Appends `count` batches and flushes them: acknowledged.
  void append_flushed(PartitionLog& log, int count) {
    for (int i = 0; i < count; ++i) ASSERT_TRUE(append(log));
    ASSERT_TRUE(log.flush());
    acked_ = log.end_offset();
  }

  // Reopens after a fault: the process dies (and the power too, if
  // `power_loss`), the disk is healthy again. Every acknowledged batch must be
  // there, whole, and nothing half-written may be visible.
  std::unique_ptr<PartitionLog> recover(std::unique_ptr<PartitionLog> log, bool power_loss,
                                        std::uint64_t keep_unsynced = 0) {
    log.reset();
    faulty_.clear();
    if (power_loss) {
      mem_.crash([&](const std::filesystem::path&, std::uint64_t) { return keep_unsynced; });
    }
    auto reopened = try_open();
    EXPECT_TRUE(reopened) << "reopen after a fault: " << reopened.error();
    if (!reopened) return nullptr;
    auto& l = **reopened;
    EXPECT_GE(l.end_offset(), acked_) << "an acknowledged batch was lost";
    EXPECT_TRUE(model_.is_boundary(l.end_offset()))
        << "recovered end " << l.end_offset() << " is not a batch boundary";
    EXPECT_EQ(l.flushed_end_offset(), l.end_offset());
    model_.truncate(l.end_offset());
    EXPECT_EQ(compare_with_model(l, model_), "");
    EXPECT_EQ(unexpected_files(mem_, kDir, l.segment_count()), "");
    acked_ = l.end_offset();
    return std::move(*reopened);
  }

  // The recovered log takes appends and keeps them through a clean restart.
  void expect_healthy(std::unique_ptr<PartitionLog> log) {
    ASSERT_NE(log, nullptr);
    auto r = append(*log);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->base_offset, acked_);
    ASSERT_TRUE(log->close());
    log = open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_TRUE(log->recovery().clean);
    EXPECT_EQ(compare_with_model(*log, model_), "");
  }

  MemFs mem_;
  FaultyFs faulty_{mem_};
  ManualClock clock_;
  LogConfig config_;
  LogModel model_;
  Rng rng_{4242};
  std::int64_t ts_ = 1'700'000'000'000;
  Offset acked_{0};
  std::unique_ptr<PartitionLog> log_;

  // Builds a starting state for the sweeps (not faulted): flushed batches
  // over several segments.
  void prepare() {
    config_.segment_bytes_max = 700;
    config_.index_interval_bytes = 200;
    auto log = open_log();
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(append(*log, 2, 100));
    ASSERT_TRUE(log->flush());
    acked_ = log->end_offset();
    ASSERT_GE(log->segment_count(), 3U);
    log_ = std::move(log);
  }
};

class LogFaults : public ::testing::Test, public LogRig {};

// ---------------------------------------------------------------- append

TEST_F(LogFaults, EnospcOnAppendIsReturnedAndRefusesWritesUntilTheBackoff) {
  auto log = open_log();
  append_flushed(*log, 3);
  faulty_.inject(plan(ops({FaultOp::append}), kEnospc));
  auto r = append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space) << r.error();
  EXPECT_EQ(log->end_offset(), acked_);
  expect_fenced(*log);
  faulty_.clear();
  expect_fenced(*log);  // the clock has not moved: still backing off
  expect_healthy(recover(std::move(log), /*power_loss=*/false));
}

TEST_F(LogFaults, EioOnAppendIsReturnedAndFencesTheLog) {
  auto log = open_log();
  append_flushed(*log, 3);
  ASSERT_TRUE(append(*log));  // unflushed: may be lost, never half-visible
  faulty_.inject(plan(ops({FaultOp::append}), kEio));
  auto r = append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io_error) << r.error();
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

TEST_F(LogFaults, TornPartialAppendIsCutOnReopen) {
  auto log = open_log();
  append_flushed(*log, 3);
  FaultPlan p = plan(ops({FaultOp::append}), kEnospc);
  p.torn_append_bytes = 100;
  faulty_.inject(p);
  ASSERT_FALSE(append(*log, 5, 300));
  expect_fenced(*log);
  log.reset();
  faulty_.clear();
  log = open_log();  // the process restarts; the 100 bytes are in the page cache
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().bytes_cut, 100U);
  EXPECT_EQ(log->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  expect_healthy(std::move(log));
}

// The write reached the file whole but reported an error: after a reopen the
// batch is either whole or gone.
TEST_F(LogFaults, AppendThatWroteEverythingButFailedIsWholeOrGone) {
  auto log = open_log();
  append_flushed(*log, 2);
  auto batch = make_varied_batch(rng_, 4, 100, ts_);
  FaultPlan p = plan(ops({FaultOp::append}), kEio);
  p.torn_append_bytes = batch.size();
  faulty_.inject(p);
  auto sent = batch;
  ASSERT_FALSE(log->append(batch, Term(1)));
  model_.append(sent, acked_, Term(1));  // it may survive
  expect_healthy(recover(std::move(log), /*power_loss=*/false));
}

// ---------------------------------------------------------------- sync

TEST_F(LogFaults, EioOnFlushFencesAndIsNeverRetried) {
  auto log = open_log();
  append_flushed(*log, 3);
  ASSERT_TRUE(append(*log));
  ASSERT_TRUE(append(*log));
  faulty_.inject(plan(ops({FaultOp::sync}), kEio));
  auto s = log->flush();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::io_error) << s.error();
  EXPECT_EQ(log->flushed_end_offset(), acked_);
  const auto syncs = faulty_.calls(ops({FaultOp::sync}));
  expect_fenced(*log);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::sync})), syncs) << "a failed fsync was retried";
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

TEST_F(LogFaults, EnospcOnFlushIsNoSpace) {
  auto log = open_log();
  append_flushed(*log, 2);
  ASSERT_TRUE(append(*log));
  faulty_.inject(plan(ops({FaultOp::sync}), kEnospc));
  auto s = log->flush();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::no_space) << s.error();
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true, 50));
}

TEST_F(LogFaults, EioOnATicketSyncFencesAtFinishFlush) {
  auto log = open_log();
  append_flushed(*log, 3);
  ASSERT_TRUE(append(*log));
  FlushTicket ticket = log->begin_flush();
  faulty_.inject(plan(ops({FaultOp::sync}), kEio));
  const Status synced = ticket.sync();  // on the disk thread
  ASSERT_FALSE(synced);
  // The owner has not heard yet and keeps appending.
  ASSERT_TRUE(append(*log));
  EXPECT_FALSE(log->fenced());
  auto s = log->finish_flush(ticket, synced);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::io_error) << s.error();
  EXPECT_EQ(log->flushed_end_offset(), acked_);
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

TEST_F(LogFaults, FailedDirectorySyncInAFlushAfterARollFences) {
  config_.segment_bytes_max = 2000;
  auto log = open_log();
  append_flushed(*log, 2);
  while (log->segment_count() < 3) ASSERT_TRUE(append(*log));
  faulty_.inject(plan(ops({FaultOp::directory}), kEio));
  auto s = log->flush();
  ASSERT_FALSE(s);
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

// ---------------------------------------------------------------- reads

// A read error is not a write error: it is reported as io_error and the log
// stays usable (the contract fences only after failed writes and syncs).
TEST_F(LogFaults, EioOnReadIsAnIoErrorAndDoesNotFence) {
  config_.index_interval_bytes = 100;
  auto log = open_log();
  append_flushed(*log, 10);
  faulty_.inject(plan(ops({FaultOp::read}), kEio));
  auto r = log->read(Offset(7), 1000);
  faulty_.clear();
  ASSERT_EQ(faulty_.faults_fired(), 1U);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io_error) << r.error();
  EXPECT_FALSE(log->fenced());
  auto again = log->read(Offset(7), 1000);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

TEST_F(LogFaults, EioWhileReadingTheReturnedSliceIsAnIoError) {
  auto log = open_log();
  append_flushed(*log, 3);
  auto r = log->read(Offset(0), 1U << 20U);
  ASSERT_TRUE(r);
  faulty_.inject(plan(ops({FaultOp::read}), kEio));
  auto bytes = r->bytes.read_all();
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code(), Errc::io_error) << bytes.error();
}

TEST_F(LogFaults, EioInATimeLookupIsAnIoError) {
  auto log = open_log();
  append_flushed(*log, 4);
  faulty_.inject(plan(ops({FaultOp::read}), kEio));
  auto hit = log->find_offset_by_timestamp(ts_ - 2);
  faulty_.clear();
  ASSERT_EQ(faulty_.faults_fired(), 1U);
  ASSERT_FALSE(hit);
  EXPECT_EQ(hit.error().code(), Errc::io_error) << hit.error();
  EXPECT_FALSE(log->fenced());
}

// ---------------------------------------------------------------- sweeps

TEST(LogFaultSweep, FailureAtEveryCallOfARollFencesAndRecovers) {
  std::uint64_t calls = 0;
  {
    LogRig probe;
    probe.prepare();
    ASSERT_TRUE(probe.append(*probe.log_));
    const auto before = probe.faulty_.calls(kAll);
    ASSERT_TRUE(probe.log_->roll());
    ASSERT_TRUE(probe.log_->flush());
    calls = probe.faulty_.calls(kAll) - before;
  }
  ASSERT_GT(calls, 3U);
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    ASSERT_TRUE(run.append(*run.log_));
    run.faulty_.inject(plan(kAll, n % 2 == 0 ? kEio : kEnospc, n));
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
    const auto before = probe.faulty_.calls(kAll);
    ASSERT_TRUE(probe.log_->truncate_suffix(to));
    calls = probe.faulty_.calls(kAll) - before;
  }
  ASSERT_GT(calls, 3U);
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    run.faulty_.inject(plan(kAll, n % 2 == 0 ? kEio : kEnospc, n));
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
    ASSERT_TRUE(probe.append(*probe.log_));  // unflushed: the open must sync it
    probe.log_.reset();
    const auto before = probe.faulty_.calls(kAll);
    auto log = probe.try_open();
    ASSERT_TRUE(log);
    calls = probe.faulty_.calls(kAll) - before;
  }
  ASSERT_GT(calls, 5U);
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    ASSERT_TRUE(run.append(*run.log_));
    run.log_.reset();
    run.faulty_.inject(plan(kAll, n % 2 == 0 ? kEio : kEnospc, n));
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
    ASSERT_TRUE(probe.append(*probe.log_));
    const auto before = probe.faulty_.calls(kAll);
    ASSERT_TRUE(probe.log_->close());
    probe.log_.reset();
    auto log = probe.try_open();
    ASSERT_TRUE(log);
    calls = probe.faulty_.calls(kAll) - before;
  }
  for (std::uint64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE(::testing::Message() << "failing call " << n << " of " << calls);
    LogRig run;
    run.prepare();
    ASSERT_TRUE(run.append(*run.log_));
    run.faulty_.inject(plan(kAll, n % 2 == 0 ? kEio : kEnospc, n));
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

TEST_F(LogFaults, DeadDiskFailsEveryCallUntilReplaced) {
  auto log = open_log();
  append_flushed(*log, 3);
  FaultPlan p = plan(kAll, kEio);
  p.sticky = true;
  faulty_.inject(p);
  ASSERT_FALSE(append(*log));
  expect_fenced(*log, /*reads_work=*/false);
  log.reset();
  auto dead = try_open();
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code(), Errc::io_error) << dead.error();
  expect_healthy(recover(nullptr, /*power_loss=*/true));
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
    auto log = PartitionLog::open(faulty_, kDir, config_, clock_);
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
    auto log = PartitionLog::open(faulty_, kDir, config_, clock_);
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
    if (auto files = unexpected_files(mem_, kDir, l.segment_count()); !files.empty()) {
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
