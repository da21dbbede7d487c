// SPDX-License-Identifier: Apache-2.0
//
// Transient storage failures (issue 12 item 5) and the descriptor budget of
// sealed segments (item 4b): a full disk or exhausted descriptors refuse
// writes with a retriable error while reads of acknowledged data go on;
// writes come back by themselves once the fault clears, with no torn or
// duplicated batch; a full disk at open still opens; thousands of segments
// open and read under a descriptor limit far below their count.

#include <cerrno>

#include <gtest/gtest.h>

#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/file_cache.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/faults.h"
#include "support/log_testing.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::LogModel;
using spate::testing::make_varied_batch;
using spate::testing::ops;

const std::filesystem::path kDir = "/data/topic-0";

class LogTransient : public ::testing::Test {
 protected:
  LogTransient() {
    spate::testing::quiet_storage_logs();
    EXPECT_TRUE(mem_.create_directories("/data"));
    EXPECT_TRUE(mem_.sync_directory("/"));
  }

  std::unique_ptr<PartitionLog> open_log(Filesystem* fs = nullptr) {
    auto log = PartitionLog::open(fs != nullptr ? *fs : faulty_, kDir, config_, clock_, {}, cache_);
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  Result<AppendResult> append(PartitionLog& log, int records = 3) {
    auto batch = make_varied_batch(rng_, records, 200, ts_);
    ts_ += records;
    auto sent = batch;
    auto r = log.append(batch, Term(1));
    if (r) model_.append(sent, r->base_offset, Term(1));
    return r;
  }

  // Appends and flushes: acknowledged.
  void append_acked(PartitionLog& log, int count) {
    for (int i = 0; i < count; ++i) ASSERT_TRUE(append(log));
    ASSERT_TRUE(log.flush());
    acked_ = log.end_offset();
  }

  // Every acknowledged batch reads back, from the start.
  void expect_acked_readable(PartitionLog& log) {
    Offset from = log.start_offset();
    for (int guard = 0; from < acked_ && guard < 100000; ++guard) {
      auto r = log.read(from, 1U << 20U);
      ASSERT_TRUE(r) << "read at " << from << ": " << r.error();
      ASSERT_GT(r->next_offset, from);
      auto bytes = r->bytes.read_all();
      ASSERT_TRUE(bytes) << bytes.error();
      from = r->next_offset;
    }
    EXPECT_GE(from, acked_);
  }

  MemFs mem_;
  FaultyFs faulty_{mem_};
  ManualClock clock_;
  LogConfig config_;
  std::shared_ptr<FileCache> cache_;
  LogModel model_;
  Rng rng_{77};
  std::int64_t ts_ = 1'700'000'000'000;
  Offset acked_{0};
};

// The disk fills in the middle of an append (100 bytes of it land), stays full
// for a while, then has room again: writes fail with no_space (retriable),
// reads of acknowledged data never fail, writes resume on their own, and after
// a power loss every acknowledged batch is there exactly once.
TEST_F(LogTransient, FullDiskRefusesWritesServesReadsAndRecoversWhenSpaceReturns) {
  auto log = open_log();
  append_acked(*log, 5);
  FaultPlan full;
  full.ops = ops({FaultOp::append});
  full.err = ENOSPC;
  full.torn_append_bytes = 100;
  full.sticky = true;
  faulty_.inject(full);
  auto r = append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space) << r.error();
  EXPECT_FALSE(log->fenced());
  EXPECT_FALSE(log->writable());
  expect_acked_readable(*log);
  // Still full: refused at once while backing off, then the retry fails again.
  for (int i = 0; i < 5; ++i) {
    auto again = append(*log);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), Errc::no_space);
    expect_acked_readable(*log);
    clock_.advance(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(log->end_offset(), acked_);
  // Room again.
  faulty_.clear();
  clock_.advance(std::chrono::seconds(2));
  ASSERT_TRUE(log->resume_writes());
  EXPECT_TRUE(log->writable());
  // The torn bytes are gone before anything is appended behind them.
  auto contents = mem_.contents(kDir / "00000000000000000000.log");
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->size(), log->size_bytes());
  append_acked(*log, 3);
  expect_acked_readable(*log);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  // A power loss that keeps every unsynced byte: nothing torn, nothing twice.
  log.reset();
  mem_.crash([](const std::filesystem::path&, std::uint64_t n) { return n; });
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().cut_reason.has_value()) << *log->recovery().cut_reason;
  EXPECT_EQ(log->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// The next append after the backoff resumes by itself (no tick needed).
TEST_F(LogTransient, AnAppendAfterTheBackoffResumesWrites) {
  auto log = open_log();
  append_acked(*log, 2);
  FaultPlan once;
  once.ops = ops({FaultOp::append});
  once.err = ENOSPC;
  once.torn_append_bytes = 30;
  faulty_.inject(once);
  ASSERT_FALSE(append(*log));
  EXPECT_FALSE(append(*log));  // backing off
  clock_.advance(std::chrono::seconds(1));
  auto r = append(*log);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->base_offset, acked_);
  ASSERT_TRUE(log->flush());
  acked_ = log->end_offset();
  ASSERT_TRUE(log->close());
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().clean);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// Descriptors run out while rolling (EMFILE on creating the next segment):
// the append fails with a retriable io_error, reads go on, and once
// descriptors are back the roll happens and writes continue.
TEST_F(LogTransient, DescriptorsExhaustedWhileRollingRecover) {
  config_.segment_bytes_max = 2000;
  auto log = open_log();
  append_acked(*log, 2);
  FaultPlan no_fds;
  no_fds.ops = ops({FaultOp::open});
  no_fds.err = EMFILE;
  no_fds.sticky = true;
  faulty_.inject(no_fds);
  Result<AppendResult> r = AppendResult{};
  for (int i = 0; i < 20 && r; ++i) r = append(*log);
  ASSERT_FALSE(r) << "never rolled";
  EXPECT_EQ(r.error().code(), Errc::io_error) << r.error();
  EXPECT_EQ(r.error().system_errno(), EMFILE);
  EXPECT_TRUE(is_transient_storage_error(r.error()));
  EXPECT_FALSE(log->fenced());
  ASSERT_TRUE(log->flush());  // what was appended before still becomes durable
  acked_ = log->end_offset();
  expect_acked_readable(*log);
  faulty_.clear();
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(log->resume_writes());
  append_acked(*log, 3);
  EXPECT_GE(log->segment_count(), 2U);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  log.reset();
  mem_.crash();
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// A failed fsync is never transient, whatever its errno (fsyncgate): ENOSPC
// from a sync fences; reads of what was durable before still work.
TEST_F(LogTransient, AFailedSyncFencesEvenWithEnospcButReadsGoOn) {
  auto log = open_log();
  append_acked(*log, 3);
  ASSERT_TRUE(append(*log));
  FaultPlan p;
  p.ops = ops({FaultOp::sync});
  p.err = ENOSPC;
  faulty_.inject(p);
  ASSERT_FALSE(log->flush());
  EXPECT_TRUE(log->fenced());
  clock_.advance(std::chrono::seconds(10));
  EXPECT_FALSE(log->resume_writes());
  auto r = append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::log_fenced);
  expect_acked_readable(*log);
  // Nothing past the durable end is served.
  auto tail = log->read(acked_, 1U << 20U);
  ASSERT_TRUE(tail) << tail.error();
  EXPECT_TRUE(tail->bytes.empty());
}

