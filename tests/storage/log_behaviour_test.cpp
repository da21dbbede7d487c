// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's plain behaviours: offsets and terms, batch validation, reads,
// time lookups, truncation, start offset, rolls, retention, group commit and
// flush policies, on MemFs, plus a smoke run on the real file system.

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/batches.h"
#include "support/temp_dir.h"

namespace spate::storage {
namespace {

using spate::testing::make_batch;
using spate::testing::split_batches;

constexpr const char* kDir = "/data/t-0";

class LogBehaviour : public ::testing::Test {
 protected:
  LogBehaviour() {
    log::set_level(spdlog::level::warn);
    EXPECT_TRUE(fs_.create_directories("/data"));
  }

  std::unique_ptr<PartitionLog> open() {
    auto log = PartitionLog::open(fs_, kDir, config_, clock_);
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  // Appends a batch of `records` records with timestamps from `timestamp`.
  AppendResult append(PartitionLog& log, int records, std::int64_t timestamp = 1000,
                      Term term = Term(1), std::size_t value_bytes = 100) {
    auto b = make_batch(rng_, records, value_bytes, timestamp);
    auto r = log.append(b, term);
    EXPECT_TRUE(r) << r.error();
    return r ? *r : AppendResult{};
  }

  std::vector<protocol::BatchHeader> read_headers(PartitionLog& log, Offset from,
                                                  std::uint64_t bytes_max) {
    auto r = log.read(from, bytes_max);
    EXPECT_TRUE(r) << r.error();
    if (!r) return {};
    auto bytes = r->bytes.read_all();
    EXPECT_TRUE(bytes);
    std::vector<std::span<const std::byte>> parts;
    EXPECT_TRUE(split_batches(*bytes, parts));
    std::vector<protocol::BatchHeader> out;
    for (auto p : parts) {
      auto h = protocol::validate_batch(p, 1U << 20U);
      EXPECT_TRUE(h) << h.error();
      if (h) out.push_back(*h);
    }
    return out;
  }

  MemFs fs_;
  ManualClock clock_;
  Rng rng_{3};
  LogConfig config_;
};

TEST_F(LogBehaviour, OffsetsAreAssignedContiguouslyAndTheTermIsWritten) {
  auto log = open();
  EXPECT_EQ(log->start_offset(), Offset(0));
  EXPECT_EQ(log->end_offset(), Offset(0));
  auto a = append(*log, 3, 1000, Term(4));
  auto b = append(*log, 1, 1000, Term(4));
  auto c = append(*log, 5, 1000, Term(9));
  EXPECT_EQ(a.base_offset, Offset(0));
  EXPECT_EQ(a.last_offset, Offset(2));
  EXPECT_EQ(b.base_offset, Offset(3));
  EXPECT_EQ(c.base_offset, Offset(4));
  EXPECT_EQ(c.last_offset, Offset(8));
  EXPECT_EQ(log->end_offset(), Offset(9));
  auto headers = read_headers(*log, Offset(0), 1U << 20U);
  ASSERT_EQ(headers.size(), 3U);
  EXPECT_EQ(headers[2].base_offset, 4);
  EXPECT_EQ(headers[2].partition_leader_epoch, 9);  // CRC still valid: validate_batch passed
  EXPECT_EQ(log->last_term(), Term(9));
  EXPECT_EQ(*log->term_at(Offset(3)), Term(4));
  EXPECT_EQ(*log->term_at(Offset(4)), Term(9));
  EXPECT_FALSE(log->term_at(Offset(9)));
}

TEST_F(LogBehaviour, BadBatchesAreRejectedAndTheLogIsUnchanged) {
  auto log = open();
  append(*log, 2);
  auto good = make_batch(rng_, 2, 50, 0);

  auto bad_crc = good;
  bad_crc[70] ^= std::byte{1};
  auto r = log->append(bad_crc, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::crc_mismatch);

  auto bad_length = good;
  store_be<std::int32_t>(bad_length.data() + 8, 5000);
  r = log->append(bad_length, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_record);

  auto magic1 = good;
  magic1[16] = std::byte{1};
  r = log->append(magic1, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::unsupported_format);

  std::vector<std::byte> short_batch(good.begin(), good.begin() + 30);
  r = log->append(short_batch, Term(1));
  ASSERT_FALSE(r);

  LogConfig small = config_;
  small.batch_bytes_max = 100;
  ASSERT_TRUE(log->set_config(small));
  r = log->append(good, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::record_too_large);
  ASSERT_TRUE(log->set_config(config_));

  r = log->append(good, Term(0));  // term below the log's last term
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);

