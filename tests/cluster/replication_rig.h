// SPDX-License-Identifier: Apache-2.0
//
// Three cluster::Partition replicas of one partition, each over its own log
// on one MemFs, in one io_context, their Raft messages routed in memory (with
// cuts), each with its own disk thread (so that one can be held still). The
// fixture of partition_replication_test.cpp and partition_transfer_test.cpp.

#pragma once

#include <array>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "spate/cluster/partition.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/raft/wire.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"

namespace spate::cluster {

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
    auto log = storage::PartitionLog::open(faulty_, fmt::format("/n{}/t-0", id), config_, clock_);
    ASSERT_TRUE(log) << log.error();
    PartitionRaftConfig raft;
    raft.self = NodeId(id);
    raft.voters = {NodeId(0), NodeId(1), NodeId(2)};
    raft.replica_lag_max = lag_max_;
    raft.read_lease = read_lease_;
    raft.counters = &counters_;
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
    // Through the wire codec, as the transport sends it: a message it would
    // refuse (a negative term, say) fails the test here.
    auto decoded = raft::decode_message(raft::encode_message(m), raft::WireLimits{});
    if (!decoded) {
      ADD_FAILURE() << "a raft message the wire refuses: " << decoded.error();
      return;
    }
    m = std::move(*decoded);
    asio::post(io_, [this, to, m = std::move(m)]() mutable {
      if (nodes_[to]) nodes_[to]->step(std::move(m));
    });
  }

  // Closes replica `id` cleanly; start(id) reopens its files.
  void stop(int id) {
    auto& p = nodes_[static_cast<std::size_t>(id)];
    auto closed = wait(p->close());
    EXPECT_TRUE(closed) << closed.error();
    p.reset();
  }

  // One round: every replica ticks, then the io_context runs until the
  // replicas are quiet (settle), so that a round does the same work on a
  // loaded machine as on an idle one.
  void round() {
    for (auto& p : nodes_) {
      if (p) p->tick();
    }
    settle();
  }

  // Runs the io_context until a pass in which only its own markers ran: each
  // pass sends a marker through every disk thread that is not held (a FIFO:
  // once it is back, what was queued before it is done) and runs what is
  // ready. Bounded: 20 passes, each at most 50 ms.
  void settle() {
    for (int pass = 0; pass < 20; ++pass) {
      auto left = std::make_shared<int>(0);
      for (std::size_t i = 0; i < disks_.size(); ++i) {
        const auto& held = holds_[i];
        if (held.valid() && held.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
          continue;
        }
        ++*left;
        disks_[i]->submit([] {}, io_.get_executor(), [left] { --*left; });
      }
      const int markers = *left;
      std::size_t ran = io_.poll();
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      while (*left > 0 && std::chrono::steady_clock::now() < until) {
        ran += io_.run_one_for(std::chrono::milliseconds(1));
      }
      ran += io_.poll();
      if (*left == 0 && ran == static_cast<std::size_t>(markers)) return;
    }
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
    auto batch = spate::testing::make_varied_batch(rng_, 3, 100, ts_);
    ts_ += 3;
    return nodes_[static_cast<std::size_t>(id)]->append(batch);
  }

  // A batch produced at `id` and acknowledged (acks=all); nothing if either
  // fails (the test's ASSERT says so).
  std::optional<storage::AppendResult> produce_acked(int id) {
    auto r = produce(id);
    EXPECT_TRUE(r) << r.error();
    if (!r) return std::nullopt;
    auto ack = wait_acked(id, *r);
    EXPECT_TRUE(rounds_until(500, [&] { return ack->has_value(); }));
    if (!ack->has_value() || !**ack) return std::nullopt;
    return *r;
  }

  // Three replicas started; one batch acknowledged (shown to clients whole),
  // then the leadership handed on: the new leader, whose no-op follows the
  // batch, and the batch. Nothing if a step fails (the test's ASSERT says so).
  std::optional<std::pair<int, storage::AppendResult>> batch_then_new_leader() {
    for (int id = 0; id < 3; ++id) start(id);
    if (!rounds_until(500, [&] { return leader() >= 0; })) return std::nullopt;
    const int l = leader();
    const auto r = produce_acked(l);
    if (!r) return std::nullopt;
    auto& before = nodes_[static_cast<std::size_t>(l)];
    EXPECT_EQ(before->client_high_watermark(), before->high_watermark()) << "a batch of records";
    if (!before->transfer_leadership(raft::kNoNode) ||
        !rounds_until(500, [&] { return leader() >= 0 && leader() != l; })) {
      return std::nullopt;
    }
    return std::pair{leader(), *r};
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
  // The replicas' files, through which a test may fail a read or a write.
  storage::FaultyFs faulty_{mem_};
  ManualClock clock_;
  std::chrono::milliseconds lag_max_{30'000};  // PartitionRaftConfig::replica_lag_max
  std::chrono::milliseconds read_lease_{0};    // PartitionRaftConfig::read_lease
  RaftCounters counters_;                      // shared by the three replicas
  storage::LogConfig config_;
  asio::io_context io_;
  // Each round waits for the disk thread's completions, up to its time.
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  // What hold_disk holds each disk thread on, until it is ready (read by
  // settle, which sends no marker through a held thread).
  std::array<std::shared_future<void>, 3> holds_{};
  // One disk thread per replica, so that one replica's disk can be held still.
  std::array<std::unique_ptr<DiskThread>, 3> disks_{std::make_unique<DiskThread>(),
                                                    std::make_unique<DiskThread>(),
                                                    std::make_unique<DiskThread>()};
  std::array<std::shared_ptr<Partition>, 3> nodes_;

  // Holds replica `id`'s disk thread until the returned promise is set.
  std::shared_ptr<std::promise<void>> hold_disk(int id) {
    auto release = std::make_shared<std::promise<void>>();
    auto held = release->get_future().share();
    holds_[static_cast<std::size_t>(id)] = held;
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

}  // namespace spate::cluster
