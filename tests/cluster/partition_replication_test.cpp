// SPDX-License-Identifier: Apache-2.0
//
// Three cluster::Partition replicas of one partition, each over its own log,
// in one io_context, their Raft messages routed in memory (with cuts): they
// elect a leader, replicate batches verbatim, answer acks=all only once a
// majority holds a batch durably, refuse produce on followers, fail over when
// the leader is cut off, and the old leader's unacknowledged writes are
// replaced, never acknowledged.

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
                                         io_.get_executor(), disk_, raft);
    p->set_sender([this](raft::Message m) { route(std::move(m)); });
    nodes_[static_cast<std::size_t>(id)] = std::move(p);
  }

  void route(raft::Message m) {
    const auto from = static_cast<std::size_t>(m.from.value());
    const auto to = static_cast<std::size_t>(m.to.value());
    if (to >= 3 || cut_.contains(from) || cut_.contains(to)) return;
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
  std::shared_ptr<std::optional<Status>> wait_acked(int id, const storage::AppendResult& r) {
    auto out = std::make_shared<std::optional<Status>>();
    auto p = nodes_[static_cast<std::size_t>(id)];
    const auto deadline = clock_.steady_now() + std::chrono::hours(1);  // the clock stands still
    asio::co_spawn(
        io_,
        [p, r, out, deadline]() -> awaitable<void> {
          *out = co_await p->wait_committed(r.last_offset + 1, deadline, r.term);
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
      auto r = p->read(at, 1 << 20);
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
  DiskThread disk_;
  std::array<std::shared_ptr<Partition>, 3> nodes_;
  std::set<std::size_t> cut_;
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

}  // namespace
}  // namespace spate::cluster
