// SPDX-License-Identifier: Apache-2.0
//
// Transport: the inter-broker connections (docs/cluster.md). It listens on
// the cluster address (never the client port) and keeps one outbound
// connection per peer, over which this node's raft messages and calls go;
// the answers to its calls come back on the same connection, and what peers
// send arrives on their outbound connections (our inbound ones). Every
// connection starts with a hello each way (cluster id, node id, versions).
//
// Raft messages are queued per peer and coalesced: whatever was sent to a
// peer while its writer was busy, or during the current handler turn, goes
// out as ONE raft_batch frame, so a thousand partitions' heartbeats to one
// peer cost one frame per tick. Raft tolerates loss, so the transport drops
// (and counts) rather than grows: beyond a peer's queued bytes or frames,
// while it is not connected, or when a connection closes with messages
// still queued. Calls carry correlation ids, end at a deadline and are
// bounded in number per peer. A peer's bad frame closes that connection
// only, with a rate-limited log line.
//
// One io_context (the shard's); every member is called on it. stop() must
// finish before the Transport is destroyed.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "spate/cluster/raft_group_id.h"
#include "spate/cluster/rpc.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/common/rng.h"
#include "spate/common/types.h"
#include "spate/net/log_limiter.h"
#include "spate/net/signal.h"
#include "spate/raft/messages.h"

