// SPDX-License-Identifier: Apache-2.0
//
// A deterministic simulator for raft::Replica: N nodes with in-memory
// durable logs, a seeded network that delays, drops, duplicates and
// reorders messages, partitions (symmetric, one-way, bridge), crashes that
// lose everything not yet durable, restarts, proposals, leadership transfers,
// retention, and membership changes (spare nodes join as learners, learners
// are promoted, members are removed). Every message crosses the wire codec.
// Safety invariants are checked after every event; a failure names the seed
// and prints the last events. Readies go through the one driver (driver.h);
// the checks and faults are this cluster's ReadyHooks.

#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "spate/common/rng.h"
#include "spate/raft/replica.h"

#include "sim/driver.h"
#include "sim/mem_log.h"

namespace spate::raft::sim {

struct Faults {
  int drop_percent = 5;
  int duplicate_percent = 2;
  int max_delay_ticks = 3;
  int crash_per_mille = 8;
  int restart_percent = 5;
  int partition_per_mille = 10;
  int heal_percent = 4;
  int propose_percent = 30;
  int transfer_per_mille = 5;
  int compact_per_mille = 5;      // a node deletes a committed prefix (retention)
  int membership_per_mille = 15;  // the leader is asked to add, promote or remove a node
  int torn_per_mille = 2;         // a node crashes part way through making a Ready durable
  // ... and far more often when the Ready restarts or truncates the log, the
  // steps whose order the durable commit depends on (torn before they ran).
  int torn_replacing_percent = 25;
  // A node is told it lost its connection to a node (Replica::
  // leader_unreachable): to every other node after a crash or a cut, and
  // now and then spuriously (a link that broke while the leader lives).
  int unreachable_percent = 50;
  int spurious_unreachable_per_mille = 10;
};

// The sim's state machine is the log's prefix hash; its snapshot is that hash.
[[nodiscard]] std::vector<std::byte> snapshot_of(std::uint64_t prefix_hash);

struct SimStats {
  std::uint64_t seeds = 0;
  std::uint64_t ticks = 0;
  std::uint64_t messages = 0;
  std::uint64_t dropped = 0;
  std::uint64_t crashes = 0;
  std::uint64_t torn_readies = 0;  // crashes between the steps of a Ready
  std::uint64_t partitions = 0;
  std::uint64_t elections = 0;
  std::uint64_t committed = 0;
  std::uint64_t proposals = 0;
  std::uint64_t compactions = 0;
  std::uint64_t restarts_from_leader = 0;
  std::uint64_t membership_changes = 0;  // committed
  std::uint64_t membership_refused = 0;  // refused by the leader (busy, lagging, ...)
  std::uint64_t learners_added = 0;      // proposed and accepted, by kind
  std::uint64_t promotions = 0;
  std::uint64_t removals = 0;
  std::uint64_t leaders_removing_themselves = 0;
};

class Cluster : private ReadyHooks {
 public:
  // `voters` nodes start as the group; `spares` more run outside it until the
  // leader adds them.
  Cluster(std::uint64_t seed, int voters, Faults faults, SimStats& stats, int spares = 0);

  // Runs `ticks` ticks of faults and traffic, then heals everything and
  // checks that a leader is elected and a proposal commits on every node
  // within a bounded number of ticks. Returns "" or the failure with its trace.
  std::string run(int ticks);

  // Building blocks for scenario tests.
  void tick();
  void crash(int node);
  void restart(int node);
  void isolate(const std::set<int>& group);  // cut `group` from the rest, both ways
  void block(int from, int to);              // one way
  void heal();
  bool propose_to_leader(const std::string& data);
  // Asks the leader for a change; true if it appended the entry.
  bool change_membership(MembershipChange change);
  [[nodiscard]] int leader() const;  // -1 if none up
  [[nodiscard]] Replica* replica(int node) {
    return nodes_[static_cast<std::size_t>(node)].replica.get();
  }
  [[nodiscard]] const MemLog& log(int node) const {
    return nodes_[static_cast<std::size_t>(node)].log;
  }
  [[nodiscard]] const std::string& failure() const { return failure_; }
  [[nodiscard]] std::string trace() const;
  void set_faults(Faults f) { faults_ = f; }
  [[nodiscard]] Index committed_index() const { return committed_last_; }

 private:
  // A node and what the checks remember about it.
  struct Peer : Node {
    Index commit_seen = 0;  // for "commit never moves back" within one life
    Role role_seen = Role::follower;
    Term term_seen{0};
    // The membership it used when it crashed (its latest, durable or not): a
    // leader may have persisted a commit counted against a membership entry
    // that the crash then lost.
    Membership members_at_crash;
  };
  struct InFlight {
    std::uint64_t deliver_at;
    std::uint64_t order;  // ties: random, fixed by the seed
    Message message;
  };

  void process(Peer& node);  // checks the replica, drains its Readies, checks again
  [[nodiscard]] Peer& peer(const Node& node) {
    return nodes_[static_cast<std::size_t>(node.id.value())];
  }
  // ReadyHooks: the faults and checks while a Ready is made durable
  // (raft_sim_hooks.cpp).
  std::uint64_t tear_point(const Node& node, const Ready& ready) override;
  void crashed(Node& node, std::uint64_t step) override;
  void persisting(const Node& node, const HardState& state) override;
  std::optional<std::uint64_t> restarting(Node& node, const LogRestart& restart) override;
  void truncating(const Node& node, Index from) override;
  void append(Node& node, const std::vector<Entry>& entries) override;
  void apply(Node& node, Index commit) override;
  void send(Node& node, std::vector<Message>& messages) override;
  void deliver_due();
  void random_faults();
  void random_membership_change();
  void check_membership_entries(const Node& node, const std::vector<Entry>& entries);
  // Entries from..to of `node`'s log are committed: equal to what was
  // committed before, or newly committed and durable on a majority of the
  // voters of `members`.
  void check_committed(const Node& node, Index from, Index to, const Membership& members);
  void check_roles();
  void note(std::string event);
  void fail(const std::string& why);
  [[nodiscard]] bool blocked(NodeId from, NodeId to) const;
  [[nodiscard]] Config config_for(NodeId id) const;

  std::uint64_t seed_;
  Rng rng_;
  Faults faults_;
  SimStats& stats_;
  std::vector<Peer> nodes_;
  Membership initial_;
  std::vector<InFlight> network_;
  std::set<std::pair<std::int32_t, std::int32_t>> cut_;  // (from, to) blocked
  std::uint64_t now_ = 0;
  std::uint64_t order_ = 0;
  std::uint64_t proposals_ = 0;
  std::map<Index, Entry> committed_;                 // by index, as first committed
  std::map<Index, std::uint64_t> committed_hashes_;  // prefix hash of the committed log up to i
  Index committed_last_ = 0;
  std::map<std::int64_t, std::int32_t> leaders_;  // term -> leader
  std::deque<std::string> trail_;
  std::string failure_;
};

}  // namespace spate::raft::sim
