// SPDX-License-Identifier: Apache-2.0

#include "spate/server/kafka_server.h"

#include <cstring>
#include <deque>
#include <sys/sendfile.h>

#include "spate/common/log.h"
#include "spate/protocol/frame.h"

namespace spate::server {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
constexpr auto kNever = SteadyTime::max();
constexpr std::size_t kReadChunk = 64 * 1024;

// One request's place in the response order.
struct Slot {
  bool done = false;
  bool close = false;  // the request was unreadable: close after earlier responses
  std::optional<broker::ResponseFrame> frame;
  std::size_t request_bytes = 0;
};

// Logs an exception that escaped a connection coroutine instead of dropping it.
void log_exception(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::get("server")->error("{} failed: {}", what, ex.what());
  }
}

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(KafkaServer& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        writer_wake_(socket_.get_executor(), kNever),
        reader_wake_(socket_.get_executor(), kNever),
        idle_timer_(socket_.get_executor(), kNever) {
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    peer_ =
        ec ? std::string("?") : fmt::format("{}:{}", remote.address().to_string(), remote.port());
    socket_.set_option(tcp::no_delay(true), ec);
  }

  void start() {
    auto self = shared_from_this();
    auto ex = socket_.get_executor();
    asio::co_spawn(ex, reader(), [self](std::exception_ptr e) { log_exception(e, "reader"); });
    asio::co_spawn(ex, writer(), [self](std::exception_ptr e) { log_exception(e, "writer"); });
    asio::co_spawn(ex, watchdog(), [self](std::exception_ptr e) { log_exception(e, "watchdog"); });
  }

  // Stops reading new requests; the writer closes once every response is out.
  void drain() {
    draining_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_receive, ec);
    reader_wake_.cancel();
    writer_wake_.cancel();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    writer_wake_.cancel();
    reader_wake_.cancel();
    idle_timer_.cancel();
    server_.forget(this);
  }

  [[nodiscard]] bool idle() const { return queue_.empty(); }

 private:
  awaitable<void> reader() {
    auto self = shared_from_this();
    const auto& config = server_.config_;
    std::array<std::byte, 4> prefix{};
    while (!closed_ && !draining_) {
      // Back-pressure: stop reading while too much is in flight.
      while (!closed_ && !draining_ &&
             (queue_.size() >= config.inflight_requests_max ||
              inflight_bytes_ >= config.inflight_bytes_max)) {
        co_await wait(reader_wake_);
      }
      if (closed_ || draining_) break;
      boost::system::error_code ec;
      co_await asio::async_read(socket_, asio::buffer(prefix),
                                asio::redirect_error(use_awaitable, ec));
      if (ec) break;  // the peer closed, or we did
      last_activity_ = std::chrono::steady_clock::now();
      auto size = protocol::decode_frame_size(prefix, config.frame_bytes_max);
      if (!size) {
        log::get("server")->warn("closing connection from {}: {}", peer_, size.error().detail());
        server_.broker_.metrics().malformed_requests.fetch_add(1, std::memory_order_relaxed);
        enqueue_close();
        break;
      }
      // Grow the buffer as bytes arrive, never past twice what was received
      // (plus 64 KiB): a peer that claims a large frame and sends little
      // costs little memory.
      std::vector<std::byte> frame;
      std::size_t received = 0;
      while (received < *size) {
        const std::size_t want = std::min(*size, std::max(2 * received, received + kReadChunk));
        frame.resize(want);
        received +=
            co_await socket_.async_read_some(asio::buffer(frame.data() + received, want - received),
                                             asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      if (ec) break;
      frame.resize(received);
      last_activity_ = std::chrono::steady_clock::now();
      auto slot = std::make_shared<Slot>();
      slot->request_bytes = frame.size();
      inflight_bytes_ += frame.size();
      queue_.push_back(slot);
      asio::co_spawn(socket_.get_executor(), handle(slot, std::move(frame)),
                     [self](std::exception_ptr e) { log_exception(e, "request handler"); });
    }
    reading_done_ = true;
    writer_wake_.cancel();
  }

  awaitable<void> handle(std::shared_ptr<Slot> slot, std::vector<std::byte> frame) {
    auto self = shared_from_this();
    auto result = co_await server_.broker_.handle(std::move(frame));
    if (!result) {
      log::get("server")->warn("closing connection from {}: {}", peer_, result.error().message());
      slot->close = true;
    } else {
      slot->frame = std::move(*result);
    }
    slot->done = true;
    writer_wake_.cancel();
  }

  awaitable<void> writer() {
    auto self = shared_from_this();
    // Bounded: each pass sends what is ready, in order, or waits for more.
    while (!closed_) {
      while (!closed_ && !queue_.empty() && queue_.front()->done) {
        auto slot = queue_.front();
        if (slot->close) {
          close();
          co_return;
        }
        if (slot->frame) {
          if (!co_await send(*slot->frame)) {
            close();
            co_return;
          }
          last_activity_ = std::chrono::steady_clock::now();
        }
        queue_.pop_front();
        inflight_bytes_ -= slot->request_bytes;
        reader_wake_.cancel();
      }
      if (queue_.empty() && (reading_done_ || draining_)) {
        close();
        co_return;
      }
      co_await wait(writer_wake_);
    }
  }

  awaitable<void> watchdog() {
    auto self = shared_from_this();
    const auto timeout = server_.config_.idle_timeout;
    while (!closed_) {
      idle_timer_.expires_at(last_activity_ + timeout);
      boost::system::error_code ec;
      co_await idle_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
      if (closed_) break;
      if (queue_.empty() && std::chrono::steady_clock::now() - last_activity_ >= timeout) {
        log::get("server")->info("closing idle connection from {} after {} ms", peer_,
                                 timeout.count());
        close();
      }
    }
  }

  // Sends one response: its bytes with async_write, its file regions with
  // sendfile(2) straight from the page cache (or read and written, for a
  // file without a descriptor). False if the connection must close.
  awaitable<bool> send(const broker::ResponseFrame& frame) {
    boost::system::error_code ec;
    for (const auto& part : frame.parts) {
      if (!part.bytes.empty()) {
        co_await asio::async_write(socket_, asio::buffer(part.bytes),
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) co_return false;
      }
      if (!part.file || part.file->size == 0) continue;
      const int fd = part.file->file->native_handle();
      if (fd < 0) {
        auto bytes = part.file->read_all();
        if (!bytes) {
          log::get("server")->error("closing connection from {}: {}", peer_,
                                    bytes.error().message());
          co_return false;
        }
        co_await asio::async_write(socket_, asio::buffer(*bytes),
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) co_return false;
        continue;
      }
      if (!socket_.native_non_blocking()) socket_.native_non_blocking(true, ec);
      auto offset = static_cast<off_t>(part.file->position);
      std::size_t left = part.file->size;
      // Bounded: each pass sends bytes, waits for the socket, or fails.
      while (left > 0) {
        const ssize_t n = ::sendfile(socket_.native_handle(), fd, &offset, left);
        if (n > 0) {
          left -= static_cast<std::size_t>(n);
          continue;
        }
        const int err = n < 0 ? errno : 0;
        if (err == EINTR) continue;
        if (err == EAGAIN) {
          co_await socket_.async_wait(tcp::socket::wait_write,
                                      asio::redirect_error(use_awaitable, ec));
          if (ec) co_return false;
          continue;
        }
        // n == 0: the file is shorter than the region (cannot be framed now).
        log::get("server")->error("closing connection from {}: sendfile {}: {}", peer_,
                                  part.file->file->path().string(),
                                  err == 0 ? "file shorter than the response" : std::strerror(err));
        co_return false;
      }
    }
    co_return true;
  }

  void enqueue_close() {
    auto slot = std::make_shared<Slot>();
    slot->done = true;
    slot->close = true;
    queue_.push_back(slot);
    writer_wake_.cancel();
  }

  static awaitable<void> wait(asio::steady_timer& timer) {
    timer.expires_at(kNever);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }

  KafkaServer& server_;
  tcp::socket socket_;
  asio::steady_timer writer_wake_;
  asio::steady_timer reader_wake_;
  asio::steady_timer idle_timer_;
  std::deque<std::shared_ptr<Slot>> queue_;
  std::size_t inflight_bytes_ = 0;
  SteadyTime last_activity_ = std::chrono::steady_clock::now();
  std::string peer_;
  bool reading_done_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

KafkaServer::KafkaServer(asio::io_context& io, ServerConfig config, broker::Broker& broker)
    : io_(io), config_(std::move(config)), broker_(broker), acceptor_(io) {}

KafkaServer::~KafkaServer() = default;

Result<std::uint16_t> KafkaServer::listen() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(config_.host, ec);
  if (ec) {
    return Error::invalid(fmt::format("listen address '{}': {}", config_.host, ec.message()));
  }
  tcp::endpoint endpoint(address, config_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error::io(
        fmt::format("cannot listen on {}:{}: {}", config_.host, config_.port, ec.message()));
  }
  return acceptor_.local_endpoint().port();
}

void KafkaServer::start() {
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) { log_exception(e, "accept loop"); });
}

