// SPDX-License-Identifier: Apache-2.0

#include "connection.h"

#include <algorithm>
#include <cstring>
#include <sys/sendfile.h>

namespace spate::net {
namespace {

constexpr std::size_t kEagerFrameBytes = 4096;

std::size_t bytes_in_memory(const OutFrame& frame) {
  std::size_t n = 0;
  for (const auto& part : frame.parts) n += part.bytes.size();
  return n;
}

}  // namespace

void log_exception(log::Module module, std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::get(module)->error("{} failed: {}", what, ex.what());
  }
}

Connection::Connection(std::shared_ptr<ListenerState> state, tcp::socket socket)
    : state_(std::move(state)), socket_(std::move(socket)), last_activity_(now()) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
}

void Connection::start(std::list<std::weak_ptr<Connection>>::iterator where) {
  where_ = where;
  auto self = shared_from_this();
  auto ex = socket_.get_executor();
  const auto module = state_->module;
  asio::co_spawn(ex, reader(),
                 [self, module](std::exception_ptr e) { log_exception(module, e, "reader"); });
  asio::co_spawn(ex, writer(),
                 [self, module](std::exception_ptr e) { log_exception(module, e, "writer"); });
}

void Connection::drain() {
  draining_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_receive, ec);
  reader_wake_.notify_all();
  writer_wake_.notify_all();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  writer_wake_.notify_all();
  reader_wake_.notify_all();
  // What is queued is never sent: release it now (handlers still running
  // hold their own slot and drop their response).
  for (const auto& slot : queue_) {
    state_->remove_queued_responses(slot->response_bytes);
    slot->response_bytes = 0;
    slot->response.reset();
    slot->frame.reset();
  }
  queue_.clear();
  state_->forget(where_);
}

void Connection::check_timeouts(SteadyTime at) {
  if (closed_) return;
  const auto& config = state_->config;
  const auto& metrics = state_->metrics;
  if (writing_ && at - write_progress_ >= config.write_timeout) {
    add(metrics.connections_closed_write_timeout);
    log_close("its peer read nothing", config.write_timeout);
    close();
  } else if (in_frame_ && !waiting_budget_ && at - read_progress_ >= config.write_timeout) {
    add(metrics.connections_closed_request_timeout);
    log_close("its peer stopped in the middle of a request", config.write_timeout);
    close();
  } else if (queue_.empty() && !in_frame_ && at - last_activity_ >= config.idle_timeout) {
    add(metrics.connections_closed_idle);
    log_close("it was idle", config.idle_timeout);
    close();
  }
}

std::string Connection::peer() const {
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  return ec ? std::string("?") : fmt::format("{}:{}", remote.address().to_string(), remote.port());
}

void Connection::log_close(const char* why, std::chrono::milliseconds after) {
  std::string note;
  if (state_->close_log.allow(note)) {
    state_->logger()->info("closing the connection from {}: {} for {} ms{}", peer(), why,
                           after.count(), note);
  }
}

bool Connection::backed_up() const {
  const auto& config = state_->config;
  return queue_.size() >= config.inflight_requests_max ||
         inflight_bytes_ >= config.inflight_bytes_max ||
         queued_response_bytes_ >= config.queued_response_bytes_max;
}

awaitable<void> Connection::reader() {
  auto self = shared_from_this();
  std::array<std::byte, 4> prefix{};
  while (!stopped()) {
    // Back-pressure: stop reading while too much is in flight or unsent.
    while (!stopped() && backed_up()) co_await reader_wake_.wait();
    if (stopped()) break;
    boost::system::error_code ec;
    co_await asio::async_read(socket_, asio::buffer(prefix),
                              asio::redirect_error(use_awaitable, ec));
    if (ec) break;  // the peer closed, or we did
    last_activity_ = now();
    auto size = state_->handler.frame_size(prefix, state_->config.frame_bytes_max);
    if (!size) {
      std::string note;
      if (state_->close_log.allow(note)) {
        state_->logger()->warn("closing connection from {}: {}{}", peer(), size.error().detail(),
                               note);
      }
      add(state_->metrics.bad_frames);
      enqueue_close();
      break;
    }
    std::vector<std::byte> frame;
    Reservation held;
    if (!co_await read_body(*size, frame, held)) break;
    last_activity_ = now();
    auto slot = std::make_shared<Slot>();
    slot->request_bytes = frame.size();
    slot->request = std::move(held);
    inflight_bytes_ += frame.size();
    queue_.push_back(slot);
    const auto module = state_->module;
    asio::co_spawn(
        socket_.get_executor(), handle(slot, std::move(frame)),
        [self, module](std::exception_ptr e) { log_exception(module, e, "request handler"); });
  }
  reading_done_ = true;
  writer_wake_.notify_all();
}

