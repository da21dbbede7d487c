// SPDX-License-Identifier: Apache-2.0
//
// The coordinator over a replicated __consumer_offsets (docs/groups.md, "In
// a cluster"): three replicas of one partition (cluster/replication_rig.h),
// one Coordinator per replica. Only the confirmed leader serves the groups;
// the others answer NOT_COORDINATOR. A leadership change unloads the old
// leader (waiting calls get NOT_COORDINATOR) and loads the new one by
// replaying the partition, so committed offsets survive it; a commit whose
// entry a new leader's log replaced fails instead of being taken for
// committed.

#include "spate/groups/coordinator.h"

#include "cluster/replication_rig.h"

namespace spate::groups {
namespace {

// __consumer_offsets of one partition: the rig's replica on node `id`.
class RigOffsetsTopic final : public OffsetsTopic {
 public:
  RigOffsetsTopic(const std::array<std::shared_ptr<cluster::Partition>, 3>& nodes, std::size_t id)
      : nodes_(nodes), id_(id) {}
  awaitable<Status> prepare(std::int32_t /*partitions*/) override { co_return Status{}; }
  [[nodiscard]] std::int32_t partition_count() const override { return 1; }
  [[nodiscard]] std::shared_ptr<cluster::Partition> partition(std::int32_t index) const override {
    return index == 0 ? nodes_[id_] : nullptr;
  }
  [[nodiscard]] bool exists(const std::string& topic, std::int32_t index) const override {
    return topic == "data" && index >= 0 && index < 4;
  }

 private:
  const std::array<std::shared_ptr<cluster::Partition>, 3>& nodes_;
  std::size_t id_;
};

class CoordinatorFailover : public cluster::PartitionReplication {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) start(i);
    ASSERT_TRUE(rounds_until(1000, [&] { return leader() >= 0; }));
    // The leader is confirmed once it committed an entry of its term.
    ASSERT_TRUE(rounds_until(1000, [&] { return nodes_[at(leader())]->leader(); }));
  }
  void TearDown() override {
    for (auto& c : coordinators_) {
      if (c) c->stop();
    }
    // Answered waiters finish on the io_context.
    for (int i = 0; i < 10; ++i) round();
  }

  static std::size_t at(int id) { return static_cast<std::size_t>(id); }

  void start_coordinators(CoordinatorConfig config = {}) {
    for (std::size_t i = 0; i < 3; ++i) {
      coordinators_[i] = std::make_unique<Coordinator>(
          config, std::make_unique<RigOffsetsTopic>(nodes_, i), clock_);
      auto started = wait(coordinators_[i]->start());
      ASSERT_TRUE(started) << started.error();
    }
  }

  Coordinator& coordinator(int id) { return *coordinators_[at(id)]; }

  void tick_all() {
    for (auto& c : coordinators_) c->tick();
  }

  // Rounds (every coordinator ticking) until `done`.
  template <typename Done>
  bool ticks_until(int max, Done done) {
    for (int i = 0; i < max; ++i) {
      if (done()) return true;
      round();
      tick_all();
    }
    return done();
  }

  // Starts a simple consumer's commit (generation -1) on `id`; the result
  // is set when it ends.
  std::shared_ptr<std::optional<GroupError>> start_commit(int id, const std::string& group,
                                                          std::int64_t offset) {
    auto out = std::make_shared<std::optional<GroupError>>();
    auto* c = coordinators_[at(id)].get();
    const auto deadline = clock_.steady_now() + std::chrono::hours(1);
    asio::co_spawn(
        io_,
        [c, group, offset, out, deadline]() -> awaitable<void> {
          std::vector<CommitEntry> entries(1);
          entries[0].partition = {"data", 0};
          entries[0].value.offset = offset;
          co_await c->commit(group, "", -1, std::nullopt, entries, deadline);
          *out = entries[0].error;
        },
        asio::detached);
    return out;
  }

  GroupError commit(int id, const std::string& group, std::int64_t offset) {
    auto out = start_commit(id, group, offset);
    rounds_until(2000, [&] { return out->has_value(); });
    return out->value_or(GroupError::request_timed_out);
  }

  // The committed offset of data-0 (-1: none), or the error.
  Result<std::int64_t> fetch(int id, const std::string& group) {
    std::map<PartitionKey, CommittedOffset> out;
    const auto e = coordinator(id).fetch(group, std::vector<PartitionKey>{{"data", 0}}, out);
    if (e != GroupError::none) return Error(Errc::unavailable, error_name(e));
    return out.at({"data", 0}).offset;
  }

