// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog reopened: a clean close restores everything without scanning,
// an unclean reopen scans and keeps the page cache, a closed log refuses
// everything; and the smoke suite on the real file system (reads through the
// descriptor and sendfile(2), segments aged by their file's mtime).

#include <algorithm>
#include <fcntl.h>
#include <optional>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"
#include "support/temp_dir.h"

namespace spate::storage {
namespace {

using spate::testing::BatchShape;
using spate::testing::compare_with_model;
using spate::testing::kLogDir;
using spate::testing::LogModel;
using spate::testing::make_batch;
using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;
using spate::testing::split_batches;
using spate::testing::TempDir;
using spate::testing::unexpected_files;

struct Snapshot {
  Offset start;
  Offset end;
  Term last_term;
  std::size_t segments = 0;
  std::uint64_t size = 0;
  std::vector<Term> terms;
  std::vector<std::optional<Offset>> lookups;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(PartitionLog& log, const std::vector<std::int64_t>& timestamps) {
  Snapshot s{log.start_offset(),
             log.end_offset(),
             log.last_term(),
             log.segment_count(),
             log.size_bytes(),
             {},
             {}};
  for (Offset o = log.start_offset(); o < log.end_offset(); o = o + 1) {
    auto t = log.term_at(o);
    s.terms.push_back(t ? *t : Term(-1));
  }
  for (auto t : timestamps) {
    auto hit = log.find_offset_by_timestamp(t);
    s.lookups.push_back(hit && hit->has_value() ? std::optional<Offset>((*hit)->offset)
                                                : std::nullopt);
  }
  return s;
}

class Reopen : public PartitionLogTest {
 protected:
  void SetUp() override {
    config_.segment_bytes_max = 4096;
    log_ = open_log();
    for (int i = 0; i < 40; ++i) {
      const Term term(1 + i / 10);
      stamps_.push_back(ts_);
      append(*log_, 1 + static_cast<int>(rng_.uniform(5)), 200, term);
    }
    stamps_.push_back(ts_);
    ASSERT_TRUE(log_->advance_start(model_.batches()[7].base + 1));
    ASSERT_GT(log_->segment_count(), 3U);
  }

  std::unique_ptr<PartitionLog> log_;
  std::vector<std::int64_t> stamps_;
};

TEST_F(Reopen, CleanCloseAndReopenRestoresEverythingWithoutScanning) {
  ASSERT_TRUE(log_->flush());
  for (int i = 0; i < 3; ++i) append(*log_, 2, 200, Term(9));  // unflushed until close
  const Snapshot before = snapshot(*log_, stamps_);
  ASSERT_TRUE(log_->close());
  log_ = open_log();
  const auto& rec = log_->recovery();
  EXPECT_TRUE(rec.clean);
  EXPECT_EQ(rec.segments_scanned, 0U);
  EXPECT_EQ(rec.bytes_scanned, 0U);
  EXPECT_EQ(rec.indexes_rebuilt, 0U);
  EXPECT_FALSE(rec.cut_reason.has_value());
  EXPECT_TRUE(snapshot(*log_, stamps_) == before);
  EXPECT_EQ(log_->flushed_end_offset(), log_->end_offset());
  EXPECT_FALSE(log_->flush_due());
  expect_matches_model(*log_);
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log_->segment_count()), "");
  // The log goes on where it was: offsets and the term rule.
  auto low = make_varied_batch(rng_, 1, 10, ts_);
  EXPECT_FALSE(log_->append(low, Term(8)));
  EXPECT_EQ(append(*log_, 1, 10, Term(9)).base_offset, before.end);
}

TEST_F(Reopen, AnUncleanReopenScansAndKeepsEverythingInThePageCache) {
  ASSERT_TRUE(log_->flush());
  for (int i = 0; i < 3; ++i) append(*log_, 2, 200, Term(9));  // never flushed
  const Snapshot before = snapshot(*log_, stamps_);
  log_.reset();  // the process dies; the operating system keeps its cache
  log_ = open_log();
  const auto& rec = log_->recovery();
  EXPECT_FALSE(rec.clean);
  EXPECT_GE(rec.segments_scanned, 1U);
  EXPECT_GT(rec.bytes_scanned, 0U);
  EXPECT_FALSE(rec.cut_reason.has_value());
  EXPECT_TRUE(snapshot(*log_, stamps_) == before);
  EXPECT_EQ(log_->flushed_end_offset(), log_->end_offset());
  expect_matches_model(*log_);
  // Recovery made what it kept durable: a power loss now loses nothing.
  log_.reset();
  mem_.crash();
  log_ = open_log();
  EXPECT_TRUE(snapshot(*log_, stamps_) == before);
}

TEST_F(Reopen, CloseIsFinal) {
  ASSERT_TRUE(log_->close());
  auto batch = make_varied_batch(rng_, 1, 10, ts_);
  auto a = log_->append(batch, Term(9));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::log_fenced);
  auto r = log_->read(log_->start_offset(), 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::log_fenced);
  auto c = log_->close();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::log_fenced);
}

