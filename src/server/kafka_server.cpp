// SPDX-License-Identifier: Apache-2.0

#include "spate/server/kafka_server.h"

#include "spate/protocol/frame.h"

namespace spate::server {
namespace {

// A Fetch response's records: a region of a segment file (sendfile).
class SliceRegion final : public net::FileRegion {
 public:
  explicit SliceRegion(storage::FileSlice slice) : slice_(std::move(slice)) {}
  [[nodiscard]] int descriptor() const override { return slice_.file->native_handle(); }
  [[nodiscard]] std::uint64_t position() const override { return slice_.position; }
  [[nodiscard]] std::uint64_t size() const override { return slice_.size; }
  [[nodiscard]] Result<std::vector<std::byte>> read() const override { return slice_.read_all(); }
  [[nodiscard]] std::string name() const override { return slice_.file->path().string(); }

 private:
  storage::FileSlice slice_;
};

net::OutFrame to_out_frame(broker::ResponseFrame&& frame) {
  net::OutFrame out;
  out.parts.reserve(frame.parts.size());
  for (auto& part : frame.parts) {
    auto& o = out.parts.emplace_back();
    o.bytes = std::move(part.bytes);
    if (part.file && part.file->size > 0) {
      o.file = std::make_shared<const SliceRegion>(std::move(*part.file));
    }
  }
  return out;
}

// The broker's connection metrics, kept by the listener.
net::Metrics listener_metrics(broker::Metrics& m) {
  return net::Metrics{
      .connections_open = &m.connections_open,
      .connections_total = &m.connections_total,
      .connections_rejected = &m.connections_rejected,
      .accept_errors = &m.accept_errors,
      .bad_frames = &m.malformed_requests,
      .connections_closed_write_timeout = &m.connections_closed_write_timeout,
      .connections_closed_request_timeout = &m.connections_closed_request_timeout,
      .connections_closed_idle = &m.connections_closed_idle,
      .queued_response_bytes = &m.queued_response_bytes,
      .memory_budget_bytes = &m.memory_budget_bytes,
      .memory_used_bytes = &m.memory_used_bytes,
      .memory_waiters = &m.memory_waiters,
      .memory_waits = &m.memory_waits,
  };
}

}  // namespace

// Kafka frames: a signed 4-byte size, then a request for the broker.
class KafkaServer::Handler final : public net::Handler {
 public:
  explicit Handler(broker::Broker& broker) : broker_(broker) {}

  [[nodiscard]] Result<std::size_t> frame_size(std::span<const std::byte, 4> prefix,
                                               std::size_t frame_bytes_max) const override {
    return protocol::decode_frame_size(prefix, frame_bytes_max);
  }

  awaitable<Result<std::optional<net::OutFrame>>> handle(std::vector<std::byte> frame,
                                                         std::string peer_host) override {
    // Kafka shows a member's host as "/<address>".
    std::string client_host = peer_host.empty() ? std::string() : "/" + peer_host;
    auto result = co_await broker_.handle(std::move(frame), std::move(client_host));
    if (!result) co_return result.error();
    if (!*result) co_return std::optional<net::OutFrame>();
    co_return std::optional<net::OutFrame>(to_out_frame(std::move(**result)));
  }

 private:
  broker::Broker& broker_;
};

KafkaServer::KafkaServer(asio::io_context& io, ServerConfig config, broker::Broker& broker,
                         const Clock& clock)
    : handler_(std::make_unique<Handler>(broker)),
      listener_(std::make_unique<net::Listener>(io, std::move(config), *handler_,
                                                listener_metrics(broker.metrics()),
                                                log::Module::server, clock)) {}

KafkaServer::~KafkaServer() = default;

}  // namespace spate::server
