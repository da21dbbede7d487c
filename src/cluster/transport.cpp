// SPDX-License-Identifier: Apache-2.0
//
// Transport: setup, peers, send, call, deadlines and stop. The outbound
// connections are in transport_outbound.cpp, the inbound ones in
// transport_inbound.cpp.

#include "spate/cluster/transport.h"

#include <algorithm>

#include "spate/common/log.h"
#include "spate/net/listener.h"

#include "module_shared.h"
#include "transport_link.h"

namespace spate::cluster {
namespace {

Rng make_rng(std::uint64_t seed) { return seed == 0 ? Rng::from_os() : Rng(seed); }

}  // namespace

Transport::Transport(asio::io_context& io, TransportConfig config, const Clock& clock)
    : io_(io),
      config_(std::move(config)),
      clock_(clock),
      acceptor_(io),
      rng_(make_rng(config_.seed)) {}

Transport::~Transport() {
  SPATE_ASSERT(!started_ || (stopping_ && running_ == 0),
               "cluster transport destroyed before stop() finished");
}

Result<std::uint16_t> Transport::listen() {
  auto port = net::open_acceptor(acceptor_, config_.host, config_.port, "cluster-listen");
  if (port) listening_ = true;
  return port;
}

void Transport::start() {
  SPATE_ASSERT(!started_, "Transport::start twice");
  started_ = true;
  if (listening_) spawn(accept_loop(), "cluster accept loop");
  spawn(sweep_loop(), "cluster transport sweeper");
  for (auto& [id, peer] : peers_) {
    if (peer->configured && !peer->running) {
      peer->running = true;
      spawn(connect_loop(*peer), "cluster connect loop");
    }
  }
}

void Transport::spawn(awaitable<void> task, const char* what) {
  ++running_;
  asio::co_spawn(io_, std::move(task), [this, what](std::exception_ptr e) {
    log_exception(e, what);
    --running_;
    changed_.notify_all();
  });
}

Peer* Transport::find_peer(NodeId node) const {
  const auto it = peers_.find(node);
  return it == peers_.end() ? nullptr : it->second.get();
}

Result<Peer*> Transport::peer_for(NodeId node) {
  if (auto* peer = find_peer(node)) return peer;
  if (peers_.size() >= config_.peers_max) {
    return Error::limit(fmt::format("{} peers known already (peers_max)", peers_.size()));
  }
  auto peer = std::make_unique<Peer>();
  peer->id = node;
  auto* raw = peer.get();
  peers_.emplace(node, std::move(peer));
  return raw;
}

Status Transport::set_peer(NodeId node, std::string host, std::uint16_t port) {
  if (node == config_.node) return Error::invalid(fmt::format("node {} is this node", node));
  if (node < NodeId(0)) return Error::invalid(fmt::format("negative node id {}", node));
  auto peer = peer_for(node);
  if (!peer) return peer.error();
  auto& p = **peer;
  const bool moved = p.configured && (p.host != host || p.port != port);
  p.host = std::move(host);
  p.port = port;
  p.configured = true;
  if (moved) {
    // The next attempt goes to the new address, at once.
    ++p.generation;
    if (p.link) p.link->close();
    if (p.connecting) p.connecting->close();
    p.wake.notify_all();
  }
  if (started_ && !stopping_ && !p.running) {
    p.running = true;
    spawn(connect_loop(p), "cluster connect loop");
  }
  return {};
}

void Transport::forget_peer(NodeId node) {
  auto* p = find_peer(node);
  if (p == nullptr || !p->configured) return;
  p->configured = false;
  ++p->generation;
  if (p->link) p->link->close();
  if (p->connecting) p->connecting->close();
  p->wake.notify_all();
}

std::shared_ptr<Link> Transport::make_link(tcp::socket socket, bool outbound) {
  auto link = std::make_shared<Link>(std::move(socket), outbound, config_, clock_);
  links_.push_back(link);
  return link;
}

bool Transport::send(NodeId to, const RaftGroupId& group, const raft::Message& message) {
  auto* peer = find_peer(to);
  if (peer == nullptr) {
    ++stats_.messages_dropped;
    return false;
  }
  // Not connected: dropped rather than kept (raft resends what matters).
  if (!peer->link || !peer->link->open() ||
      !peer->link->queue_raft(encode_raft_item(group, message))) {
    ++peer->stats.messages_dropped;
    return false;
  }
  return true;
}

awaitable<Result<std::vector<std::byte>>> Transport::call(NodeId to, std::uint16_t method,
                                                          std::vector<std::byte> payload,
                                                          net::Deadline deadline) {
  if (stopping_) co_return Error(Errc::shutting_down, "the cluster transport is stopping");
  auto* peer = find_peer(to);
  if (peer == nullptr) co_return Error(Errc::unavailable, fmt::format("node {} is no peer", to));
  auto fail = [&](Error error) -> Result<std::vector<std::byte>> {
    ++peer->stats.calls_failed;
    return error;
  };
  if (!peer->link || !peer->link->open()) {
    co_return fail(Error(Errc::unavailable, fmt::format("not connected to node {}", to)));
  }
  if (payload.size() > config_.limits.payload_bytes_max) {
    co_return fail(Error::limit(fmt::format("a call of {} bytes (at most {})", payload.size(),
                                            config_.limits.payload_bytes_max)));
  }
  if (peer->calls.size() >= config_.calls_in_flight_max) {
    co_return fail(
        Error(Errc::busy, fmt::format("{} calls to node {} in flight", peer->calls.size(), to)));
  }
  const auto id = next_correlation_id_++;
  auto link = peer->link;
  if (!link->queue_frame(encode_frame(Request{id, method, std::move(payload)}, link->version()))) {
    co_return fail(Error(Errc::busy, fmt::format("the queue to node {} is full", to)));
  }
  ++peer->stats.calls_sent;
  auto pending = std::make_shared<PendingCall>();
  peer->calls.emplace(id, pending);
  // Counted as running: stop() fails the call and waits until it has left
  // (the peer it names lives in the Transport).
  ++running_;
  const std::function<bool()> done = [&pending] { return pending->result.has_value(); };
  co_await pending->done.wait_for(done, deadline);
  peer->calls.erase(id);
  --running_;
  changed_.notify_all();
  if (!pending->result) {
    ++peer->stats.calls_timed_out;
    co_return Error(Errc::timeout, fmt::format("call {} to node {} timed out", method, to));
  }
  if (!*pending->result) ++peer->stats.calls_failed;
  co_return std::move(*pending->result);
}

void Transport::fail_calls(Peer& peer, const Error& error) {
  for (auto& [id, pending] : peer.calls) {
    if (pending->result) continue;
    pending->result = error;
    pending->done.notify_all();
  }
}

void Transport::peer_lost(NodeId node) {
  if (!stopping_ && peer_lost_handler_) peer_lost_handler_(node);
}

awaitable<void> Transport::stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& [id, peer] : peers_) {
    fail_calls(*peer, Error(Errc::shutting_down, "the cluster transport is stopping"));
    peer->wake.notify_all();
  }
  for (auto& weak : links_) {
    if (auto link = weak.lock()) link->close();
  }
  changed_.notify_all();
  const std::function<bool()> finished = [this] { return running_ == 0; };
  co_await changed_.wait_for(finished, net::kNoDeadline);
  links_.clear();
}

