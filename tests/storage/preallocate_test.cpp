// SPDX-License-Identifier: Apache-2.0
//
// log.preallocate: a new segment has segment.bytes reserved on disk while
// its size stays what was written; a roll and a close give back the unused
// reservation; recovery cuts the zeros a crash left past the last batch
// quietly and appends after it; rolls and retention count written bytes; a
// file system without fallocate, or a failing one, never fails an append.
// On MemFs, and on the real file system (st_blocks).

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "spate/common/clock.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"
#include "support/temp_dir.h"

namespace spate::storage {
namespace {

using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;
using spate::testing::segment_path;

constexpr std::uint64_t kSegmentBytes = 16 * 1024;

class Preallocate : public PartitionLogTest {
 protected:
  Preallocate() {
    config_.preallocate = true;
    config_.segment_bytes_max = kSegmentBytes;
  }
  std::uint64_t allocated(Offset base) { return *mem_.allocated_bytes(segment_path(base, ".log")); }
  std::uint64_t size_of(Offset base) { return mem_.contents(segment_path(base, ".log"))->size(); }
  // The names of the segment files, in order.
  std::vector<std::string> log_files() {
    std::vector<std::string> out;
    auto names = mem_.list_directory(spate::testing::kLogDir);
    EXPECT_TRUE(names) << names.error();
    if (!names) return out;
    for (const auto& name : *names) {
      if (name.ends_with(".log")) out.push_back(name);
    }
    return out;
  }
  // Appends until the log has `segments` segments.
  void fill(PartitionLog& log, std::size_t segments) {
    for (int i = 0; i < 1000 && log.segment_count() < segments; ++i) append(log, 4, 300);
    ASSERT_EQ(log.segment_count(), segments);
  }
};

TEST_F(Preallocate, ANewSegmentIsReservedAndARollTrimsIt) {
  auto log = open_log();
  EXPECT_EQ(allocated(Offset(0)), kSegmentBytes);
  EXPECT_EQ(size_of(Offset(0)), 0U);
  append(*log, 5, 200);
  EXPECT_EQ(allocated(Offset(0)), kSegmentBytes);
  EXPECT_EQ(log->size_bytes(), size_of(Offset(0)));  // written bytes, not the reservation
  fill(*log, 2);
  const Offset second = model_.batches().back().base;
  EXPECT_EQ(allocated(Offset(0)), size_of(Offset(0)));  // trimmed on roll
  EXPECT_LE(size_of(Offset(0)), kSegmentBytes);
  EXPECT_EQ(allocated(second), kSegmentBytes);
  expect_matches_model(*log);
  // Closing trims the active segment too; a clean restart finds every record.
  ASSERT_TRUE(log->close());
  EXPECT_EQ(allocated(second), size_of(second));
  log = open_log();
  EXPECT_TRUE(log->recovery().clean);
  expect_matches_model(*log);
  const Offset end = model_.end();
  EXPECT_EQ(append(*log, 2, 100).base_offset, end);
}

TEST_F(Preallocate, AZeroTailAfterACrashIsCutQuietlyAndAppendsFollowTheLastRecord) {
  auto log = open_log();
  for (int i = 0; i < 6; ++i) append(*log, 3, 200);
  ASSERT_TRUE(log->flush());
  log.reset();  // the process dies
  const auto path = segment_path(Offset(0), ".log");
  const std::uint64_t size = size_of(Offset(0));
  // The file system extended the file into its reservation; no data came.
  ASSERT_TRUE(mem_.set_size_durable(path, size + 5000));
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_FALSE(log->recovery().cut_reason.has_value()) << *log->recovery().cut_reason;
  EXPECT_EQ(log->recovery().bytes_cut, 0U);
  EXPECT_EQ(log->end_offset(), model_.end());
  EXPECT_EQ(log->size_bytes(), size);
  EXPECT_EQ(size_of(Offset(0)), size);
  expect_matches_model(*log);
  const Offset end = model_.end();
  EXPECT_EQ(append(*log, 2, 100).base_offset, end);
  EXPECT_EQ(size_of(Offset(0)), log->size_bytes());
  ASSERT_TRUE(log->close());
  log = open_log();
  expect_matches_model(*log);
}

TEST_F(Preallocate, GarbageAfterTheLastBatchIsStillDamage) {
  auto log = open_log();
  for (int i = 0; i < 4; ++i) append(*log, 3, 200);
  ASSERT_TRUE(log->flush());
  log.reset();
  const auto path = segment_path(Offset(0), ".log");
  const std::uint64_t size = size_of(Offset(0));
  std::vector<std::byte> tail(3000);
  tail[1500] = std::byte{7};  // zeros but for one byte
  ASSERT_TRUE(mem_.corrupt(path, size, tail));
  log = open_log();
  ASSERT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().bytes_cut, 3000U);
  expect_matches_model(*log);
}

TEST_F(Preallocate, RetentionCountsWrittenBytes) {
  config_.retention_bytes = static_cast<std::int64_t>(2 * kSegmentBytes);
  auto log = open_log();
  fill(*log, 6);
  ASSERT_TRUE(log->flush());
  std::uint64_t written = 0;
  for (const auto& b : model_.batches()) written += b.bytes.size();
  EXPECT_EQ(log->size_bytes(), written);
  // Kafka's rule over the written sizes: drop the oldest segment while the
  // rest still holds retention.bytes.
  std::vector<std::uint64_t> sizes;
  for (const auto& name : log_files()) {
    sizes.push_back(*mem_.allocated_bytes(spate::testing::kLogDir / name));
  }
  ASSERT_EQ(sizes.size(), 6U);
  std::uint32_t deleted = 0;
  std::uint64_t deleted_bytes = 0;
  std::uint64_t total = written;
  while (deleted + 1 < sizes.size() && total - sizes[deleted] >= 2 * kSegmentBytes) {
    total -= sizes[deleted];
    deleted_bytes += sizes[deleted++];
  }
  ASSERT_GT(deleted, 0U);
  auto r = log->apply_retention();
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->segments_deleted, deleted);
  EXPECT_EQ(r->bytes_deleted, deleted_bytes);
  EXPECT_EQ(log->size_bytes(), total);
}

