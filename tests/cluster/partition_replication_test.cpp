// SPDX-License-Identifier: Apache-2.0
//
// Three cluster::Partition replicas of one partition, each over its own log,
// in one io_context, their Raft messages routed in memory (with cuts): they
// elect a leader, replicate batches verbatim, answer acks=all only once a
// majority holds a batch durably, refuse produce on followers, fail over when
// the leader is cut off, and the old leader's unacknowledged writes are
// replaced, never acknowledged.

#include <future>
#include <set>

#include <gtest/gtest.h>

#include "spate/cluster/partition.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"

namespace spate::cluster {
namespace {

using spate::testing::make_varied_batch;

class PartitionReplication : public ::testing::Test {
 protected:
  PartitionReplication() {
    log::set_level(spdlog::level::critical);
    EXPECT_TRUE(mem_.create_directories("/n0"));
    EXPECT_TRUE(mem_.create_directories("/n1"));
    EXPECT_TRUE(mem_.create_directories("/n2"));
    EXPECT_TRUE(mem_.sync_directory("/"));
  }
  ~PartitionReplication() override {
    for (auto& r : held_) r->set_value();
    for (auto& p : nodes_) {
      if (p) (void)wait(p->close());
    }
  }

  void start(int id) {
    auto log = storage::PartitionLog::open(mem_, fmt::format("/n{}/t-0", id), config_, clock_);
    ASSERT_TRUE(log) << log.error();
    PartitionRaftConfig raft;
    raft.self = NodeId(id);
    raft.voters = {NodeId(0), NodeId(1), NodeId(2)};
    auto p = std::make_shared<Partition>(storage::TopicPartition{"t", 0}, std::move(*log),
                                         io_.get_executor(), *disks_[static_cast<std::size_t>(id)],
                                         raft);
    p->set_sender([this](raft::Message m) { route(std::move(m)); });
    nodes_[static_cast<std::size_t>(id)] = std::move(p);
  }

  void route(raft::Message m) {
    const auto from = static_cast<std::size_t>(m.from.value());
    const auto to = static_cast<std::size_t>(m.to.value());
    if (to >= 3 || cut_.contains(from) || cut_.contains(to)) return;
    // Followers learn the leader's commit late (as after lost messages).
    if (commit_cap_ && m.commit > *commit_cap_) m.commit = *commit_cap_;
    if (drop_replies_ && (m.type == raft::MessageType::append_reply ||
                          m.type == raft::MessageType::heartbeat_reply)) {
      return;
    }
    ++delivered_;
    asio::post(io_, [this, to, m = std::move(m)]() mutable {
      if (nodes_[to]) nodes_[to]->step(std::move(m));
    });
  }

  // One round: every replica ticks, then the io_context runs what is ready.
  void round() {
    for (auto& p : nodes_) {
      if (p) p->tick();
    }
    io_.run_for(std::chrono::milliseconds(1));
  }

  template <typename Done>
  bool rounds_until(int max, Done done) {
    for (int i = 0; i < max; ++i) {
      if (done()) return true;
      round();
    }
    return done();
  }

  int leader() const {
    int found = -1;
    for (std::size_t i = 0; i < 3; ++i) {
      if (nodes_[i] && !cut_.contains(i) && nodes_[i]->leader()) found = static_cast<int>(i);
    }
    return found;
  }

  Result<storage::AppendResult> produce(int id) {
    auto batch = make_varied_batch(rng_, 3, 100, ts_);
    ts_ += 3;
    return nodes_[static_cast<std::size_t>(id)]->append(batch);
  }

  // Starts acks=all's wait; `done` is set when it ends.
  std::shared_ptr<std::optional<Status>> wait_acked(int id, const storage::AppendResult& r,
                                                    std::size_t* durable_at_ack = nullptr) {
    auto out = std::make_shared<std::optional<Status>>();
    auto p = nodes_[static_cast<std::size_t>(id)];
    const auto deadline = clock_.steady_now() + std::chrono::hours(1);  // the clock stands still
    asio::co_spawn(
        io_,
        [this, p, r, out, deadline, durable_at_ack]() -> awaitable<void> {
          *out = co_await p->wait_committed(r.last_offset + 1, deadline, r.term);
          // How many replicas hold it on disk at the moment it is acknowledged.
          if (durable_at_ack != nullptr) {
            *durable_at_ack = 0;
            for (auto& n : nodes_) {
              if (n && n->status().durable_end > r.last_offset) ++*durable_at_ack;
            }
          }
        },
        asio::detached);
    return out;
  }

