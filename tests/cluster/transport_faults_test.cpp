// SPDX-License-Identifier: Apache-2.0
//
// cluster::Transport under faults: a peer restarting, a peer that is not
// there, garbage from a raw socket, a silent socket, a full queue, another
// cluster, an address that changes. Every wait is bounded.

#include <gtest/gtest.h>

#include "spate/cluster/transport.h"
#include "spate/common/bytes.h"

#include "transport_rig.h"

namespace spate::cluster {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace)

// A blocking socket of the test's own (its own io_context: the rig's runs
// only inside run_until).
class RawPeer {
 public:
  explicit RawPeer(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void write(const std::vector<std::byte>& bytes) {
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()));
  }
  // Reads what has arrived into `into`; true once the other side has closed.
  bool drain(std::vector<std::byte>& into) {
    socket_.non_blocking(true);
    std::array<std::byte, 4096> buffer{};
    boost::system::error_code ec;
    // Bounded: the other side sends at most a hello before closing.
    for (int i = 0; i < 100; ++i) {
      const auto n = socket_.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block) return false;
      if (ec) return true;
      into.insert(into.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return false;
  }
  // True once the other side has closed (after `rig` ran): reads to EOF.
  bool closed_by_peer() {
    socket_.non_blocking(true);
    std::array<std::byte, 4096> buffer{};
    boost::system::error_code ec;
    // Bounded: the other side sends at most a hello before closing.
    for (int i = 0; i < 100; ++i) {
      socket_.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block) return false;
      if (ec) return true;
    }
    return false;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

std::vector<std::byte> garbage() {
  // A size prefix of 4 GiB - 1, then junk.
  return {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{1}};
}

TEST(TransportFaults, PeerRestartReconnectsAndDeliveryResumes) {
  Rig rig;
  rig.add(1);
  const auto port2 = rig.add(2).port;
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  EXPECT_TRUE(rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(1, 2, 1)));
  ASSERT_TRUE(rig.run_until([&] { return rig.node(2).delivered.size() == 1; }));

  rig.remove(2);
  ASSERT_TRUE(rig.run_until([&] { return !rig.transport(1).connected(NodeId(2)); }));
  // Down: dropped, not queued.
  EXPECT_FALSE(rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(1, 2, 2)));
  const auto down = rig.call_now(1, 2, kEcho, to_bytes("x"));
  EXPECT_EQ(down.error().code(), Errc::unavailable);
  rig.run_for(150ms);  // a few failed attempts
  EXPECT_GE(rig.transport(1).peer_stats(NodeId(2)).connect_failures, 1U);

  auto& again = rig.add(rig.config(2, port2));
  ASSERT_TRUE(again.transport->set_peer(NodeId(1), "127.0.0.1", rig.node(1).port));
  again.transport->start();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  const auto stats = rig.transport(1).peer_stats(NodeId(2));
  EXPECT_EQ(stats.connects, 2U);
  EXPECT_EQ(stats.reconnects, 1U);
  EXPECT_EQ(stats.messages_dropped, 1U);
  EXPECT_TRUE(rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(1, 2, 3)));
  ASSERT_TRUE(rig.run_until([&] { return rig.node(2).delivered.size() == 1; }));
  EXPECT_EQ(rig.node(2).delivered[0].message.commit, 3);
  EXPECT_TRUE(rig.call_now(1, 2, kEcho, to_bytes("back")));
}

TEST(TransportFaults, APeerThatGoesAwayIsReportedLostAndStoppingReportsNothing) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.add(3);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  for (int id : {1, 2, 3}) EXPECT_TRUE(rig.node(id).lost.empty()) << id;
  // Both of node 2's connections close: node 1 hears of it (at least once;
  // once per connection at most), node 3 too; node 2, stopping, says nothing.
  std::vector<NodeId> own;
  rig.transport(2).on_peer_lost([&own](NodeId peer) { own.push_back(peer); });
  rig.remove(2);
  EXPECT_TRUE(own.empty());
  ASSERT_TRUE(rig.run_until([&] { return rig.node(1).lost.size() >= 2; }));
  ASSERT_TRUE(rig.run_until([&] { return rig.node(3).lost.size() >= 2; }));
  rig.run_for(50ms);
  for (int id : {1, 3}) {
    EXPECT_EQ(rig.node(id).lost, std::vector<NodeId>(rig.node(id).lost.size(), NodeId(2))) << id;
  }
  EXPECT_LE(rig.node(1).lost.size(), 2U);  // reconnect attempts fail before the hello
}

