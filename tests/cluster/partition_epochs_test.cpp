// SPDX-License-Identifier: Apache-2.0
//
// Kafka's leader epochs over a Raft partition (cluster/leader_epochs.h,
// Partition's Kafka methods): OffsetForLeaderEpoch's rules case by case
// (Kafka's LeaderEpochFileCache.endOffsetFor), the current-epoch fence, the
// answers of a partition across restarts (one term each) and after a
// truncation, and reads that never hand a client Raft's membership entries.

#include <limits>

#include <gtest/gtest.h>

#include "spate/cluster/leader_epochs.h"
#include "spate/cluster/partition.h"
#include "spate/cluster/raft_log.h"
#include "spate/cluster/raft_state.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/raft/wire.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"
#include "support/io_testing.h"
#include "support/log_testing.h"

namespace spate::cluster {
namespace {

using TS = storage::PartitionLog::TermStart;
constexpr std::int64_t kI32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kI32Min = std::numeric_limits<std::int32_t>::min();

EpochEnd end_of(const std::vector<TS>& starts, std::int64_t log_start, std::int64_t log_end,
                std::int64_t current, std::int64_t requested) {
  return epoch_end_offset(starts, Offset(log_start), Offset(log_end), Term(current), requested);
}

TEST(LeaderEpochs, FollowKafkasEndOffsetRules) {
  const std::vector<TS> starts{{Term(1), Offset(0)}, {Term(2), Offset(10)}, {Term(4), Offset(30)}};
  const EpochEnd undefined{};
  EXPECT_EQ(end_of(starts, 0, 50, 4, -1), undefined) << "-1 asks for nothing";
  EXPECT_EQ(end_of(starts, 0, 50, 4, 4), (EpochEnd{4, 50})) << "the latest ends at the log end";
  EXPECT_EQ(end_of(starts, 0, 50, 4, 5), undefined) << "above every epoch";
  EXPECT_EQ(end_of(starts, 0, 50, 4, kI32Max), undefined);
  EXPECT_EQ(end_of(starts, 0, 50, 4, 3), (EpochEnd{2, 30})) << "the largest epoch <= 3 is 2";
  EXPECT_EQ(end_of(starts, 0, 50, 4, 2), (EpochEnd{2, 30}));
  EXPECT_EQ(end_of(starts, 0, 50, 4, 1), (EpochEnd{1, 10}));
  // Below every epoch: Kafka answers the requested epoch and the first start.
  EXPECT_EQ(end_of(starts, 0, 50, 4, 0), (EpochEnd{0, 0}));
  EXPECT_EQ(end_of(starts, 0, 50, 4, -7), (EpochEnd{-7, 0}));
  EXPECT_EQ(end_of(starts, 0, 50, 4, kI32Min), (EpochEnd{kI32Min, 0}));
}

TEST(LeaderEpochs, ALeaderWithNoBatchOfItsTermYetHoldsItFromTheLogEnd) {
  // A group of one elects itself without a no-op: term 6 has no batch yet.
  const std::vector<TS> starts{{Term(1), Offset(0)}, {Term(2), Offset(10)}, {Term(4), Offset(30)}};
  EXPECT_EQ(end_of(starts, 0, 50, 6, 6), (EpochEnd{6, 50}));
  EXPECT_EQ(end_of(starts, 0, 50, 6, 5), (EpochEnd{4, 50}));
  EXPECT_EQ(end_of(starts, 0, 50, 6, 4), (EpochEnd{4, 50}));
  EXPECT_EQ(end_of(starts, 0, 50, 6, 7), EpochEnd{});
  // An empty log: only the current term, from the log end.
  EXPECT_EQ(end_of({}, 0, 0, 1, 1), (EpochEnd{1, 0}));
  EXPECT_EQ(end_of({}, 0, 0, 1, 0), (EpochEnd{0, 0}));
  EXPECT_EQ(end_of({}, 100, 100, 3, 2), (EpochEnd{2, 100})) << "everything deleted";
  EXPECT_EQ(end_of({}, 0, 0, 1, 2), EpochEnd{});
}

TEST(LeaderEpochs, EpochsBelowTheLogStartAreGoneAsKafkaTruncatesItsCacheFromTheStart) {
  const std::vector<TS> starts{{Term(1), Offset(0)}, {Term(2), Offset(10)}, {Term(4), Offset(30)}};
  // Start 15: term 1 is gone, term 2 is in effect from 15.
  EXPECT_EQ(end_of(starts, 15, 50, 4, 1), (EpochEnd{1, 15}));
  EXPECT_EQ(end_of(starts, 15, 50, 4, 0), (EpochEnd{0, 15}));
  EXPECT_EQ(end_of(starts, 15, 50, 4, 2), (EpochEnd{2, 30}));
  EXPECT_EQ(end_of(starts, 15, 50, 4, 3), (EpochEnd{2, 30}));
  // Start 30: only term 4 is left.
  EXPECT_EQ(end_of(starts, 30, 50, 4, 3), (EpochEnd{3, 30}));
  EXPECT_EQ(end_of(starts, 30, 50, 4, 4), (EpochEnd{4, 50}));
  // Start 10: exactly term 2's start.
  EXPECT_EQ(end_of(starts, 10, 50, 4, 1), (EpochEnd{1, 10}));
}

TEST(LeaderEpochs, ManyTermsAnswerFromABinarySearchThatAgreesWithAScan) {
  std::vector<TS> starts;
  for (std::int64_t t = 1; t <= 2000; t += 2) starts.push_back({Term(t), Offset(t * 3)});
  const std::int64_t end = 7000;
  const std::int64_t current = starts.back().term.value();
  for (std::int64_t e = 0; e <= current + 2; ++e) {
    // The scan: the last epoch <= e and the start of the one after it.
    EpochEnd want{};
    if (e == current) {
      want = {e, end};
    } else if (e < current) {
      std::size_t i = 0;
      while (i < starts.size() && starts[i].term.value() <= e) ++i;
      want = i == 0 ? EpochEnd{e, starts[0].start.value()}
                    : EpochEnd{starts[i - 1].term.value(), starts[i].start.value()};
    }
    ASSERT_EQ(end_of(starts, 0, end, current, e), want) << "epoch " << e;
  }
}

TEST(LeaderEpochs, CurrentEpochFencesOlderAndRefusesNewer) {
  EXPECT_EQ(check_current_epoch(Term(5), std::nullopt), EpochFence::ok);
  EXPECT_EQ(check_current_epoch(Term(5), 5), EpochFence::ok);
  EXPECT_EQ(check_current_epoch(Term(5), 4), EpochFence::fenced);
  EXPECT_EQ(check_current_epoch(Term(5), 0), EpochFence::fenced);
  EXPECT_EQ(check_current_epoch(Term(5), -5), EpochFence::fenced);
  EXPECT_EQ(check_current_epoch(Term(5), kI32Min), EpochFence::fenced);
  EXPECT_EQ(check_current_epoch(Term(5), 6), EpochFence::unknown);
  EXPECT_EQ(check_current_epoch(Term(5), kI32Max), EpochFence::unknown);
}

const std::filesystem::path kEpochsDir = "/data/t-0";

class PartitionEpochsTest : public ::testing::Test {
 protected:
  PartitionEpochsTest() {
    log::set_level(spdlog::level::critical);
    EXPECT_TRUE(mem_.create_directories("/data"));
    EXPECT_TRUE(mem_.sync_directory("/"));
  }