  EXPECT_EQ(log->end_offset(), Offset(2));
  EXPECT_FALSE(log->fenced());
  EXPECT_TRUE(log->append(good, Term(1)));
  EXPECT_EQ(log->end_offset(), Offset(4));
}

TEST_F(LogBehaviour, ReadAtEveryOffsetReturnsTheContainingBatch) {
  auto log = open();
  for (int i = 0; i < 20; ++i) append(*log, 1 + i % 4);
  for (Offset o(0); o < log->end_offset(); ++o) {
    auto headers = read_headers(*log, o, 1);
    ASSERT_EQ(headers.size(), 1U) << o;  // at least one whole batch, even over bytes_max
    EXPECT_LE(headers[0].base(), o);
    EXPECT_GE(headers[0].last_offset(), o);
  }
  auto at_end = log->read(log->end_offset(), 1U << 20U);
  ASSERT_TRUE(at_end);
  EXPECT_TRUE(at_end->bytes.empty());
  EXPECT_EQ(at_end->next_offset, log->end_offset());
  auto past = log->read(log->end_offset() + 1, 100);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Errc::offset_out_of_range);
}

TEST_F(LogBehaviour, ReadStopsAtBytesMaxAndAtTheGivenEnd) {
  auto log = open();
  for (int i = 0; i < 10; ++i) append(*log, 2);  // offsets 0..19
  auto all = read_headers(*log, Offset(0), 1U << 20U);
  ASSERT_EQ(all.size(), 10U);
  const std::uint64_t three_bytes =
      all[0].total_bytes() + all[1].total_bytes() + all[2].total_bytes();
  auto three = read_headers(*log, Offset(0), three_bytes + all[3].total_bytes() - 1);
  EXPECT_EQ(three.size(), 3U);
  auto r = log->read(Offset(0), 1U << 20U, Offset(6));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next_offset, Offset(6));
  EXPECT_EQ(r->bytes.size, three_bytes);
}

TEST_F(LogBehaviour, ReadsSpanSegmentsOneSegmentAtATime) {
  config_.segment_bytes_max = 1000;
  auto log = open();
  for (int i = 0; i < 12; ++i) append(*log, 2, 1000, Term(1), 150);
  EXPECT_GT(log->segment_count(), 3U);
  Offset from(0);
  int batches = 0;
  for (int guard = 0; from < log->end_offset() && guard < 100; ++guard) {
    auto r = log->read(from, 1U << 20U);
    ASSERT_TRUE(r);
    auto bytes = r->bytes.read_all();
    ASSERT_TRUE(bytes);
    std::vector<std::span<const std::byte>> parts;
    ASSERT_TRUE(split_batches(*bytes, parts));
    batches += static_cast<int>(parts.size());
    from = r->next_offset;
  }
  EXPECT_EQ(batches, 12);
}

TEST_F(LogBehaviour, FindOffsetByTimestamp) {
  config_.segment_bytes_max = 1200;
  auto log = open();
  // Batches of 3 records at timestamps 1000+10i, +1, +2.
  for (int i = 0; i < 10; ++i) append(*log, 3, 1000 + 10 * i);
  EXPECT_GT(log->segment_count(), 2U);
  auto exact = log->find_offset_by_timestamp(1041);
  ASSERT_TRUE(exact);
  ASSERT_TRUE(exact->has_value());
  EXPECT_EQ((*exact)->offset, Offset(13));  // batch 4, second record
  EXPECT_EQ((*exact)->timestamp, 1041);
  auto between = log->find_offset_by_timestamp(1045);
  ASSERT_TRUE(between && between->has_value());
  EXPECT_EQ((*between)->offset, Offset(15));  // first record of batch 5 (1050)
  auto oldest = log->find_offset_by_timestamp(0);
  ASSERT_TRUE(oldest && oldest->has_value());
  EXPECT_EQ((*oldest)->offset, Offset(0));
  auto future = log->find_offset_by_timestamp(5000);
  ASSERT_TRUE(future);
  EXPECT_FALSE(future->has_value());
  // The same answers after a clean reopen (time indexes from disk).
  ASSERT_TRUE(log->close());
  log = open();
  auto again = log->find_offset_by_timestamp(1041);
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ((*again)->offset, Offset(13));
}

TEST_F(LogBehaviour, TruncateSuffixToABatchBoundary) {
  auto log = open();
  append(*log, 2, 1000, Term(1));  // 0-1
  append(*log, 2, 1000, Term(2));  // 2-3
  append(*log, 2, 1000, Term(3));  // 4-5
  ASSERT_TRUE(log->flush());
  auto inside = log->truncate_suffix(Offset(3));
  ASSERT_FALSE(inside);
  EXPECT_EQ(inside.error().code(), Errc::invalid_argument);
  ASSERT_TRUE(log->truncate_suffix(Offset(2)));
  EXPECT_EQ(log->end_offset(), Offset(2));
  EXPECT_EQ(log->flushed_end_offset(), Offset(2));
  EXPECT_EQ(log->last_term(), Term(1));
  auto next = append(*log, 1, 1000, Term(4));
  EXPECT_EQ(next.base_offset, Offset(2));
  EXPECT_EQ(*log->term_at(Offset(2)), Term(4));
  EXPECT_FALSE(log->truncate_suffix(Offset(10)));
}

