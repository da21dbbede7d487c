// SPDX-License-Identifier: Apache-2.0
//
// Three cluster::Controllers, each with its own data directory and a real
// Transport on 127.0.0.1, in one io_context: they elect a controller
// leader, register their brokers, commit commands proposed on any of them
// (a follower forwards to the leader), fence a broker that stops
// heartbeating and unfence it when it comes back, and replay the same state
// from their logs after a restart. Hostile call payloads get errors.

#include "spate/cluster/controller.h"

#include <set>

#include <gtest/gtest.h>

#include "spate/cluster/raft_state.h"
#include "spate/common/bytes.h"

#include "controller_rig.h"

namespace spate::cluster {
namespace {

using test::ControllerGroup;
using namespace std::chrono_literals;

TEST_F(ControllerGroup, ElectsRegistersAndCommitsWhatAFollowerProposes) {
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  const int l = leader();
  const int follower = (l + 1) % 3;
  EXPECT_EQ(nodes_[static_cast<std::size_t>(follower)].controller->leader(), NodeId(l));

  // Through a follower: forwarded, committed, and applied there before the answer.
  auto created = propose(follower, create_topic(follower, "orders", 6));
  ASSERT_TRUE(created) << created.error();
  ASSERT_TRUE(created->outcome.applied()) << created->outcome.message;
  EXPECT_EQ(created->outcome.value, 1);
  const auto* topic =
      nodes_[static_cast<std::size_t>(follower)].controller->state().topic("orders");
  ASSERT_NE(topic, nullptr);
  EXPECT_EQ(topic->partitions.size(), 6U);
  for (const auto& p : topic->partitions) EXPECT_EQ(p.replicas.size(), 3U);

  // The same name again is refused by the state, on every replica alike.
  auto again = propose(l, create_topic(l, "orders", 1));
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->outcome.error, Errc::already_exists);
  ASSERT_TRUE(run_until(
      [&] {
        return snapshot(0) == snapshot(1) && snapshot(1) == snapshot(2) &&
               nodes_[0].controller->state().applied_index() >= again->index;
      },
      5'000ms));
}

TEST_F(ControllerGroup, FencesASilentBrokerElectsAnotherLeaderAndReplaysAfterRestart) {
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  const int old = leader();
  ASSERT_TRUE(propose(old, create_topic(old, "t", 3)));
  stop(old);
  const int a = (old + 1) % 3;
  const int b = (old + 2) % 3;
  // A new leader, which fences the dead broker after its session.
  ASSERT_TRUE(run_until(
      [&] {
        const auto* reg =
            nodes_[static_cast<std::size_t>(a)].controller->state().broker(NodeId(old));
        return leader() >= 0 && reg != nullptr && reg->fenced;
      },
      10'000ms));
  // Three replicas no longer fit the live brokers; two do, and commit with two of three voters.
  const auto& state = nodes_[static_cast<std::size_t>(b)].controller->state();
  auto three = assign_replicas(broker_slots(state), broker_load(state), 2, 3);
  ASSERT_FALSE(three);
  EXPECT_EQ(three.error().code(), Errc::invalid_replication_factor);
  auto more = propose(b, create_topic(b, "u", 2, 2));
  ASSERT_TRUE(more) << more.error();
  EXPECT_TRUE(more->outcome.applied()) << more->outcome.message;

  // The old leader comes back with a new incarnation: it replays its log,
  // catches up, registers again and is unfenced.
  start(old);
  connect_and_start({old});
  ASSERT_TRUE(run_until([&] { return all_registered({0, 1, 2}, 3); }, 10'000ms));
  ASSERT_TRUE(
      run_until([&] { return snapshot(0) == snapshot(1) && snapshot(1) == snapshot(2); }, 5'000ms));
  EXPECT_NE(nodes_[static_cast<std::size_t>(old)].controller->state().topic("u"), nullptr);

  // Everyone restarts: the state replays from the logs, identical.
  const auto before = snapshot(0);
  for (int id = 0; id < 3; ++id) stop(id);
  for (int id = 0; id < 3; ++id) start(id);
  for (int id = 0; id < 3; ++id) {
    auto replayed = decode_snapshot(snapshot(id));
    ASSERT_TRUE(replayed) << replayed.error();
    EXPECT_EQ(replayed->topics(), decode_snapshot(before)->topics()) << "node " << id;
  }
}

TEST_F(ControllerGroup, ProducerIdsAreUniqueAcrossBrokers) {
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  std::set<std::int64_t> ids;
  for (int round = 0; round < 3; ++round) {
    for (int node = 0; node < 3; ++node) {
      auto& c = *nodes_[static_cast<std::size_t>(node)].controller;
      std::optional<Result<std::int64_t>> out;
      asio::co_spawn(
          io_,
          [](Controller& ctl, std::optional<Result<std::int64_t>>& slot,
             Clock::SteadyTime deadline) -> awaitable<void> {
            slot.emplace(co_await ctl.allocate_producer_id(deadline));
          }(c, out, clock_.steady_now() + 5s),
          asio::detached);
      ASSERT_TRUE(run_until([&] { return out.has_value(); }, 10'000ms));
      ASSERT_TRUE(*out) << out->error();
      EXPECT_TRUE(ids.insert(**out).second) << "id " << **out << " handed out twice";
      EXPECT_TRUE(c.issued_producer_id(**out));
      // Another broker's id is not this one's to bump.
      auto& other = *nodes_[static_cast<std::size_t>((node + 1) % 3)].controller;
      EXPECT_FALSE(other.issued_producer_id(**out));
    }
  }
  EXPECT_EQ(ids.size(), 9U);
}

TEST_F(ControllerGroup, HostileCallsGetErrorsAndChangeNothing) {
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  auto& c = *nodes_[static_cast<std::size_t>(leader())].controller;
  const auto before = encode_snapshot(c.state());
  auto call = [&](std::uint16_t method, std::vector<std::byte> payload) {
    std::optional<Result<std::vector<std::byte>>> out;
    asio::co_spawn(
        io_,
        [](Controller& ctl, std::uint16_t m, std::vector<std::byte> p,
           std::optional<Result<std::vector<std::byte>>>& slot) -> awaitable<void> {
          slot.emplace(co_await ctl.handle_call(NodeId(1), m, std::move(p)));
        }(c, method, std::move(payload), out),
        asio::detached);
    EXPECT_TRUE(run_until([&] { return out.has_value(); }, 5'000ms));
    return out.value_or(Result<std::vector<std::byte>>(Error(Errc::timeout, "gave up")));
  };
  EXPECT_FALSE(call(kProposeMethod, to_bytes("garbage")));
  EXPECT_FALSE(call(kProposeMethod, {}));
  EXPECT_FALSE(call(999, {}));
  EXPECT_FALSE(call(kHeartbeatMethod, to_bytes("xy")));
  ByteWriter w;
  w.write<std::int32_t>(2);  // claims to be node 2 but comes from node 1
  w.write<std::int64_t>(5);
  EXPECT_FALSE(call(kHeartbeatMethod, w.release()));
  // Node 1 speaking for others: each refused, naming why.
  const auto* two = c.state().broker(NodeId(2));
  ASSERT_NE(two, nullptr);
  RegisterBroker as_two{NodeId(2), {"evil", 1}, {"evil", 2}, std::nullopt, 99};
  for (const Command& spoof :
       std::vector<Command>{as_two, AllocateProducerIds{NodeId(2), 10},
                            SetPartitionLeader{1, 0, NodeId(2), Term(7), {NodeId(2)}},
                            FenceBroker{NodeId(2), two->epoch}, UnfenceBroker{NodeId(0), 1}}) {
    auto r = call(kProposeMethod, encode_command(spoof));
    ASSERT_FALSE(r) << command_name(spoof);
    EXPECT_NE(r.error().message().find("node 1 may not propose"), std::string::npos)
        << r.error().message();
  }
  EXPECT_EQ(encode_snapshot(c.state()), before);
  // As itself it may.
  const Command mine = AllocateProducerIds{NodeId(1), 10};
  EXPECT_TRUE(call(kProposeMethod, encode_command(mine)));

  // A forwarded proposal's answer, truncated at every length, or with trailing bytes.
  Proposed p{ApplyOutcome::refused(Errc::already_exists, "topic 'x' exists"), 42};
  const auto good = encode_proposed(p);
  auto back = decode_proposed(good);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->outcome.error, Errc::already_exists);
  EXPECT_EQ(back->index, 42);
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(decode_proposed(std::span(good).first(n))) << n;
  }
  auto longer = good;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_proposed(longer));
  auto bad_code = good;
  bad_code[0] = std::byte{0xEE};
  EXPECT_FALSE(decode_proposed(bad_code));
}

TEST_F(ControllerGroup, SnapshotsCutTheLogAndARestartStartsFromThem) {
  snapshot_every_ = 8;
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  create_topics(leader(), "t", 20);
  ASSERT_TRUE(run_until(
      [&] {
        for (int id = 0; id < 3; ++id) {
          if (controller(id).partition().start_offset() < Offset(8)) return false;
        }
        return snapshot(0) == snapshot(1) && snapshot(1) == snapshot(2);
      },
      10'000ms));
  for (int id = 0; id < 3; ++id) {
    EXPECT_TRUE(storage::read_file(
        fs_,
        std::filesystem::path(fmt::format("/n{}", id)) / kControllerDir / kControllerSnapshotFile,
        1U << 20U));
  }
  const auto before = decode_snapshot(snapshot(0));
  ASSERT_TRUE(before);
  for (int id = 0; id < 3; ++id) stop(id);
  // Each opens from its snapshot (its log no longer holds the first topics)
  // with the same topics; started again, they go on committing.
  for (int id = 0; id < 3; ++id) {
    start(id);
    EXPECT_GT(controller(id).partition().start_offset(), Offset(0));
    EXPECT_EQ(decode_snapshot(snapshot(id))->topics(), before->topics()) << "node " << id;
  }
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  create_topics(leader(), "u", 2);
  ASSERT_TRUE(
      run_until([&] { return snapshot(0) == snapshot(1) && snapshot(1) == snapshot(2); }, 5'000ms));
  EXPECT_EQ(controller(0).state().topics().size(), 22U);
}

TEST_F(ControllerGroup, AFollowerBehindTheCutInstallsTheLeadersSnapshot) {
  snapshot_every_ = 8;
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  const int away = (leader() + 1) % 3;
  const int l = leader();
  stop(away);
  create_topics(l, "t", 30);
  ASSERT_TRUE(run_until(
      [&] {
        for (int id = 0; id < 3; ++id) {
          if (id != away && controller(id).partition().start_offset() < Offset(16)) return false;
        }
        return true;
      },
      10'000ms));
  start(away);
  const Offset reopened_end = controller(away).partition().end_offset();
  ASSERT_LT(reopened_end, controller(l).partition().start_offset());
  connect_and_start({away});
  // The leader no longer has the entries it lacks: it gets the snapshot.
  ASSERT_TRUE(run_until(
      [&] {
        return all_registered({0, 1, 2}, 3) && snapshot(0) == snapshot(1) &&
               snapshot(1) == snapshot(2);
      },
      10'000ms));
  EXPECT_GT(controller(away).partition().start_offset(), reopened_end);
  EXPECT_EQ(controller(away).state().topics().size(), 30U);
  // ... and keeps it: reopened alone, it starts from it.
  stop(away);
  start(away);
  EXPECT_EQ(controller(away).state().topics().size(), 30U);
}

TEST_F(ControllerGroup, ACutLogWithoutAUsableSnapshotRefusesToOpenNamingWhy) {
  snapshot_every_ = 8;
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  create_topics(leader(), "t", 12);
  ASSERT_TRUE(
      run_until([&] { return controller(0).partition().start_offset() > Offset(0); }, 10'000ms));
  for (int id = 0; id < 3; ++id) stop(id);
  const auto dir = std::filesystem::path("/n0") / kControllerDir;
  const auto file = dir / kControllerSnapshotFile;
  // A damaged file, and raft.state without its copy: nothing covers the cut.
  ASSERT_TRUE(storage::write_file_atomic(fs_, file, to_bytes("not a snapshot")));
  const auto log_dir = dir / "metadata-0";
  auto raft_state = read_raft_state(fs_, log_dir, {});
  ASSERT_TRUE(raft_state) << raft_state.error();
  raft_state->start_snapshot.clear();
  ASSERT_TRUE(write_raft_state(fs_, log_dir, *raft_state));
  DiskThread disk;
  auto c = Controller::open(fs_, "/n0", clock_, io_.get_executor(), disk, nullptr, config(0));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::corrupt_log);
  EXPECT_NE(c.error().message().find("no snapshot covers"), std::string::npos)
      << c.error().message();
}

}  // namespace
}  // namespace spate::cluster