namespace spate::cluster {

struct TransportConfig {
  NodeId node{0};
  std::string cluster_id;
  std::string host = "0.0.0.0";  // the cluster listener (--cluster-listen)
  std::uint16_t port = 9093;
  RpcLimits limits;
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds hello_timeout{3'000};  // from connected to both hellos exchanged
  // No progress writing a frame, or reading one that has begun: the peer is gone.
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds backoff_min{50};     // reconnect delays double up to backoff_max,
  std::chrono::milliseconds backoff_max{5'000};  // each drawn in [delay / 2, delay]
  std::size_t queued_bytes_max = 64U << 20U;  // per connection: frames and messages not yet written
  std::size_t frames_queued_max = 1'024;      // per connection: frames not yet written
  std::size_t calls_in_flight_max = 1'024;    // per peer
  std::size_t inbound_requests_max = 64;      // per inbound connection, handled at once
  std::size_t inbound_connections_max = 1'024;
  std::size_t peers_max = 10'000;  // nodes known: configured, or having said hello
  std::uint64_t seed = 0;          // of the backoff jitter; 0: from the OS
};

// Per peer, since the Transport started (bytes count frames whole, prefix included).
struct PeerStats {
  bool connected = false;                 // our outbound connection is up
  std::uint64_t inbound_connections = 0;  // its connections to us, open now
  std::uint64_t connects = 0;             // outbound connections that completed the hellos
  std::uint64_t reconnects = 0;           // of those, the ones after the first
  std::uint64_t connect_failures = 0;     // attempts that failed (connect, hello, refused)
  std::uint64_t bytes_sent = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t messages_sent = 0;  // raft messages
  std::uint64_t bytes_received = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t messages_received = 0;  // raft messages delivered
  std::uint64_t messages_dropped = 0;   // not sent: not connected, queue full, oversized, closed
  std::uint64_t messages_refused = 0;   // received with a `to` or `from` that does not fit
  std::uint64_t calls_sent = 0;
  std::uint64_t calls_failed = 0;     // refused, or ended by an error or a closed connection
  std::uint64_t calls_timed_out = 0;  // past their deadline
  std::uint64_t late_responses = 0;   // for a call no longer waiting
  std::uint64_t requests_received = 0;
  std::uint64_t bad_frames = 0;  // connections (either way) closed for what the peer sent
};

struct TransportStats {
  std::uint64_t connections_refused = 0;  // over inbound_connections_max or peers_max
  std::uint64_t hellos_refused = 0;       // no hello, a bad one, another cluster or version
  std::uint64_t messages_dropped = 0;     // sent to a node that is no peer
};

class Link;
struct Peer;

class Transport {
 public:
  using RaftHandler = std::function<void(NodeId from, RaftGroupId group, raft::Message message)>;
  // Answers a call: the response payload, or an error (its code and detail
  // reach the caller).
  using RequestHandler = std::function<awaitable<Result<std::vector<std::byte>>>(
      NodeId from, std::uint16_t method, std::vector<std::byte> payload)>;
  // A connection to or from `node` that had passed its hello closed (the
  // peer's process died, or the link broke); not called while stopping.
  using PeerLostHandler = std::function<void(NodeId node)>;

  Transport(asio::io_context& io, TransportConfig config, const Clock& clock);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Where inbound raft messages and calls go (set before start()).
  void on_raft(RaftHandler handler) { raft_handler_ = std::move(handler); }
  void on_request(RequestHandler handler) { request_handler_ = std::move(handler); }
  void on_peer_lost(PeerLostHandler handler) { peer_lost_handler_ = std::move(handler); }

  // Binds the cluster listener. Returns the bound port (the real one for
  // port 0). Errors: open_acceptor's (net/listener.h).
  [[nodiscard]] Result<std::uint16_t> listen();
  // Starts accepting (if listening) and connecting to the peers set.
  void start();
  // Adds a peer or changes its address; a connection to an old address is
  // closed and the next attempt made at once. Errors: invalid_argument for
  // our own id, limit_exceeded past peers_max.
  [[nodiscard]] Status set_peer(NodeId node, std::string host, std::uint16_t port);
  // Stops connecting to a peer set before (a broker removed from the
  // cluster): its outbound connection is closed and no new one is made until
  // set_peer is called again. Its inbound connections are its own to close.
  // Nothing for a node that is no peer.
  void forget_peer(NodeId node);

  // Queues a raft message for `to` (see the top of this file). False if it
  // was dropped (and counted).
  bool send(NodeId to, const RaftGroupId& group, const raft::Message& message);
  // Calls `method` on `to`. Errors: unavailable (not connected, or the
  // connection closed first), timeout (past the deadline), busy (too many
  // calls in flight or queued), limit_exceeded (payload over the limit),
  // shutting_down, or the error the peer's handler returned.
  awaitable<Result<std::vector<std::byte>>> call(NodeId to, std::uint16_t method,
                                                 std::vector<std::byte> payload,
                                                 net::Deadline deadline);

  // Closes the listener and every connection, fails the calls waiting, and
  // returns once every coroutine of the transport (request handlers
  // included) has finished.
  awaitable<void> stop();

  [[nodiscard]] bool connected(NodeId node) const;
  // Zeros for a node that is no peer.
  [[nodiscard]] PeerStats peer_stats(NodeId node) const;
  [[nodiscard]] const TransportStats& stats() const { return stats_; }
  [[nodiscard]] const TransportConfig& config() const { return config_; }

 private:
  // transport.cpp
  void spawn(awaitable<void> task, const char* what);
  Peer* find_peer(NodeId node) const;
  Result<Peer*> peer_for(NodeId node);
  std::shared_ptr<Link> make_link(tcp::socket socket, bool outbound);
  awaitable<void> sweep_loop();
  void fail_calls(Peer& peer, const Error& error);
  void peer_lost(NodeId node);
  [[nodiscard]] Hello our_hello() const;
  // Reads and checks a peer's hello. Errors say why, for the log line.
  awaitable<Result<Hello>> read_hello(Link& link);
  void log_bad_frame(const Link& link, const Error& error);
  // transport_outbound.cpp
  awaitable<void> connect_loop(Peer& peer);
  awaitable<Result<std::shared_ptr<Link>>> connect(Peer& peer);
  awaitable<void> run_outbound(Peer& peer, std::shared_ptr<Link> link);
  [[nodiscard]] std::chrono::milliseconds backoff(std::uint32_t failures);
  void on_response(Peer& peer, Response response);
  // transport_inbound.cpp
  awaitable<void> accept_loop();
  awaitable<void> serve_inbound(std::shared_ptr<Link> link);
  awaitable<void> read_inbound(std::shared_ptr<Link> link);
  Status on_raft_batch(Link& link, RaftBatch batch);
  awaitable<void> handle_request(std::shared_ptr<Link> link, Request request);

  asio::io_context& io_;
  TransportConfig config_;
  const Clock& clock_;
  tcp::acceptor acceptor_;
  bool listening_ = false;
  bool started_ = false;
  bool stopping_ = false;
  RaftHandler raft_handler_;
  RequestHandler request_handler_;
  PeerLostHandler peer_lost_handler_;
  std::unordered_map<NodeId, std::unique_ptr<Peer>> peers_;
  std::list<std::weak_ptr<Link>> links_;  // every connection, for the sweeper and stop()
  std::size_t inbound_links_ = 0;
  std::uint64_t next_correlation_id_ = 1;
  std::size_t running_ = 0;  // coroutines spawned and not finished
  net::Signal changed_;      // running_ fell, or stop() began
  Rng rng_;
  TransportStats stats_;
  net::LogLimiter refuse_log_;
  net::LogLimiter bad_frame_log_;
};

}  // namespace spate::cluster
