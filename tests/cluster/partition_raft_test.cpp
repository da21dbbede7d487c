// SPDX-License-Identifier: Apache-2.0
//
// cluster::Partition as a Raft group of one (docs/cluster.md): it leads as
// soon as it opens, keeps its offsets contiguous across restarts (no no-op),
// raises its term on each restart, persists raft.state, commits only what is
// durable under flush.policy=always, and refuses acks=all for a term that is
// not the one the batch was proposed in.

#include <gtest/gtest.h>

#include "spate/cluster/partition.h"
#include "spate/cluster/raft_state.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/mem_fs.h"

#include "support/io_testing.h"
#include "support/log_testing.h"

namespace spate::cluster {
namespace {

using spate::testing::make_varied_batch;

const std::filesystem::path kDir = "/data/t-0";

class PartitionRaftTest : public ::testing::Test {
 protected:
  PartitionRaftTest() {
    log::set_level(spdlog::level::critical);
    EXPECT_TRUE(mem_.create_directories("/data"));
    EXPECT_TRUE(mem_.sync_directory("/"));
  }

  std::shared_ptr<Partition> open() {
    auto log = storage::PartitionLog::open(mem_, kDir, config_, clock_);
    EXPECT_TRUE(log) << log.error();
    if (!log) return nullptr;
    return std::make_shared<Partition>(storage::TopicPartition{"t", 0}, std::move(*log),
                                       io_.get_executor(), disk_);
  }

  template <typename T>
  T run(awaitable<T> task) {
    return spate::testing::run_on(io_, std::move(task));
  }

  Result<storage::AppendResult> produce(Partition& p, int records = 3) {
    auto batch = make_varied_batch(rng_, records, 100, ts_);
    ts_ += records;
    return p.append(batch);
  }

  Status committed(Partition& p, const storage::AppendResult& r) {
    return run(
        p.wait_committed(r.last_offset + 1, clock_.steady_now() + std::chrono::seconds(5), r.term));
  }

  storage::MemFs mem_;
  ManualClock clock_;
  storage::LogConfig config_;
  asio::io_context io_;
  DiskThread disk_;
  Rng rng_{11};
  std::int64_t ts_ = 1'700'000'000'000;
};

TEST_F(PartitionRaftTest, LeadsAtOnceAndKeepsOffsetsContiguousAcrossRestarts) {
  Term previous{0};
  Offset end{0};
  for (int restart = 0; restart < 3; ++restart) {
    auto p = open();
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->leader());
    EXPECT_GT(p->term(), previous) << "a restart starts a new term";
    previous = p->term();
    EXPECT_EQ(p->end_offset(), end) << "no no-op for a group of one";
    EXPECT_EQ(p->high_watermark(), end) << "everything durable is committed at once";
    for (int i = 0; i < 4; ++i) {
      auto r = produce(*p);
      ASSERT_TRUE(r) << r.error();
      EXPECT_EQ(r->base_offset, end);
      EXPECT_EQ(r->term, p->term());
      ASSERT_TRUE(committed(*p, *r));
      end = r->last_offset + 1;
    }
    EXPECT_EQ(p->high_watermark(), end);
    EXPECT_EQ(p->status().leader_epoch, p->term());
    ASSERT_TRUE(run(p->close()));
    auto state = read_raft_state(mem_, kDir);
    ASSERT_TRUE(state) << state.error();
    EXPECT_EQ(state->hard.term, previous);
    EXPECT_EQ(state->hard.commit, end.value()) << "the commit index is written at close";
  }
}

TEST_F(PartitionRaftTest, CommitsOnlyWhatIsDurableAndQueuesBehindTheFlush) {
  auto p = open();
  ASSERT_NE(p, nullptr);
  // Several appends before the io_context runs: the first Ready waits for
  // its flush, the rest queue behind it and share the next one.
  std::vector<storage::AppendResult> results;
  for (int i = 0; i < 5; ++i) {
    auto r = produce(*p, 2);
    ASSERT_TRUE(r) << r.error();
    if (!results.empty()) {
      EXPECT_EQ(r->base_offset, results.back().last_offset + 1);
    }
    results.push_back(*r);
  }
  EXPECT_LT(p->high_watermark(), results.back().last_offset + 1) << "nothing durable yet";
  ASSERT_TRUE(committed(*p, results.back()));
  EXPECT_EQ(p->high_watermark(), Offset(10));
  // Every batch is where its producer was told.
  for (const auto& r : results) {
    auto read = p->read(r.base_offset, 1);
    ASSERT_TRUE(read) << read.error();
    auto bytes = read->bytes.read_all();
    ASSERT_TRUE(bytes);
    auto h = protocol::decode_batch_header(*bytes, bytes->size());
    ASSERT_TRUE(h);
    EXPECT_EQ(h->base(), r.base_offset);
    EXPECT_EQ(Term(h->partition_leader_epoch), r.term);
  }
}

TEST_F(PartitionRaftTest, AcksAllRefusesABatchOfAnotherTerm) {
  auto p = open();
  ASSERT_NE(p, nullptr);
  auto r = produce(*p);
  ASSERT_TRUE(r);
  ASSERT_TRUE(committed(*p, *r));
  auto other = *r;
  other.term = p->term() + 1;  // what a leader of another term would have proposed there
  auto s = committed(*p, other);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::not_leader) << s.error();
}

TEST_F(PartitionRaftTest, ADamagedRaftStateStartsOverFromTheLog) {
  {
    auto p = open();
    ASSERT_NE(p, nullptr);
    auto r = produce(*p);
    ASSERT_TRUE(r);
    ASSERT_TRUE(committed(*p, *r));
    ASSERT_TRUE(run(p->close()));
  }
  auto raw = storage::read_file(mem_, kDir / "raft.state", 1 << 20);
  ASSERT_TRUE(raw);
  (*raw)[8] ^= std::byte{0xFF};
  ASSERT_TRUE(storage::write_file_atomic(mem_, kDir / "raft.state", *raw));
  auto p = open();
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->leader());
  EXPECT_EQ(p->high_watermark(), Offset(3));
  EXPECT_GE(p->term(), Term(2)) << "never below the log's last term, and a new election";
  auto r = produce(*p);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->base_offset, Offset(3));
  ASSERT_TRUE(committed(*p, *r));
}

}  // namespace
}  // namespace spate::cluster