  template <typename T>
  T wait(awaitable<T> task) {
    std::optional<T> out;
    asio::co_spawn(
        io_, [&]() -> awaitable<void> { out = co_await std::move(task); }, asio::detached);
    for (int i = 0; i < 2000 && !out; ++i) round();
    return out.value_or(T(Error(Errc::timeout, "test: not done")));
  }

  std::vector<std::byte> read_all(int id, Offset end) {
    std::vector<std::byte> out;
    auto& p = nodes_[static_cast<std::size_t>(id)];
    Offset at = p->start_offset();
    for (int guard = 0; at < end && guard < 1000; ++guard) {
      auto r = p->read_local(at, 1 << 20);
      EXPECT_TRUE(r) << r.error();
      if (!r || r->bytes.empty()) break;
      auto bytes = r->bytes.read_all();
      out.insert(out.end(), bytes->begin(), bytes->end());
      at = r->next_offset;
    }
    return out;
  }

  storage::MemFs mem_;
  ManualClock clock_;
  storage::LogConfig config_;
  asio::io_context io_;
  // Each round waits for the disk thread's completions, up to its time.
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  // One disk thread per replica, so that one replica's disk can be held still.
  std::array<std::unique_ptr<DiskThread>, 3> disks_{std::make_unique<DiskThread>(),
                                                    std::make_unique<DiskThread>(),
                                                    std::make_unique<DiskThread>()};
  std::array<std::shared_ptr<Partition>, 3> nodes_;

  // Holds replica `id`'s disk thread until the returned promise is set.
  std::shared_ptr<std::promise<void>> hold_disk(int id) {
    auto release = std::make_shared<std::promise<void>>();
    auto held = release->get_future().share();
    disks_[static_cast<std::size_t>(id)]->submit([held] { held.wait(); }, io_.get_executor(),
                                                 [] {});
    return release;
  }
  std::set<std::size_t> cut_;
  bool drop_replies_ = false;
  std::optional<raft::Index> commit_cap_;
  std::vector<std::shared_ptr<std::promise<void>>> held_;
  std::size_t delivered_ = 0;
  Rng rng_{3};
  std::int64_t ts_ = 1'700'000'000'000;
};

TEST_F(PartitionReplication, ElectsReplicatesAndFailsOverWithoutAcknowledgingLostWrites) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; })) << "no leader";
  const int first = leader();
  EXPECT_GT(delivered_, 0U);
  // Followers refuse produce.
  for (int id = 0; id < 3; ++id) {
    if (id == first) continue;
    auto r = produce(id);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::not_leader);
  }
  // The leader's batches commit on a majority and are acknowledged.
  storage::AppendResult last;
  for (int i = 0; i < 10; ++i) {
    auto r = produce(first);
    ASSERT_TRUE(r) << r.error();
    last = *r;
  }
  auto acked = wait_acked(first, last);
  ASSERT_TRUE(rounds_until(500, [&] { return acked->has_value(); }));
  ASSERT_TRUE(**acked) << acked->value().error();
  const Offset hw = nodes_[static_cast<std::size_t>(first)]->high_watermark();
  EXPECT_GE(hw, last.last_offset + 1);
  ASSERT_TRUE(rounds_until(200, [&] {
    for (auto& p : nodes_) {
      if (p->high_watermark() < hw) return false;  // followers learn it from the leader
    }
    return true;
  }));
  const auto reference = read_all(first, hw);
  for (int id = 0; id < 3; ++id) EXPECT_EQ(read_all(id, hw), reference) << "replica " << id;

  // Both followers cut off: the leader takes a batch but cannot acknowledge it.
  for (std::size_t id = 0; id < 3; ++id) {
    if (static_cast<int>(id) != first) cut_.insert(id);
  }
  auto lonely = produce(first);
  ASSERT_TRUE(lonely) << lonely.error();
  auto lonely_ack = wait_acked(first, *lonely);
  for (int i = 0; i < 50; ++i) round();
  EXPECT_FALSE(lonely_ack->has_value() && lonely_ack->value())
      << "acks=all answered without a majority";

  // Now the old leader is the one cut off: the other two elect a new leader,
  // which takes writes; healed, the old leader's uncommitted batch is replaced
  // and its acks=all wait fails.
  cut_.clear();
  cut_.insert(static_cast<std::size_t>(first));
  ASSERT_TRUE(rounds_until(1000, [&] { return leader() >= 0 && leader() != first; }));
  const int second = leader();
  auto r = produce(second);
  ASSERT_TRUE(r) << r.error();
  auto second_ack = wait_acked(second, *r);
  ASSERT_TRUE(rounds_until(500, [&] { return second_ack->has_value(); }));
  ASSERT_TRUE(**second_ack);
  cut_.clear();
  ASSERT_TRUE(rounds_until(1000, [&] { return lonely_ack->has_value(); }));
  ASSERT_FALSE(**lonely_ack) << "a write of a deposed leader was acknowledged";
  EXPECT_EQ(lonely_ack->value().error().code(), Errc::not_leader);
  const Offset hw2 = nodes_[static_cast<std::size_t>(second)]->high_watermark();
  ASSERT_TRUE(rounds_until(500, [&] {
    for (auto& p : nodes_) {
      if (p->high_watermark() < hw2) return false;
    }
    return true;
  }));
  const auto after = read_all(second, hw2);
  for (int id = 0; id < 3; ++id) EXPECT_EQ(read_all(id, hw2), after) << "replica " << id;
}

