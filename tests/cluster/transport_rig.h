// SPDX-License-Identifier: Apache-2.0
//
// Transports on 127.0.0.1 ephemeral ports, all on one io_context that the
// test thread runs in bounded slices (run_until), with what each one
// received recorded. Request methods: 1 echoes, 2 echoes after the number
// of milliseconds in its first payload byte x 10, the rest are unknown.

#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "spate/cluster/transport.h"

namespace spate::cluster::testing {

using namespace std::chrono_literals;
using CallResult = Result<std::vector<std::byte>>;

inline constexpr std::uint16_t kEcho = 1;
inline constexpr std::uint16_t kSlowEcho = 2;

struct Delivered {
  NodeId from;
  RaftGroupId group;
  raft::Message message;
};

inline raft::Message heartbeat(int from, int to, std::int64_t commit) {
  raft::Message m;
  m.type = raft::MessageType::heartbeat;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(1);
  m.commit = commit;
  return m;
}

struct RigNode {
  std::unique_ptr<Transport> transport;
  std::uint16_t port = 0;
  std::vector<Delivered> delivered;
  std::size_t requests = 0;
  std::vector<NodeId> lost;  // on_peer_lost's reports
};

class Rig {
 public:
  Rig() = default;
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;
  ~Rig() {
    for (auto& [id, node] : nodes_) stop_transport(*node.transport);
  }

  TransportConfig config(int id, std::uint16_t port = 0) const {
    TransportConfig c;
    c.node = NodeId(id);
    c.cluster_id = "rig";
    c.host = "127.0.0.1";
    c.port = port;
    c.backoff_min = 10ms;
    c.backoff_max = 100ms;
    c.connect_timeout = 1'000ms;
    c.hello_timeout = 1'000ms;
    c.seed = static_cast<std::uint64_t>(id) + 1;
    return c;
  }

  // Creates and listens (not started).
  RigNode& add(TransportConfig c) {
    const int id = c.node.value();
    auto& node = nodes_[id];
    node.transport = std::make_unique<Transport>(io_, std::move(c), clock_);
    node.port = node.transport->listen().value();
    auto* record = &node;
    node.transport->on_peer_lost([record](NodeId peer) { record->lost.push_back(peer); });
    node.transport->on_raft([record](NodeId from, RaftGroupId group, raft::Message message) {
      record->delivered.push_back({from, group, std::move(message)});
    });
    node.transport->on_request([record](NodeId /*from*/, std::uint16_t method,
                                        std::vector<std::byte> payload) -> awaitable<CallResult> {
      ++record->requests;
      if (method == kSlowEcho) {
        const auto tens = payload.empty() ? 0 : std::to_integer<int>(payload[0]);
        asio::steady_timer timer(co_await asio::this_coro::executor, tens * 10ms);
        co_await timer.async_wait(use_awaitable);
      } else if (method != kEcho) {
        co_return Error::not_found(fmt::format("unknown method {}", method));
      }
      co_return payload;
    });
    return node;
  }
  RigNode& add(int id) { return add(config(id)); }
  RigNode& node(int id) { return nodes_.at(id); }
  Transport& transport(int id) { return *nodes_.at(id).transport; }

  // Every node a peer of every other, then started.
  void mesh() {
    for (auto& [id, node] : nodes_) {
      for (auto& [other, peer] : nodes_) {
        if (other == id) continue;
        EXPECT_TRUE(node.transport->set_peer(NodeId(other), "127.0.0.1", peer.port));
      }
      node.transport->start();
    }
  }
  bool connected_all() {
    for (auto& [id, node] : nodes_) {
      for (auto& [other, peer] : nodes_) {
        if (other != id && !node.transport->connected(NodeId(other))) return false;
      }
    }
    return true;
  }

  // Runs the io_context until `done()` or `timeout`. True if done.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5'000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_for(2ms);
    }
    return true;
  }
  void run_for(std::chrono::milliseconds time) {
    run_until([] { return false; }, time);
  }

  // Stops and forgets node `id` (its port is free again).
  void remove(int id) {
    stop_transport(*nodes_.at(id).transport);
    nodes_.erase(id);
  }

  // Starts a call; the result lands in the returned slot.
  std::shared_ptr<std::optional<CallResult>> call(int from, int to, std::uint16_t method,
                                                  std::vector<std::byte> payload,
                                                  std::chrono::milliseconds timeout = 2'000ms) {
    auto slot = std::make_shared<std::optional<CallResult>>();
    asio::co_spawn(io_,
                   call_into(transport(from), NodeId(to), method, std::move(payload),
                             net::deadline_in(timeout), slot),
                   [](std::exception_ptr e) {
                     if (e) std::rethrow_exception(e);
                   });
    return slot;
  }
  // A call run to its end.
  CallResult call_now(int from, int to, std::uint16_t method, std::vector<std::byte> payload,
                      std::chrono::milliseconds timeout = 2'000ms) {
    auto slot = call(from, to, method, std::move(payload), timeout);
    EXPECT_TRUE(run_until([&] { return slot->has_value(); }, timeout + 2'000ms));
    if (!slot->has_value()) return Error(Errc::timeout, "the test gave up");
    return std::move(**slot);
  }

  asio::io_context& io() { return io_; }

 private:
  // (co_spawn wants a default-constructible result: Result is not.)
  static awaitable<void> call_into(Transport& transport, NodeId to, std::uint16_t method,
                                   std::vector<std::byte> payload, net::Deadline deadline,
                                   std::shared_ptr<std::optional<CallResult>> slot) {
    slot->emplace(co_await transport.call(to, method, std::move(payload), deadline));
  }
  void stop_transport(Transport& transport) {
    bool stopped = false;
    asio::co_spawn(io_, transport.stop(), [&stopped](std::exception_ptr) { stopped = true; });
    EXPECT_TRUE(run_until([&] { return stopped; }, 10'000ms)) << "stop() did not finish";
  }

  asio::io_context io_;
  SystemClock clock_;
  std::map<int, RigNode> nodes_;
};

}  // namespace spate::cluster::testing