  std::shared_ptr<std::optional<JoinResult>> start_join(int id, const std::string& group,
                                                        const std::string& member) {
    auto out = std::make_shared<std::optional<JoinResult>>();
    auto* c = coordinators_[at(id)].get();
    JoinRequest r;
    r.member_id = member;
    r.client_id = "client";
    r.session_timeout_ms = 10'000;
    r.rebalance_timeout_ms = 10'000;
    r.protocol_type = "consumer";
    r.protocols.push_back({"range", {std::byte{1}}});
    asio::co_spawn(
        io_, [c, group, r, out]() -> awaitable<void> { *out = co_await c->join(group, r); },
        asio::detached);
    return out;
  }

  // Hands the leadership from the current leader to `to` and waits until it leads.
  void move_leader(int to) {
    const int from = leader();
    ASSERT_GE(from, 0);
    auto target = nodes_[at(from)]->transfer_leadership(NodeId(to));
    ASSERT_TRUE(target) << target.error();
    ASSERT_TRUE(rounds_until(2000, [&] { return leader() == to && nodes_[at(to)]->leader(); }));
  }

  std::array<std::unique_ptr<Coordinator>, 3> coordinators_;
};

TEST_F(CoordinatorFailover, OnlyTheLeaderServes) {
  start_coordinators();
  const int l = leader();
  const int f = (l + 1) % 3;
  EXPECT_TRUE(coordinator(l).serves(0));
  EXPECT_TRUE(coordinator(l).loaded());
  EXPECT_EQ(coordinator(l).route("g"), GroupError::none);
  EXPECT_FALSE(coordinator(f).serves(0));
  EXPECT_EQ(coordinator(f).route("g"), GroupError::not_coordinator);

  EXPECT_EQ(commit(f, "g", 7), GroupError::not_coordinator);
  auto joined = start_join(f, "g", "");
  ASSERT_TRUE(rounds_until(100, [&] { return joined->has_value(); }));
  EXPECT_EQ((*joined)->error, GroupError::not_coordinator);
  EXPECT_EQ(coordinator(f).heartbeat("g", "m", 1, std::nullopt), GroupError::not_coordinator);
  EXPECT_EQ(fetch(f, "g").error().detail(), "NOT_COORDINATOR");

  EXPECT_EQ(commit(l, "g", 42), GroupError::none);
  EXPECT_EQ(fetch(l, "g").value(), 42);
  // The followers hold the record, not the group.
  EXPECT_EQ(fetch(f, "g").error().detail(), "NOT_COORDINATOR");
  EXPECT_TRUE(coordinator(f).list().empty());
  ASSERT_EQ(coordinator(l).list().size(), 1U);
}

TEST_F(CoordinatorFailover, CommittedOffsetsFollowTheLeadership) {
  start_coordinators();
  const int l = leader();
  const int t = (l + 1) % 3;
  ASSERT_EQ(commit(l, "g", 42), GroupError::none);
  ASSERT_EQ(commit(l, "h", 5), GroupError::none);
  move_leader(t);
  tick_all();
  // The old leader let go of its groups; the new one replayed them.
  EXPECT_FALSE(coordinator(l).serves(0));
  EXPECT_EQ(coordinator(l).route("g"), GroupError::not_coordinator);
  EXPECT_EQ(coordinator(l).offsets().size(), 0U);
  ASSERT_TRUE(ticks_until(100, [&] { return coordinator(t).serves(0); }));
  EXPECT_EQ(fetch(t, "g").value(), 42);
  EXPECT_EQ(fetch(t, "h").value(), 5);
  EXPECT_EQ(commit(t, "g", 43), GroupError::none);

  // A crashed leader (cut off): the survivors elect one that has every
  // committed offset.
  cut_.insert(at(t));
  ASSERT_TRUE(rounds_until(5000, [&] { return leader() >= 0 && nodes_[at(leader())]->leader(); }));
  const int n = leader();
  ASSERT_NE(n, t);
  ASSERT_TRUE(ticks_until(100, [&] { return coordinator(n).serves(0); }));
  EXPECT_EQ(fetch(n, "g").value(), 43);
  EXPECT_EQ(fetch(n, "h").value(), 5);
}