TEST(TransportFaults, GarbageClosesThatConnectionOnly) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  // Garbage instead of a hello.
  RawPeer raw(rig.node(2).port);
  raw.write(garbage());
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(2).stats().hellos_refused == 1; }));
  EXPECT_TRUE(raw.closed_by_peer());
  // A good hello as node 9, then a frame of junk.
  RawPeer liar(rig.node(2).port);
  liar.write(encode_frame(Hello{"rig", NodeId(9), 1, 1}));
  auto junk = encode_frame(Request{1, 1, to_bytes("abc")});
  junk[5] = std::byte{42};  // no such kind
  liar.write(junk);
  ASSERT_TRUE(
      rig.run_until([&] { return rig.transport(2).peer_stats(NodeId(9)).bad_frames == 1; }));
  ASSERT_TRUE(rig.run_until([&] { return liar.closed_by_peer(); }, 1'000ms));
  // A raft batch that claims to come from another node.
  RawPeer forger(rig.node(2).port);
  forger.write(encode_frame(Hello{"rig", NodeId(8), 1, 1}));
  forger.write(
      encode_frame(RaftBatch{NodeId(1), NodeId(2), {{kControllerGroup, heartbeat(1, 2, 0)}}}));
  ASSERT_TRUE(
      rig.run_until([&] { return rig.transport(2).peer_stats(NodeId(8)).bad_frames == 1; }));
  EXPECT_TRUE(rig.node(2).delivered.empty());

  // Node 1 never noticed.
  EXPECT_TRUE(rig.transport(1).connected(NodeId(2)));
  EXPECT_TRUE(rig.transport(1).send(NodeId(2), kControllerGroup, heartbeat(1, 2, 4)));
  ASSERT_TRUE(rig.run_until([&] { return rig.node(2).delivered.size() == 1; }));
  EXPECT_TRUE(rig.call_now(1, 2, kEcho, to_bytes("still here")));
  EXPECT_EQ(rig.transport(1).peer_stats(NodeId(2)).reconnects, 0U);
  EXPECT_EQ(rig.transport(2).peer_stats(NodeId(1)).bad_frames, 0U);
}

TEST(TransportFaults, AnotherVersionIsRefusedWithOurHelloInAnswer) {
  Rig rig;
  rig.add(2);
  rig.transport(2).start();
  RawPeer future(rig.node(2).port);
  future.write(encode_frame(Hello{"rig", NodeId(9), 2, 3}));
  std::vector<std::byte> answer;
  ASSERT_TRUE(rig.run_until([&] { return future.drain(answer); }));
  EXPECT_EQ(rig.transport(2).stats().hellos_refused, 1U);
  // Our hello came back before the close, so that the peer can log why.
  ASSERT_GT(answer.size(), kFramePrefixBytes);
  auto hello = decode_frame(std::span<const std::byte>(answer).subspan(kFramePrefixBytes));
  ASSERT_TRUE(hello) << hello.error();
  EXPECT_EQ(std::get<Hello>(*hello), (Hello{"rig", NodeId(2), kRpcVersionMin, kRpcVersionMax}));
}

TEST(TransportFaults, AWrongFrameOnOurOwnConnectionClosesIt) {
  Rig rig;
  rig.add(1);
  // A fake node 5 that answers the hello, then sends a request the wrong way.
  asio::io_context scratch;
  tcp::acceptor fake(scratch, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  fake.non_blocking(true);
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(5), "127.0.0.1", fake.local_endpoint().port()));
  rig.transport(1).start();
  tcp::socket accepted(scratch);
  boost::system::error_code ec;
  ASSERT_TRUE(rig.run_until([&] {
    fake.accept(accepted, ec);
    return !ec;
  }));
  const auto hello = encode_frame(Hello{"rig", NodeId(5), 1, 1});
  asio::write(accepted, asio::buffer(hello.data(), hello.size()));
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(1).connected(NodeId(5)); }));
  const auto wrong = encode_frame(Request{1, kEcho, to_bytes("the wrong way")});
  asio::write(accepted, asio::buffer(wrong.data(), wrong.size()));
  ASSERT_TRUE(
      rig.run_until([&] { return rig.transport(1).peer_stats(NodeId(5)).bad_frames == 1; }));
  EXPECT_FALSE(rig.transport(1).connected(NodeId(5)));
  accepted.close();
  fake.close();
}

