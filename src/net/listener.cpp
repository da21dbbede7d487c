// SPDX-License-Identifier: Apache-2.0

#include "spate/net/listener.h"

#include <algorithm>

#include "connection.h"

namespace spate::net {
namespace {

constexpr auto kAcceptBackoffMin = std::chrono::milliseconds(100);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);

}  // namespace

ListenerState::ListenerState(ListenerConfig c, Handler& h, Metrics m, log::Module mod,
                             const Clock& clk)
    : config(std::move(c)),
      handler(h),
      metrics(m),
      module(mod),
      clock(clk),
      budget(std::make_shared<MemoryBudget>(config.queued_bytes_max, metrics)) {}

void ListenerState::forget(std::list<std::weak_ptr<Connection>>::iterator where) {
  connections.erase(where);
  set(metrics.connections_open, connections.size());
  connection_closed.notify_all();
}

void ListenerState::add_queued_responses(std::size_t bytes) {
  queued_responses += bytes;
  set(metrics.queued_response_bytes, queued_responses);
}

void ListenerState::remove_queued_responses(std::size_t bytes) {
  queued_responses -= std::min(bytes, queued_responses);
  set(metrics.queued_response_bytes, queued_responses);
}

Listener::Listener(asio::io_context& io, ListenerConfig config, Handler& handler, Metrics metrics,
                   log::Module module, const Clock& clock)
    : io_(io),
      acceptor_(io),
      sweep_timer_(io),
      state_(std::make_shared<ListenerState>(std::move(config), handler, metrics, module, clock)) {}

// Reservations and connections may outlive the listener (coroutines
// destroyed with the io_context); they keep the state alive, but the
// metrics (the owner's) are not touched afterwards.
Listener::~Listener() {
  state_->budget->detach_metrics();
  state_->metrics = {};
}

std::size_t Listener::connection_count() const { return state_->connections.size(); }

Result<std::uint16_t> open_acceptor(tcp::acceptor& acceptor, const std::string& host,
                                    std::uint16_t port, std::string_view label,
                                    std::string_view suffix) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Error::invalid(fmt::format("{} address '{}': {}", label, host, ec.message()));
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error::io(fmt::format("cannot listen on {}:{}{}: {}", host, port, suffix, ec.message()));
  }
  return acceptor.local_endpoint().port();
}

Result<std::uint16_t> Listener::listen() {
  return open_acceptor(acceptor_, state_->config.host, state_->config.port);
}

void Listener::start() {
  const auto module = state_->module;
  asio::co_spawn(io_, accept_loop(),
                 [module](std::exception_ptr e) { log_exception(module, e, "accept loop"); });
  asio::co_spawn(io_, sweep_loop(),
                 [module](std::exception_ptr e) { log_exception(module, e, "sweeper"); });
}

awaitable<void> Listener::accept_loop() {
  std::chrono::milliseconds backoff{0};
  asio::steady_timer pause(io_);
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      backoff = std::chrono::milliseconds(0);
      admit(std::move(socket));
      continue;
    }
    if (stopping_ || ec == asio::error::operation_aborted) break;
    add(state_->metrics.accept_errors);
    // EMFILE, ENFILE, ENOBUFS...: the pending connection stays in the
    // backlog and the next accept would fail at once. Back off (100 ms,
    // doubling to 1 s) instead of spinning; one log line per 10 s.
    backoff = backoff.count() == 0 ? kAcceptBackoffMin : std::min(2 * backoff, kAcceptBackoffMax);
    std::string note;
    if (state_->accept_log.allow(note)) {
      state_->logger()->warn("accept failed: {}; retrying in {} ms (up to {} ms){}", ec.message(),
                             backoff.count(), kAcceptBackoffMax.count(), note);
    }
    pause.expires_after(backoff);
    co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

void Listener::admit(tcp::socket socket) {
  auto& connections = state_->connections;
  if (connections.size() >= state_->config.connections_max) {
    add(state_->metrics.connections_rejected);
    std::string note;
    if (state_->refuse_log.allow(note)) {
      state_->logger()->warn("refusing a connection: {} open, the maximum (--max-connections){}",
                             connections.size(), note);
    }
    boost::system::error_code ec;
    socket.close(ec);
    return;
  }
  auto connection = std::make_shared<Connection>(state_, std::move(socket));
  auto where = connections.insert(connections.end(), connection);
  set(state_->metrics.connections_open, connections.size());
  add(state_->metrics.connections_total);
  connection->start(where);
}

awaitable<void> Listener::sweep_loop() {
  const auto& config = state_->config;
  const auto period = std::clamp(std::min(config.idle_timeout, config.write_timeout) / 4,
                                 std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  // Bounded per pass by the number of connections; ends when stopping.
  while (!stopping_) {
    sweep_timer_.expires_after(period);
    boost::system::error_code ec;
    co_await sweep_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping_) break;
    const auto now = state_->clock.steady_now();
    auto& connections = state_->connections;
    for (auto it = connections.begin(); it != connections.end();) {
      auto next = std::next(it);  // a close removes `it` (and only it)
      if (auto c = it->lock()) c->check_timeouts(now);
      it = next;
    }
  }
}

awaitable<void> Listener::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  sweep_timer_.cancel();
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& w : state_->connections) {
    if (auto c = w.lock()) open.push_back(c);
  }
  for (auto& c : open) c->drain();
  // Bounded by `grace`: woken as each connection finishes.
  const auto& connections = state_->connections;
  const std::function<bool()> finished = [&connections] { return connections.empty(); };
  co_await state_->connection_closed.wait_for(finished, deadline_in(grace));
  for (auto& c : open) c->close();
}

}  // namespace spate::net