TEST_F(CoordinatorFailover, WaitingCallsGetNotCoordinatorOnUnload) {
  start_coordinators();
  const int l = leader();
  // Member A joins and syncs: generation 1, stable.
  auto a = start_join(l, "g", "");
  ASSERT_TRUE(rounds_until(100, [&] { return a->has_value(); }));
  ASSERT_EQ((*a)->error, GroupError::none);
  auto synced = std::make_shared<std::optional<SyncResult>>();
  SyncRequest sync;
  sync.member_id = (*a)->member_id;
  sync.generation = (*a)->generation;
  sync.assignments[(*a)->member_id] = {std::byte{2}};
  asio::co_spawn(
      io_,
      [c = coordinators_[at(l)].get(), sync, synced]() -> awaitable<void> {
        *synced = co_await c->sync("g", sync, std::nullopt);
      },
      asio::detached);
  ASSERT_TRUE(rounds_until(100, [&] { return synced->has_value(); }));
  ASSERT_EQ((*synced)->error, GroupError::none);
  // Member B's join waits at the barrier for A to rejoin.
  auto b = start_join(l, "g", "");
  for (int i = 0; i < 20; ++i) round();
  ASSERT_FALSE(b->has_value());
  EXPECT_EQ(coordinator(l).waiting(), 1U);

  move_leader((l + 1) % 3);
  tick_all();
  ASSERT_TRUE(rounds_until(100, [&] { return b->has_value(); }));
  EXPECT_EQ((*b)->error, GroupError::not_coordinator);
  EXPECT_EQ(coordinator(l).waiting(), 0U);
  EXPECT_EQ(coordinator(l).member_bytes(), 0U);
  // The new coordinator knows the group by its stored generation.
  const int n = leader();
  ASSERT_TRUE(ticks_until(100, [&] { return coordinator(n).serves(0); }));
  auto view = coordinator(n).describe("g");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->protocol_type, "consumer");
}

TEST_F(CoordinatorFailover, CommitFailsWhenANewLeaderReplacesIt) {
  start_coordinators();
  const int l = leader();
  // The leader is cut off before its commit replicates.
  cut_.insert(at(l));
  auto pending = start_commit(l, "g", 99);
  for (int i = 0; i < 5; ++i) round();
  EXPECT_FALSE(pending->has_value());
  ASSERT_TRUE(rounds_until(5000, [&] { return leader() >= 0 && nodes_[at(leader())]->leader(); }));
  const int n = leader();
  ASSERT_NE(n, l);
  // Back in touch, the old leader learns the new term: its entry is replaced.
  cut_.erase(at(l));
  ASSERT_TRUE(rounds_until(5000, [&] { return pending->has_value(); }));
  EXPECT_EQ(**pending, GroupError::not_coordinator);
  ASSERT_TRUE(ticks_until(100, [&] { return coordinator(n).serves(0); }));
  EXPECT_FALSE(coordinator(l).serves(0));
  EXPECT_EQ(fetch(n, "g").value(), -1);  // never acknowledged, never applied
  EXPECT_EQ(coordinator(l).offsets().size(), 0U);
  EXPECT_EQ(coordinator(l).offset_bytes(), 0U);
}

TEST_F(CoordinatorFailover, LoadingAnswersLoadInProgressUntilReplayed) {
  CoordinatorConfig config;
  config.load_bytes_per_tick = 1;  // one read per tick
  start_coordinators(config);
  const int l = leader();
  ASSERT_TRUE(ticks_until(100, [&] { return coordinator(l).serves(0); }));
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(commit(l, "g", i), GroupError::none);
  const int t = (l + 1) % 3;
  move_leader(t);
  coordinators_[at(t)]->tick();
  EXPECT_EQ(coordinator(t).route("g"), GroupError::coordinator_loading);
  EXPECT_FALSE(coordinator(t).loaded());
  EXPECT_EQ(commit(t, "g", 6), GroupError::coordinator_loading);
  int ticks = 1;
  while (!coordinator(t).serves(0) && ticks < 100) {
    coordinators_[at(t)]->tick();
    ++ticks;
  }
  EXPECT_GT(ticks, 2);
  EXPECT_TRUE(coordinator(t).loaded());
  EXPECT_EQ(fetch(t, "g").value(), 5);
}

}  // namespace
}  // namespace spate::groups
