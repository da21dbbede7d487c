// SPDX-License-Identifier: Apache-2.0
//
// An in-memory durable log for raft::Replica (a raft::LogView), with a prefix
// hash per entry: the simulator's, the scenario tests' and bench/raft's disk.

#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "spate/raft/log_view.h"
#include "spate/raft/ready.h"

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

}  // namespace spate::raft::sim
