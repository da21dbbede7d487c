// SPDX-License-Identifier: Apache-2.0

#include "spate/server/admin_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "spate/common/log.h"
#include "spate/net/listener.h"

namespace spate::server {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

constexpr auto kSessionTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kHeaderBytesMax = 8 * 1024;

}  // namespace

AdminServer::AdminServer(asio::io_context& io, std::string host, std::uint16_t port,
                         MetricsSource metrics)
    : io_(io), host_(std::move(host)), port_(port), metrics_(std::move(metrics)), acceptor_(io) {}

Result<std::uint16_t> AdminServer::listen() {
  return net::open_acceptor(acceptor_, host_, port_, "admin", " (admin HTTP)");
}

void AdminServer::start() {
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::get(log::Module::server)->error("admin accept loop failed: {}", ex.what());
    }
  });
}

void AdminServer::stop() {
  stopping_ = true;
  serving_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
}

awaitable<void> AdminServer::accept_loop() {
  constexpr auto kBackoffMin = std::chrono::milliseconds(100);
  constexpr auto kBackoffMax = std::chrono::milliseconds(1000);
  std::chrono::milliseconds backoff{0};
  asio::steady_timer pause(io_);
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      // EMFILE and friends: the connection stays in the backlog and the next
      // accept fails at once. Back off instead of spinning.
      ++accept_errors_;
      backoff = backoff.count() == 0 ? kBackoffMin : std::min(2 * backoff, kBackoffMax);
      std::string note;
      if (accept_log_.allow(note)) {
        log::get(log::Module::server)
            ->warn("admin accept failed: {}; retrying in {} ms (up to {} ms){}", ec.message(),
                   backoff.count(), kBackoffMax.count(), note);
      }
      pause.expires_after(backoff);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    if (sessions_ >= kSessionsMax) {
      ++sessions_rejected_;
      std::string note;
      if (reject_log_.allow(note)) {
        log::get(log::Module::server)
            ->warn("refusing an admin connection: {} sessions open, the maximum{}", sessions_,
                   note);
      }
      socket.close(ec);
      continue;
    }
    ++sessions_;
    asio::co_spawn(io_, session(std::move(socket)), [this](std::exception_ptr e) {
      --sessions_;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::get(log::Module::server)->warn("admin session failed: {}", ex.what());
      }
    });
  }
}

std::string AdminServer::own_metrics() const {
  return fmt::format(
      "# HELP spate_admin_sessions Admin HTTP sessions open (at most {}).\n"
      "# TYPE spate_admin_sessions gauge\n"
      "spate_admin_sessions {}\n"
      "# HELP spate_admin_sessions_rejected_total Admin connections closed at the session cap.\n"
      "# TYPE spate_admin_sessions_rejected_total counter\n"
      "spate_admin_sessions_rejected_total {}\n"
      "# HELP spate_admin_accept_errors_total Failed accepts on the admin listener.\n"
      "# TYPE spate_admin_accept_errors_total counter\n"
      "spate_admin_accept_errors_total {}\n",
      kSessionsMax, sessions_, sessions_rejected_, accept_errors_);
}

awaitable<void> AdminServer::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  // Bounded: a session ends on error, on Connection: close, or at its deadline.
  while (true) {
    stream.expires_after(kSessionTimeout);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderBytesMax);
    parser.body_limit(0);
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    const auto& request = parser.get();
    http::response<http::string_body> response;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "spated");
    const auto target = request.target();
    const auto path = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response.result(http::status::method_not_allowed);
      response.set(http::field::allow, "GET, HEAD");
      response.body() = "only GET and HEAD\n";
    } else if (path == "/health") {
      response.result(serving_ ? http::status::ok : http::status::service_unavailable);
      response.body() = serving_ ? "ok\n" : (stopping_ ? "stopping\n" : "starting\n");
    } else if (path == "/metrics") {
      response.result(http::status::ok);
      response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response.body() = metrics_() + own_metrics();
    } else {
      response.result(http::status::not_found);
      response.body() = "not found: try /health or /metrics\n";
    }
    if (!response.has_content_length()) response.prepare_payload();
    if (request.method() == http::verb::head) response.body().clear();
    co_await http::async_write(stream, response, asio::redirect_error(use_awaitable, ec));
    if (ec || !response.keep_alive()) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace spate::server
