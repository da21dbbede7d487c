// SPDX-License-Identifier: Apache-2.0

#include "spate/client/client.h"

#include <charconv>

#include "spate/protocol/frame.h"
#include "spate/protocol/messages/api_versions.h"

namespace spate::client {
namespace {

// The API keys a broker's ApiVersions answer is kept for (UnregisterBroker is 64).
constexpr std::int16_t kApiKeysMax = 128;

}  // namespace

std::string Endpoint::text() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

Result<std::vector<Endpoint>> parse_brokers(std::string_view list) {
  std::vector<Endpoint> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    const auto item =
        list.substr(start, comma == std::string_view::npos ? list.npos : comma - start);
    const auto bad = [&](std::string_view why) {
      return Error::invalid(fmt::format("broker '{}': {} (expected HOST:PORT)", item, why));
    };
    const auto colon = item.rfind(':');
    if (item.empty()) return bad("empty");
    if (colon == std::string_view::npos || colon == 0) return bad("no port");
    std::string host(item.substr(0, colon));
    if (host.front() == '[') {
      if (host.size() < 2 || host.back() != ']') return bad("unbalanced brackets");
      host = host.substr(1, host.size() - 2);
    }
    const auto digits = item.substr(colon + 1);
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || port == 0 || port > 65535) {
      return bad("the port is not a number from 1 to 65535");
    }
    out.push_back({host, static_cast<std::uint16_t>(port)});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

Connection::Connection(Options options, std::string peer)
    : options_(std::move(options)), peer_(std::move(peer)), socket_(io_) {}

Connection::~Connection() {
  boost::system::error_code ec;
  socket_.close(ec);
}

template <typename Op>
Status Connection::run(const char* what, Op&& op) {
  if (!socket_.is_open() && std::string_view(what) != "connect") {
    return Error::io(fmt::format("{}: the connection is closed", peer_));
  }
  std::optional<boost::system::error_code> result;
  op([&](boost::system::error_code ec, auto&&...) { result = ec; });
  io_.restart();
  io_.run_for(options_.timeout);
  if (!result) {
    // The deadline passed: close, then let the cancelled operation finish.
    boost::system::error_code ignored;
    socket_.close(ignored);
    io_.restart();
    io_.run();
    return Error(Errc::timeout, fmt::format("{}: timed out after {} ms waiting to {}", peer_,
                                            options_.timeout.count(), what));
  }
  if (*result) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (*result == asio::error::eof || *result == asio::error::connection_reset) {
      return Error::io(
          fmt::format("{}: the broker closed the connection while we waited to {}", peer_, what));
    }
    if (std::string_view(what) == "connect") {
      return Error::io(fmt::format("cannot connect to {}: {}", peer_, result->message()));
    }
    return Error::io(fmt::format("{}: cannot {}: {}", peer_, what, result->message()));
  }
  return {};
}

Result<std::unique_ptr<Connection>> Connection::open(const Endpoint& endpoint,
                                                     const Options& options) {
  std::unique_ptr<Connection> c(new Connection(options, endpoint.text()));
  boost::system::error_code ec;
  tcp::resolver resolver(c->io_);
  auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
  if (ec) {
    return Error::io(fmt::format("cannot connect to {}: {}", c->peer_, ec.message()));
  }
  auto s = c->run("connect", [&](auto handler) {
    asio::async_connect(
        c->socket_, results,
        [handler](boost::system::error_code e, const tcp::endpoint&) mutable { handler(e); });
  });
  if (!s) return s.error();
  c->socket_.set_option(tcp::no_delay(true), ec);
  return c;
}

std::string_view Connection::api_name(protocol::ApiKey key) {
  auto info = protocol::api_info(static_cast<std::int16_t>(key));
  return info ? info->name : std::string_view("request");
}

void Connection::begin_request(ByteWriter& out, protocol::ApiKey key, std::int16_t version) {
  protocol::begin_frame(out);
  const auto k = static_cast<std::int16_t>(key);
  protocol::encode_request_header(out, {k, version, next_correlation_id_++, options_.client_id},
                                  protocol::request_header_version(k, version));
}

Result<std::int32_t> Connection::send_frame(ByteWriter& out) {
  if (auto s = protocol::finish_frame(out); !s) return s.error();
  const std::int32_t id = load_be<std::int32_t>(out.view().data() + 8);
  auto s = run("send a request", [&](auto handler) {
    asio::async_write(socket_, asio::buffer(out.view().data(), out.size()), handler);
  });
  if (!s) return s.error();
  return id;
}

