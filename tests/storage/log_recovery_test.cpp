// SPDX-License-Identifier: Apache-2.0
//
// Recovery from torn writes (reliability.md S1): 1000 random cut points across
// an unsynced tail, a tail that spans a roll, then one named test per kind of
// damage to the tail batch, as leveldb's log_test does. Damaged indexes, the
// clean marker, sealed segments and the directory: log_recovery_files_test.cpp.

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

#include "storage/segment.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::kLogDir;
using spate::testing::LogModel;
using spate::testing::LogRig;
using spate::testing::segment_path;
using spate::testing::TornWrite;
using spate::testing::unexpected_files;

// ---------------------------------------------------------------- random tears

// Where recovery must land after a cut `cut` bytes into the unsynced tail:
// the end of the last batch wholly before the cut (`ends` holds, per unsynced
// batch, the tail bytes up to its end and its end offset), and those bytes.
std::pair<Offset, std::uint64_t> landing(Offset durable,
                                         const std::vector<std::pair<std::uint64_t, Offset>>& ends,
                                         std::uint64_t cut) {
  std::pair<Offset, std::uint64_t> at{durable, 0};
  for (const auto& [bytes, end] : ends) {
    if (bytes <= cut) at = {end, bytes};
  }
  return at;
}

TEST_F(TornWrite, ThousandRandomCutPointsInTheUnsyncedTailRecoverToTheLastWholeBatch) {
  Rng cuts(2026);
  int cut_inside = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    LogRig t(rng_.next());
    t.config_ = config_;
    auto log = t.open_log();
    const int flushed = 1 + static_cast<int>(cuts.uniform(6));
    for (int i = 0; i < flushed; ++i) {
      t.append(*log, 1 + static_cast<int>(cuts.uniform(10)), cuts.uniform(400));
    }
    ASSERT_TRUE(log->flush());
    const Offset durable = log->end_offset();
    const std::uint64_t durable_bytes = log->size_bytes();
    std::vector<std::pair<std::uint64_t, Offset>> ends;  // (unsynced bytes, end) per batch
    std::uint64_t unsynced = 0;
    const int tail = 1 + static_cast<int>(cuts.uniform(3));
    for (int i = 0; i < tail; ++i) {
      t.append(*log, 1 + static_cast<int>(cuts.uniform(20)), cuts.uniform(500));
      unsynced += t.model_.batches().back().bytes.size();
      ends.emplace_back(unsynced, t.model_.end());
    }
    const std::uint64_t cut = cuts.uniform(unsynced + 1);
    log.reset();
    t.mem_.crash([&](const std::filesystem::path& path, std::uint64_t) {
      return path.extension() == ".log" ? cut : 0;
    });
    const auto [expected, whole] = landing(durable, ends, cut);
    log = t.open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_FALSE(log->recovery().clean);
    EXPECT_EQ(log->end_offset(), expected);
    EXPECT_EQ(log->recovery().cut_reason.has_value(), cut != whole);
    EXPECT_EQ(log->recovery().bytes_cut, cut - whole);
    EXPECT_EQ(log->size_bytes(), durable_bytes + whole);
    cut_inside += cut != whole ? 1 : 0;
    t.model_.truncate(expected);
    ASSERT_EQ(compare_with_model(*log, t.model_), "");
    // Appending after recovery works and survives a clean restart.
    EXPECT_EQ(t.append(*log, 2, 50).base_offset, expected);
    ASSERT_TRUE(log->close());
    log = t.open_log();
    EXPECT_TRUE(log->recovery().clean);
    EXPECT_EQ(log->end_offset(), t.model_.end());
    ASSERT_EQ(compare_with_model(*log, t.model_), "");
  }
  EXPECT_GT(cut_inside, 900);  // the cuts did land inside batches
}

// The unsynced tail spans a roll: the new segment's name was never made
// durable, so it vanishes; the sealed segment keeps a torn prefix.
TEST_F(TornWrite, RandomCutsInATailThatSpansARollRecoverToTheLastWholeBatch) {
  config_.segment_bytes_max = 3000;
  Rng cuts(77);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    LogRig t(rng_.next());
    t.config_ = config_;
    auto log = t.open_log();
    t.append(*log, 3, 200);
    ASSERT_TRUE(log->flush());
    const Offset durable = log->end_offset();
    std::vector<std::pair<std::uint64_t, Offset>> ends;  // in the first segment
    std::uint64_t unsynced = 0;
    while (log->segment_count() == 1) {
      t.append(*log, 1 + static_cast<int>(cuts.uniform(5)), cuts.uniform(300));
      if (log->segment_count() == 1) {
        unsynced += t.model_.batches().back().bytes.size();
        ends.emplace_back(unsynced, t.model_.end());
      }
    }
    t.append(*log, 2, 100);  // more in the new segment
    const std::uint64_t cut = cuts.uniform(unsynced + 1);
    const auto first_log = segment_path(Offset(0), ".log");
    log.reset();
    t.mem_.crash([&](const std::filesystem::path& path, std::uint64_t n) {
      return path == first_log ? cut : cuts.uniform(n + 1);
    });
    const auto [expected, whole] = landing(durable, ends, cut);
    log = t.open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->end_offset(), expected);
    EXPECT_EQ(log->segment_count(), 1U);
    EXPECT_EQ(log->recovery().cut_reason.has_value(), cut != whole);
    t.model_.truncate(expected);
    ASSERT_EQ(compare_with_model(*log, t.model_), "");
    EXPECT_EQ(unexpected_files(t.mem_, kLogDir, log->segment_count()), "");
    EXPECT_EQ(t.append(*log, 1, 10).base_offset, expected);
    ASSERT_TRUE(log->close());
    log = t.open_log();
    ASSERT_EQ(compare_with_model(*log, t.model_), "");
  }
}