// ---------------------------------------------------------------- real disk

TEST(PartitionLogOnPosixFs, AppendReadThroughTheFileAndTheFdCloseAndReopen) {
  spate::testing::quiet_storage_logs();
  TempDir tmp;
  auto fs = make_posix_fs();
  const auto dir = tmp.path() / "topic-0";
  ManualClock clock;
  LogConfig config;
  config.segment_bytes_max = 8192;
  config.index_interval_bytes = 512;
  Rng rng(5);
  LogModel model;
  auto opened = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(opened) << opened.error();
  auto log = std::move(*opened);
  for (int i = 0; i < 40; ++i) {
    auto batch = make_varied_batch(rng, 1 + static_cast<int>(rng.uniform(6)), 300, 1000 + i * 10);
    auto sent = batch;
    auto r = log->append(batch, Term(1 + i / 20));
    ASSERT_TRUE(r) << r.error();
    model.append(sent, r->base_offset, Term(1 + i / 20));
  }
  ASSERT_GT(log->segment_count(), 2U);
  ASSERT_TRUE(log->flush());
  auto check = [&](PartitionLog& l) {
    EXPECT_EQ(l.end_offset(), model.end());
    EXPECT_EQ(compare_with_model(l, model), "");
    // Through the descriptor, as sendfile(2) would read it.
    Offset from = l.start_offset();
    while (from < l.end_offset()) {
      auto r = l.read(from, 4096);
      ASSERT_TRUE(r) << r.error();
      const int fd = r->bytes.file->native_handle();
      ASSERT_GE(fd, 0);
      std::vector<std::byte> buffer(r->bytes.size);
      const auto n =
          ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(r->bytes.position));
      ASSERT_EQ(n, static_cast<ssize_t>(buffer.size()));
      std::vector<std::span<const std::byte>> parts;
      ASSERT_TRUE(split_batches(buffer, parts));
      for (auto part : parts) {
        const auto* want = model.starting_at(Offset(load_be<std::int64_t>(part.data())));
        ASSERT_NE(want, nullptr);
        EXPECT_TRUE(std::equal(part.begin(), part.end(), want->bytes.begin(), want->bytes.end()));
      }
      from = r->next_offset;
    }
  };
  check(*log);
  ASSERT_TRUE(log->close());
  opened = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(opened) << opened.error();
  log = std::move(*opened);
  EXPECT_TRUE(log->recovery().clean);
  check(*log);
  auto batch = make_varied_batch(rng, 3, 100, 5000);
  auto sent = batch;
  auto r = log->append(batch, Term(2));
  ASSERT_TRUE(r);
  model.append(sent, r->base_offset, Term(2));
  log.reset();  // unclean
  opened = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(opened) << opened.error();
  log = std::move(*opened);
  EXPECT_FALSE(log->recovery().clean);
  check(*log);
  EXPECT_EQ(unexpected_files(*fs, dir, log->segment_count()), "");
}

