// SPDX-License-Identifier: Apache-2.0
//
// cluster::Transport on loopback, two and three nodes on one io_context:
// hellos, raft batches in order, one frame for many groups, calls with
// their errors and bounds.

#include "spate/cluster/transport.h"

#include <gtest/gtest.h>

#include "spate/common/bytes.h"

#include "transport_rig.h"

namespace spate::cluster {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace)

TEST(Transport, TwoNodesSayHelloBothWays) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  for (int id : {1, 2}) {
    const auto stats = rig.transport(id).peer_stats(NodeId(3 - id));
    EXPECT_TRUE(stats.connected);
    EXPECT_EQ(stats.connects, 1U);
    EXPECT_EQ(stats.reconnects, 0U);
    EXPECT_EQ(stats.inbound_connections, 1U);
    EXPECT_EQ(rig.transport(id).stats().hellos_refused, 0U);
  }
  EXPECT_FALSE(rig.transport(1).set_peer(NodeId(1), "127.0.0.1", 1));  // ourselves
}

TEST(Transport, RaftMessagesArriveInOrderAcrossTurns) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  // Sent over many handler turns, so over several frames.
  constexpr int kCount = 300;
  int sent = 0;
  std::function<void()> next = [&] {
    for (int i = 0; i < 7 && sent < kCount; ++i, ++sent) {
      EXPECT_TRUE(
          rig.transport(1).send(NodeId(2), RaftGroupId{1, sent % 5}, heartbeat(1, 2, sent)));
    }
    if (sent < kCount) asio::post(rig.io(), next);
  };
  asio::post(rig.io(), next);
  auto& got = rig.node(2).delivered;
  ASSERT_TRUE(rig.run_until([&] { return got.size() >= kCount; }));
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const auto& d = got[static_cast<std::size_t>(i)];
    EXPECT_EQ(d.message.commit, i);
    EXPECT_EQ(d.from, NodeId(1));
    EXPECT_EQ(d.group, (RaftGroupId{1, i % 5}));
  }
  const auto out = rig.transport(1).peer_stats(NodeId(2));
  const auto in = rig.transport(2).peer_stats(NodeId(1));
  EXPECT_EQ(out.messages_sent, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(in.messages_received, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(out.messages_dropped, 0U);
  EXPECT_GT(in.frames_received, 1U);
  EXPECT_EQ(in.bytes_received, out.bytes_sent);
}

TEST(Transport, OneFrameCarriesEveryGroupsHeartbeatOfATurn) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  const auto before_out = rig.transport(1).peer_stats(NodeId(2));
  const auto before_in = rig.transport(2).peer_stats(NodeId(1));
  constexpr int kGroups = 1'000;
  // One handler turn: a tick of 1,000 partitions' heartbeats.
  asio::post(rig.io(), [&] {
    for (int p = 0; p < kGroups; ++p) {
      EXPECT_TRUE(rig.transport(1).send(NodeId(2), RaftGroupId{7, p}, heartbeat(1, 2, p)));
    }
  });
  auto& got = rig.node(2).delivered;
  ASSERT_TRUE(rig.run_until([&] { return got.size() >= kGroups; }));
  const auto out = rig.transport(1).peer_stats(NodeId(2));
  const auto in = rig.transport(2).peer_stats(NodeId(1));
  EXPECT_EQ(out.frames_sent - before_out.frames_sent, 1U);
  EXPECT_EQ(in.frames_received - before_in.frames_received, 1U);
  EXPECT_EQ(out.messages_sent - before_out.messages_sent, static_cast<std::uint64_t>(kGroups));
  for (int p = 0; p < kGroups; ++p)
    EXPECT_EQ(got[static_cast<std::size_t>(p)].group, (RaftGroupId{7, p}));
}

TEST(Transport, BatchesSplitAtTheItemLimit) {
  Rig rig;
  auto config = rig.config(1);
  config.limits.batch_items_max = 100;
  rig.add(config);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  const auto before = rig.transport(2).peer_stats(NodeId(1)).frames_received;
  asio::post(rig.io(), [&] {
    for (int p = 0; p < 250; ++p)
      (void)rig.transport(1).send(NodeId(2), RaftGroupId{1, p}, heartbeat(1, 2, p));
  });
  ASSERT_TRUE(rig.run_until([&] { return rig.node(2).delivered.size() >= 250; }));
  EXPECT_EQ(rig.transport(2).peer_stats(NodeId(1)).frames_received - before, 3U);
}