// The disk is full when the broker starts, after a crash: the log still
// opens (index and recovery point files it cannot rewrite are left for
// later), serves every acknowledged record, refuses writes with no_space, and
// writes again once there is room.
TEST_F(LogTransient, OpensOnAFullDiskReadOnlyAndWritesWhenSpaceReturns) {
  config_.segment_bytes_max = 1500;
  {
    auto log = open_log();
    append_acked(*log, 12);
    ASSERT_GE(log->segment_count(), 3U);
  }  // a crash: no clean marker
  mem_.crash();
  // A lost index file must be rewritten by the next open.
  ASSERT_TRUE(mem_.remove(kDir / "00000000000000000000.index"));
  FaultPlan full;
  full.ops = ops({FaultOp::append});
  full.err = ENOSPC;
  full.sticky = true;
  faulty_.inject(full);
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), acked_);
  expect_acked_readable(*log);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  auto r = append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space);
  faulty_.clear();
  clock_.advance(std::chrono::seconds(2));
  ASSERT_TRUE(log->resume_writes());
  append_acked(*log, 2);
  ASSERT_TRUE(log->close());
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// Retention still deletes segments while writes are refused: it frees space.
TEST_F(LogTransient, RetentionRunsWhileWritesAreRefused) {
  config_.segment_bytes_max = 1200;
  auto log = open_log();
  append_acked(*log, 12);
  ASSERT_GE(log->segment_count(), 3U);
  FaultPlan full;
  full.ops = ops({FaultOp::append});
  full.err = ENOSPC;
  full.sticky = true;
  faulty_.inject(full);
  ASSERT_FALSE(append(*log));
  LogConfig c = config_;
  c.retention_bytes = 1;
  ASSERT_TRUE(log->set_config(c));
  auto retained = log->apply_retention();
  ASSERT_TRUE(retained) << retained.error();
  EXPECT_GT(retained->segments_deleted, 0U);
}

