// SPDX-License-Identifier: Apache-2.0
//
// Leadership transfer between three Partition replicas (replication_rig.h):
// under load no acknowledged batch is lost and produce during the handover
// gets not_leader; a lagging target is caught up first; a target that is down
// makes raft give up and the old leader takes writes again;
// transfer_leaderships waits for the new leaders (or its deadline), and a
// sole voter has nothing to hand over.

#include <map>

#include <gtest/gtest.h>

#include "spate/cluster/partition_manager.h"
#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/data_dir.h"

#include "cluster/replication_rig.h"

namespace spate::cluster {
namespace {

class PartitionTransfer : public PartitionReplication {
 protected:
  // The stored bytes of the batch at `base` on replica `id`.
  std::vector<std::byte> batch_at(int id, Offset base) {
    auto r = nodes_[static_cast<std::size_t>(id)]->read_local(base, 1);
    if (!r) return {};
    auto bytes = r->bytes.read_all();
    return bytes ? *bytes : std::vector<std::byte>{};
  }

  // Every replica holds the same committed log as `id`, and each batch in
  // `acked` at its offset.
  void expect_converged(int id, const std::map<Offset, std::vector<std::byte>>& acked) {
    const Offset hw = nodes_[static_cast<std::size_t>(id)]->high_watermark();
    ASSERT_TRUE(rounds_until(500, [&] {
      for (auto& p : nodes_) {
        if (p->high_watermark() < hw) return false;
      }
      return true;
    }));
    const auto reference = read_all(id, hw);
    for (int n = 0; n < 3; ++n) EXPECT_EQ(read_all(n, hw), reference) << "replica " << n;
    for (const auto& [base, bytes] : acked) {
      for (int n = 0; n < 3; ++n) {
        EXPECT_EQ(batch_at(n, base), bytes) << "acknowledged batch at " << base << " on " << n;
      }
    }
  }