awaitable<void> KafkaServer::accept_loop() {
  auto& metrics = broker_.metrics();
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      log::get("server")->warn("accept failed: {}", ec.message());
      // EMFILE and friends: back off briefly rather than spin.
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (connections_.size() >= config_.connections_max) {
      metrics.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      log::get("server")->warn("refusing a connection: {} open, the maximum", connections_.size());
      socket.close(ec);
      continue;
    }
    auto connection = std::make_shared<Connection>(*this, std::move(socket));
    connections_.push_back(connection);
    metrics.connections_open.store(connections_.size(), std::memory_order_relaxed);
    metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
    connection->start();
  }
}

void KafkaServer::forget(Connection* c) {
  connections_.remove_if([c](const std::weak_ptr<Connection>& w) {
    auto p = w.lock();
    return !p || p.get() == c;
  });
  broker_.metrics().connections_open.store(connections_.size(), std::memory_order_relaxed);
}

awaitable<void> KafkaServer::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& w : connections_) {
    if (auto c = w.lock()) open.push_back(c);
  }
  for (auto& c : open) c->drain();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  asio::steady_timer poll(io_);
  // Bounded by `grace`: poll every 10 ms for connections to finish.
  while (!connections_.empty() && std::chrono::steady_clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(10));
    co_await poll.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  for (auto& c : open) c->close();
}

}  // namespace spate::server