// A full disk while the flush rewrites the recovery point is absorbed (the
// data is durable, the old recovery point still true), and leaves no
// recovery.point.tmp behind: the failed atomic write removes its temporary.
TEST_F(LogTransient, AFullDiskOnTheRecoveryPointLeavesNoTemporaryFile) {
  config_.segment_bytes_max = 1200;
  auto log = open_log();
  append_acked(*log, 6);
  ASSERT_TRUE(log->roll());  // a recovery point is due with the next flush
  FaultPlan full;
  full.ops = ops({FaultOp::append});  // the flush appends only to the temporary
  full.err = ENOSPC;
  faulty_.inject(full);
  ASSERT_TRUE(log->flush());
  EXPECT_EQ(faulty_.faults_fired(), 1U);
  EXPECT_FALSE(log->fenced());
  auto names = mem_.list_directory(kDir);
  ASSERT_TRUE(names);
  for (const auto& name : *names) EXPECT_FALSE(name.ends_with(".tmp")) << name;
  append_acked(*log, 2);
  log.reset();
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// Retention fails half way (EIO removing the second segment's files): the log
// is fenced, and its start is already past the deleted segment, so reads
// (which go on when fenced) never look for it. This used to hit an
// assertion ("no segment holds offset") on the read.
TEST_F(LogTransient, AHalfDoneRetentionFencesWithTheStartPastWhatItDeleted) {
  config_.segment_bytes_max = 1200;
  auto log = open_log();
  append_acked(*log, 12);
  ASSERT_GE(log->segment_count(), 4U);
  FaultPlan eio;
  eio.ops = ops({FaultOp::directory});
  eio.countdown = 4;  // the first segment's three files go, then the fault
  eio.err = EIO;
  faulty_.inject(eio);
  LogConfig c = config_;
  c.retention_bytes = 1;
  ASSERT_TRUE(log->set_config(c));
  ASSERT_FALSE(log->apply_retention());
  EXPECT_TRUE(log->fenced());
  faulty_.clear();
  auto first = mem_.entry_type(kDir / "00000000000000000000.log");
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, EntryType::none);  // deleted before the fault
  EXPECT_GT(log->start_offset(), Offset(0));
  auto r = log->read(log->start_offset(), 1U << 20U);
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->bytes.empty());
  acked_ = log->flushed_end_offset();
  expect_acked_readable(*log);
}

// A truncation fails after removing the later segments (EIO truncating the
// file it cuts into): the log is fenced and serves reads only below the
// truncation point, never from a removed segment (an assertion used to fire).
TEST_F(LogTransient, AFailedTruncationServesOnlyWhatItKept) {
  config_.segment_bytes_max = 1200;
  auto log = open_log();
  append_acked(*log, 12);
  ASSERT_GE(log->segment_count(), 3U);
  const Offset cut(3);  // the second batch: in the first or second segment
  FaultPlan eio;
  eio.ops = ops({FaultOp::truncate});
  eio.err = EIO;
  faulty_.inject(eio);
  ASSERT_FALSE(log->truncate_suffix(cut));
  EXPECT_TRUE(log->fenced());
  faulty_.clear();
  EXPECT_LE(log->flushed_end_offset(), cut);
  // The last batch was in a segment that is gone: nothing is served there.
  auto gone = log->read(acked_ - 3, 1U << 20U);
  ASSERT_TRUE(gone) << gone.error();
  EXPECT_TRUE(gone->bytes.empty());
  // Below the cut, the data is there.
  auto kept = log->read(Offset(0), 1U << 20U);
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_EQ(kept->next_offset, cut);
}