  // Runs transfer_leaderships over every replica until it returns, the
  // clock moving 10 ms a round.
  std::optional<std::size_t> transfer_all(std::chrono::milliseconds budget, int rounds_max) {
    std::optional<std::size_t> out;
    std::vector<std::shared_ptr<Partition>> all(nodes_.begin(), nodes_.end());
    const auto deadline = clock_.steady_now() + budget;
    asio::co_spawn(
        io_,
        [&, all]() -> awaitable<void> {
          out = co_await transfer_leaderships(all, clock_, deadline);
        },
        asio::detached);
    for (int i = 0; i < rounds_max && !out; ++i) {
      clock_.advance(std::chrono::milliseconds(10));
      round();
    }
    return out;
  }
};

TEST_F(PartitionTransfer, UnderLoadNoAcknowledgedBatchIsLost) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int old = leader();
  const Term old_term = nodes_[static_cast<std::size_t>(old)]->term();
  struct Sent {
    storage::AppendResult result;
    std::shared_ptr<std::optional<Status>> ack;
    int at;
  };
  std::vector<Sent> sent;
  int refused = 0;
  int target = -1;
  int new_leader = -1;
  int transfer_round = -1;
  // A producer appends to whichever replica leads, every round; the
  // transfer starts in round 20 with batches in flight.
  for (int i = 0; i < 200 && (new_leader < 0 || i < transfer_round + 40); ++i) {
    const int l = new_leader >= 0 ? new_leader : old;
    for (int k = 0; k < 2; ++k) {
      auto r = produce(l);
      if (r) {
        sent.push_back({*r, wait_acked(l, *r), l});
      } else {
        EXPECT_EQ(r.error().code(), Errc::not_leader) << r.error();
        EXPECT_GE(transfer_round, 0) << "refused before the transfer: " << r.error();
        ++refused;
      }
    }
    if (i == 20) {
      auto t = nodes_[static_cast<std::size_t>(old)]->transfer_leadership();
      ASSERT_TRUE(t) << t.error();
      ASSERT_NE(*t, raft::kNoNode);
      target = static_cast<int>(t->value());
      transfer_round = i;
      EXPECT_TRUE(nodes_[static_cast<std::size_t>(old)]->transferring());
      // Raft's transfer needs no election timeout (the target campaigns on
      // TimeoutNow once caught up): the target takes over with no tick at
      // all, only messages and the disks. The old leader takes nothing.
      for (int k = 0; k < 10'000 && (leader() < 0 || leader() == old); ++k) {
        if (k % 10 == 0) {
          auto during = produce(old);
          ASSERT_FALSE(during) << "produce accepted by the old leader while handing over";
          EXPECT_EQ(during.error().code(), Errc::not_leader);
          ++refused;
        }
        io_.run_for(std::chrono::milliseconds(1));
      }
      ASSERT_GE(leader(), 0) << "no new leader without ticks";
      ASSERT_NE(leader(), old);
      new_leader = leader();
    }
    if (transfer_round >= 0) {
      // A follower now.
      auto during = produce(old);
      ASSERT_FALSE(during) << "produce accepted by the old leader after the transfer began";
      EXPECT_EQ(during.error().code(), Errc::not_leader);
      ++refused;
    }
    round();
  }
  ASSERT_GE(new_leader, 0) << "no new leader after the transfer";
  EXPECT_EQ(new_leader, target);
  EXPECT_GT(nodes_[static_cast<std::size_t>(new_leader)]->term(), old_term);
  EXPECT_GT(refused, 0);
  ASSERT_TRUE(rounds_until(500, [&] {
    for (auto& s : sent) {
      if (!s.ack->has_value()) return false;
    }
    return true;
  }));
  // Every ack either succeeded (and its batch is on every replica) or was a
  // retriable not_leader; nothing else.
  std::map<Offset, std::vector<std::byte>> acked;
  int ok_old = 0;
  int ok_new = 0;
  for (auto& s : sent) {
    const Status& st = **s.ack;
    if (st) {
      acked[s.result.base_offset] = batch_at(new_leader, s.result.base_offset);
      EXPECT_FALSE(acked[s.result.base_offset].empty());
      ++(s.at == old ? ok_old : ok_new);
    } else {
      EXPECT_EQ(st.error().code(), Errc::not_leader) << st.error();
    }
  }
  EXPECT_GT(ok_old, 0);
  EXPECT_GT(ok_new, 0);
  expect_converged(new_leader, acked);
  // What append() accepted (an acks=1 producer's answer) is in the log too,
  // at its offset and with its term, whichever leader took it: the batches
  // accepted before the transfer reached the target.
  for (auto& s : sent) {
    const auto bytes = batch_at(new_leader, s.result.base_offset);
    ASSERT_GE(bytes.size(), protocol::kBatchHeaderBytes) << s.result.base_offset;
    EXPECT_EQ(Offset(load_be<std::int64_t>(bytes.data() + protocol::batch_field::kBaseOffset)),
              s.result.base_offset);
    EXPECT_EQ(load_be<std::int32_t>(bytes.data() + protocol::batch_field::kPartitionLeaderEpoch),
              s.result.term.value())
        << "the batch accepted at " << s.result.base_offset << " was replaced";
  }
}

TEST_F(PartitionTransfer, ToALaggingFollowerCatchesItUpFirst) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  const int lagging = (l + 1) % 3;
  cut_.insert(static_cast<std::size_t>(lagging));
  std::map<Offset, std::vector<std::byte>> acked;
  for (int i = 0; i < 20; ++i) {
    auto r = produce(l);
    ASSERT_TRUE(r) << r.error();
    auto ack = wait_acked(l, *r);
    ASSERT_TRUE(rounds_until(200, [&] { return ack->has_value(); }));
    ASSERT_TRUE(**ack);
    acked[r->base_offset] = batch_at(l, r->base_offset);
  }
  auto& lag = nodes_[static_cast<std::size_t>(lagging)];
  ASSERT_LT(lag->end_offset(), nodes_[static_cast<std::size_t>(l)]->end_offset());
  cut_.clear();
  auto t = nodes_[static_cast<std::size_t>(l)]->transfer_leadership(NodeId(lagging));
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(*t, NodeId(lagging));
  ASSERT_TRUE(rounds_until(30, [&] { return leader() == lagging; }))
      << "the lagging follower did not take over";
  auto r = produce(lagging);
  ASSERT_TRUE(r) << r.error();
  auto ack = wait_acked(lagging, *r);
  ASSERT_TRUE(rounds_until(200, [&] { return ack->has_value(); }));
  ASSERT_TRUE(**ack);
  expect_converged(lagging, acked);
}

TEST_F(PartitionTransfer, ToATargetThatIsDownGivesUpAndTheOldLeaderResumes) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  auto& p = nodes_[static_cast<std::size_t>(l)];
  const Term term = p->term();
  const int down = (l + 1) % 3;
  cut_.insert(static_cast<std::size_t>(down));
  auto t = p->transfer_leadership(NodeId(down));
  ASSERT_TRUE(t) << t.error();
  int refused = 0;
  // Raft gives up after an election timeout (10 ticks).
  ASSERT_TRUE(rounds_until(30, [&] {
    auto r = produce(l);
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::not_leader) << r.error();
      ++refused;
    }
    return !p->transferring();
  }));
  EXPECT_GT(refused, 5);
  EXPECT_EQ(leader(), l);
  EXPECT_EQ(p->term(), term);
  auto r = produce(l);
  ASSERT_TRUE(r) << r.error();
  auto ack = wait_acked(l, *r);
  ASSERT_TRUE(rounds_until(200, [&] { return ack->has_value(); }));
  ASSERT_TRUE(**ack) << ack->value().error();
  // Invalid targets are refused, and only the leader transfers.
  EXPECT_EQ(p->transfer_leadership(NodeId(l)).error().code(), Errc::invalid_argument);
  EXPECT_EQ(p->transfer_leadership(NodeId(7)).error().code(), Errc::invalid_argument);
  EXPECT_EQ(nodes_[static_cast<std::size_t>((l + 2) % 3)]->transfer_leadership().error().code(),
            Errc::not_leader);
}