TEST_F(Preallocate, AFileSystemWithoutFallocateStillTakesAppends) {
  mem_.set_preallocate_supported(false);
  auto log = open_log();
  fill(*log, 3);
  EXPECT_EQ(allocated(Offset(0)), size_of(Offset(0)));
  expect_matches_model(*log);
}

TEST_F(Preallocate, AFailingFallocateNeverFailsAnAppend) {
  auto log = open_log();
  faulty_.inject({.countdown = 1,
                  .ops = static_cast<std::uint32_t>(FaultOp::preallocate),
                  .err = 28,  // ENOSPC
                  .sticky = true});
  fill(*log, 3);
  EXPECT_GE(faulty_.faults_fired(), 2U);
  EXPECT_TRUE(log->writable());
  faulty_.clear();
  expect_matches_model(*log);
  for (const auto& name : log_files()) {
    const auto path = spate::testing::kLogDir / name;
    EXPECT_EQ(*mem_.allocated_bytes(path), mem_.contents(path)->size()) << name;
  }
}

TEST(PreallocateOnDisk, TheFileIsAllocatedAndTrimmedOnRoll) {
  TempDir tmp;
  auto fs = make_posix_fs();
  ManualClock clock;
  LogConfig config;
  config.preallocate = true;
  config.segment_bytes_max = 1U << 20U;
  config.retention_ms = -1;
  auto log = PartitionLog::open(*fs, tmp.path() / "t-0", config, clock);
  ASSERT_TRUE(log) << log.error();
  auto disk = [&](Offset base) {
    struct stat st {};
    const auto path = tmp.path() / "t-0" / segment_file_name(base, ".log");
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return std::pair<std::uint64_t, std::uint64_t>(st.st_size, st.st_blocks * 512);
  };
  EXPECT_EQ(disk(Offset(0)).first, 0U);
  EXPECT_GE(disk(Offset(0)).second, config.segment_bytes_max);  // fallocate reserved it
  Rng rng(5);
  std::int64_t ts = 1'700'000'000'000;
  for (int i = 0; i < 20; ++i) {
    auto batch = make_varied_batch(rng, 5, 200, ts++);
    ASSERT_TRUE((*log)->append(batch, Term(1)));
  }
  const Offset next = (*log)->end_offset();
  ASSERT_TRUE((*log)->roll());
  const auto sealed = disk(Offset(0));
  EXPECT_EQ(sealed.first, (*log)->size_bytes());
  EXPECT_LT(sealed.second, sealed.first + 64 * 1024);  // the reservation is gone
  EXPECT_GE(disk(next).second, config.segment_bytes_max);
  ASSERT_TRUE((*log)->close());
  EXPECT_LT(disk(next).second, 64U * 1024U);
  auto reopened = PartitionLog::open(*fs, tmp.path() / "t-0", config, clock);
  ASSERT_TRUE(reopened) << reopened.error();
  EXPECT_TRUE((*reopened)->recovery().clean);
  EXPECT_EQ((*reopened)->end_offset(), next);
}

}  // namespace
}  // namespace spate::storage
