// SPDX-License-Identifier: Apache-2.0
//
// LogRig: the shared steps of the PartitionLog suites.

#include "support/log_rig.h"

#include <gtest/gtest.h>

#include "support/batches.h"

namespace spate::testing {

using storage::AppendResult;
using storage::PartitionLog;

void expect_fenced(PartitionLog& log, bool reads_work) {
  ASSERT_FALSE(log.writable());
  const bool fenced = log.fenced();
  if (!fenced) {
    ASSERT_TRUE(log.write_block().has_value());
    EXPECT_TRUE(storage::is_transient_storage_error(*log.write_block())) << *log.write_block();
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

LogRig::LogRig(std::uint64_t seed) : rng_(seed) {
  quiet_storage_logs();
  EXPECT_TRUE(mem_.create_directories("/data"));
  EXPECT_TRUE(mem_.sync_directory("/"));
}

Result<std::unique_ptr<PartitionLog>> LogRig::try_open() {
  return PartitionLog::open(faulty_, kLogDir, config_, clock_);
}

std::unique_ptr<PartitionLog> LogRig::open_log() {
  auto log = try_open();
  EXPECT_TRUE(log) << log.error();
  return log ? std::move(*log) : nullptr;
}

Result<AppendResult> LogRig::try_append(PartitionLog& log, int records, std::size_t value_bytes_max,
                                        Term term) {
  auto batch = make_varied_batch(rng_, records, value_bytes_max, ts_);
  ts_ += records;
  auto sent = batch;
  auto r = log.append(batch, term);
  if (r) model_.append(sent, r->base_offset, term);
  return r;
}

AppendResult LogRig::append(PartitionLog& log, int records, std::size_t value_bytes_max,
                            Term term) {
  auto r = try_append(log, records, value_bytes_max, term);
  EXPECT_TRUE(r) << r.error();
  return r ? *r : AppendResult{};
}

void LogRig::append_flushed(PartitionLog& log, int count) {
  for (int i = 0; i < count; ++i) ASSERT_TRUE(try_append(log));
  ASSERT_TRUE(log.flush());
  acked_ = log.end_offset();
}

void LogRig::expect_matches_model(PartitionLog& log) {
  EXPECT_EQ(log.end_offset(), model_.end());
  EXPECT_EQ(compare_with_model(log, model_), "");
}

std::unique_ptr<PartitionLog> LogRig::recover(std::unique_ptr<PartitionLog> log, bool power_loss,
                                              std::uint64_t keep_unsynced) {
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
  EXPECT_EQ(unexpected_files(mem_, kLogDir, l.segment_count()), "");
  acked_ = l.end_offset();
  return std::move(*reopened);
}

void LogRig::expect_healthy(std::unique_ptr<PartitionLog> log) {
  ASSERT_NE(log, nullptr);
  auto r = try_append(*log);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->base_offset, acked_);
  ASSERT_TRUE(log->close());
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().clean);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

void LogRig::prepare() {
  config_.segment_bytes_max = 700;
  config_.index_interval_bytes = 200;
  auto log = open_log();
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(try_append(*log, 2, 100));
  ASSERT_TRUE(log->flush());
  acked_ = log->end_offset();
  ASSERT_GE(log->segment_count(), 3U);
  log_ = std::move(log);
}

}  // namespace spate::testing
