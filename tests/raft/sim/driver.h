// SPDX-License-Identifier: Apache-2.0
//
// The one driver of raft::Replica in the tests and benchmarks: it makes each
// Ready durable in the order raft requires (hard state, log restart,
// truncation, entries), hands its messages on, applies the commit and calls
// advance(). The simulator (raft_sim.h), the scenario harness (harness.h)
// and bench/raft differ only in their ReadyHooks: what they check, where
// they tear a Ready, and how messages travel.

#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "spate/common/rng.h"
#include "spate/raft/replica.h"

#include "sim/mem_log.h"

namespace spate::raft::sim {

// One node: what survives a crash (its log, its hard state, its random
// source) and, while it is up, its replica.
struct Node {
  NodeId id = kNoNode;
  MemLog log;
  HardState state;
  std::unique_ptr<Rng> rng;
  std::unique_ptr<Replica> replica;

  // Starts a replica over the durable log and hard state.
  void start(const Config& config);
  // Loses everything not yet durable.
  void crash() { replica.reset(); }
};

// A Ready torn nowhere (see ReadyHooks::tear_point).
inline constexpr std::uint64_t kNoTear = ~std::uint64_t{0};

// What a driver's user checks and decides while a Ready is applied. The
// defaults persist everything and check nothing.
class ReadyHooks {
 public:
  virtual ~ReadyHooks() = default;
  // Where `node` crashes part way through making `ready` durable: after step
  // 0 (hard state), 1 (restart), 2 (truncation) or 3 + k (k entries
  // appended); kNoTear for nowhere.
  virtual std::uint64_t tear_point(const Node& /*node*/, const Ready& /*ready*/) { return kNoTear; }
  // The node crashed after `step`; the driver stops.
  virtual void crashed(Node& node, std::uint64_t /*step*/) { node.crash(); }
  // Each step, before it reaches the disk.
  virtual void persisting(const Node& /*node*/, const HardState& /*state*/) {}
  // The prefix hash the restarted log keeps as its start (MemLog::restart);
  // nullopt refuses the restart and the driver stops.
  virtual std::optional<std::uint64_t> restarting(Node& /*node*/, const LogRestart& /*restart*/) {
    return 0;
  }
  virtual void truncating(const Node& /*node*/, Index /*from*/) {}
  // Appends entries to the node's durable log.
  virtual void append(Node& node, const std::vector<Entry>& entries) { node.log.append(entries); }
  // This Ready's entries are durable and everything up to `commit` is
  // committed: apply it. Before the messages go.
  virtual void apply(Node& /*node*/, Index /*commit*/) {}
  // The Ready's messages to deliver, now that it is durable (they may be
  // moved out).
  virtual void send(Node& node, std::vector<Message>& messages) = 0;
};

// Hooks that persist everything and queue the messages in order.
class Mailbox : public ReadyHooks {
 public:
  void send(Node& /*node*/, std::vector<Message>& messages) override {
    for (auto& m : messages) queue.push_back(std::move(m));
  }
  std::deque<Message> queue;
};

// Applies `node`'s Readies while it has one, at most `max_rounds` in a row (a
// node makes more only in answer to advance(), which stops). Returns how many
// it applied, or -1 if it stopped part way through one (a tear, or a refused
// restart).
int drain(Node& node, ReadyHooks& hooks, int max_rounds = 100);

}  // namespace spate::raft::sim
