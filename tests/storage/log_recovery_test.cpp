// SPDX-License-Identifier: Apache-2.0
//
// Recovery of PartitionLog after crashes: a torn tail at 1000 random cut
// points, and one named test per kind of damage (leveldb log_test style).

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/batches.h"

namespace spate::storage {
namespace {

using spate::testing::make_batch;

constexpr const char* kDir = "/data/t-0";
constexpr const char* kFirstLog = "/data/t-0/00000000000000000000.log";

class LogRecovery : public ::testing::Test {
 protected:
  LogRecovery() {
    log::set_level(spdlog::level::err);
    EXPECT_TRUE(fs_.create_directories("/data"));
    EXPECT_TRUE(fs_.sync_directory("/"));
  }

  std::unique_ptr<PartitionLog> open() {
    auto log = PartitionLog::open(fs_, kDir, config_, clock_);
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  // Appends `count` batches; returns their sizes in bytes.
  std::vector<std::size_t> append(PartitionLog& log, int count, std::size_t value_bytes = 200) {
    std::vector<std::size_t> sizes;
    for (int i = 0; i < count; ++i) {
      auto batch = make_batch(rng_, 3, value_bytes, 1000 + i);
      sizes.push_back(batch.size());
      auto r = log.append(batch, Term(1));
      EXPECT_TRUE(r) << r.error();
    }
    return sizes;
  }

  // Reads the whole log and checks it is whole batches with contiguous offsets.
  void expect_readable(PartitionLog& log) {
    Offset from = log.start_offset();
    for (int guard = 0; from < log.end_offset() && guard < 10000; ++guard) {
      auto r = log.read(from, 1U << 20U);
      ASSERT_TRUE(r) << r.error();
      auto bytes = r->bytes.read_all();
      ASSERT_TRUE(bytes) << bytes.error();
      std::vector<std::span<const std::byte>> parts;
      ASSERT_TRUE(spate::testing::split_batches(*bytes, parts));
      for (auto part : parts) {
        auto h = protocol::validate_batch(part, 1U << 20U);
        ASSERT_TRUE(h) << h.error();
      }
      from = r->next_offset;
    }
    EXPECT_EQ(from, log.end_offset());
  }

  MemFs fs_;
  ManualClock clock_;
  Rng rng_{7};
  LogConfig config_;
};

TEST_F(LogRecovery, TornTailAtAThousandRandomCutPointsRecoversToTheLastWholeBatch) {
  Rng cuts(2026);
  for (int round = 0; round < 1000; ++round) {
    MemFs fs;
    ASSERT_TRUE(fs.create_directories("/data"));
    ASSERT_TRUE(fs.sync_directory("/"));
    auto log = PartitionLog::open(fs, kDir, config_, clock_);
    ASSERT_TRUE(log);
    // Four durable batches, then 1-3 unsynced ones.
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 4; ++i) {
      auto b = make_batch(rng_, 2, 100 + rng_.uniform(300), 10);
      sizes.push_back(b.size());
      ASSERT_TRUE((*log)->append(b, Term(1)));
    }
    ASSERT_TRUE((*log)->flush());
    std::uint64_t durable_bytes = 0;
    for (auto s : sizes) durable_bytes += s;
    const auto unsynced_batches = 1 + cuts.uniform(3);
    std::vector<std::uint64_t> ends;  // byte ends of the unsynced batches
    std::uint64_t at = durable_bytes;
    for (std::uint64_t i = 0; i < unsynced_batches; ++i) {
      auto b = make_batch(rng_, 2, 50 + rng_.uniform(300), 20);
      at += b.size();
      ends.push_back(at);
      ASSERT_TRUE((*log)->append(b, Term(1)));
    }
    log->reset();
    const std::uint64_t cut = cuts.uniform(at - durable_bytes + 1);
    fs.crash(
        [&](const std::filesystem::path& p, std::uint64_t) { return p == kFirstLog ? cut : 0; });
    auto reopened = PartitionLog::open(fs, kDir, config_, clock_);
    ASSERT_TRUE(reopened) << reopened.error();
    // The expected end: durable batches plus every unsynced batch wholly kept.
    std::int64_t expected_end = 8;
    std::uint64_t expected_bytes = durable_bytes;
    for (auto end : ends) {
      if (end <= durable_bytes + cut) {
        expected_end += 2;
        expected_bytes = end;
      }
    }
    EXPECT_EQ((*reopened)->end_offset(), Offset(expected_end))
        << "round " << round << " cut " << cut;
    EXPECT_EQ((*reopened)->size_bytes(), expected_bytes);
    EXPECT_EQ((*reopened)->recovery().cut_reason.has_value(), expected_bytes < durable_bytes + cut)
        << "round " << round;
    // Appending after recovery works and survives a clean close and reopen.
    auto b = make_batch(rng_, 1, 10, 30);
    auto r = (*reopened)->append(b, Term(2));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->base_offset, Offset(expected_end));
    ASSERT_TRUE((*reopened)->close());
    reopened->reset();
    auto again = PartitionLog::open(fs, kDir, config_, clock_);
    ASSERT_TRUE(again);
    EXPECT_TRUE((*again)->recovery().clean);
    EXPECT_EQ((*again)->end_offset(), Offset(expected_end + 1));
    if (HasFailure()) return;
  }
}

TEST_F(LogRecovery, BadLengthInTheTailBatchIsCut) {
  auto log = open();
  auto sizes = append(*log, 3);
  log.reset();  // unclean
  // batchLength of the third batch claims far more than is there.
  const std::uint64_t third = sizes[0] + sizes[1];
  std::byte huge[4];
  store_be<std::int32_t>(huge, 0x00100000);
  ASSERT_TRUE(fs_.corrupt(kFirstLog, third + 8, huge));
  log = open();
  EXPECT_EQ(log->end_offset(), Offset(6));
  ASSERT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_NE(log->recovery().cut_reason->find("past the end"), std::string::npos);
  expect_readable(*log);
}

TEST_F(LogRecovery, BadCrcInTheTailBatchIsCut) {
  auto log = open();
  auto sizes = append(*log, 3);
  log.reset();
  ASSERT_TRUE(fs_.corrupt(kFirstLog, sizes[0] + sizes[1] + 100, to_bytes("XX")));
  log = open();
  EXPECT_EQ(log->end_offset(), Offset(6));
  ASSERT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_NE(log->recovery().cut_reason->find("CRC"), std::string::npos);
}

TEST_F(LogRecovery, BatchCutAtEveryByteOfTheLastBatch) {
  auto log = open();
  auto sizes = append(*log, 3);
  ASSERT_TRUE(log->flush());
  log.reset();
  const std::uint64_t two = sizes[0] + sizes[1];
  for (std::uint64_t keep = two; keep < two + sizes[2]; ++keep) {
    MemFs fs;
    ASSERT_TRUE(fs.create_directories(kDir));
    auto full = fs_.contents(kFirstLog);
    ASSERT_TRUE(full);
    auto f = fs.open(kFirstLog, OpenMode::create);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->append(std::span<const std::byte>(*full).first(keep)));
    auto reopened = PartitionLog::open(fs, kDir, config_, clock_);
    ASSERT_TRUE(reopened) << reopened.error();
    EXPECT_EQ((*reopened)->end_offset(), Offset(6)) << keep;
    EXPECT_EQ((*reopened)->size_bytes(), two) << keep;
    EXPECT_EQ((*reopened)->recovery().bytes_cut, keep - two);
  }
}