TEST(Transport, ThreeNodesEachReachBothOthers) {
  Rig rig;
  for (int id : {1, 2, 3}) rig.add(id);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  asio::post(rig.io(), [&] {
    for (int from : {1, 2, 3}) {
      for (int to : {1, 2, 3}) {
        if (from == to) continue;
        for (int i = 0; i < 10; ++i) {
          EXPECT_TRUE(
              rig.transport(from).send(NodeId(to), kControllerGroup, heartbeat(from, to, i)));
        }
      }
    }
  });
  ASSERT_TRUE(rig.run_until([&] {
    return rig.node(1).delivered.size() == 20 && rig.node(2).delivered.size() == 20 &&
           rig.node(3).delivered.size() == 20;
  }));
  for (int to : {1, 2, 3}) {
    std::map<int, int> next;  // per sender, in order
    for (const auto& d : rig.node(to).delivered) {
      EXPECT_EQ(d.message.to, NodeId(to));
      EXPECT_EQ(d.message.from, d.from);
      EXPECT_EQ(d.message.commit, next[d.from.value()]++);
    }
  }
  const auto echo = rig.call_now(3, 1, kEcho, to_bytes("three to one"));
  ASSERT_TRUE(echo) << echo.error();
  EXPECT_EQ(*echo, to_bytes("three to one"));
}

TEST(Transport, MessagesThatDoNotFitTheConnectionAreRefused) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.add(3);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  asio::post(rig.io(), [&] {
    (void)rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(1, 3, 0));  // to node 3
    (void)rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(3, 2, 0));  // from node 3
    (void)rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(1, 2, 5));  // fine
  });
  ASSERT_TRUE(rig.run_until([&] { return !rig.node(2).delivered.empty(); }));
  rig.run_for(50ms);
  ASSERT_EQ(rig.node(2).delivered.size(), 1U);
  EXPECT_EQ(rig.node(2).delivered[0].message.commit, 5);
  EXPECT_EQ(rig.transport(2).peer_stats(NodeId(1)).messages_refused, 2U);
  // A node that is no peer: dropped and counted.
  EXPECT_FALSE(rig.transport(1).send(NodeId(9), kControllerGroup, heartbeat(1, 9, 0)));
  EXPECT_EQ(rig.transport(1).stats().messages_dropped, 1U);
}

TEST(Transport, CallsAnswerFailAndTimeOut) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  auto echo = rig.call_now(1, 2, kEcho, to_bytes("ping"));
  ASSERT_TRUE(echo) << echo.error();
  EXPECT_EQ(*echo, to_bytes("ping"));
  auto empty = rig.call_now(2, 1, kEcho, {});
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_TRUE(empty->empty());

  auto unknown = rig.call_now(1, 2, 77, to_bytes("?"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Errc::not_found);
  EXPECT_EQ(unknown.error().detail(), "unknown method 77");

  // 300 ms of work against a 50 ms deadline; the answer comes late.
  const auto started = std::chrono::steady_clock::now();
  auto slow = rig.call_now(1, 2, kSlowEcho, {std::byte{30}}, 50ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 250ms);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code(), Errc::timeout);
  ASSERT_TRUE(
      rig.run_until([&] { return rig.transport(1).peer_stats(NodeId(2)).late_responses == 1; }));

  // Calls in flight run at once, not one after another.
  std::vector<std::shared_ptr<std::optional<CallResult>>> slots;
  for (int i = 0; i < 10; ++i) slots.push_back(rig.call(1, 2, kSlowEcho, {std::byte{10}}));
  const auto batch_started = std::chrono::steady_clock::now();
  ASSERT_TRUE(rig.run_until([&] {
    return std::all_of(slots.begin(), slots.end(), [](const auto& s) { return s->has_value(); });
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - batch_started, 800ms);
  for (const auto& slot : slots) EXPECT_TRUE(**slot);

  const auto stats = rig.transport(1).peer_stats(NodeId(2));
  EXPECT_EQ(stats.calls_sent, 13U);  // the empty echo went the other way
  EXPECT_EQ(stats.calls_timed_out, 1U);
  EXPECT_EQ(stats.calls_failed, 1U);  // the unknown method
  EXPECT_EQ(rig.node(2).requests, 13U);
}

TEST(Transport, CallsAreBoundedAndNeedAConnection) {
  Rig rig;
  auto config = rig.config(1);
  config.calls_in_flight_max = 2;
  config.limits.payload_bytes_max = 16;
  rig.add(config);
  rig.add(2);
  // Not started: nothing is connected.
  auto early = rig.call_now(1, 2, kEcho, to_bytes("x"));
  EXPECT_EQ(early.error().code(), Errc::unavailable);  // not even a peer yet
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  auto a = rig.call(1, 2, kSlowEcho, {std::byte{20}});
  auto b = rig.call(1, 2, kSlowEcho, {std::byte{20}});
  auto c = rig.call_now(1, 2, kEcho, to_bytes("third"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::busy);
  ASSERT_TRUE(rig.run_until([&] { return a->has_value() && b->has_value(); }));
  EXPECT_TRUE(**a);
  EXPECT_TRUE(**b);
  auto big = rig.call_now(1, 2, kEcho, std::vector<std::byte>(17));
  EXPECT_EQ(big.error().code(), Errc::limit_exceeded);
  auto fits = rig.call_now(1, 2, kEcho, std::vector<std::byte>(16));
  EXPECT_TRUE(fits);
}

}  // namespace
}  // namespace spate::cluster