// ---------------------------------------------------------------- named damage

TEST_F(TornWrite, HugeLengthInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte length[4];
  store_be<std::int32_t>(length, 0x7FFFFFF0);
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kBatchLength, length));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, LengthOneByteShortInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte length[4];
  store_be<std::int32_t>(length, static_cast<std::int32_t>(last.bytes.size() - 12 - 1));
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kBatchLength, length));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, LengthRunningPastTheEndOfTheFileIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte length[4];
  store_be<std::int32_t>(length, static_cast<std::int32_t>(last.bytes.size() - 12 + 100));
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kBatchLength, length));
  expect_last_batch_cut(last.bytes.size(), "past the end");
}

TEST_F(TornWrite, BadCrcInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  const std::uint64_t at = position_of(last.base) + last.bytes.size() - 1;
  const std::byte flipped[1] = {last.bytes.back() ^ std::byte{0x20}};
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"), at, flipped));
  expect_last_batch_cut(last.bytes.size(), "CRC");
}

TEST_F(TornWrite, WrongBaseOffsetInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte base[8];
  store_be<std::int64_t>(base, last.base.value() + 1);  // outside the CRC: only the chain says
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"), position_of(last.base), base));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, LowerTermInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte epoch[4];
  store_be<std::int32_t>(epoch, 0);  // below the term 1 of the batches before it
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kPartitionLeaderEpoch,
                           epoch));
  expect_last_batch_cut(last.bytes.size());
}

// Every prefix of the last batch, from nothing to all of it, on a file whose
// earlier batches are whole.
TEST_F(TornWrite, BatchCutAtEveryByteOfTheLastBatch) {
  five_batches_then_unclean();
  auto image = mem_.contents(segment_path(Offset(0), ".log"));
  ASSERT_TRUE(image);
  const auto& last = model_.batches().back();
  const std::uint64_t last_at = position_of(last.base);
  const LogModel full = model_;
  for (std::uint64_t k = 0; k <= last.bytes.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "kept " << k << " of " << last.bytes.size());
    MemFs fs;
    ASSERT_TRUE(fs.create_directories(kLogDir));
    auto file = fs.open(segment_path(Offset(0), ".log"), OpenMode::create);
    ASSERT_TRUE(file);
    ASSERT_TRUE((*file)->append(std::span(*image).first(last_at + k)));
    ASSERT_TRUE((*file)->sync());
    ASSERT_TRUE(fs.sync_directory(kLogDir));
    auto opened = PartitionLog::open(fs, kLogDir, config_, clock_);
    ASSERT_TRUE(opened) << opened.error();
    auto& log = **opened;
    const bool whole = k == last.bytes.size();
    EXPECT_EQ(log.end_offset(), whole ? last.next : last.base);
    EXPECT_EQ(log.recovery().cut_reason.has_value(), k > 0 && !whole);
    EXPECT_EQ(log.recovery().bytes_cut, whole ? 0 : k);
    EXPECT_EQ(log.size_bytes(), whole ? image->size() : last_at);
    LogModel expected = full;
    expected.truncate(log.end_offset());
    EXPECT_EQ(compare_with_model(log, expected), "");
    EXPECT_EQ((*file)->size(), whole ? image->size() : last_at);
  }
}

TEST_F(TornWrite, ZeroFilledTailIsCut) {
  five_batches_then_unclean();
  const auto path = segment_path(Offset(0), ".log");
  const std::uint64_t size = mem_.contents(path)->size();
  // The file system grew the file but the data never reached the disk.
  ASSERT_TRUE(mem_.set_size_durable(path, size + 4096));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().bytes_cut, 4096U);
  EXPECT_EQ(log->end_offset(), model_.end());
  EXPECT_EQ(log->size_bytes(), size);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  EXPECT_EQ(mem_.contents(path)->size(), size);
}

TEST_F(TornWrite, ZeroedPagesOverTheTailBatchAreCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  const std::vector<std::byte> zeros(last.bytes.size() - 20, std::byte{0});
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"), position_of(last.base) + 20, zeros));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, GarbageAfterTheLastBatchIsCut) {
  five_batches_then_unclean();
  const auto path = segment_path(Offset(0), ".log");
  const std::uint64_t size = mem_.contents(path)->size();
  std::vector<std::byte> garbage(777);
  for (auto& b : garbage) b = static_cast<std::byte>(rng_.next());
  ASSERT_TRUE(mem_.corrupt(path, size, garbage));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().bytes_cut, garbage.size());
  EXPECT_EQ(log->end_offset(), model_.end());
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

}  // namespace
}  // namespace spate::storage