TEST(TransportFaults, APeerThatReadsNothingIsClosedAfterTheWriteTimeout) {
  Rig rig;
  auto config = rig.config(1);
  config.write_timeout = 200ms;
  rig.add(config);
  asio::io_context scratch;
  tcp::acceptor fake(scratch, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  fake.non_blocking(true);
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(5), "127.0.0.1", fake.local_endpoint().port()));
  rig.transport(1).start();
  tcp::socket accepted(scratch);
  boost::system::error_code ec;
  ASSERT_TRUE(rig.run_until([&] {
    fake.accept(accepted, ec);
    return !ec;
  }));
  const auto hello = encode_frame(Hello{"rig", NodeId(5), 1, 1});
  asio::write(accepted, asio::buffer(hello.data(), hello.size()));
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(1).connected(NodeId(5)); }));
  // 48 MiB to a peer that reads none of it: the socket buffers fill, the
  // writer stops making progress, the connection closes.
  raft::Message big = heartbeat(1, 5, 0);
  big.type = raft::MessageType::append;
  big.entries.push_back(
      raft::Entry{1, Term(1), std::vector<std::byte>(4U << 20U), raft::EntryKind::normal, 1});
  for (int i = 0; i < 12; ++i) {
    asio::post(rig.io(), [&] { (void)rig.transport(1).send(NodeId(5), RaftGroupId{1, 0}, big); });
  }
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(rig.run_until([&] { return !rig.transport(1).connected(NodeId(5)); }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 150ms);
  // Every message is sent or counted as dropped (queued, or cut off mid-frame).
  ASSERT_TRUE(rig.run_until([&] {
    const auto stats = rig.transport(1).peer_stats(NodeId(5));
    return stats.messages_sent + stats.messages_dropped == 12;
  }));
  EXPECT_GT(rig.transport(1).peer_stats(NodeId(5)).messages_dropped, 0U);
}

TEST(TransportFaults, APeerThatStopsInTheMiddleOfAFrameIsClosed) {
  Rig rig;
  auto config = rig.config(2);
  config.write_timeout = 150ms;
  rig.add(config);
  rig.transport(2).start();
  RawPeer stalled(rig.node(2).port);
  stalled.write(encode_frame(Hello{"rig", NodeId(9), 1, 1}));
  auto request = encode_frame(Request{1, kEcho, std::vector<std::byte>(1'000)});
  request.resize(100);  // the size says 1,000 and more; 96 bytes come
  stalled.write(request);
  ASSERT_TRUE(rig.run_until(
      [&] { return rig.transport(2).peer_stats(NodeId(9)).inbound_connections == 1; }));
  std::vector<std::byte> answer;
  rig.run_for(50ms);
  EXPECT_FALSE(stalled.drain(answer));
  ASSERT_TRUE(rig.run_until([&] { return stalled.drain(answer); }, 2'000ms));
  EXPECT_TRUE(rig.run_until(
      [&] { return rig.transport(2).peer_stats(NodeId(9)).inbound_connections == 0; }));
  EXPECT_EQ(rig.node(2).requests, 0U);
}

TEST(TransportFaults, SilentConnectionsAreClosedAfterTheHelloTimeout) {
  Rig rig;
  auto config = rig.config(2);
  config.hello_timeout = 100ms;
  rig.add(config);
  rig.transport(2).start();
  RawPeer silent(rig.node(2).port);
  rig.run_for(30ms);
  EXPECT_FALSE(silent.closed_by_peer());
  ASSERT_TRUE(rig.run_until([&] { return silent.closed_by_peer(); }, 2'000ms));
}

TEST(TransportFaults, AFullQueueDropsAndCounts) {
  Rig rig;
  auto config = rig.config(1);
  config.queued_bytes_max = 16U << 10U;
  rig.add(config);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  raft::Message big = heartbeat(1, 2, 0);
  big.type = raft::MessageType::append;
  big.entries.push_back(
      raft::Entry{1, Term(1), std::vector<std::byte>(1'000), raft::EntryKind::normal, 1});
  int accepted = 0;
  asio::post(rig.io(), [&] {
    for (int i = 0; i < 100; ++i) {
      big.commit = i;
      if (rig.transport(1).send(NodeId(2), RaftGroupId{3, i}, big)) ++accepted;
    }
  });
  ASSERT_TRUE(rig.run_until([&] {
    return accepted > 0 && rig.node(2).delivered.size() >= static_cast<std::size_t>(accepted);
  }));
  rig.run_for(50ms);
  EXPECT_GT(accepted, 5);
  EXPECT_LT(accepted, 20);  // about 16 KiB of 1 KiB messages
  const auto stats = rig.transport(1).peer_stats(NodeId(2));
  EXPECT_EQ(stats.messages_dropped, static_cast<std::uint64_t>(100 - accepted));
  EXPECT_EQ(rig.node(2).delivered.size(), static_cast<std::size_t>(accepted));
  // The ones that went are the first ones, in order.
  for (int i = 0; i < accepted; ++i) {
    EXPECT_EQ(rig.node(2).delivered[static_cast<std::size_t>(i)].message.commit, i);
  }
}

TEST(TransportFaults, AnotherClusterIsRefusedBothWays) {
  Rig rig;
  rig.add(1);
  auto other = rig.config(2);
  other.cluster_id = "elsewhere";
  rig.add(other);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] {
    return rig.transport(1).stats().hellos_refused >= 2 &&
           rig.transport(2).stats().hellos_refused >= 2;
  }));
  EXPECT_FALSE(rig.transport(1).connected(NodeId(2)));
  EXPECT_FALSE(rig.transport(2).connected(NodeId(1)));
  EXPECT_GE(rig.transport(1).peer_stats(NodeId(2)).connect_failures, 1U);
  EXPECT_EQ(rig.transport(1).peer_stats(NodeId(2)).connects, 0U);
}

TEST(TransportFaults, TheWrongNodeAtAnAddressIsRefused) {
  Rig rig;
  rig.add(1);
  rig.add(3);
  rig.transport(3).start();
  // Node 1 believes node 2 is where node 3 listens.
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(2), "127.0.0.1", rig.node(3).port));
  rig.transport(1).start();
  ASSERT_TRUE(
      rig.run_until([&] { return rig.transport(1).peer_stats(NodeId(2)).connect_failures >= 2; }));
  EXPECT_FALSE(rig.transport(1).connected(NodeId(2)));
  // Then learns the truth: node 3 it is, found at once.
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(3), "127.0.0.1", rig.node(3).port));
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(1).connected(NodeId(3)); }));
}

