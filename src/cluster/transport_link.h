// SPDX-License-Identifier: Apache-2.0
//
// The parts of cluster::Transport (transport.h) that are private to it: one
// connection (Link: a framed socket, its queue of frames and raft messages,
// its writer coroutine and its deadlines) and what is kept per peer.

#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "spate/cluster/transport.h"

namespace spate::cluster {

using SteadyTime = Clock::SteadyTime;

class Link : public std::enable_shared_from_this<Link> {
 public:
  // connecting and hello end at a deadline (sweep), open runs until closed.
  enum class Phase { connecting, hello, open };

  Link(tcp::socket socket, bool outbound, const TransportConfig& config, const Clock& clock);

  [[nodiscard]] tcp::socket& socket() { return socket_; }
  [[nodiscard]] bool outbound() const { return outbound_; }
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] bool open() const { return !closed_ && phase_ == Phase::open; }
  void set_phase(Phase phase);
  // Open: the hellos are done; what was learned from them.
  void opened(NodeId peer, PeerStats* stats, std::uint8_t version);
  [[nodiscard]] NodeId peer() const { return peer_; }
  [[nodiscard]] std::uint8_t version() const { return version_; }
  [[nodiscard]] PeerStats* stats() const { return stats_; }
  // "the connection to node 2 (127.0.0.1:9093)", for log lines.
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] const std::string& remote() const { return remote_; }
  void note_remote();

  // Reads one frame's body, at most `frame_bytes_max` bytes; the buffer grows
  // as bytes arrive (a size prefix alone allocates nothing big). Errors:
  // malformed for a bad size, io_error when the connection ends.
  awaitable<Result<std::vector<std::byte>>> read_frame(std::size_t frame_bytes_max);
  // Writes bytes at once (the hello, before the writer runs). False on error.
  awaitable<bool> write_now(std::span<const std::byte> bytes);

  // Queues a whole frame (size prefix included). False (nothing queued) past
  // the queued bytes or frames limit, unless `force` (responses: bounded by
  // the requests handled at once).
  bool queue_frame(std::vector<std::byte> frame, bool force = false);
  // Queues one encoded raft item; they leave as raft_batch frames. False
  // (the caller counts the drop) past the limits or for an item no frame holds.
  bool queue_raft(std::vector<std::byte> item);
  [[nodiscard]] std::size_t queued_bytes() const { return queued_bytes_; }
  // Writes what is queued until the link closes (then closes it). `from` is
  // this node (the raft_batch header).
  awaitable<void> writer(NodeId from);

  // Closes the socket; what is queued is dropped (raft messages counted).
  void close();
  // Closes the link past its connect, hello, write or read deadline; the
  // reason, for a log line, or null.
  const char* check_deadlines(SteadyTime now);
  // Woken when the queue drains or the link closes (a reader waiting to
  // read on, a request handler finishing).
  net::Signal& changed() { return changed_; }
  std::size_t handling = 0;  // inbound requests being handled

 private:
  struct Chunk {
    std::uint32_t count = 0;
    std::vector<std::byte> bytes;
  };
  [[nodiscard]] SteadyTime now() const { return clock_.steady_now(); }
  awaitable<bool> write_buffers(const std::vector<asio::const_buffer>& buffers);

  tcp::socket socket_;
  bool outbound_;
  const TransportConfig& config_;
  const Clock& clock_;
  Phase phase_ = Phase::connecting;
  SteadyTime phase_started_;
  NodeId peer_{-1};
  PeerStats* stats_ = nullptr;
  std::uint8_t version_ = kRpcVersionMin;
  std::string remote_;
  std::deque<std::vector<std::byte>> frames_;
  std::deque<Chunk> raft_;
  std::size_t queued_bytes_ = 0;
  net::Signal wake_;  // the writer's
  net::Signal changed_;
  bool writing_ = false;
  bool in_frame_ = false;
  SteadyTime write_progress_{};
  SteadyTime read_progress_{};
  bool closed_ = false;
};

struct PendingCall {
  std::optional<Result<std::vector<std::byte>>> result;
  net::Signal done;
};

struct Peer {
  NodeId id{0};
  std::string host;
  std::uint16_t port = 0;
  bool configured = false;       // set_peer was called: we connect to it
  bool running = false;          // its connect loop runs
  std::uint64_t generation = 0;  // of the address: a new one is tried at once
  PeerStats stats;
  std::shared_ptr<Link> link;        // the outbound connection, once its hellos are done
  std::shared_ptr<Link> connecting;  // the one being made (set_peer closes it)
  net::Signal wake;                  // the address changed, or stop(): cut a backoff short
  std::unordered_map<std::uint64_t, std::shared_ptr<PendingCall>> calls;
  net::LogLimiter connect_log;  // attempts that fail
  net::LogLimiter lost_log;     // connections that end
};

// Logs an exception that escaped a transport coroutine instead of dropping it.
void log_exception(std::exception_ptr e, const char* what);

}  // namespace spate::cluster