TEST_F(LogBehaviour, TruncateAcrossSegmentsRemovesTheLaterOnes) {
  config_.segment_bytes_max = 800;
  auto log = open();
  for (int i = 0; i < 10; ++i) append(*log, 1, 1000, Term(1), 300);
  const auto segments = log->segment_count();
  ASSERT_GT(segments, 3U);
  ASSERT_TRUE(log->truncate_suffix(Offset(1)));
  EXPECT_EQ(log->segment_count(), 1U);
  EXPECT_EQ(log->end_offset(), Offset(1));
  ASSERT_TRUE(log->close());
  log = open();
  EXPECT_EQ(log->end_offset(), Offset(1));
}

TEST_F(LogBehaviour, AdvanceStartPersistsAcrossCleanAndUncleanReopen) {
  config_.segment_bytes_max = 800;
  auto log = open();
  for (int i = 0; i < 10; ++i) append(*log, 1, 1000, Term(1), 300);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->advance_start(Offset(5)));
  EXPECT_EQ(log->start_offset(), Offset(5));
  auto below = log->read(Offset(4), 100);
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code(), Errc::offset_out_of_range);
  ASSERT_TRUE(log->close());
  log = open();
  EXPECT_EQ(log->start_offset(), Offset(5));
  log.reset();  // unclean
  log = open();
  EXPECT_EQ(log->start_offset(), Offset(5));
  auto beyond = log->advance_start(Offset(11));
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code(), Errc::offset_out_of_range);
}

TEST_F(LogBehaviour, RollsBySizeAndByAge) {
  config_.segment_bytes_max = 1000;
  config_.segment_age_max = std::chrono::minutes(10);
  auto log = open();
  append(*log, 1, 1000, Term(1), 300);
  append(*log, 1, 1000, Term(1), 300);
  EXPECT_EQ(log->segment_count(), 1U);
  append(*log, 1, 1000, Term(1), 300);  // would pass 1000 bytes
  EXPECT_EQ(log->segment_count(), 2U);
  ASSERT_TRUE(log->maybe_roll());
  EXPECT_EQ(log->segment_count(), 2U);
  clock_.advance(std::chrono::minutes(11));
  ASSERT_TRUE(log->maybe_roll());
  EXPECT_EQ(log->segment_count(), 3U);
  ASSERT_TRUE(log->maybe_roll());  // the new active segment is empty: no roll
  EXPECT_EQ(log->segment_count(), 3U);
  // A batch larger than the segment size gets a segment of its own.
  append(*log, 1, 1000, Term(1), 5000);
  append(*log, 1, 1000, Term(1), 10);
  EXPECT_EQ(log->segment_count(), 4U);
}

TEST_F(LogBehaviour, RetentionByBytesDeletesWholeOldSegments) {
  config_.segment_bytes_max = 1000;
  config_.retention_ms = -1;
  auto log = open();
  for (int i = 0; i < 12; ++i) append(*log, 1, 1000, Term(1), 300);
  ASSERT_TRUE(log->flush());
  const auto before = log->segment_count();
  LogConfig c = config_;
  c.retention_bytes = 2000;
  ASSERT_TRUE(log->set_config(c));
  auto r = log->apply_retention();
  ASSERT_TRUE(r) << r.error();
  EXPECT_GT(r->segments_deleted, 0U);
  EXPECT_EQ(log->segment_count(), before - r->segments_deleted);
  EXPECT_LE(log->size_bytes(), 2000U + 1000U);
  EXPECT_GT(log->start_offset(), Offset(0));
  auto headers = read_headers(*log, log->start_offset(), 1U << 20U);
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(headers[0].base(), log->start_offset());
}

