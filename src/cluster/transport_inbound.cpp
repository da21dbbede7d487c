// SPDX-License-Identifier: Apache-2.0
//
// Transport's inbound connections: the peers' own connections to us, which
// bring their raft messages and calls; our responses go back on them.

#include "spate/common/log.h"

#include "module_shared.h"
#include "transport_link.h"

namespace spate::cluster {
namespace {

using namespace std::chrono_literals;

// Whether a hello that failed deserves ours in answer: a peer of another
// cluster or version learns why it is refused; garbage learns nothing.
bool answer_refused_hello(const Error& error) {
  return error.code() == Errc::invalid_argument || error.code() == Errc::unsupported_version;
}

}  // namespace

awaitable<void> Transport::accept_loop() {
  // Bounded: each pass takes one connection or one error; stop() ends it.
  while (!stopping_) {
    boost::system::error_code ec;
    auto socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopping_) break;
    if (ec) {
      std::string note;
      if (refuse_log_.allow(note)) logger()->warn("cluster accept: {}{}", ec.message(), note);
      co_await changed_.wait_at_most(100ms);  // EMFILE and the like: not a busy loop
      continue;
    }
    if (inbound_links_ >= config_.inbound_connections_max) {
      ++stats_.connections_refused;
      std::string note;
      if (refuse_log_.allow(note)) {
        logger()->warn("refusing a cluster connection: {} open already{}", inbound_links_, note);
      }
      socket.close(ec);
      continue;
    }
    auto link = make_link(std::move(socket), false);
    link->note_remote();
    link->set_phase(Link::Phase::hello);
    ++inbound_links_;
    spawn(serve_inbound(std::move(link)), "cluster inbound connection");
  }
}

awaitable<void> Transport::serve_inbound(std::shared_ptr<Link> link) {
  Peer* peer = nullptr;
  auto theirs = co_await read_hello(*link);
  Status admitted = theirs ? Status{} : Status(theirs.error());
  if (theirs || answer_refused_hello(theirs.error())) {
    // Ours goes back even to a refused peer, so that it logs the reason too.
    const auto ours = encode_frame(our_hello());
    if (!co_await link->write_now(ours) && admitted) admitted = Error::io("cannot send the hello");
  }
  if (admitted && theirs->node == config_.node) {
    admitted =
        Error::invalid(fmt::format("the peer says it is node {}, which is us", theirs->node));
  }
  if (admitted) {
    auto found = peer_for(theirs->node);
    if (found)
      peer = *found;
    else
      admitted = found.error();
  }
  if (!admitted || stopping_ || link->closed()) {
    if (!admitted && admitted.error().code() != Errc::io_error) {
      ++stats_.hellos_refused;
      std::string note;
      if (refuse_log_.allow(note)) {
        logger()->warn("refusing {}: {}{}", link->describe(), admitted.error().message(), note);
      }
    }
    link->close();
    --inbound_links_;
    co_return;
  }
  link->opened(peer->id, &peer->stats, negotiate_version(our_hello(), *theirs).value());
  ++peer->stats.inbound_connections;
  spawn(link->writer(config_.node), "cluster connection writer");
  co_await read_inbound(link);
  link->close();
  --peer->stats.inbound_connections;
  --inbound_links_;
  peer_lost(peer->id);
}

awaitable<void> Transport::read_inbound(std::shared_ptr<Link> link) {
  // Back-pressure: a peer with many calls being handled, or that does not
  // read its responses, is not read either.
  const std::function<bool()> may_read = [&] {
    return link->closed() || (link->handling < config_.inbound_requests_max &&
                              link->queued_bytes() < config_.queued_bytes_max);
  };
  // Bounded: each pass reads one frame or ends the connection.
  while (!link->closed()) {
    co_await link->changed().wait_for(may_read, net::kNoDeadline);
    if (link->closed()) break;
    auto body = co_await link->read_frame(config_.limits.frame_bytes_max);
    if (!body) {
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
    if (auto* batch = std::get_if<RaftBatch>(&*frame)) {
      auto delivered = on_raft_batch(*link, std::move(*batch));
      if (!delivered) {
        log_bad_frame(*link, delivered.error());
        break;
      }
    } else if (auto* request = std::get_if<Request>(&*frame)) {
      ++link->handling;
      ++link->stats()->requests_received;
      spawn(handle_request(link, std::move(*request)), "cluster request handler");
    } else {
      log_bad_frame(*link, Error::malformed(fmt::format("a {} frame on the peer's connection",
                                                        frame_kind_name(frame_kind(*frame)))));
      break;
    }
  }
}

Status Transport::on_raft_batch(Link& link, RaftBatch batch) {
  if (batch.from != link.peer() || batch.to != config_.node) {
    return Error::malformed(
        fmt::format("a raft batch from node {} to node {}", batch.from, batch.to));
  }
  auto& stats = *link.stats();
  for (auto& item : batch.items) {
    // Raft trusts a message's from and to: they must be this connection's.
    if (item.message.to != config_.node || item.message.from != link.peer()) {
      ++stats.messages_refused;
      continue;
    }
    ++stats.messages_received;
    if (raft_handler_) raft_handler_(link.peer(), item.group, std::move(item.message));
  }
  return {};
}

awaitable<void> Transport::handle_request(std::shared_ptr<Link> link, Request request) {
  // The count falls however the handler ends (an exception included).
  struct Done {
    Link& link;
    ~Done() {
      --link.handling;
      link.changed().notify_all();
    }
  } done{*link};
  Result<std::vector<std::byte>> result =
      Error::not_found(fmt::format("no handler for method {}", request.method));
  if (request_handler_) {
    result = co_await request_handler_(link->peer(), request.method, std::move(request.payload));
  }
  const auto id = request.correlation_id;
  Response response{id, 0, {}};
  if (!result) {
    response = error_response(id, result.error());
  } else if (result->size() > config_.limits.payload_bytes_max) {
    response = error_response(
        id, Error::limit(fmt::format("a response of {} bytes (at most {})", result->size(),
                                     config_.limits.payload_bytes_max)));
  } else {
    response.payload = std::move(*result);
  }
  // Bounded by the calls handled at once, so not refused; dropped if the
  // connection closed meanwhile (the caller learns it).
  (void)link->queue_frame(encode_frame(response, link->version()), true);
}

}  // namespace spate::cluster