TEST(TransportFaults, ANewAddressIsTriedAtOnce) {
  Rig rig;
  auto config = rig.config(1);
  config.backoff_min = 2'000ms;  // a retry would wait this long
  config.backoff_max = 2'000ms;
  rig.add(config);
  rig.add(2);
  rig.transport(2).start();
  // Nothing listens on node 1's own port as far as node 2 is concerned... use a closed one.
  asio::io_context scratch;
  tcp::acceptor closed(scratch, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto dead_port = closed.local_endpoint().port();
  closed.close();
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(2), "127.0.0.1", dead_port));
  rig.transport(1).start();
  ASSERT_TRUE(
      rig.run_until([&] { return rig.transport(1).peer_stats(NodeId(2)).connect_failures == 1; }));
  const auto moved = std::chrono::steady_clock::now();
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(2), "127.0.0.1", rig.node(2).port));
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(1).connected(NodeId(2)); }));
  EXPECT_LT(std::chrono::steady_clock::now() - moved, 900ms);
}

// A removed broker (forget_peer): the connection to it closes, no new one
// is tried while it stays unreachable, and set_peer takes it back.
TEST(TransportFaults, AForgottenPeerIsNoLongerConnectedTo) {
  Rig rig;
  auto config = rig.config(1);
  config.backoff_min = 10ms;
  config.backoff_max = 20ms;
  rig.add(config);
  rig.add(2);
  rig.transport(2).start();
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(2), "127.0.0.1", rig.node(2).port));
  rig.transport(1).start();
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(1).connected(NodeId(2)); }));
  rig.transport(1).forget_peer(NodeId(2));
  rig.transport(1).forget_peer(NodeId(7));  // no such peer: nothing
  ASSERT_TRUE(rig.run_until([&] { return !rig.transport(1).connected(NodeId(2)); }));
  const auto connects = rig.transport(1).peer_stats(NodeId(2)).connects;
  const auto failures = rig.transport(1).peer_stats(NodeId(2)).connect_failures;
  rig.run_for(300ms);  // 15 backoffs' worth
  EXPECT_FALSE(rig.transport(1).connected(NodeId(2)));
  EXPECT_EQ(rig.transport(1).peer_stats(NodeId(2)).connects, connects);
  EXPECT_EQ(rig.transport(1).peer_stats(NodeId(2)).connect_failures, failures);
  auto refused = rig.call_now(1, 2, kEcho, {std::byte{1}}, 200ms);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::unavailable);
  ASSERT_TRUE(rig.transport(1).set_peer(NodeId(2), "127.0.0.1", rig.node(2).port));
  ASSERT_TRUE(rig.run_until([&] { return rig.transport(1).connected(NodeId(2)); }));
  EXPECT_EQ(rig.transport(1).peer_stats(NodeId(2)).connects, connects + 1);
}

TEST(TransportFaults, StopEndsCallsAndConnections) {
  Rig rig;
  rig.add(1);
  rig.add(2);
  rig.mesh();
  ASSERT_TRUE(rig.run_until([&] { return rig.connected_all(); }));
  auto waiting = rig.call(1, 2, kSlowEcho, {std::byte{50}}, 5'000ms);
  rig.run_for(20ms);
  const auto stopping = std::chrono::steady_clock::now();
  rig.remove(1);  // stop() returns with the call failed, not after 500 ms or 5 s
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 300ms);
  ASSERT_TRUE(waiting->has_value());
  EXPECT_EQ((*waiting)->error().code(), Errc::shutting_down);
  ASSERT_TRUE(rig.run_until(
      [&] { return rig.transport(2).peer_stats(NodeId(1)).inbound_connections == 0; }));
}

}  // namespace
}  // namespace spate::cluster
