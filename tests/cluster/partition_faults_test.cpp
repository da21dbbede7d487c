// SPDX-License-Identifier: Apache-2.0
//
// cluster::Partition when its disk fills or its descriptors run out (issue 12
// item 5): appends fail with a retriable error, reads of acknowledged
// (committed) records go on, the partition's tick resumes writes once the
// fault clears, and after a restart every acknowledged record is there
// exactly once. A real disk thread does the group commit.

#include <cerrno>
#include <future>

#include <gtest/gtest.h>

#include "spate/cluster/partition.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"

#include "support/io_testing.h"
#include "support/log_testing.h"

namespace spate::cluster {
namespace {

using spate::testing::compare_with_model;
using spate::testing::LogModel;
using spate::testing::make_varied_batch;

const std::filesystem::path kFaultsDir = "/data/t-0";

class PartitionFaults : public ::testing::Test {
 protected:
  PartitionFaults() {
    log::set_level(spdlog::level::critical);
    EXPECT_TRUE(mem_.create_directories("/data"));
    EXPECT_TRUE(mem_.sync_directory("/"));
    config_.segment_bytes_max = 4000;
  }

  std::shared_ptr<Partition> open(storage::Filesystem& fs) {
    auto log = storage::PartitionLog::open(fs, kFaultsDir, config_, clock_);
    EXPECT_TRUE(log) << log.error();
    if (!log) return nullptr;
    return std::make_shared<Partition>(storage::TopicPartition{"t", 0}, std::move(*log),
                                       io_.get_executor(), disk_);
  }

  // Runs a coroutine on the test's io_context to completion (bounded: 10 s).
  template <typename T>
  T run(awaitable<T> task) {
    return spate::testing::run_on(io_, std::move(task));
  }

  // Produces one batch with acks=all; true once it is committed (acknowledged).
  Result<storage::AppendResult> produce(Partition& p) {
    auto batch = make_varied_batch(rng_, 4, 150, ts_);
    ts_ += 4;
    auto sent = batch;
    const Offset end = p.end_offset();
    auto r = p.append(batch);
    // Proposed but its write stalled (full disk, no descriptors): it is
    // stored once the log recovers, as a timed-out produce may be.
    if (!r && r.error().code() == Errc::busy && !stalled_ && p.end_offset() == end) {
      stalled_ = sent;
    }
    if (!r) return r;
    model_.append(sent, r->base_offset, Term(1));
    auto committed =
        run(p.wait_committed(r->last_offset + 1, clock_.steady_now() + std::chrono::seconds(5)));
    if (!committed) return committed.error();
    acked_ = r->last_offset + 1;
    return r;
  }

  // Every acknowledged record reads back through the partition.
  void expect_acked_readable(Partition& p) {
    Offset from = p.start_offset();
    for (int guard = 0; from < acked_ && guard < 10000; ++guard) {
      auto r = p.read(from, 1U << 20U);
      ASSERT_TRUE(r) << "read at " << from << ": " << r.error();
      ASSERT_FALSE(r->bytes.empty()) << "nothing at " << from << " below " << acked_;
      ASSERT_TRUE(r->bytes.read_all());
      from = r->next_offset;
    }
    EXPECT_GE(from, acked_);
  }

  storage::MemFs mem_;
  storage::FaultyFs faulty_{mem_};
  ManualClock clock_;
  storage::LogConfig config_;
  asio::io_context io_;
  DiskThread disk_;
  LogModel model_;
  Rng rng_{5};
  std::int64_t ts_ = 1'700'000'000'000;
  Offset acked_{0};
  std::optional<std::vector<std::byte>> stalled_;  // refused as busy, stored on recovery

