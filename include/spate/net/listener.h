// SPDX-License-Identifier: Apache-2.0
//
// Listener: a TCP listener of length-prefixed frames, below the protocols
// that use it (the Kafka listener in server, the inter-broker listener in
// cluster). Each connection has a reader coroutine (size prefix, frame limit,
// a buffer that grows as bytes arrive, each frame handed to the Handler in
// its own coroutine) and a writer coroutine that sends responses strictly in
// request order (file regions with sendfile). Back-pressure: at most
// `inflight_requests_max` requests, `inflight_bytes_max` request bytes and
// `queued_response_bytes_max` unsent response bytes per connection; beyond
// that the reader stops reading. Listener-wide, request and response bytes
// in memory are held in a MemoryBudget of `queued_bytes_max`. A peer that
// stops reading its responses (or stops in the middle of a request) for
// `write_timeout` is closed, an idle one after `idle_timeout`. A frame whose
// size is unreadable closes that connection only. docs/limits.md lists every
// limit. One io_context (one thread).

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/result.h"
#include "spate/net/metrics.h"

namespace spate::net {

struct ListenerConfig {
  std::string host = "0.0.0.0";
  std::uint16_t port = 0;
  std::size_t frame_bytes_max = 100U << 20U;        // socket.request.max.bytes
  std::size_t inflight_requests_max = 64;           // per connection
  std::size_t inflight_bytes_max = 128U << 20U;     // request bytes per connection
  std::chrono::milliseconds idle_timeout{600'000};  // connections.max.idle.ms
  std::size_t connections_max = 10'000;
  std::size_t queued_bytes_max = 100U << 20U;          // listener-wide, requests + responses
  std::size_t queued_response_bytes_max = 16U << 20U;  // unsent, per connection
  std::chrono::milliseconds write_timeout{30'000};     // no progress sending (or receiving a frame)
};

// A region of a file sent after a part's bytes: with sendfile(2) when it has
// a descriptor, else read and written.
class FileRegion {
 public:
  virtual ~FileRegion() = default;
  [[nodiscard]] virtual int descriptor() const = 0;  // < 0: none, use read()
  [[nodiscard]] virtual std::uint64_t position() const = 0;
  [[nodiscard]] virtual std::uint64_t size() const = 0;
  // The region's bytes. Errors: the file's.
  [[nodiscard]] virtual Result<std::vector<std::byte>> read() const = 0;
  // The file's name, for log lines.
  [[nodiscard]] virtual std::string name() const = 0;
};

// A response frame (size prefix included) as parts sent in order.
struct OutFrame {
  struct Part {
    std::vector<std::byte> bytes;
    std::shared_ptr<const FileRegion> file;  // may be null
  };
  std::vector<Part> parts;
};

// What a listener's frames mean: its protocol. Called on the io_context.
class Handler {
 public:
  virtual ~Handler() = default;
  // Reads a frame's 4-byte size prefix. Errors (logged, and the connection
  // closed after the responses before it): a size that cannot be read or is
  // over `frame_bytes_max`.
  [[nodiscard]] virtual Result<std::size_t> frame_size(std::span<const std::byte, 4> prefix,
                                                       std::size_t frame_bytes_max) const = 0;
  // Handles one frame (the bytes after the size prefix): the response to
  // send, no response, or an error saying why to close the connection once
  // the responses before this one are sent. `peer_host` is the peer's
  // address ("127.0.0.1"; empty if unknown).
  virtual awaitable<Result<std::optional<OutFrame>>> handle(std::vector<std::byte> frame,
                                                            std::string peer_host) = 0;
};

// Opens, binds (with reuse_address) and listens on host:port. Returns the
// bound port (the real one for port 0). Errors: invalid for a host that is no
// address ("<label> address '<host>': ..."), io for the rest ("cannot listen
// on <host>:<port><suffix>: ...").
[[nodiscard]] Result<std::uint16_t> open_acceptor(tcp::acceptor& acceptor, const std::string& host,
                                                  std::uint16_t port,
                                                  std::string_view label = "listen",
                                                  std::string_view suffix = "");

struct ListenerState;

class Listener {
 public:
  // Lines are logged by `module`'s logger; `metrics` are kept as they change.
  Listener(asio::io_context& io, ListenerConfig config, Handler& handler, Metrics metrics,
           log::Module module, const Clock& clock);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. Returns the bound port (the real one for port 0).
  [[nodiscard]] Result<std::uint16_t> listen();
  // Starts accepting (on the io_context).
  void start();
  // Stops accepting, lets in-flight requests finish and their responses go
  // out (up to `grace`), then closes every connection.
  awaitable<void> stop(std::chrono::milliseconds grace);

  [[nodiscard]] std::size_t connection_count() const;

 private:
  awaitable<void> accept_loop();
  // Closes connections past their idle, write or request timeout.
  awaitable<void> sweep_loop();
  // Takes a new connection (or refuses it over connections_max).
  void admit(tcp::socket socket);

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweep_timer_;
  std::shared_ptr<ListenerState> state_;
  bool stopping_ = false;
};

}  // namespace spate::net
