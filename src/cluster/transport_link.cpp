// SPDX-License-Identifier: Apache-2.0

#include "transport_link.h"

#include <algorithm>

#include "spate/common/log.h"

namespace spate::cluster {
namespace {

// A frame's buffer starts at this size and at most doubles as bytes arrive.
constexpr std::size_t kFirstReadBytes = 64U << 10U;
// At most this much per write system call (then progress is noted).
constexpr std::size_t kWriteChunkBytes = 1U << 20U;

}  // namespace

void log_exception(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::get(log::Module::cluster)->error("{} failed: {}", what, ex.what());
  }
}

Link::Link(tcp::socket socket, bool outbound, const TransportConfig& config, const Clock& clock)
    : socket_(std::move(socket)),
      outbound_(outbound),
      config_(config),
      clock_(clock),
      phase_started_(now()) {}

void Link::set_phase(Phase phase) {
  phase_ = phase;
  phase_started_ = now();
}

void Link::opened(NodeId peer, PeerStats* stats, std::uint8_t version) {
  peer_ = peer;
  stats_ = stats;
  version_ = version;
  set_phase(Phase::open);
}

void Link::note_remote() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) remote_ = fmt::format("{}:{}", remote.address().to_string(), remote.port());
}

std::string Link::describe() const {
  const char* way = outbound_ ? "to" : "from";
  const std::string address = remote_.empty() ? "an unknown address" : remote_;
  if (peer_ < NodeId(0)) return fmt::format("the connection {} {}", way, address);
  return fmt::format("the connection {} node {} ({})", way, peer_, address);
}

awaitable<Result<std::vector<std::byte>>> Link::read_frame(std::size_t frame_bytes_max) {
  std::array<std::byte, kFramePrefixBytes> prefix{};
  boost::system::error_code ec;
  co_await asio::async_read(socket_, asio::buffer(prefix), asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error::io(fmt::format("read: {}", ec.message()));
  auto size = decode_frame_size(prefix, frame_bytes_max);
  if (!size) co_return size.error();
  in_frame_ = true;
  read_progress_ = now();
  std::vector<std::byte> frame;
  std::size_t received = 0;
  // Bounded: each pass reads some bytes or fails.
  while (received < *size) {
    const std::size_t room = std::min(*size, std::max(kFirstReadBytes, 2 * received));
    frame.resize(room);
    const std::size_t n =
        co_await socket_.async_read_some(asio::buffer(frame.data() + received, room - received),
                                         asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    received += n;
    read_progress_ = now();
  }
  in_frame_ = false;
  if (ec) co_return Error::io(fmt::format("read: {}", ec.message()));
  if (stats_ != nullptr) {
    stats_->bytes_received += kFramePrefixBytes + *size;
    ++stats_->frames_received;
  }
  co_return frame;
}

awaitable<bool> Link::write_now(std::span<const std::byte> bytes) {
  // A named vector: GCC 12 cannot keep an initializer list across a co_await.
  const std::vector<asio::const_buffer> buffers{asio::buffer(bytes.data(), bytes.size())};
  co_return co_await write_buffers(buffers);
}

awaitable<bool> Link::write_buffers(const std::vector<asio::const_buffer>& buffers) {
  writing_ = true;
  write_progress_ = now();
  boost::system::error_code ec;
  // The completion condition runs before each partial write: progress, for
  // the write deadline.
  co_await asio::async_write(
      socket_, buffers,
      [this](const boost::system::error_code& error, std::size_t /*written*/) -> std::size_t {
        write_progress_ = now();
        return error ? 0 : kWriteChunkBytes;
      },
      asio::redirect_error(use_awaitable, ec));
  writing_ = false;
  co_return !ec;
}

bool Link::queue_frame(std::vector<std::byte> frame, bool force) {
  if (closed_) return false;
  if (!force && (queued_bytes_ + frame.size() > config_.queued_bytes_max ||
                 frames_.size() + raft_.size() >= config_.frames_queued_max)) {
    return false;
  }
  queued_bytes_ += frame.size();
  frames_.push_back(std::move(frame));
  wake_.notify_all();
  return true;
}

bool Link::queue_raft(std::vector<std::byte> item) {
  if (closed_ || queued_bytes_ + item.size() > config_.queued_bytes_max) return false;
  const auto& limits = config_.limits;
  if (kRaftBatchHeaderBytes + item.size() > limits.frame_bytes_max) return false;
  const bool fits =
      !raft_.empty() && raft_.back().count < limits.batch_items_max &&
      kRaftBatchHeaderBytes + raft_.back().bytes.size() + item.size() <= limits.frame_bytes_max;
  if (!fits) {
    if (frames_.size() + raft_.size() >= config_.frames_queued_max) return false;
    raft_.emplace_back();
  }
  auto& chunk = raft_.back();
  queued_bytes_ += item.size();
  ++chunk.count;
  chunk.bytes.insert(chunk.bytes.end(), item.begin(), item.end());
  // The writer runs after the current handler: what else is sent in this
  // turn joins the same chunk, and so the same frame.
  wake_.notify_all();
  return true;
}

awaitable<void> Link::writer(NodeId from) {
  auto self = shared_from_this();
  // Bounded: each pass writes one frame or waits for one.
  while (!closed_) {
    if (frames_.empty() && raft_.empty()) {
      co_await wake_.wait();
      continue;
    }
    std::vector<std::byte> header;
    std::vector<std::byte> body;
    std::uint32_t messages = 0;
    // Calls and responses first: they are small and someone waits on them.
    if (!frames_.empty()) {
      body = std::move(frames_.front());
      frames_.pop_front();
    } else {
      Chunk chunk = std::move(raft_.front());
      raft_.pop_front();
      messages = chunk.count;
      header = encode_raft_batch_header(from, peer_, chunk.count, chunk.bytes.size(), version_);
      body = std::move(chunk.bytes);
    }
    queued_bytes_ -= body.size();
    changed_.notify_all();
    const std::vector<asio::const_buffer> buffers{asio::buffer(header.data(), header.size()),
                                                  asio::buffer(body.data(), body.size())};
    const bool sent = co_await write_buffers(buffers);
    if (!sent) {
      if (stats_ != nullptr) stats_->messages_dropped += messages;  // cut off mid-frame
      break;
    }
    if (stats_ != nullptr) {
      stats_->bytes_sent += header.size() + body.size();
      ++stats_->frames_sent;
      stats_->messages_sent += messages;
    }
  }
  close();
}

void Link::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  if (stats_ != nullptr) {
    for (const auto& chunk : raft_) stats_->messages_dropped += chunk.count;
  }
  raft_.clear();
  frames_.clear();
  queued_bytes_ = 0;
  wake_.notify_all();
  changed_.notify_all();
}

const char* Link::check_deadlines(SteadyTime at) {
  if (closed_) return nullptr;
  const char* why = nullptr;
  if (phase_ == Phase::connecting && at - phase_started_ >= config_.connect_timeout) {
    why = "the connect timed out";
  } else if (phase_ == Phase::hello && at - phase_started_ >= config_.hello_timeout) {
    why = "no hello in time";
  } else if (writing_ && at - write_progress_ >= config_.write_timeout) {
    why = "the peer read nothing for the write timeout";
  } else if (in_frame_ && at - read_progress_ >= config_.write_timeout) {
    why = "the peer stopped in the middle of a frame for the write timeout";
  }
  if (why != nullptr) close();
  return why;
}

}  // namespace spate::cluster