  // After recovery: the stalled batch, if one was proposed, follows what was acknowledged.
  void stalled_stored(Partition& p) {
    if (!stalled_) return;
    auto h = protocol::decode_batch_header(*stalled_, stalled_->size());
    ASSERT_TRUE(h);
    if (p.end_offset() > acked_) {
      model_.append(*stalled_, acked_, Term(1));
      acked_ = acked_ + h->last_offset_delta + 1;
    }
    stalled_.reset();
  }
};

TEST_F(PartitionFaults, FullDiskThenNoDescriptorsThenRecoveryLosesNothing) {
  auto p = open(faulty_);
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(produce(*p));

  // The disk fills in the middle of a batch.
  storage::FaultPlan full;
  full.ops = static_cast<std::uint32_t>(storage::FaultOp::append);
  full.err = ENOSPC;
  full.torn_append_bytes = 77;
  full.sticky = true;
  faulty_.inject(full);
  for (int i = 0; i < 4; ++i) {
    auto r = produce(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::busy) << r.error();  // retriable: REQUEST_TIMED_OUT
    expect_acked_readable(*p);
    clock_.advance(std::chrono::milliseconds(400));
    p->tick();
  }
  EXPECT_FALSE(p->status().fenced);
  faulty_.clear();
  clock_.advance(std::chrono::seconds(2));
  p->tick();
  EXPECT_TRUE(p->status().writable);
  stalled_stored(*p);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(produce(*p));

  // Descriptors run out when the segment must roll (what was read before
  // stays open in the file cache and readable).
  expect_acked_readable(*p);
  storage::FaultPlan no_fds;
  no_fds.ops = static_cast<std::uint32_t>(storage::FaultOp::open);
  no_fds.err = EMFILE;
  no_fds.sticky = true;
  faulty_.inject(no_fds);
  Result<storage::AppendResult> r = storage::AppendResult{};
  for (int i = 0; i < 30 && r; ++i) r = produce(*p);
  ASSERT_FALSE(r) << "the segment never rolled";
  EXPECT_EQ(r.error().code(), Errc::busy) << r.error();
  EXPECT_NE(r.error().detail().find("Too many open files"), std::string::npos) << r.error();
  expect_acked_readable(*p);
  faulty_.clear();
  clock_.advance(std::chrono::seconds(2));
  p->tick();
  stalled_stored(*p);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(produce(*p));
  expect_acked_readable(*p);
  EXPECT_GE(p->status().segments, 2U);

  // A clean restart, then a power loss: every acknowledged record once.
  ASSERT_TRUE(run(p->close()));
  p.reset();
  auto log = storage::PartitionLog::open(mem_, kFaultsDir, config_, clock_);
  ASSERT_TRUE(log) << log.error();
  EXPECT_TRUE((*log)->recovery().clean);
  EXPECT_EQ((*log)->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(**log, model_), "");
  log->reset();
  mem_.crash();
  auto again = storage::PartitionLog::open(mem_, kFaultsDir, config_, clock_);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ((*again)->end_offset(), acked_);
  EXPECT_EQ(compare_with_model(**again, model_), "");
}

// A failed fsync fences the partition for good, but what was committed before
// stays readable through it.
TEST_F(PartitionFaults, AFailedSyncFencesWritesButCommittedRecordsStayReadable) {
  auto p = open(faulty_);
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(produce(*p));
  storage::FaultPlan eio;
  eio.ops = static_cast<std::uint32_t>(storage::FaultOp::sync);
  eio.err = EIO;
  faulty_.inject(eio);
  auto r = produce(*p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::log_fenced) << r.error();
  EXPECT_TRUE(p->status().fenced);
  expect_acked_readable(*p);
  EXPECT_FALSE(run(p->close()));
}

// While its flush cannot complete (the disk thread is busy), a partition
// acknowledges nothing under flush policy `always`: wait_committed times
// out, the high watermark stays, and reads stop at it.
TEST_F(PartitionFaults, NothingIsCommittedOrReadableBeforeItsFlushCompletes) {
  auto p = open(faulty_);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(produce(*p));
  const Offset hw = p->high_watermark();
  spate::testing::DiskHold hold(disk_, io_.get_executor());
  auto batch = make_varied_batch(rng_, 4, 150, ts_);
  auto appended = p->append(batch);
  ASSERT_TRUE(appended) << appended.error();
  // The partition's clock passes the deadline while the flush is held.
  asio::steady_timer tick(io_, std::chrono::milliseconds(50));
  tick.async_wait(
      [this](const boost::system::error_code&) { clock_.advance(std::chrono::milliseconds(100)); });
  auto waited = run(p->wait_committed(appended->last_offset + 1,
                                      clock_.steady_now() + std::chrono::milliseconds(100)));
  hold.release();
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code(), Errc::timeout);
  EXPECT_EQ(p->high_watermark(), hw);
  auto past = p->read(hw, 1U << 20U);
  ASSERT_TRUE(past) << past.error();
  EXPECT_TRUE(past->bytes.empty());
  // Released: the flush completes and the batch is committed.
  auto later = run(
      p->wait_committed(appended->last_offset + 1, clock_.steady_now() + std::chrono::seconds(5)));
  EXPECT_TRUE(later) << later.error();
  EXPECT_EQ(p->high_watermark(), appended->last_offset + 1);
  ASSERT_TRUE(run(p->close()));
}

}  // namespace
}  // namespace spate::cluster