TEST_F(LogRecovery, ZeroFilledTailIsCut) {
  auto log = open();
  auto sizes = append(*log, 2);
  ASSERT_TRUE(log->flush());
  log.reset();
  const std::uint64_t size = sizes[0] + sizes[1];
  // A file system that extended the file but never wrote the data.
  ASSERT_TRUE(fs_.set_size_durable(kFirstLog, size + 4096));
  log = open();
  EXPECT_EQ(log->end_offset(), Offset(6));
  EXPECT_EQ(log->size_bytes(), size);
  EXPECT_EQ(log->recovery().bytes_cut, 4096U);
}

class LogRecoverySegments : public LogRecovery {
 protected:
  LogRecoverySegments() { config_.segment_bytes_max = 2000; }
  // Three sealed segments and an active one, closed cleanly.
  void build() {
    auto log = open();
    append(*log, 12, 400);
    ASSERT_GE(log->segment_count(), 4U);
    end_ = log->end_offset();
    ASSERT_TRUE(log->close());
  }
  Offset end_;
};

TEST_F(LogRecoverySegments, CleanReopenReadsNoBatch) {
  build();
  auto log = open();
  EXPECT_TRUE(log->recovery().clean);
  EXPECT_EQ(log->recovery().segments_scanned, 0U);
  EXPECT_EQ(log->end_offset(), end_);
  expect_readable(*log);
}

TEST_F(LogRecoverySegments, MissingIndexIsRebuilt) {
  build();
  ASSERT_TRUE(fs_.remove("/data/t-0/00000000000000000000.index"));
  auto log = open();
  EXPECT_FALSE(log->recovery().clean);  // the marker did not match the files
  EXPECT_EQ(log->end_offset(), end_);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  EXPECT_EQ(*fs_.entry_type("/data/t-0/00000000000000000000.index"), EntryType::file);
  expect_readable(*log);
}

TEST_F(LogRecoverySegments, GarbageIndexIsRebuilt) {
  build();
  ASSERT_TRUE(fs_.corrupt("/data/t-0/00000000000000000000.index", 20, to_bytes("garbage!")));
  auto log = open();
  EXPECT_EQ(log->end_offset(), end_);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_readable(*log);
}