Result<std::vector<std::byte>> Connection::receive_body(std::int32_t correlation_id,
                                                        protocol::ApiKey key,
                                                        std::int16_t version) {
  std::array<std::byte, 4> prefix{};
  const auto what = fmt::format("receive a {} response", api_name(key));
  auto s = run(what.c_str(),
               [&](auto handler) { asio::async_read(socket_, asio::buffer(prefix), handler); });
  if (!s) return s.error();
  const auto size = load_be<std::int32_t>(prefix.data());
  if (size < 4 || static_cast<std::size_t>(size) > frame_bytes_max_) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    return Error::malformed(fmt::format("{}: response frame of {} bytes", peer_, size));
  }
  std::vector<std::byte> frame(static_cast<std::size_t>(size));
  s = run(what.c_str(),
          [&](auto handler) { asio::async_read(socket_, asio::buffer(frame), handler); });
  if (!s) return s.error();
  const auto id = load_be<std::int32_t>(frame.data());
  if (id != correlation_id) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    return Error::malformed(
        fmt::format("{}: response for correlation id {}, expected {}", peer_, id, correlation_id));
  }
  std::size_t offset = 4;
  if (protocol::response_header_version(static_cast<std::int16_t>(key), version) >= 1) {
    // Tagged fields of the response header: skip them.
    ByteReader in(std::span<const std::byte>(frame).subspan(offset));
    auto tags = in.read_uvarint64();
    if (!tags) return Error::malformed(fmt::format("{}: bad response header", peer_));
    std::size_t consumed = frame.size() - offset - in.remaining();
    for (std::uint64_t t = 0; t < *tags; ++t) {
      auto tag = in.read_uvarint64();
      auto len = tag ? in.read_uvarint64() : tag;
      if (!tag || !len || !in.read_bytes(static_cast<std::size_t>(*len))) {
        return Error::malformed(fmt::format("{}: bad response header tags", peer_));
      }
    }
    consumed = frame.size() - offset - in.remaining();
    offset += consumed;
  }
  frame.erase(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(offset));
  return frame;
}

Result<std::unique_ptr<Client>> Client::connect(std::string_view brokers, const Options& options) {
  auto endpoints = parse_brokers(brokers);
  if (!endpoints) return endpoints.error();
  std::vector<std::string> failures;
  for (const auto& endpoint : *endpoints) {
    auto c = Connection::open(endpoint, options);
    if (!c) {
      failures.push_back(c.error().detail());
      continue;
    }
    protocol::ApiVersionsRequest request{"spate", "0.1.0"};
    auto versions =
        (*c)->call<protocol::ApiVersionsResponse>(protocol::ApiKey::api_versions, 3, request);
    if (!versions || versions->error_code != 0) {
      failures.push_back(
          versions ? fmt::format("{}: ApiVersions error {}", endpoint.text(), versions->error_code)
                   : versions.error().detail());
      continue;
    }
    std::unique_ptr<Client> client(new Client());
    client->options_ = options;
    client->endpoint_ = endpoint;
    client->connection_ = std::move(*c);
    client->versions_.assign(kApiKeysMax, {-1, -1});
    for (const auto& k : versions->api_keys) {
      if (k.api_key >= 0 && k.api_key < kApiKeysMax) {
        client->versions_[static_cast<std::size_t>(k.api_key)] = {k.min_version, k.max_version};
      }
    }
    return client;
  }
  return Error::io(fmt::format("{}", fmt::join(failures, "; ")));
}

Result<std::int16_t> Client::version(protocol::ApiKey key) const {
  const auto k = static_cast<std::int16_t>(key);
  auto ours = protocol::api_info(k);
  if (k < 0 || k >= kApiKeysMax) {
    return Error(Errc::unsupported_version, fmt::format("API key {} is out of range", k));
  }
  const auto& theirs = versions_.at(static_cast<std::size_t>(k));
  if (!ours || theirs.second < 0 || theirs.second < ours->min_version ||
      ours->max_version < theirs.first) {
    return Error(Errc::unsupported_version,
                 fmt::format("{} does not support {}", endpoint_.text(),
                             ours ? ours->name : std::string_view("this request")));
  }
  return std::min(ours->max_version, theirs.second);
}

Result<std::unique_ptr<Connection>> Client::open_another() const {
  return Connection::open(endpoint_, options_);
}

}  // namespace spate::client