TEST(PartitionLogOnPosixFs, AppendReadSendfileCloseReopen) {
  spate::testing::quiet_storage_logs();
  spate::testing::TempDir tmp;
  auto fs = make_posix_fs();
  ManualClock clock;
  Rng rng(5);
  LogConfig config;
  config.segment_bytes_max = 64 * 1024;
  std::vector<std::vector<std::byte>> written;
  {
    auto log = PartitionLog::open(*fs, tmp.path() / "t-0", config, clock);
    ASSERT_TRUE(log) << log.error();
    for (int i = 0; i < 40; ++i) {
      auto b = make_batch(rng, 4, BatchShape{1000, 1000, true}, 1000 + i);
      ASSERT_TRUE((*log)->append(b, Term(1)));
      written.push_back(b);
    }
    ASSERT_TRUE((*log)->flush());
    EXPECT_GT((*log)->segment_count(), 1U);
    // The slice's descriptor works with sendfile(2), as the broker will use it.
    auto r = (*log)->read(Offset(0), 1U << 20U);
    ASSERT_TRUE(r);
    ASSERT_GE(r->bytes.file->native_handle(), 0);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    off_t offset = static_cast<off_t>(r->bytes.position);
    const ssize_t sent = ::sendfile(pipe_fds[1], r->bytes.file->native_handle(), &offset,
                                    std::min<std::size_t>(r->bytes.size, 4096));
    EXPECT_GT(sent, 0);
    std::vector<std::byte> via_pipe(static_cast<std::size_t>(std::max<ssize_t>(sent, 0)));
    EXPECT_EQ(::read(pipe_fds[0], via_pipe.data(), via_pipe.size()), sent);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    auto direct = r->bytes.read_all();
    ASSERT_TRUE(direct);
    EXPECT_TRUE(std::equal(via_pipe.begin(), via_pipe.end(), direct->begin()));
    ASSERT_TRUE((*log)->close());
  }
  auto log = PartitionLog::open(*fs, tmp.path() / "t-0", config, clock);
  ASSERT_TRUE(log) << log.error();
  EXPECT_TRUE((*log)->recovery().clean);
  EXPECT_EQ((*log)->end_offset(), Offset(160));
  Offset from(0);
  std::size_t index = 0;
  for (int guard = 0; from < (*log)->end_offset() && guard < 100; ++guard) {
    auto r = (*log)->read(from, 1U << 20U);
    ASSERT_TRUE(r);
    auto bytes = r->bytes.read_all();
    ASSERT_TRUE(bytes);
    std::vector<std::span<const std::byte>> parts;
    ASSERT_TRUE(split_batches(*bytes, parts));
    for (auto p : parts) {
      ASSERT_LT(index, written.size());
      // Equal but for baseOffset and partitionLeaderEpoch, which the log assigned.
      EXPECT_TRUE(std::equal(p.begin() + 16, p.end(), written[index].begin() + 16));
      ++index;
    }
    from = r->next_offset;
  }
  EXPECT_EQ(index, written.size());
}

// A segment whose records carry no timestamp ages by its file's modification
// time once the log is reopened (Kafka's rule), not from the restart: before,
// every restart gave such segments a fresh retention period.
TEST(PartitionLogOnPosixFs, TimestamplessSegmentsAgeByTheirFilesModificationTime) {
  spate::testing::quiet_storage_logs();
  spate::testing::TempDir tmp;
  auto fs = make_posix_fs();
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  ManualClock clock(now_ms);
  Rng rng(7);
  LogConfig config;
  config.segment_bytes_max = 4 * 1024;
  config.retention_ms = 24LL * 3600 * 1000;
  const auto dir = tmp.path() / "t-0";
  {
    auto log = PartitionLog::open(*fs, dir, config, clock);
    ASSERT_TRUE(log) << log.error();
    for (int i = 0; i < 12; ++i) {
      auto b = make_batch(rng, 1, BatchShape{1000, 1000, true}, -1);  // one record, no timestamp
      auto appended = (*log)->append(b, Term(1));
      ASSERT_TRUE(appended) << appended.error();
    }
    ASSERT_TRUE((*log)->flush());
    ASSERT_GE((*log)->segment_count(), 3U);
    ASSERT_TRUE((*log)->close());
  }
  std::vector<std::filesystem::path> logs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".log") logs.push_back(e.path());
  }
  std::sort(logs.begin(), logs.end());
  ASSERT_GE(logs.size(), 3U);
  // The first segment's file was last written two days ago.
  const time_t two_days_ago = static_cast<time_t>(now_ms / 1000 - 2 * 24 * 3600);
  const struct timespec times[2] = {{two_days_ago, 0}, {two_days_ago, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, logs.front().c_str(), times, 0), 0);
  auto log = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(log) << log.error();
  const std::size_t segments = (*log)->segment_count();
  auto retained = (*log)->apply_retention();
  ASSERT_TRUE(retained) << retained.error();
  EXPECT_EQ(retained->segments_deleted, 1U);
  EXPECT_EQ((*log)->segment_count(), segments - 1);
  EXPECT_FALSE(std::filesystem::exists(logs.front()));
}

}  // namespace
}  // namespace spate::storage