TEST_F(LogRecoverySegments, IndexAheadOfTheLogIsRebuilt) {
  build();
  // An index written for a longer segment than the .log now holds: its
  // entries point past the data. The index is rebuilt from the log.
  auto index = fs_.contents("/data/t-0/00000000000000000000.index");
  ASSERT_TRUE(index);
  // A count that disagrees with the entries present.
  std::byte count[4];
  store_be<std::uint32_t>(count, 1000);
  ASSERT_TRUE(fs_.corrupt("/data/t-0/00000000000000000000.index", 8, count));
  auto log = open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), end_);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_readable(*log);
}

TEST_F(LogRecoverySegments, ShrunkenSealedSegmentIsCorruption) {
  build();
  auto content = fs_.contents(kFirstLog);
  ASSERT_TRUE(content);
  ASSERT_TRUE(fs_.set_size_durable(kFirstLog, content->size() / 2));
  auto log = PartitionLog::open(fs_, kDir, config_, clock_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::corrupt_log);
}

TEST_F(LogRecoverySegments, MarkerThatDisagreesWithTheActiveSegmentMeansAScan) {
  build();
  auto names = fs_.list_directory(kDir);
  ASSERT_TRUE(names);
  // The last .log: append garbage after a clean close (as if written later).
  std::string last;
  for (const auto& n : *names) {
    if (n.ends_with(".log")) last = n;
  }
  auto f = fs_.open(std::string(kDir) + "/" + last, OpenMode::read_write);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->append(to_bytes("torn bytes after close")));
  ASSERT_TRUE((*f)->sync());
  auto log = open();
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_EQ(log->end_offset(), end_);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
}

TEST_F(LogRecoverySegments, CorruptionInTheMiddleOfASealedSegmentIsAnError) {
  build();
  ASSERT_TRUE(fs_.remove("/data/t-0/clean.shutdown"));  // an unclean shutdown
  // Damage the length of the second batch of the first (sealed) segment.
  auto content = fs_.contents(kFirstLog);
  ASSERT_TRUE(content);
  const auto first_len = load_be<std::int32_t>(content->data() + 8);
  std::byte bad[4];
  store_be<std::int32_t>(bad, 7);
  ASSERT_TRUE(fs_.corrupt(kFirstLog, 12 + static_cast<std::uint64_t>(first_len) + 8, bad));
  auto log = PartitionLog::open(fs_, kDir, config_, clock_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::corrupt_log);
  EXPECT_NE(log.error().detail().find("00000000000000000000.log"), std::string::npos);
  EXPECT_NE(log.error().detail().find("not a torn write"), std::string::npos);
}

TEST_F(LogRecoverySegments, UncleanReopenWalksSealedSegmentsAndScansTheRest) {
  build();
  ASSERT_TRUE(fs_.remove("/data/t-0/clean.shutdown"));
  auto log = open();
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_EQ(log->end_offset(), end_);
  EXPECT_LE(log->recovery().segments_scanned, 1U);
  expect_readable(*log);
}

TEST_F(LogRecovery, ForeignFileInThePartitionDirectoryIsAClearError) {
  auto log = open();
  append(*log, 1);
  ASSERT_TRUE(log->close());
  ASSERT_TRUE(fs_.open("/data/t-0/backup.tar", OpenMode::create));
  auto reopened = PartitionLog::open(fs_, kDir, config_, clock_);
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.error().code(), Errc::malformed);
  EXPECT_NE(reopened.error().detail().find("backup.tar"), std::string::npos);
}

TEST_F(LogRecovery, LeftoverTmpAndOrphanIndexFilesAreRemoved) {
  auto log = open();
  append(*log, 1);
  ASSERT_TRUE(log->close());
  ASSERT_TRUE(fs_.open("/data/t-0/recovery.point.tmp", OpenMode::create));
  ASSERT_TRUE(fs_.open("/data/t-0/00000000000000000099.index", OpenMode::create));
  log = open();
  EXPECT_EQ(*fs_.entry_type("/data/t-0/recovery.point.tmp"), EntryType::none);
  EXPECT_EQ(*fs_.entry_type("/data/t-0/00000000000000000099.index"), EntryType::none);
  EXPECT_EQ(log->end_offset(), Offset(3));
}

TEST_F(LogRecovery, DamagedStartOffsetFileStopsTheOpen) {
  auto log = open();
  append(*log, 3);
  ASSERT_TRUE(log->advance_start(Offset(4)));
  ASSERT_TRUE(log->close());
  ASSERT_TRUE(fs_.corrupt("/data/t-0/start.offset", 10, to_bytes("x")));
  auto reopened = PartitionLog::open(fs_, kDir, config_, clock_);
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.error().code(), Errc::corrupt_log);
}

}  // namespace
}  // namespace spate::storage
