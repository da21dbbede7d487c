// SPDX-License-Identifier: Apache-2.0

#include "spate/server/kafka_server.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <span>
#include <sys/sendfile.h>

#include "spate/common/log.h"
#include "spate/protocol/frame.h"

namespace spate::server {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
constexpr auto kNever = SteadyTime::max();
constexpr std::size_t kEagerFrameBytes = 4096;
constexpr auto kAcceptBackoffMin = std::chrono::milliseconds(100);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);

// One request's place in the response order.
struct Slot {
  bool done = false;
  bool close = false;  // the request was unreadable: close after earlier responses
  std::optional<broker::ResponseFrame> frame;
  std::size_t request_bytes = 0;   // counted against the connection's inflight_bytes_max
  std::size_t response_bytes = 0;  // in memory (file regions excluded), until sent
  Reservation request;             // the request's buffer, in the budget until handled
  Reservation response;            // the response's bytes, in the budget until sent
};

// Logs an exception that escaped a connection coroutine instead of dropping it.
void log_exception(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::get(log::Module::server)->error("{} failed: {}", what, ex.what());
  }
}

std::size_t bytes_in_memory(const broker::ResponseFrame& frame) {
  std::size_t n = 0;
  for (const auto& part : frame.parts) n += part.bytes.size();
  return n;
}

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(KafkaServer& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        writer_wake_(socket_.get_executor(), kNever),
        reader_wake_(socket_.get_executor(), kNever) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
  }

  void start(std::list<std::weak_ptr<Connection>>::iterator where) {
    where_ = where;
    auto self = shared_from_this();
    auto ex = socket_.get_executor();
    asio::co_spawn(ex, reader(), [self](std::exception_ptr e) { log_exception(e, "reader"); });
    asio::co_spawn(ex, writer(), [self](std::exception_ptr e) { log_exception(e, "writer"); });
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
    // What is queued is never sent: release it now (handlers still running
    // hold their own slot and drop their response).
    for (const auto& slot : queue_) {
      server_.remove_queued_responses(slot->response_bytes);
      slot->response_bytes = 0;
      slot->response.reset();
      slot->frame.reset();
    }
    queue_.clear();
    server_.forget(this);
  }

  // Called by the server's sweeper: closes the connection past a timeout.
  void check_timeouts(SteadyTime now) {
    if (closed_) return;
    const auto& config = server_.config_;
    auto& metrics = server_.broker_.metrics();
    if (writing_ && now - write_progress_ >= config.write_timeout) {
      metrics.connections_closed_write_timeout.fetch_add(1, std::memory_order_relaxed);
      log_close("its peer read nothing", config.write_timeout);
      close();
    } else if (in_frame_ && !waiting_budget_ && now - read_progress_ >= config.write_timeout) {
      metrics.connections_closed_request_timeout.fetch_add(1, std::memory_order_relaxed);
      log_close("its peer stopped in the middle of a request", config.write_timeout);
      close();
    } else if (queue_.empty() && !in_frame_ && now - last_activity_ >= config.idle_timeout) {
      metrics.connections_closed_idle.fetch_add(1, std::memory_order_relaxed);
      log_close("it was idle", config.idle_timeout);
      close();
    }
  }

  [[nodiscard]] bool idle() const { return queue_.empty(); }

 private:
  friend class KafkaServer;

  [[nodiscard]] std::string peer() const {
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    return ec ? std::string("?")
              : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  }

  void log_close(const char* why, std::chrono::milliseconds after) {
    std::string note;
    if (server_.close_log_.allow(note)) {
      log::get(log::Module::server)
          ->info("closing the connection from {}: {} for {} ms{}", peer(), why, after.count(),
                 note);
    }
  }

  [[nodiscard]] bool stopped() const { return closed_ || draining_; }

  awaitable<void> reader() {
    auto self = shared_from_this();
    const auto& config = server_.config_;
    std::array<std::byte, 4> prefix{};
    while (!stopped()) {
      // Back-pressure: stop reading while too much is in flight or unsent.
      while (!stopped() && (queue_.size() >= config.inflight_requests_max ||
                            inflight_bytes_ >= config.inflight_bytes_max ||
                            queued_response_bytes_ >= config.queued_response_bytes_max)) {
        co_await wait(reader_wake_);
      }
      if (stopped()) break;
      boost::system::error_code ec;
      co_await asio::async_read(socket_, asio::buffer(prefix),
                                asio::redirect_error(use_awaitable, ec));
      if (ec) break;  // the peer closed, or we did
      last_activity_ = std::chrono::steady_clock::now();
      auto size = protocol::decode_frame_size(prefix, config.frame_bytes_max);
      if (!size) {
        std::string note;
        if (server_.close_log_.allow(note)) {
          log::get(log::Module::server)
              ->warn("closing connection from {}: {}{}", peer(), size.error().detail(), note);
        }
        server_.broker_.metrics().malformed_requests.fetch_add(1, std::memory_order_relaxed);
        enqueue_close();
        break;
      }
      std::vector<std::byte> frame;
      Reservation held;
      if (!co_await read_body(*size, frame, held)) break;
      last_activity_ = std::chrono::steady_clock::now();
      auto slot = std::make_shared<Slot>();
      slot->request_bytes = frame.size();
      slot->request = std::move(held);
      inflight_bytes_ += frame.size();
      queue_.push_back(slot);
      asio::co_spawn(socket_.get_executor(), handle(slot, std::move(frame)),
                     [self](std::exception_ptr e) { log_exception(e, "request handler"); });
    }
    reading_done_ = true;
    writer_wake_.cancel();
  }

  // Reads a frame body of `size` bytes. The buffer of a frame over 4 KiB is
  // allocated only as bytes arrive (never more than twice what arrived), and
  // each growth is
  // first held in the broker-wide memory budget (which may wait). False if
  // the connection closed or must close.
  awaitable<bool> read_body(std::size_t size, std::vector<std::byte>& frame, Reservation& held) {
    auto& budget = server_.budget_;
    boost::system::error_code ec;
    std::size_t received = 0;
    in_frame_ = true;
    read_progress_ = std::chrono::steady_clock::now();
    // Bounded: each pass reads bytes, or waits for them, or fails.
    while (received < size) {
      // A small frame (most requests) is read whole at once: asking how
      // much has arrived would cost a system call per request, and a peer
      // that stops after the prefix holds at most kEagerFrameBytes.
      std::size_t ready = size <= kEagerFrameBytes ? size : socket_.available(ec);
      if (ec) break;
      if (ready == 0) {
        co_await socket_.async_wait(tcp::socket::wait_read,
                                    asio::redirect_error(use_awaitable, ec));
        if (ec) break;
        ready = socket_.available(ec);
        if (ec) break;
        ready = std::max<std::size_t>(ready, 1);  // the end of the stream: the read says so
      }
      const std::size_t want = std::min(size - received, ready);
      if (received + want > held.bytes()) {
        const std::size_t grown = std::min(size, std::max(received + want, 2 * held.bytes()));
        const std::size_t more = grown - held.bytes();
        const std::size_t holds = inflight_bytes_ + queued_response_bytes_;
        if (!budget->try_acquire(more, held.bytes() > 0, held.bytes(), holds)) {
          waiting_budget_ = true;
          const std::function<bool()> stop = [this] { return closed_ || draining_; };
          const bool granted = co_await budget->acquire(more, held.bytes() > 0, held.bytes(), holds,
                                                        reader_wake_, stop);
          waiting_budget_ = false;
          if (!granted) {
            in_frame_ = false;
            co_return false;
          }
          // Time spent waiting for memory is not the peer's.
          read_progress_ = std::chrono::steady_clock::now();
        }
        held.add(budget, grown - held.bytes());
        frame.reserve(grown);
      }
      frame.resize(received + want);
      if (size <= kEagerFrameBytes) {
        received += co_await asio::async_read(socket_, asio::buffer(frame.data(), size),
                                              asio::redirect_error(use_awaitable, ec));
      } else {
        received += co_await socket_.async_read_some(asio::buffer(frame.data() + received, want),
                                                     asio::redirect_error(use_awaitable, ec));
      }
      if (ec) break;
      read_progress_ = std::chrono::steady_clock::now();
    }
    in_frame_ = false;
    co_return !ec && received == size;
  }

  awaitable<void> handle(std::shared_ptr<Slot> slot, std::vector<std::byte> frame) {
    auto self = shared_from_this();
    auto result = co_await server_.broker_.handle(std::move(frame));
    slot->request.reset();  // the request is decoded, handled and gone
    if (closed_) co_return;
    if (!result) {
      std::string note;
      if (server_.close_log_.allow(note)) {
        log::get(log::Module::server)
            ->warn("closing connection from {}: {}{}", peer(), result.error().message(), note);
      }
      slot->close = true;
    } else if (*result) {
      // Already built: held without waiting; the reader pauses while this
      // connection has too much unsent, and others while the budget is full.
      slot->response_bytes = bytes_in_memory(**result);
      server_.budget_->charge(slot->response_bytes);
      slot->response.add(server_.budget_, slot->response_bytes);
      queued_response_bytes_ += slot->response_bytes;
      server_.add_queued_responses(slot->response_bytes);
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
          writing_ = true;
          write_progress_ = std::chrono::steady_clock::now();
          // The frame stays alive in this coroutine: close() (a timeout, the
          // server stopping) releases what is queued while a send is parked.
          const auto frame = std::make_shared<broker::ResponseFrame>(std::move(*slot->frame));
          const bool sent = co_await send(*frame);
          writing_ = false;
          if (closed_) co_return;
          if (!sent) {
            close();
            co_return;
          }
          last_activity_ = std::chrono::steady_clock::now();
        }
        queue_.pop_front();
        inflight_bytes_ -= slot->request_bytes;
        queued_response_bytes_ -= slot->response_bytes;
        server_.remove_queued_responses(slot->response_bytes);
        slot->response_bytes = 0;
        slot->response.reset();
        slot->frame.reset();
        reader_wake_.cancel();
      }
      if (queue_.empty() && (reading_done_ || draining_)) {
        close();
        co_return;
      }
      co_await wait(writer_wake_);
    }
  }

  // Writes `bytes`, noting progress for the write timeout.
  awaitable<bool> write_all(std::span<const std::byte> bytes) {
    boost::system::error_code ec;
    // Bounded: each pass writes some bytes or fails.
    while (!bytes.empty()) {
      const std::size_t n = co_await socket_.async_write_some(
          asio::buffer(bytes.data(), bytes.size()), asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      bytes = bytes.subspan(n);
      write_progress_ = std::chrono::steady_clock::now();
    }
    co_return true;
  }

  // Sends one response: its bytes with async_write, its file regions with
  // sendfile(2) straight from the page cache (or read and written, for a
  // file without a descriptor). False if the connection must close.
  awaitable<bool> send(const broker::ResponseFrame& frame) {
    boost::system::error_code ec;
    for (const auto& part : frame.parts) {
      if (!part.bytes.empty()) {
        if (!co_await write_all(part.bytes)) co_return false;
      }
      if (!part.file || part.file->size == 0) continue;
      const int fd = part.file->file->native_handle();
      if (fd < 0) {
        auto bytes = part.file->read_all();
        if (!bytes) {
          log::get(log::Module::server)
              ->error("closing connection from {}: {}", peer(), bytes.error().message());
          co_return false;
        }
        if (!co_await write_all(*bytes)) co_return false;
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
          write_progress_ = std::chrono::steady_clock::now();
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
        log::get(log::Module::server)
            ->error("closing connection from {}: sendfile {}: {}", peer(),
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
  std::deque<std::shared_ptr<Slot>> queue_;
  std::list<std::weak_ptr<Connection>>::iterator where_;
  std::size_t inflight_bytes_ = 0;
  std::size_t queued_response_bytes_ = 0;
  SteadyTime last_activity_ = std::chrono::steady_clock::now();
  SteadyTime read_progress_{};
  SteadyTime write_progress_{};
  bool in_frame_ = false;        // between a frame's size and its last byte
  bool waiting_budget_ = false;  // in_frame_, waiting for memory (not the peer's fault)
  bool writing_ = false;         // inside send()
  bool reading_done_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

KafkaServer::KafkaServer(asio::io_context& io, ServerConfig config, broker::Broker& broker)
    : io_(io),
      config_(std::move(config)),
      broker_(broker),
      acceptor_(io),
      budget_(std::make_shared<MemoryBudget>(config_.queued_bytes_max, &broker.metrics())),
      sweep_timer_(io) {}

// Reservations may outlive the server (coroutines destroyed with the
// io_context); they keep the budget alive, but the metrics go first.
KafkaServer::~KafkaServer() { budget_->detach_metrics(); }

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
  asio::co_spawn(io_, sweep_loop(), [](std::exception_ptr e) { log_exception(e, "sweeper"); });
}

awaitable<void> KafkaServer::accept_loop() {
  auto& metrics = broker_.metrics();
  std::chrono::milliseconds backoff{0};
  asio::steady_timer pause(io_);
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      metrics.accept_errors.fetch_add(1, std::memory_order_relaxed);
      // EMFILE, ENFILE, ENOBUFS...: the pending connection stays in the
      // backlog and the next accept would fail at once. Back off (100 ms,
      // doubling to 1 s) instead of spinning; one log line per 10 s.
      backoff = backoff.count() == 0 ? kAcceptBackoffMin : std::min(2 * backoff, kAcceptBackoffMax);
      std::string note;
      if (accept_log_.allow(note)) {
        log::get(log::Module::server)
            ->warn("accept failed: {}; retrying in {} ms (up to {} ms){}", ec.message(),
                   backoff.count(), kAcceptBackoffMax.count(), note);
      }
      pause.expires_after(backoff);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    if (connections_.size() >= config_.connections_max) {
      metrics.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      std::string note;
      if (refuse_log_.allow(note)) {
        log::get(log::Module::server)
            ->warn("refusing a connection: {} open, the maximum (--max-connections){}",
                   connections_.size(), note);
      }
      socket.close(ec);
      continue;
    }
    auto connection = std::make_shared<Connection>(*this, std::move(socket));
    auto where = connections_.insert(connections_.end(), connection);
    metrics.connections_open.store(connections_.size(), std::memory_order_relaxed);
    metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
    connection->start(where);
  }
}

awaitable<void> KafkaServer::sweep_loop() {
  const auto period = std::clamp(std::min(config_.idle_timeout, config_.write_timeout) / 4,
                                 std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  // Bounded per pass by the number of connections; ends when stopping.
  while (!stopping_) {
    sweep_timer_.expires_after(period);
    boost::system::error_code ec;
    co_await sweep_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);  // a close removes `it` (and only it)
      if (auto c = it->lock()) c->check_timeouts(now);
      it = next;
    }
  }
}

void KafkaServer::forget(Connection* c) {
  connections_.erase(c->where_);
  broker_.metrics().connections_open.store(connections_.size(), std::memory_order_relaxed);
}

void KafkaServer::add_queued_responses(std::size_t bytes) {
  queued_responses_ += bytes;
  broker_.metrics().queued_response_bytes.store(queued_responses_, std::memory_order_relaxed);
}

void KafkaServer::remove_queued_responses(std::size_t bytes) {
  queued_responses_ -= std::min(bytes, queued_responses_);
  broker_.metrics().queued_response_bytes.store(queued_responses_, std::memory_order_relaxed);
}

awaitable<void> KafkaServer::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  sweep_timer_.cancel();
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
