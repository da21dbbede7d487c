// SPDX-License-Identifier: Apache-2.0
//
// Transport's outbound connections: one per peer, made and remade by the
// peer's connect loop (a connect with a deadline, the hellos, then the writer
// and a reader of responses until the connection ends; then a backoff).

#include <algorithm>

#include "spate/common/log.h"

#include "module_shared.h"
#include "transport_link.h"

namespace spate::cluster {
namespace {

// Connects the link's socket to host:port (each address it resolves to, in
// turn). Errors: io_error; the sweeper closes a link past its connect timeout.
awaitable<Status> open_socket(Link& link, const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoints.emplace_back(address, port);
  } else {
    tcp::resolver resolver(link.socket().get_executor());
    const auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                         asio::redirect_error(use_awaitable, ec));
    if (ec) co_return Error::io(fmt::format("cannot resolve '{}': {}", host, ec.message()));
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  ec = asio::error::host_not_found;
  for (const auto& endpoint : endpoints) {
    if (link.closed()) break;  // past the connect timeout, or the address changed
    boost::system::error_code ignored;
    link.socket().close(ignored);  // a failed attempt's socket is not reused
    co_await link.socket().async_connect(endpoint, asio::redirect_error(use_awaitable, ec));
    if (!ec) co_return Status{};
  }
  if (link.closed()) co_return Error(Errc::timeout, "the connect timed out");
  co_return Error::io(fmt::format("cannot connect: {}", ec.message()));
}

}  // namespace

awaitable<void> Transport::connect_loop(Peer& peer) {
  std::uint32_t failures = 0;
  // Bounded: each pass is one attempt (ended by the connect and hello
  // timeouts) or one connection's life, then a backoff; stop() and
  // forget_peer() end it.
  while (!stopping_ && peer.configured) {
    const auto generation = peer.generation;
    auto link = co_await connect(peer);
    if (link) {
      failures = 0;
      co_await run_outbound(peer, std::move(*link));
    } else if (!stopping_ && generation == peer.generation) {
      ++failures;
      ++peer.stats.connect_failures;
      std::string note;
      if (peer.connect_log.allow(note)) {
        logger()->warn("cannot connect to node {} at {}:{}: {}{}", peer.id, peer.host, peer.port,
                       link.error().message(), note);
      }
    }
    if (stopping_ || !peer.configured) break;
    // A new address is tried at once; anything else after a backoff.
    if (generation == peer.generation) co_await peer.wake.wait_at_most(backoff(failures));
  }
  peer.running = false;
}

std::chrono::milliseconds Transport::backoff(std::uint32_t failures) {
  const std::int64_t low = std::max<std::int64_t>(1, config_.backoff_min.count());
  const std::int64_t high = std::max(low, static_cast<std::int64_t>(config_.backoff_max.count()));
  std::int64_t delay = low;
  for (std::uint32_t i = 1; i < failures && delay < high; ++i) delay *= 2;
  delay = std::min(delay, high);
  // Jitter: peers that lost the same broker do not all come back at once.
  return std::chrono::milliseconds(rng_.range(delay / 2, delay));
}

awaitable<Result<std::shared_ptr<Link>>> Transport::connect(Peer& peer) {
  auto link = make_link(tcp::socket(io_), true);
  peer.connecting = link;
  auto fail = [&](Error error) -> Result<std::shared_ptr<Link>> {
    link->close();
    if (peer.connecting == link) peer.connecting.reset();
    return error;
  };
  const auto host = peer.host;
  const auto port = peer.port;
  auto opened = co_await open_socket(*link, host, port);
  if (!opened) co_return fail(opened.error());
  link->note_remote();
  link->set_phase(Link::Phase::hello);
  const auto ours = encode_frame(our_hello());
  if (!co_await link->write_now(ours)) co_return fail(Error::io("cannot send the hello"));
  auto theirs = co_await read_hello(*link);
  if (!theirs) {
    if (theirs.error().code() != Errc::io_error) ++stats_.hellos_refused;
    co_return fail(Error(theirs.error().code(), "hello: " + theirs.error().detail()));
  }
  if (theirs->node != peer.id) {
    ++stats_.hellos_refused;
    co_return fail(Error::invalid(
        fmt::format("node {} answered at {}:{}, not node {}", theirs->node, host, port, peer.id)));
  }
  if (stopping_ || link->closed()) co_return fail(Error::io("closed during the hello"));
  link->opened(peer.id, &peer.stats, negotiate_version(our_hello(), *theirs).value());
  peer.connecting.reset();
  co_return link;
}

awaitable<void> Transport::run_outbound(Peer& peer, std::shared_ptr<Link> link) {
  peer.link = link;
  peer.stats.connected = true;
  if (++peer.stats.connects > 1) ++peer.stats.reconnects;
  logger()->info("connected to node {} at {}", peer.id, link->remote());
  spawn(link->writer(config_.node), "cluster connection writer");
  // Bounded: each pass reads one frame or ends the connection.
  while (!link->closed()) {
    auto body = co_await link->read_frame(config_.limits.frame_bytes_max);
    if (!body) {
      // The peer closing (or we) is no bad frame; a bad size is.
      if (!link->closed() && body.error().code() != Errc::io_error) {
        log_bad_frame(*link, body.error());
      }
      break;
    }
    auto frame = decode_frame(*body, config_.limits);
    if (!frame) {
      log_bad_frame(*link, frame.error());
      break;
    }
    auto* response = std::get_if<Response>(&*frame);
    if (response == nullptr) {
      // Peers send us raft messages and calls on their own connections.
      log_bad_frame(*link, Error::malformed(fmt::format("a {} frame on our connection to it",
                                                        frame_kind_name(frame_kind(*frame)))));
      break;
    }
    on_response(peer, std::move(*response));
  }
  link->close();
  if (peer.link == link) peer.link.reset();
  peer.stats.connected = false;
  fail_calls(peer,
             Error(Errc::unavailable, fmt::format("the connection to node {} closed", peer.id)));
  if (!stopping_) {
    std::string note;
    if (peer.lost_log.allow(note)) {
      logger()->info("lost the connection to node {} at {}{}", peer.id, link->remote(), note);
    }
  }
  peer_lost(peer.id);
}

void Transport::on_response(Peer& peer, Response response) {
  const auto it = peer.calls.find(response.correlation_id);
  if (it == peer.calls.end() || it->second->result) {
    ++peer.stats.late_responses;  // timed out already: nobody waits
    return;
  }
  auto& pending = *it->second;
  if (response.error != 0) {
    pending.result = response_error(response);
  } else {
    pending.result = std::move(response.payload);
  }
  pending.done.notify_all();
}

}  // namespace spate::cluster
