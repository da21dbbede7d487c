// SPDX-License-Identifier: Apache-2.0
//
// The scenario tests' harness: a group of nodes driven message by message
// (no random faults): the tests decide who is up, what is delivered and when
// a node campaigns, crashes or restarts. Readies go through the one driver
// (driver.h); every commit is checked against what was committed before.

#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "spate/raft/replica.h"

#include "sim/driver.h"
#include "sim/mem_log.h"

namespace spate::raft::sim {

std::vector<std::byte> bytes(const std::string& s);

class Harness : private Mailbox {
 public:
  // Nodes 0..voters-1 form the group; the others are spares that run outside
  // it until added (voters < 0: every node is a voter).
  Harness(int n, bool pre_vote, bool check_quorum, int voters = -1);

  [[nodiscard]] Config config(int i) const;
  void start(int i) { nodes_[u(i)].start(config(i)); }
  // Drops the node's replica and every queued message to or from it.
  void crash(int i);
  Replica& r(int i) { return *nodes_[u(i)].replica; }
  [[nodiscard]] const HardState& state(int i) const { return nodes_[u(i)].state; }
  // A crash part way through node i's next Ready: the hard state reaches the
  // disk, then the node dies before touching its log. Returns that Ready.
  Ready tear(int i);
  [[nodiscard]] const MemLog& log(int i) const { return nodes_[u(i)].log; }
  // Retention on node i: deletes up to `upto`, keeping what raft needs.
  void compact(int i, Index upto, const std::string& snapshot);

  // Checks every node's invariants, persists its Readies and queues its
  // messages.
  void flush();
  // Delivers queued messages between nodes of `alive` (others are dropped),
  // passing each through `filter` (which may edit it or return false to drop).
  void deliver(
      const std::set<int>& alive,
      const std::function<bool(Message&)>& filter = [](Message&) { return true; });
  // A TimeoutNow from `from`: `i` campaigns at once, once, among `alive`.
  void campaign_now(int i, int from, const std::set<int>& alive);
  // Makes `i` campaign at once (a TimeoutNow) among `alive`, retrying in a
  // higher term if it loses one (its term may be stale). With `replicate`
  // false the new leader's first appends are dropped (it won, then nothing).
  void elect(int i, const std::set<int>& alive, bool replicate = true);
  void tick(const std::set<int>& alive);

  std::map<Index, Entry> committed;
  std::string violation;
  std::vector<LogRestart> restarts;

 private:
  static std::size_t u(int i) { return static_cast<std::size_t>(i); }
  // ReadyHooks: record restarts, check commits.
  std::optional<std::uint64_t> restarting(Node& node, const LogRestart& restart) override;
  void apply(Node& node, Index commit) override;

  std::vector<Node> nodes_;
  int voters_;
  bool pre_vote_ = true;
  bool check_quorum_ = true;
};

}  // namespace spate::raft::sim