// advance_start: the new start.offset is renamed into place, then the
// directory sync fails on a full disk. The call fails and writes are refused
// for a while, but the start the log uses is the one on disk: a restart
// (page cache kept) finds the same start. It used to fall back to the old
// start in memory while the file said the new one.
TEST_F(LogTransient, AFullDiskAfterTheStartFileIsRenamedKeepsTheNewStart) {
  auto log = open_log();
  append_acked(*log, 6);
  FaultPlan full;
  full.ops = ops({FaultOp::directory});
  full.countdown = 2;  // the rename goes through, the directory sync fails
  full.err = ENOSPC;
  faulty_.inject(full);
  auto s = log->advance_start(Offset(6));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::no_space);
  EXPECT_FALSE(log->fenced());
  EXPECT_FALSE(log->writable());
  faulty_.clear();
  EXPECT_EQ(log->start_offset(), Offset(6));
  log.reset();
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->start_offset(), Offset(6));
}

// advance_start in steps (DeleteRecords runs the file work off the network
// thread): while the ticket is in flight reads refuse what is below the new
// start but retention deletes nothing for it; a ticket that fails on a full
// disk goes back to the old start with every record still there; one that
// succeeds deletes the segments below and survives a restart.
TEST_F(LogTransient, StartTicketsDeleteOnlyOnceTheNewStartIsDurable) {
  config_.segment_bytes_max = 700;  // a few batches per segment
  auto log = open_log();
  append_acked(*log, 12);
  ASSERT_GT(log->segment_count(), 3U);
  const Offset target = log->end_offset() - 2;
  const std::size_t segments = log->segment_count();

  // No change needed: an empty ticket.
  auto none = log->begin_advance_start(Offset(0));
  ASSERT_TRUE(none) << none.error();
  EXPECT_TRUE(none->empty());
  auto beyond = log->begin_advance_start(log->end_offset() + 1);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code(), Errc::offset_out_of_range);

  // In flight, then a full disk.
  auto ticket = log->begin_advance_start(target);
  ASSERT_TRUE(ticket) << ticket.error();
  EXPECT_EQ(log->start_offset(), target);
  auto below = log->read(Offset(0), 1U << 20U);
  EXPECT_FALSE(below);
  ASSERT_TRUE(log->apply_retention());
  EXPECT_EQ(log->segment_count(), segments) << "retention deleted for a start not yet durable";
  FaultPlan full;
  full.ops = ops({FaultOp::open, FaultOp::append});
  full.err = ENOSPC;
  faulty_.inject(full);
  Status persisted = ticket->persist();
  ASSERT_FALSE(persisted);
  faulty_.clear();
  auto failed = log->finish_advance_start(*ticket, persisted);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), Errc::no_space);
  EXPECT_FALSE(log->fenced());
  EXPECT_EQ(log->start_offset(), Offset(0));
  EXPECT_EQ(log->segment_count(), segments);
  expect_acked_readable(*log);

  // Again, with room: the segments below go.
  auto again = log->begin_advance_start(target);
  ASSERT_TRUE(again) << again.error();
  persisted = again->persist();
  ASSERT_TRUE(persisted) << persisted.error();
  ASSERT_TRUE(log->finish_advance_start(*again, persisted));
  EXPECT_EQ(log->start_offset(), target);
  EXPECT_LT(log->segment_count(), segments);
  log.reset();  // a crash: the page cache is kept, the files are what they are
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->start_offset(), target);
}

// ------------------------------------------------------------ descriptors