// Reads a frame body of `size` bytes. The buffer of a frame over 4 KiB is
// allocated only as bytes arrive (never more than twice what arrived), and
// each growth is first held in the listener-wide memory budget (which may
// wait). False if the connection closed or must close.
awaitable<bool> Connection::read_body(std::size_t size, std::vector<std::byte>& frame,
                                      Reservation& held) {
  boost::system::error_code ec;
  std::size_t received = 0;
  in_frame_ = true;
  read_progress_ = now();
  // Bounded: each pass reads bytes, or waits for them, or fails.
  while (received < size) {
    // A small frame (most requests) is read whole at once: asking how
    // much has arrived would cost a system call per request, and a peer
    // that stops after the prefix holds at most kEagerFrameBytes.
    std::size_t ready = size <= kEagerFrameBytes ? size : socket_.available(ec);
    if (ec) break;
    if (ready == 0) {
      co_await socket_.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      ready = socket_.available(ec);
      if (ec) break;
      ready = std::max<std::size_t>(ready, 1);  // the end of the stream: the read says so
    }
    const std::size_t want = std::min(size - received, ready);
    if (received + want > held.bytes()) {
      const std::size_t grown = std::min(size, std::max(received + want, 2 * held.bytes()));
      const bool granted = co_await grow(grown - held.bytes(), held);
      if (!granted) {
        in_frame_ = false;
        co_return false;
      }
      held.add(state_->budget, grown - held.bytes());
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
    read_progress_ = now();
  }
  in_frame_ = false;
  co_return !ec && received == size;
}

awaitable<bool> Connection::grow(std::size_t more, const Reservation& held) {
  auto& budget = state_->budget;
  const std::size_t holds = inflight_bytes_ + queued_response_bytes_;
  if (budget->try_acquire(more, held.bytes() > 0, held.bytes(), holds)) co_return true;
  waiting_budget_ = true;
  const std::function<bool()> stop = [this] { return closed_ || draining_; };
  const bool granted =
      co_await budget->acquire(more, held.bytes() > 0, held.bytes(), holds, reader_wake_, stop);
  waiting_budget_ = false;
  // Time spent waiting for memory is not the peer's.
  if (granted) read_progress_ = now();
  co_return granted;
}

awaitable<void> Connection::handle(std::shared_ptr<Slot> slot, std::vector<std::byte> frame) {
  auto self = shared_from_this();
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  // A named string: GCC 12 mishandles a temporary from ?: in a co_await.
  std::string peer_host;
  if (!ec) peer_host = remote.address().to_string();
  auto result = co_await state_->handler.handle(std::move(frame), std::move(peer_host));
  slot->request.reset();  // the request is decoded, handled and gone
  if (closed_) co_return;
  if (!result) {
    std::string note;
    if (state_->close_log.allow(note)) {
      state_->logger()->warn("closing connection from {}: {}{}", peer(), result.error().message(),
                             note);
    }
    slot->close = true;
  } else if (*result) {
    // Already built: held without waiting; the reader pauses while this
    // connection has too much unsent, and others while the budget is full.
    slot->response_bytes = bytes_in_memory(**result);
    state_->budget->charge(slot->response_bytes);
    slot->response.add(state_->budget, slot->response_bytes);
    queued_response_bytes_ += slot->response_bytes;
    state_->add_queued_responses(slot->response_bytes);
    slot->frame = std::move(*result);
  }
  slot->done = true;
  writer_wake_.notify_all();
}

awaitable<void> Connection::writer() {
  auto self = shared_from_this();
  // Bounded: each pass sends what is ready, in order, or waits for more.
  while (!closed_) {
    while (!closed_ && !queue_.empty() && queue_.front()->done) {
      auto slot = queue_.front();
      // No co_await inside && or ||: GCC 12 miscompiles some of those.
      bool sent = false;
      if (!slot->close) sent = co_await send_front(slot);
      if (!sent) {
        close();
        co_return;
      }
      if (closed_) co_return;
      queue_.pop_front();
      inflight_bytes_ -= slot->request_bytes;
      queued_response_bytes_ -= slot->response_bytes;
      state_->remove_queued_responses(slot->response_bytes);
      slot->response_bytes = 0;
      slot->response.reset();
      slot->frame.reset();
      reader_wake_.notify_all();
    }
    if (queue_.empty() && (reading_done_ || draining_)) {
      close();
      co_return;
    }
    co_await writer_wake_.wait();
  }
}

awaitable<bool> Connection::send_front(const std::shared_ptr<Slot>& slot) {
  if (!slot->frame) co_return true;  // no response (acks=0)
  writing_ = true;
  write_progress_ = now();
  // The frame stays alive in this coroutine: close() (a timeout, the
  // listener stopping) releases what is queued while a send is parked.
  const auto frame = std::make_shared<OutFrame>(std::move(*slot->frame));
  const bool sent = co_await send(*frame);
  writing_ = false;
  if (closed_) co_return true;  // the writer sees it
  if (sent) last_activity_ = now();
  co_return sent;
}

// Writes `bytes`, noting progress for the write timeout.
awaitable<bool> Connection::write_all(std::span<const std::byte> bytes) {
  boost::system::error_code ec;
  // Bounded: each pass writes some bytes or fails.
  while (!bytes.empty()) {
    const std::size_t n = co_await socket_.async_write_some(
        asio::buffer(bytes.data(), bytes.size()), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    bytes = bytes.subspan(n);
    write_progress_ = now();
  }
  co_return true;
}

// Sends one response: its bytes with async_write, its file regions with
// sendfile(2) straight from the page cache (or read and written, for a file
// without a descriptor). False if the connection must close.
awaitable<bool> Connection::send(const OutFrame& frame) {
  for (const auto& part : frame.parts) {
    if (!part.bytes.empty()) {
      if (!co_await write_all(part.bytes)) co_return false;
    }
    if (!part.file || part.file->size() == 0) continue;
    if (part.file->descriptor() < 0) {
      auto bytes = part.file->read();
      if (!bytes) {
        state_->logger()->error("closing connection from {}: {}", peer(), bytes.error().message());
        co_return false;
      }
      if (!co_await write_all(*bytes)) co_return false;
      continue;
    }
    if (!co_await send_file(*part.file)) co_return false;
  }
  co_return true;
}

awaitable<bool> Connection::send_file(const FileRegion& file) {
  boost::system::error_code ec;
  if (!socket_.native_non_blocking()) socket_.native_non_blocking(true, ec);
  auto offset = static_cast<off_t>(file.position());
  std::size_t left = file.size();
  // Bounded: each pass sends bytes, waits for the socket, or fails.
  while (left > 0) {
    const ssize_t n = ::sendfile(socket_.native_handle(), file.descriptor(), &offset, left);
    if (n > 0) {
      left -= static_cast<std::size_t>(n);
      write_progress_ = now();
      continue;
    }
    const int err = n < 0 ? errno : 0;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      co_await socket_.async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      continue;
    }
    // n == 0: the file is shorter than the region (cannot be framed now).
    state_->logger()->error("closing connection from {}: sendfile {}: {}", peer(), file.name(),
                            err == 0 ? "file shorter than the response" : std::strerror(err));
    co_return false;
  }
  co_return true;
}

void Connection::enqueue_close() {
  auto slot = std::make_shared<Slot>();
  slot->done = true;
  slot->close = true;
  queue_.push_back(slot);
  writer_wake_.notify_all();
}

}  // namespace spate::net