  std::shared_ptr<Partition> open() {
    auto log = storage::PartitionLog::open(mem_, kEpochsDir, config_, clock_);
    EXPECT_TRUE(log) << log.error();
    if (!log) return nullptr;
    return std::make_shared<Partition>(storage::TopicPartition{"t", 0}, std::move(*log),
                                       io_.get_executor(), disk_);
  }

  template <typename T>
  T run(awaitable<T> task) {
    return spate::testing::run_on(io_, std::move(task));
  }

  // Produces `batches` batches of 2 records and waits until they commit.
  void produce(Partition& p, int batches) {
    for (int i = 0; i < batches; ++i) {
      auto batch = spate::testing::make_varied_batch(rng_, 2, 100, ts_);
      ts_ += 2;
      auto r = p.append(batch);
      ASSERT_TRUE(r) << r.error();
      ASSERT_TRUE(run(p.wait_committed(r->last_offset + 1,
                                       clock_.steady_now() + std::chrono::seconds(5), r->term)));
    }
  }

  storage::MemFs mem_;
  ManualClock clock_;
  storage::LogConfig config_;
  asio::io_context io_;
  DiskThread disk_;
  Rng rng_{7};
  std::int64_t ts_ = 1'700'000'000'000;
};

TEST_F(PartitionEpochsTest, EachRestartsTermEndsWhereTheNextBegins) {
  // Three terms with batches (offsets 0-3, 4-9, 10-11), then a fourth with none.
  std::vector<std::pair<Term, Offset>> starts;
  for (int batches : {2, 3, 1, 0}) {
    auto p = open();
    ASSERT_NE(p, nullptr);
    starts.emplace_back(p->term(), p->end_offset());
    produce(*p, batches);
    if (batches == 0) {
      const Term t1 = starts[0].first;
      const Term t2 = starts[1].first;
      const Term t3 = starts[2].first;
      const Term now = p->term();
      auto at = [&](std::int64_t e) { return p->end_offset_for_epoch(e).value(); };
      EXPECT_EQ(at(t1.value()), (EpochEnd{t1.value(), 4}));
      EXPECT_EQ(at(t2.value()), (EpochEnd{t2.value(), 10}));
      EXPECT_EQ(at(t3.value()), (EpochEnd{t3.value(), 12}));
      EXPECT_EQ(at(now.value()), (EpochEnd{now.value(), 12}));
      EXPECT_EQ(at(now.value() + 1), EpochEnd{});
      EXPECT_EQ(at(-1), EpochEnd{});
      EXPECT_EQ(at(t1.value() - 1), (EpochEnd{t1.value() - 1, 0}));
      EXPECT_EQ(p->epoch_at(Offset(0)), t1);
      EXPECT_EQ(p->epoch_at(Offset(5)), t2);
      EXPECT_EQ(p->epoch_at(Offset(11)), t3);
      EXPECT_EQ(p->epoch_at(Offset(12)), std::nullopt) << "past the end";
      // A closed partition answers nothing.
      ASSERT_TRUE(run(p->close()));
      auto closed = p->end_offset_for_epoch(t1.value());
      ASSERT_FALSE(closed);
      EXPECT_EQ(closed.error().code(), Errc::shutting_down);
      EXPECT_EQ(p->epoch_at(Offset(0)), std::nullopt);
      break;
    }
    ASSERT_TRUE(run(p->close()));
  }
}

TEST_F(PartitionEpochsTest, ATruncatedTermIsForgotten) {
  // Terms 1, 2, 3 in the log; a new leader's log replaced term 3's batches.
  {
    auto log = storage::PartitionLog::open(mem_, kEpochsDir, config_, clock_);
    ASSERT_TRUE(log);
    for (int t : {1, 1, 2, 3, 3}) {
      auto batch = spate::testing::make_varied_batch(rng_, 2, 100, ts_);
      ASSERT_TRUE((*log)->append(batch, Term(t)));
    }
    ASSERT_TRUE((*log)->truncate_suffix(Offset(6)));  // term 3 began at offset 6
    ASSERT_TRUE((*log)->close());
  }
  // The replica learned of term 5 (whose leader truncated it) before it stopped.
  RaftState state;
  state.hard.term = Term(5);
  ASSERT_TRUE(write_raft_state(mem_, kEpochsDir, state));
  auto p = open();
  ASSERT_NE(p, nullptr);
  const Term now = p->term();
  ASSERT_GT(now, Term(5));
  EXPECT_EQ(p->end_offset_for_epoch(3).value(), (EpochEnd{2, 6})) << "term 3 is gone";
  EXPECT_EQ(p->end_offset_for_epoch(2).value(), (EpochEnd{2, 6}));
  EXPECT_EQ(p->end_offset_for_epoch(1).value(), (EpochEnd{1, 4}));
  produce(*p, 1);
  EXPECT_EQ(p->end_offset_for_epoch(3).value(), (EpochEnd{2, 6})) << "the new term starts at 6";
  EXPECT_EQ(p->end_offset_for_epoch(now.value()).value(), (EpochEnd{now.value(), 8}));
}

TEST_F(PartitionEpochsTest, ClientsNeverGetAMembershipEntryOnlyAnEmptyBatchInItsPlace) {
  // The log a replica of a group that changed its membership holds:
  // data [0, 2], the membership entry at 3 (index 4), data [4, 5].
  {
    auto log = storage::PartitionLog::open(mem_, kEpochsDir, config_, clock_);
    ASSERT_TRUE(log);
    PartitionRaftLog view(**log, {});
    ASSERT_TRUE(view.open());
    auto data = [&](int records) {
      auto batch = spate::testing::make_varied_batch(rng_, records, 100, ts_);
      protocol::set_base_offset(batch, (*log)->end_offset());
      protocol::set_partition_leader_epoch(batch, 1);
      auto h = protocol::decode_batch_header(batch, batch.size());
      ASSERT_TRUE(h);
      ASSERT_TRUE(view.append(raft::Entry{h->last_offset().value() + 1, Term(1), batch,
                                          raft::EntryKind::normal, h->last_offset_delta + 1}));
    };
    data(3);
    ASSERT_TRUE(view.append(raft::Entry{4, Term(1), raft::encode_membership({{NodeId(0)}, {}}),
                                        raft::EntryKind::membership}));
    data(2);
    RaftState state = view.state();
    state.hard.term = Term(1);
    state.hard.commit = 6;
    ASSERT_TRUE(write_raft_state(mem_, kEpochsDir, state));
    // What Fetch would send verbatim is a control batch (attributes bit 5):
    // librdkafka, KafkaJS and the Java client skip it, kafka-python 2.0.2
    // does not (it yields every record of every batch).
    auto info = (*log)->batch_at(Offset(3));
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->control);
    ASSERT_TRUE((*log)->close());
  }
  auto p = open();
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->leader());
  ASSERT_EQ(p->high_watermark(), Offset(6));
  // Every read over it: the batches around it as stored, an empty batch of
  // its offset and epoch in its place (valid, not control), offsets contiguous.
  auto batches_of = [](const std::vector<std::byte>& bytes) {
    std::vector<protocol::BatchHeader> out;
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      auto h = protocol::decode_batch_header(rest, rest.size());
      EXPECT_TRUE(h) << h.error();
      if (!h || h->total_bytes() > rest.size()) break;
      // Framing and CRC (an empty batch is what the cleaner's rules allow).
      auto valid = protocol::validate_compacted_batch(rest.first(h->total_bytes()), rest.size());
      EXPECT_TRUE(valid) << valid.error();
      out.push_back(*h);
      rest = rest.subspan(h->total_bytes());
    }
    return out;
  };
  for (Offset from : {Offset(0), Offset(1), Offset(3)}) {
    auto read = p->read_for_client(from, 1 << 20);
    ASSERT_TRUE(read) << read.error();
    EXPECT_TRUE(read->bytes.empty());
    EXPECT_EQ(read->next_offset, Offset(6));
    const auto hs = batches_of(read->substitute);
    ASSERT_EQ(hs.size(), from == Offset(3) ? 2U : 3U) << from;
    Offset next = hs.front().base();
    for (const auto& h : hs) {
      EXPECT_EQ(h.base(), next) << "contiguous from " << from;
      next = h.next_offset();
      EXPECT_FALSE(h.is_control());
      EXPECT_EQ(h.partition_leader_epoch, 1);
      if (h.base() == Offset(3)) {
        EXPECT_EQ(h.record_count, 0);
        EXPECT_EQ(h.last_offset(), Offset(3));
      } else {
        EXPECT_GT(h.record_count, 0);
      }
    }
    EXPECT_EQ(next, Offset(6));
  }
  // Reads that do not reach it are the file region (sendfile), untouched.
  auto small = p->read_for_client(Offset(0), 1);
  ASSERT_TRUE(small);
  EXPECT_TRUE(small->substitute.empty());
  EXPECT_EQ(small->next_offset, Offset(3));
  auto after = p->read_for_client(Offset(4), 1 << 20);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->substitute.empty());
  EXPECT_EQ(after->next_offset, Offset(6));
  // read() itself (the group coordinator's) returns the log as stored.
  auto plain = p->read(Offset(0), 1 << 20);
  ASSERT_TRUE(plain);
  auto stored = plain->bytes.read_all();
  ASSERT_TRUE(stored);
  const auto raw = batches_of(*stored);
  ASSERT_EQ(raw.size(), 3U);
  EXPECT_TRUE(raw[1].is_control());
  // The membership's epoch is the term it was written in.
  EXPECT_EQ(p->epoch_at(Offset(3)), Term(1));
  ASSERT_TRUE(run(p->close()));
}

}  // namespace
}  // namespace spate::cluster