TEST_F(PartitionTransfer, TransferLeadershipsWaitsForTheNewLeader) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  auto moved = transfer_all(std::chrono::seconds(5), 200);
  ASSERT_TRUE(moved.has_value()) << "transfer_leaderships did not return";
  EXPECT_EQ(*moved, 1U);
  EXPECT_NE(nodes_[static_cast<std::size_t>(l)]->status().leader, NodeId(l));
  EXPECT_NE(nodes_[static_cast<std::size_t>(l)]->status().leader, raft::kNoNode);
}

TEST_F(PartitionTransfer, TransferLeadershipsEndsAtItsDeadline) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  // Neither follower hears anything: no transfer can finish (and the
  // leader, hearing no one, steps down after an election timeout).
  for (std::size_t id = 0; id < 3; ++id) {
    if (static_cast<int>(id) != l) cut_.insert(id);
  }
  auto moved = transfer_all(std::chrono::milliseconds(50), 100);
  ASSERT_TRUE(moved.has_value()) << "transfer_leaderships did not end at its deadline";
  EXPECT_EQ(*moved, 0U);
  cut_.clear();
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
}

TEST(PartitionTransferSoleVoter, HasNothingToHandOver) {
  log::set_level(spdlog::level::critical);
  storage::MemFs mem;
  ManualClock clock;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  DiskThread disk;
  auto log = storage::PartitionLog::open(mem, "/t-0", storage::LogConfig{}, clock);
  ASSERT_TRUE(log) << log.error();
  auto p = std::make_shared<Partition>(storage::TopicPartition{"t", 0}, std::move(*log),
                                       io.get_executor(), disk);
  ASSERT_TRUE(p->leader());
  auto t = p->transfer_leadership();
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(*t, raft::kNoNode);
  EXPECT_FALSE(p->transferring());
  std::optional<std::size_t> moved;
  const std::vector<std::shared_ptr<Partition>> partitions{p};
  const auto deadline = clock.steady_now() + std::chrono::hours(1);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        moved = co_await transfer_leaderships(partitions, clock, deadline);
      },
      asio::detached);
  for (int i = 0; i < 100 && !moved; ++i) io.run_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(moved.has_value()) << "a sole voter made transfer_leaderships wait";
  EXPECT_EQ(*moved, 0U);
  EXPECT_TRUE(p->leader());
  std::optional<Status> closed;
  asio::co_spawn(
      io, [&]() -> awaitable<void> { closed = co_await p->close(); }, asio::detached);
  for (int i = 0; i < 1000 && !closed; ++i) io.run_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(closed.has_value());
  EXPECT_TRUE(*closed);
}

// What SIGTERM calls: a broker whose partitions are all sole voters (a
// single node) hands over nothing and does not wait.
TEST(PartitionTransferSoleVoter, AManagerOfSoleVotersReturnsAtOnce) {
  log::set_level(spdlog::level::critical);
  storage::MemFs fs;
  ManualClock clock;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  DiskThread disk;
  auto dir = storage::DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir) << dir.error();
  ASSERT_TRUE(
      storage::write_file_atomic(fs, "/data/topics.meta", encode_topics_meta({{"events", 3, {}}})));
  auto m = PartitionManager::open(fs, **dir, storage::LogConfig{}, clock, io.get_executor(), disk);
  ASSERT_TRUE(m) << m.error();
  ASSERT_EQ((*m)->partition_count(), 3U);
  std::optional<std::size_t> moved;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  asio::co_spawn(
      io, [&]() -> awaitable<void> { moved = co_await (*m)->transfer_leaderships(deadline); },
      asio::detached);
  for (int i = 0; i < 100 && !moved; ++i) io.run_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(moved.has_value()) << "transfer_leaderships waited with nothing to hand over";
  EXPECT_EQ(*moved, 0U);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*m)->partition("events", i)->leader());
  std::optional<std::size_t> failed;
  asio::co_spawn(
      io, [&]() -> awaitable<void> { failed = co_await (*m)->close_all(); }, asio::detached);
  for (int i = 0; i < 2000 && !failed; ++i) io.run_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(*failed, 0U);
}

}  // namespace
}  // namespace spate::cluster
