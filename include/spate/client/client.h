// SPDX-License-Identifier: Apache-2.0
//
// A small Kafka-protocol client for the spate CLI, its benchmark and the
// tests (design.md, Modules). Blocking calls, each bounded by a deadline; one
// TCP connection per broker; requests may be pipelined (send several, then
// receive their responses in order). Uses only common and protocol: a codec
// bug shared with the broker would not be caught here, which is why the
// compatibility tests use real Kafka clients.

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
#include "spate/common/result.h"
#include "spate/protocol/api_key.h"
#include "spate/protocol/codec.h"

namespace spate::client {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  [[nodiscard]] std::string text() const;
};

// Parses "host:port[,host:port...]" ("[v6]:port" too). Errors: invalid_argument.
[[nodiscard]] Result<std::vector<Endpoint>> parse_brokers(std::string_view list);

struct Options {
  std::chrono::milliseconds timeout{10'000};  // per call
  std::string client_id = "spate";
};

// One connection to one broker.
class Connection {
 public:
  // Errors: io_error ("cannot connect to HOST:PORT: ..."), timeout.
  [[nodiscard]] static Result<std::unique_ptr<Connection>> open(const Endpoint& endpoint,
                                                                const Options& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one request; returns its correlation id. Errors: io_error, timeout.
  template <typename Req>
  [[nodiscard]] Result<std::int32_t> send(protocol::ApiKey key, std::int16_t version,
                                          const Req& request) {
    ByteWriter out(256);
    begin_request(out, key, version);
    protocol::encode_message(out, request, version);
    return send_frame(out);
  }

  // Receives the next response, which must answer `correlation_id`.
  // Errors: io_error, timeout, malformed (an undecodable or unexpected response).
  template <typename Resp>
  [[nodiscard]] Result<Resp> receive(std::int32_t correlation_id, protocol::ApiKey key,
                                     std::int16_t version) {
    auto body = receive_body(correlation_id, key, version);
    if (!body) return body.error();
    auto decoded = protocol::decode_message<Resp>(*body, version);
    if (!decoded) {
      return Error::malformed(fmt::format("{}: undecodable {} v{} response: {}", peer_,
                                          api_name(key), version, decoded.error().detail()));
    }
    return decoded;
  }

  template <typename Resp, typename Req>
  [[nodiscard]] Result<Resp> call(protocol::ApiKey key, std::int16_t version, const Req& request) {
    auto id = send(key, version, request);
    if (!id) return id.error();
    return receive<Resp>(*id, key, version);
  }

  [[nodiscard]] const std::string& peer() const { return peer_; }
  void set_timeout(std::chrono::milliseconds timeout) { options_.timeout = timeout; }

 private:
  Connection(Options options, std::string peer);
  void begin_request(ByteWriter& out, protocol::ApiKey key, std::int16_t version);
  [[nodiscard]] Result<std::int32_t> send_frame(ByteWriter& out);
  [[nodiscard]] Result<std::vector<std::byte>> receive_body(std::int32_t correlation_id,
                                                            protocol::ApiKey key,
                                                            std::int16_t version);
  // Runs one async operation on the private io_context until it completes or
  // the deadline passes (then the socket is closed). Errors: io_error, timeout.
  template <typename Op>
  [[nodiscard]] Status run(const char* what, Op&& op);
  static std::string_view api_name(protocol::ApiKey key);

  Options options_;
  std::string peer_;
  asio::io_context io_;
  tcp::socket socket_;
  std::int32_t next_correlation_id_ = 1;
  std::size_t frame_bytes_max_ = 256U << 20U;
};

// A connection to the cluster (one broker for now: the first of the
// bootstrap list that answers) with API versions negotiated.
class Client {
 public:
  // Connects to the first reachable broker and asks ApiVersions.
  // Errors: io_error naming every broker tried, timeout.
  [[nodiscard]] static Result<std::unique_ptr<Client>> connect(std::string_view brokers,
                                                               const Options& options = {});

  // The highest version of `key` both sides speak. Errors: unsupported_version.
  [[nodiscard]] Result<std::int16_t> version(protocol::ApiKey key) const;

  template <typename Resp, typename Req>
  [[nodiscard]] Result<Resp> call(protocol::ApiKey key, const Req& request) {
    auto v = version(key);
    if (!v) return v.error();
    return connection_->call<Resp>(key, *v, request);
  }

  [[nodiscard]] Connection& connection() { return *connection_; }
  [[nodiscard]] const Endpoint& endpoint() const { return endpoint_; }
  [[nodiscard]] const Options& options() const { return options_; }

  // A second connection to the same broker (for benchmarks with several).
  [[nodiscard]] Result<std::unique_ptr<Connection>> open_another() const;

 private:
  Client() = default;
  Options options_;
  Endpoint endpoint_;
  std::unique_ptr<Connection> connection_;
  std::vector<std::pair<std::int16_t, std::int16_t>> versions_;  // indexed by API key: min, max
};

}  // namespace spate::client