bool Transport::connected(NodeId node) const {
  const auto* peer = find_peer(node);
  return peer != nullptr && peer->link && peer->link->open();
}

PeerStats Transport::peer_stats(NodeId node) const {
  const auto* peer = find_peer(node);
  return peer == nullptr ? PeerStats{} : peer->stats;
}

// Closes the connections past a deadline; forgets the closed ones.
awaitable<void> Transport::sweep_loop() {
  const auto shortest =
      std::min({config_.connect_timeout, config_.hello_timeout, config_.write_timeout});
  const auto interval =
      std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(1'000));
  // Bounded: one pass per interval until stop().
  while (!stopping_) {
    co_await changed_.wait_at_most(interval);
    const auto now = clock_.steady_now();
    for (auto it = links_.begin(); it != links_.end();) {
      auto link = it->lock();
      if (!link || link->closed()) {
        it = links_.erase(it);
        continue;
      }
      if (const char* why = link->check_deadlines(now)) {
        std::string note;
        if (refuse_log_.allow(note)) {
          logger()->warn("closing {}: {}{}", link->describe(), why, note);
        }
      }
      ++it;
    }
  }
}

Hello Transport::our_hello() const {
  return Hello{config_.cluster_id, config_.node, kRpcVersionMin, kRpcVersionMax};
}

awaitable<Result<Hello>> Transport::read_hello(Link& link) {
  auto body = co_await link.read_frame(config_.limits.hello_frame_bytes_max);
  if (!body) co_return body.error();
  auto frame = decode_frame(*body, config_.limits);
  if (!frame) co_return frame.error();
  auto* hello = std::get_if<Hello>(&*frame);
  if (hello == nullptr) {
    co_return Error::malformed(
        fmt::format("a {} frame before the hello", frame_kind_name(frame_kind(*frame))));
  }
  if (hello->cluster_id != config_.cluster_id) {
    co_return Error::invalid(fmt::format("the peer is in cluster '{}', not '{}'", hello->cluster_id,
                                         config_.cluster_id));
  }
  auto version = negotiate_version(our_hello(), *hello);
  if (!version) co_return version.error();
  co_return std::move(*hello);
}

void Transport::log_bad_frame(const Link& link, const Error& error) {
  if (link.stats() != nullptr) ++link.stats()->bad_frames;
  std::string note;
  if (bad_frame_log_.allow(note)) {
    logger()->warn("closing {}: {}{}", link.describe(), error.message(), note);
  }
}

}  // namespace spate::cluster
