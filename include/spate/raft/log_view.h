// SPDX-License-Identifier: Apache-2.0
//
// The durable log as raft reads it (etcd raft's Storage): cluster adapts a
// storage::PartitionLog to it, the simulator keeps one in memory.

#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "spate/common/types.h"
#include "spate/raft/config.h"
#include "spate/raft/messages.h"

namespace spate::raft {

// The durable log, read-only to raft. first_index() is the first index the
// first kept entry covers; first_index() - 1 is the last index of the entry
// before it (its term is remembered by the log), or 0.
//
// A log that deletes a prefix (retention, or a restart after its leader's
// start) keeps three things about the last entry deleted: its term, the
// membership in effect there (Replica::membership_at), and, for a state
// machine that needs one (the controller), a snapshot of its state there.
// Partitions keep no snapshot: their entries are the state.
class LogView {
 public:
  virtual ~LogView() = default;
  [[nodiscard]] virtual Index first_index() const = 0;
  [[nodiscard]] virtual Index last_index() const = 0;
  // The term of the entry whose (last) index is `index`, or of first_index() - 1;
  // Term(-1) for an index inside an entry or outside the log.
  [[nodiscard]] virtual Term term(Index index) const = 0;
  // The index of the entry before the one that covers `index` (first_index()
  // - 1 for the first). REQUIRES: first_index() <= index <= last_index().
  [[nodiscard]] virtual Index previous_index(Index index) const = 0;
  // The entries covering [from, to] (the first may start before `from`),
  // stopping early after max_bytes of data (at least one).
  [[nodiscard]] virtual std::vector<Entry> entries(Index from, Index to,
                                                   std::size_t max_bytes) const = 0;
  // The indexes of the membership entries in [first_index(), last_index()],
  // ascending (a partition keeps them as control batches and indexes them).
  [[nodiscard]] virtual std::vector<Index> membership_indexes() const = 0;
  // The membership in effect at first_index() - 1, or nullopt if the log never
  // deleted a prefix (then Config's initial membership applies).
  [[nodiscard]] virtual std::optional<Membership> start_membership() const = 0;
  // The state machine's snapshot at first_index() - 1 (empty if none). It is
  // sent to a follower that restarts its log there (Ready::restart).
  [[nodiscard]] virtual std::vector<std::byte> start_snapshot() const = 0;
};

}  // namespace spate::raft