// 3,000 segments under a limit of 40 open files: every append, every read
// from the first offset to the last, a clean restart and a crash restart work,
// and no more than 40 files are ever open at once.
TEST_F(LogTransient, ThousandsOfSegmentsOpenAndReadUnderADescriptorLimit) {
  constexpr int kSegments = 3000;
  constexpr std::size_t kOpenFilesMax = 40;
  cache_ = std::make_shared<FileCache>(mem_, 16);
  config_.segment_bytes_max = 200;  // one batch per segment
  mem_.set_open_files_max(kOpenFilesMax);
  auto log = open_log(&mem_);
  ASSERT_NE(log, nullptr);
  for (int i = 0; log->segment_count() < kSegments && i < 2 * kSegments; ++i) {
    auto r = append(*log, 1);
    ASSERT_TRUE(r) << "append " << i << ": " << r.error();
    ASSERT_TRUE(log->flush());
  }
  acked_ = log->end_offset();
  ASSERT_GE(log->segment_count(), static_cast<std::size_t>(kSegments));
  EXPECT_LE(cache_->open_count(), 16U);
  expect_acked_readable(*log);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  ASSERT_TRUE(log->close());
  log.reset();
  EXPECT_EQ(cache_->open_count(), 0U) << "a dropped log keeps cached descriptors";
  log = open_log(&mem_);  // clean
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().clean);
  expect_acked_readable(*log);
  auto more = append(*log, 1);
  ASSERT_TRUE(more) << more.error();
  ASSERT_TRUE(log->flush());
  acked_ = log->end_offset();
  log.reset();
  mem_.crash();
  log = open_log(&mem_);  // after a crash: scans from the recovery point
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_EQ(log->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  EXPECT_LE(mem_.open_files_peak(), kOpenFilesMax);
}

// The cache evicts the least recently used file and never hands a log the
// file of another log that had the same folder.
TEST(FileCache, EvictsLeastRecentlyUsedAndKeysByOwner) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/d"));
  for (int i = 0; i < 4; ++i) {
    auto f = fs.open(fmt::format("/d/{}", i), OpenMode::create);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->append(std::vector<std::byte>(static_cast<std::size_t>(i + 1))));
  }
  FileCache cache(fs, 2);
  const auto a = cache.new_owner();
  const auto b = cache.new_owner();
  ASSERT_NE(a, b);
  ASSERT_TRUE(cache.get(a, 0, "/d/0"));
  ASSERT_TRUE(cache.get(a, 1, "/d/1"));
  ASSERT_TRUE(cache.get(a, 0, "/d/0"));  // 0 is now the most recent
  ASSERT_TRUE(cache.get(a, 2, "/d/2"));  // evicts 1
  EXPECT_EQ(cache.open_count(), 2U);
  EXPECT_EQ(fs.open_files(), 2U);
  const auto opens = cache.opens();
  ASSERT_TRUE(cache.get(a, 0, "/d/0"));
  EXPECT_EQ(cache.opens(), opens);
  ASSERT_TRUE(cache.get(a, 1, "/d/1"));
  EXPECT_EQ(cache.opens(), opens + 1);
  auto other = cache.get(b, 0, "/d/3");
  ASSERT_TRUE(other);
  EXPECT_EQ((*other)->size(), 4U);  // b's file, not a's
  cache.forget_owner(a);
  EXPECT_EQ(cache.open_count(), 1U);
  cache.forget(b, 0);
  EXPECT_EQ(cache.open_count(), 0U);
  EXPECT_EQ(fs.open_files(), 1U);  // `other` still holds its file
}

// Out of descriptors, the cache gives back half of what it keeps and retries.
TEST(FileCache, OnEmfileGivesBackDescriptorsAndRetries) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/d"));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(fs.open(fmt::format("/d/{}", i), OpenMode::create));
  FileCache cache(fs, 8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(cache.get(1, i, fmt::format("/d/{}", i)));
  fs.set_open_files_max(7);  // evicting one for the new entry is not enough
  auto f = cache.get(1, 8, "/d/8");
  ASSERT_TRUE(f) << f.error();
  EXPECT_LE(cache.open_count(), 5U);
}

}  // namespace
}  // namespace spate::storage