TEST_F(LogBehaviour, RetentionByAgeRollsAndDeletesExpiredData) {
  config_.retention_ms = 60'000;
  auto log = open();
  const std::int64_t now = clock_.wall_ms();
  append(*log, 2, now - 120'000);  // already expired
  append(*log, 2, now - 100'000);
  ASSERT_TRUE(log->flush());
  auto r = log->apply_retention();
  ASSERT_TRUE(r);
  // The active segment had expired: it was rolled, then (once durable) deleted.
  ASSERT_TRUE(log->flush());
  r = log->apply_retention();
  ASSERT_TRUE(r);
  EXPECT_EQ(log->start_offset(), Offset(4));
  EXPECT_EQ(log->end_offset(), Offset(4));
  append(*log, 1, now);
  auto kept = log->apply_retention();
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->segments_deleted, 0U);
  EXPECT_EQ(log->end_offset(), Offset(5));
}

TEST_F(LogBehaviour, GroupCommitOneFlushCoversManyAppends) {
  auto log = open();
  for (int i = 0; i < 10; ++i) append(*log, 1);
  EXPECT_EQ(log->flushed_end_offset(), Offset(0));
  EXPECT_TRUE(log->flush_due());
  FlushTicket ticket = log->begin_flush();
  EXPECT_EQ(ticket.end_offset(), Offset(10));
  append(*log, 1);  // arrives while the disk thread syncs
  Status synced = ticket.sync();
  ASSERT_TRUE(log->finish_flush(ticket, synced));
  EXPECT_EQ(log->flushed_end_offset(), Offset(10));
  EXPECT_TRUE(log->flush_due());  // the eleventh batch is not covered yet
  ASSERT_TRUE(log->flush());
  EXPECT_EQ(log->flushed_end_offset(), Offset(11));
  EXPECT_FALSE(log->flush_due());
}

TEST_F(LogBehaviour, TruncationDuringAFlushNeverClaimsDroppedData) {
  auto log = open();
  for (int i = 0; i < 5; ++i) append(*log, 1);
  FlushTicket ticket = log->begin_flush();
  ASSERT_TRUE(log->truncate_suffix(Offset(2)));
  append(*log, 1);
  append(*log, 1);
  append(*log, 1);  // end 5 again, but offsets 2-4 are new data
  Status synced = ticket.sync();
  ASSERT_TRUE(log->finish_flush(ticket, synced));
  EXPECT_EQ(log->flushed_end_offset(), Offset(2));
}

TEST_F(LogBehaviour, FlushDueFollowsThePolicy) {
  config_.flush_policy = FlushPolicy::interval;
  config_.flush_interval = std::chrono::milliseconds(100);
  auto log = open();
  append(*log, 1);
  EXPECT_FALSE(log->flush_due());
  clock_.advance(std::chrono::milliseconds(100));
  EXPECT_TRUE(log->flush_due());
  ASSERT_TRUE(log->flush());
  EXPECT_FALSE(log->flush_due());

  LogConfig none = config_;
  none.flush_policy = FlushPolicy::none;
  none.segment_bytes_max = 1200;
  ASSERT_TRUE(log->set_config(none));
  append(*log, 1, 1000, Term(1), 300);
  clock_.advance(std::chrono::seconds(10));
  EXPECT_FALSE(log->flush_due());
  append(*log, 1, 1000, Term(1), 900);  // rolls: the sealed segment must become durable
  EXPECT_TRUE(log->flush_due());
}

TEST_F(LogBehaviour, FlushPolicyNamesAndConfigValidation) {
  EXPECT_EQ(*parse_flush_policy("always"), FlushPolicy::always);
  EXPECT_EQ(*parse_flush_policy("interval"), FlushPolicy::interval);
  EXPECT_EQ(*parse_flush_policy("none"), FlushPolicy::none);
  EXPECT_FALSE(parse_flush_policy("sometimes"));
  EXPECT_EQ(flush_policy_name(FlushPolicy::interval), "interval");
  LogConfig c;
  EXPECT_TRUE(validate(c));
  c.segment_bytes_max = 10;
  EXPECT_FALSE(validate(c));
  c = {};
  c.segment_bytes_max = std::uint64_t{1} << 40U;
  EXPECT_FALSE(validate(c));
  c = {};
  c.retention_ms = -5;
  EXPECT_FALSE(validate(c));
  c = {};
  c.flush_interval = std::chrono::milliseconds(0);
  EXPECT_FALSE(validate(c));
  auto bad = PartitionLog::open(fs_, kDir, c, clock_);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
}

TEST_F(LogBehaviour, CloseIsFinal) {
  auto log = open();
  append(*log, 1);
  ASSERT_TRUE(log->close());
  auto b = make_batch(rng_, 1, 10, 0);
  auto r = log->append(b, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::log_fenced);
}

TEST(LogOnRealDisk, AppendReadSendfileCloseReopen) {
  log::set_level(spdlog::level::warn);
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
      auto b = make_batch(rng, 4, 1000, 1000 + i);
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
TEST(LogOnRealDisk, TimestamplessSegmentsAgeByTheirFilesModificationTime) {
  log::set_level(spdlog::level::warn);
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
      auto b = make_batch(rng, 1, 1000, -1);  // one record, no timestamp
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
