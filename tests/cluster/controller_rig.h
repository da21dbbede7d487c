// SPDX-License-Identifier: Apache-2.0
//
// The controller tests' rig: four cluster::Controllers, each with its own
// data directory and a real Transport on 127.0.0.1, in one io_context.
// Nodes 0, 1 and 2 are the group's voters (the --seeds); node 3, when a test
// starts it, is a broker outside them that joins as a learner. As in spated,
// each node knows the voters as peers from the start and the other
// registered brokers once their registrations applied (peer_addresses, which
// the rig applies at every tick as MetadataApplier does).

#pragma once

#include <array>
#include <map>
#include <optional>

#include <gtest/gtest.h>

#include "spate/cluster/assignment.h"
#include "spate/cluster/controller.h"
#include "spate/cluster/metadata_applier.h"
#include "spate/cluster/metadata_codec.h"
#include "spate/common/log.h"
#include "spate/storage/mem_fs.h"

namespace spate::cluster::test {

using namespace std::chrono_literals;

inline constexpr int kVoters = 3;
inline constexpr int kNodes = 4;

struct Node {
  std::unique_ptr<DiskThread> disk;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<Controller> controller;
  std::uint16_t port = 0;
};

class ControllerGroup : public ::testing::Test {
 protected:
  ControllerGroup() {
    log::set_level(std::getenv("SPATE_TEST_DEBUG") ? spdlog::level::debug
                                                   : spdlog::level::critical);
  }
  ~ControllerGroup() override {
    for (int id = 0; id < kNodes; ++id) stop(id);
  }

  ControllerConfig config(int id) {
    ControllerConfig c;
    c.snapshot_every = snapshot_every_;
    c.self = NodeId(id);
    c.voters = {NodeId(0), NodeId(1), NodeId(2)};
    if (auto it = seeds_.find(id); it != seeds_.end()) c.voters = it->second;
    c.registration.advertised = HostPort{"127.0.0.1", 9092 + id * 10};
    c.registration.cluster = HostPort{"127.0.0.1", ports_[static_cast<std::size_t>(id)]};
    c.broker_heartbeat = 50ms;
    c.broker_session = 600ms;
    c.call_timeout = 1'000ms;
    c.retry_backoff = 20ms;
    c.counters = &counters_[static_cast<std::size_t>(id)];
    return c;
  }

  // Opens node `id`'s transport (on its old port after the first time) and controller.
  void start(int id) {
    auto& n = nodes_[static_cast<std::size_t>(id)];
    n.disk = std::make_unique<DiskThread>();
    TransportConfig tc;
    tc.node = NodeId(id);
    tc.cluster_id = "controller-test";
    tc.host = "127.0.0.1";
    tc.port = ports_[static_cast<std::size_t>(id)];
    tc.backoff_min = 10ms;
    tc.backoff_max = 100ms;
    tc.seed = static_cast<std::uint64_t>(id) + 1;
    n.transport = std::make_unique<Transport>(io_, tc, clock_);
    auto port = n.transport->listen();
    ASSERT_TRUE(port) << port.error();
    ports_[static_cast<std::size_t>(id)] = *port;
    n.port = *port;
    const auto dir = std::filesystem::path(fmt::format("/n{}", id));
    ASSERT_TRUE(fs_.create_directories(dir));
    auto c = Controller::open(fs_, dir, clock_, io_.get_executor(), *n.disk, n.transport.get(),
                              config(id));
    ASSERT_TRUE(c) << c.error();
    n.controller = std::move(*c);
    auto* controller = n.controller.get();
    n.transport->on_raft([controller](NodeId, RaftGroupId group, raft::Message m) {
      if (group.is_controller()) controller->step(std::move(m));
    });
    n.transport->on_request(
        [controller](NodeId from, std::uint16_t method, std::vector<std::byte> payload) {
          return controller->handle_call(from, method, std::move(payload));
        });
  }

  // Connects the started nodes to each other and starts them.
  void connect_and_start(std::initializer_list<int> ids) {
    for (int id : ids) {
      auto& n = nodes_[static_cast<std::size_t>(id)];
      for (int other = 0; other < kVoters; ++other) {
        if (other == id || ports_[static_cast<std::size_t>(other)] == 0) continue;
        ASSERT_TRUE(n.transport->set_peer(NodeId(other), "127.0.0.1",
                                          ports_[static_cast<std::size_t>(other)]));
      }
      n.transport->start();
      n.controller->start();
    }
  }