// A replica that leads but has not committed an entry of its term may hold a
// stale view (another leader may have been elected since): it refuses
// produce and fetch. Here replies never reach it, so it never confirms.
TEST_F(PartitionReplication, AnUnconfirmedLeaderServesNothing) {
  drop_replies_ = true;
  for (int id = 0; id < 3; ++id) start(id);
  int unconfirmed = -1;
  ASSERT_TRUE(rounds_until(1000, [&] {
    for (int id = 0; id < 3; ++id) {
      if (nodes_[static_cast<std::size_t>(id)]->status().leader == NodeId(id)) unconfirmed = id;
    }
    return unconfirmed >= 0;
  }));
  auto& p = nodes_[static_cast<std::size_t>(unconfirmed)];
  EXPECT_FALSE(p->leader());
  auto r = produce(unconfirmed);
  ASSERT_FALSE(r) << "produce accepted by a leader whose term is not confirmed";
  EXPECT_EQ(r.error().code(), Errc::not_leader);
  auto read = p->read(Offset(0), 1000);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), Errc::not_leader);
}

// acks=all is answered only once a majority holds the batch on disk: a
// follower acknowledges an append only after its own flush.
TEST_F(PartitionReplication, AcksAllMeansAMajorityHasItOnDisk) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  std::vector<std::size_t> durable(20, 0);
  std::vector<std::shared_ptr<std::optional<Status>>> acks;
  for (int i = 0; i < 20; ++i) {
    auto r = produce(l);
    ASSERT_TRUE(r) << r.error();
    acks.push_back(wait_acked(l, *r, &durable[static_cast<std::size_t>(i)]));
    round();
  }
  ASSERT_TRUE(rounds_until(500, [&] {
    for (auto& a : acks) {
      if (!a->has_value()) return false;
    }
    return true;
  }));
  for (std::size_t i = 0; i < acks.size(); ++i) {
    ASSERT_TRUE(**acks[i]) << i;
    EXPECT_GE(durable[i], 2U) << "batch " << i << " acknowledged with " << durable[i]
                              << " replica(s) holding it on disk";
  }
}

// With both followers' disks held still, nothing is acknowledged (the leader
// alone holds it on disk); once one follower's disk moves, it is.
TEST_F(PartitionReplication, NoAckWhileOnlyTheLeaderHasItOnDisk) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int l = leader();
  std::vector<int> followers;
  for (int id = 0; id < 3; ++id) {
    if (id != l) followers.push_back(id);
  }
  for (int f : followers) held_.push_back(hold_disk(f));
  auto r = produce(l);
  ASSERT_TRUE(r) << r.error();
  std::size_t durable = 0;
  auto ack = wait_acked(l, *r, &durable);
  // Fewer rounds than an election timeout (a follower held up answers no
  // heartbeat either, and the leader would step down).
  for (int i = 0; i < 6; ++i) round();
  EXPECT_FALSE(ack->has_value() && ack->value())
      << "acknowledged with " << durable << " replica(s) holding it on disk";
  held_.front()->set_value();  // one follower's disk moves again
  held_.erase(held_.begin());
  ASSERT_TRUE(rounds_until(500, [&] { return ack->has_value(); }));
  ASSERT_TRUE(**ack);
  EXPECT_GE(durable, 2U);
}

