// SPDX-License-Identifier: Apache-2.0
//
// The Raft algorithm as a pure, deterministic state machine (design.md,
// Replication; etcd raft's shape). tick(), step() and propose() go in; a
// Ready comes out: what to make durable (hard state, truncation, entries)
// and the messages to send once it is durable. No I/O, no clock, no threads:
// the same inputs give the same outputs, which is what the simulator in
// tests/raft/sim relies on.
//
// The headers: config.h (a replica's settings and a group's members),
// messages.h (entries and messages), log_view.h (the durable log, read-only),
// ready.h (what the driver makes durable and sends), replica.h (the state
// machine), wire.h (the inter-broker encoding).
//
// An entry is opaque bytes (a record batch in a partition) with an index and
// a term. An entry covers `span` consecutive indexes and is known by the last
// (a batch covers its records' offsets and is known by its last offset), so
// the indexes of consecutive entries grow by the later one's span. Index 0 is
// "before the first entry".

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "spate/common/types.h"

namespace spate::raft {

using Index = std::int64_t;
inline constexpr NodeId kNoNode{-1};

// The members of a group: voters elect and count towards commits; learners
// only replicate. Both sorted, disjoint.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  bool operator==(const Membership&) const = default;
  [[nodiscard]] bool is_voter(NodeId id) const;
  [[nodiscard]] bool is_learner(NodeId id) const;
  [[nodiscard]] bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
  [[nodiscard]] std::size_t quorum() const { return voters.size() / 2 + 1; }
  [[nodiscard]] std::string describe() const;  // "voters [0 1 2] learners [3]"
};

struct Config {
  NodeId id = kNoNode;
  // The group's initial membership (in effect at index 0), the same on every
  // node that is ever a member: a node that joins later is given it too, and
  // learns the changes since from the log. A node outside the voters never
  // campaigns.
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  int election_ticks = 10;  // a follower campaigns after [n, 2n) ticks without a leader
  int heartbeat_ticks = 1;  // a leader heartbeats this often
  bool pre_vote = true;
  bool check_quorum = true;       // a leader steps down without a quorum of replies per election
  std::size_t max_inflight = 64;  // append messages in flight per follower
  std::size_t max_append_bytes = 1U << 20U;  // data per append message
  // A learner is promoted only when its log is at most this many indexes
  // behind the leader's (thesis §4.2.1: a slow new voter would stall commits).
  Index max_promote_lag = 10'000;
};

// One change of membership (thesis §4.1: one server at a time, so that any
// majority of the old voters and any majority of the new ones overlap).
struct MembershipChange {
  enum class Type : std::uint8_t { add_learner, promote, remove };
  Type type = Type::add_learner;
  NodeId node = kNoNode;
};

}  // namespace spate::raft