  void stop(int id) {
    auto& n = nodes_[static_cast<std::size_t>(id)];
    if (!n.controller) return;
    bool done = false;
    asio::co_spawn(
        io_,
        [](Node& node, bool& finished) -> awaitable<void> {
          co_await node.transport->stop();
          co_await node.controller->close();
          finished = true;
        }(n, done),
        asio::detached);
    EXPECT_TRUE(run_until([&] { return done; }, 10'000ms));
    n.controller.reset();
    n.transport.reset();
    n.disk.reset();
  }

  // Runs the io_context, ticking every controller every 10 ms.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto next_tick = std::chrono::steady_clock::now();
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      if (now >= next_tick) {
        for (auto& n : nodes_) {
          if (n.controller) n.controller->tick();
        }
        sync_peers();
        next_tick = now + 10ms;
      }
      if (io_.stopped()) io_.restart();
      io_.run_for(2ms);
    }
    return true;
  }

  // What MetadataApplier::update_peers does: every registered broker
  // becomes a peer, the voters at their --seeds address, and a broker no
  // longer registered (removed) is forgotten.
  void sync_peers() {
    std::map<NodeId, HostPort> seeds;
    for (int v = 0; v < kVoters; ++v) {
      const auto port = ports_[static_cast<std::size_t>(v)];
      if (port != 0) seeds.emplace(NodeId(v), HostPort{"127.0.0.1", port});
    }
    for (auto& n : nodes_) {
      if (!n.controller) continue;
      const auto wanted =
          peer_addresses(n.controller->config().self, n.controller->state().brokers(), seeds);
      for (const auto& [id, address] : wanted) {
        EXPECT_TRUE(
            n.transport->set_peer(id, address.host, static_cast<std::uint16_t>(address.port)));
      }
      for (int other = kVoters; other < kNodes; ++other) {
        if (!wanted.contains(NodeId(other))) n.transport->forget_peer(NodeId(other));
      }
    }
  }

  int leader() {
    int found = -1;
    for (int id = 0; id < kNodes; ++id) {
      auto& c = nodes_[static_cast<std::size_t>(id)].controller;
      if (c && c->is_leader()) found = id;
    }
    return found;
  }

  bool all_registered(std::initializer_list<int> ids, std::size_t brokers) {
    for (int id : ids) {
      auto& c = nodes_[static_cast<std::size_t>(id)].controller;
      if (!c || c->state().brokers().size() < brokers || c->broker_epoch() < 0) return false;
      for (const auto& [b, reg] : c->state().brokers()) {
        if (reg.fenced) return false;
      }
    }
    return true;
  }

  Result<Proposed> propose(int id, Command command) {
    std::optional<Result<Proposed>> out;
    auto& c = *nodes_[static_cast<std::size_t>(id)].controller;
    asio::co_spawn(
        io_,
        [](Controller& ctl, Command cmd, std::optional<Result<Proposed>>& slot,
           Clock::SteadyTime deadline) -> awaitable<void> {
          slot.emplace(co_await ctl.propose(std::move(cmd), deadline));
        }(c, std::move(command), out, clock_.steady_now() + 5s),
        asio::detached);
    EXPECT_TRUE(run_until([&] { return out.has_value(); }, 10'000ms));
    return out.value_or(Result<Proposed>(Error(Errc::timeout, "test gave up")));
  }

  CreateTopic create_topic(int via, const std::string& name, int partitions, int rf = 3) {
    const auto& state = nodes_[static_cast<std::size_t>(via)].controller->state();
    auto assignment = assign_replicas(broker_slots(state), broker_load(state), partitions, rf);
    EXPECT_TRUE(assignment) << assignment.error();
    return CreateTopic{name, 0, assignment ? *assignment : ReplicaAssignment{}, {}};
  }

  std::vector<std::byte> snapshot(int id) {
    return encode_snapshot(nodes_[static_cast<std::size_t>(id)].controller->state());
  }

  Controller& controller(int id) { return *nodes_[static_cast<std::size_t>(id)].controller; }

  // Creates `count` one-partition topics named prefix-N through node `via`.
  void create_topics(int via, const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      auto r = propose(via, create_topic(via, fmt::format("{}-{}", prefix, i), 1));
      ASSERT_TRUE(r) << r.error();
      ASSERT_TRUE(r->outcome.applied()) << r->outcome.message;
    }
  }

  std::int64_t snapshot_every_ = 10'000;
  // A node's --seeds when not the usual 0, 1, 2 (its config's voters).
  std::map<int, std::vector<NodeId>> seeds_;
  asio::io_context io_;
  SystemClock clock_;
  storage::MemFs fs_;
  std::array<std::uint16_t, kNodes> ports_{};
  std::array<RaftCounters, kNodes> counters_{};  // each node's controller group
  std::array<Node, kNodes> nodes_;
};

}  // namespace spate::cluster::test
