// SPDX-License-Identifier: Apache-2.0
//
// A deterministic simulator for raft::Replica: N nodes with in-memory
// durable logs, a seeded network that delays, drops, duplicates and
// reorders messages, partitions (symmetric, one-way, bridge), crashes that
// lose everything not yet durable, restarts, proposals, leadership transfers,
// retention, and membership changes (spare nodes join as learners, learners
// are promoted, members are removed). Every message crosses the wire codec.
// Safety invariants are checked after every event; a failure names the seed
// and prints the last events.

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
#include "spate/raft/raft.h"

namespace spate::raft::sim {

// The durable log of one node: its entries (each covering `span` indexes, so
// indexes may skip), and a prefix hash per entry so that "identical up to i"
// is one comparison.
class MemLog final : public LogView {
 public:
  [[nodiscard]] Index first_index() const override { return first_; }
  [[nodiscard]] Index last_index() const override {
    return entries_.empty() ? first_ - 1 : entries_.back().index;
  }
  [[nodiscard]] Term term(Index index) const override;
  [[nodiscard]] Index previous_index(Index index) const override;
  [[nodiscard]] std::vector<Entry> entries(Index from, Index to,
                                           std::size_t max_bytes) const override;
  [[nodiscard]] std::vector<Index> membership_indexes() const override;
  [[nodiscard]] std::optional<Membership> start_membership() const override {
    return start_membership_;
  }
  [[nodiscard]] std::vector<std::byte> start_snapshot() const override { return start_snapshot_; }
  void truncate_from(Index index);
  void append(const std::vector<Entry>& entries);
  // Retention: drops the entries up to `index` (an entry's), keeping its term
  // and hash, the membership there and the snapshot.
  void compact(Index index, Membership membership, std::vector<std::byte> snapshot);
  // The log restarts empty after `index` (a follower behind its leader's start).
  void restart(const LogRestart& restart, std::uint64_t prefix_hash);
  // The membership in effect before `index` per this log (`initial` if none).
  [[nodiscard]] Membership membership_before(Index index, const Membership& initial) const;
  // Whether an entry ends at `index` (not the log start).
  [[nodiscard]] bool has(Index index) const { return find(index) != nullptr; }
  // REQUIRES: has(index).
  [[nodiscard]] const Entry& at(Index index) const;
  // The largest entry index at or below `index`, or first_index() - 1.
  [[nodiscard]] Index floor(Index index) const;
  [[nodiscard]] const std::vector<Entry>& all() const { return entries_; }
  // Hash of the log up to `index`. REQUIRES: has(index) or index == first_index() - 1.
  [[nodiscard]] std::uint64_t prefix_hash(Index index) const;

 private:
  [[nodiscard]] std::size_t lower(Index index) const;  // first entry with index >= index
  [[nodiscard]] const Entry* find(Index index) const;

  Index first_ = 1;
  Term start_term_{0};
  std::uint64_t start_hash_ = 0;
  std::optional<Membership> start_membership_;
  std::vector<std::byte> start_snapshot_;
  std::vector<Entry> entries_;
  std::vector<std::uint64_t> hashes_;
};

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

class Cluster {
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
  struct Node {
    NodeId id;
    MemLog log;
    HardState state;
    std::unique_ptr<Rng> rng;
    std::unique_ptr<Replica> replica;
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

  void process(Node& node);  // drains Ready: persist, check, send, advance
  void deliver_due();
  void random_faults();
  void random_membership_change();
  void check_membership_entries(const Node& node, const std::vector<Entry>& entries);
  // Appends entries to the node's durable log, checking membership entries
  // and log matching against every other node.
  void append_checked(Node& node, const std::vector<Entry>& entries);
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
  std::vector<Node> nodes_;
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