// What consumers see never goes back: only the confirmed leader serves
// reads, and its high watermark covers everything committed before it led.
TEST_F(PartitionReplication, TheServedHighWatermarkNeverMovesBack) {
  for (int id = 0; id < 3; ++id) start(id);
  Offset seen{0};
  int serving = 0;
  auto observe = [&] {
    for (auto& p : nodes_) {
      if (!p) continue;
      auto r = p->read(p->start_offset(), 1);
      if (!r) continue;  // not the leader
      ++serving;
      EXPECT_GE(p->high_watermark(), seen) << "a replica served a high watermark below one seen";
      seen = std::max(seen, p->high_watermark());
    }
  };
  for (int phase = 0; phase < 4; ++phase) {
    cut_.clear();
    ASSERT_TRUE(rounds_until(1000, [&] {
      observe();
      return leader() >= 0;
    }));
    const int l = leader();
    for (int i = 0; i < 5; ++i) {
      (void)produce(l);
      round();
      observe();
    }
    for (int i = 0; i < 30; ++i) {
      round();
      observe();
    }
    cut_.insert(static_cast<std::size_t>(l));  // the next phase elects another
    for (int i = 0; i < 5; ++i) {
      round();
      observe();
    }
  }
  EXPECT_GT(seen, Offset(0));
  EXPECT_GT(serving, 0);
}

// The followers have not heard the leader's latest commit when it dies: the
// next leader's commit starts below what consumers were shown, and it must
// not serve until it has committed past it (its term confirmed).
TEST_F(PartitionReplication, ANewLeaderServesNothingBelowWhatWasServed) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(rounds_until(500, [&] { return leader() >= 0; }));
  const int first = leader();
  auto& old = nodes_[static_cast<std::size_t>(first)];
  auto r = produce(first);
  ASSERT_TRUE(r);
  auto ack = wait_acked(first, *r);
  ASSERT_TRUE(rounds_until(500, [&] { return ack->has_value(); }));
  commit_cap_ = old->high_watermark().value();
  for (int i = 0; i < 3; ++i) {
    auto more = produce(first);
    ASSERT_TRUE(more);
    ack = wait_acked(first, *more);
    ASSERT_TRUE(rounds_until(500, [&] { return ack->has_value(); }));
    ASSERT_TRUE(**ack);
  }
  ASSERT_TRUE(old->read(old->start_offset(), 1));
  const Offset served = old->high_watermark();
  ASSERT_GT(served.value(), *commit_cap_);
  cut_.insert(static_cast<std::size_t>(first));
  commit_cap_.reset();
  int checked = 0;
  auto observe = [&] {
    for (std::size_t id = 0; id < 3; ++id) {
      if (cut_.contains(id)) continue;
      auto& p = nodes_[id];
      if (!p->read(p->start_offset(), 1)) continue;
      ++checked;
      EXPECT_GE(p->high_watermark(), served)
          << "replica " << id << " served a high watermark below " << served
          << " after serving it from the old leader";
    }
  };
  // A new leader is elected but hears no acknowledgement: its no-op cannot
  // commit, its commit index is the stale one.
  drop_replies_ = true;
  int elected = -1;
  ASSERT_TRUE(rounds_until(1000, [&] {
    observe();
    for (int id = 0; id < 3; ++id) {
      if (id != first && nodes_[static_cast<std::size_t>(id)]->status().leader == NodeId(id)) {
        elected = id;
      }
    }
    return elected >= 0;
  }));
  EXPECT_LT(nodes_[static_cast<std::size_t>(elected)]->high_watermark(), served);
  for (int i = 0; i < 5; ++i) {
    round();
    observe();
  }
  drop_replies_ = false;
  ASSERT_TRUE(rounds_until(1000, [&] {
    observe();
    return leader() >= 0;
  }));
  observe();
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace spate::cluster
