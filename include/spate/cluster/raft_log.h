// SPDX-License-Identifier: Apache-2.0
//
// A partition's log as its Raft replica's log (docs/raft.md, docs/cluster.md):
// raft::LogView over a storage::PartitionLog, and the driver's writes to it.
//
// Indexes: a batch [base, last] is the entry of index last + 1 and span
// last - base + 1, so that raft's index 0 (the empty log) is "before offset
// 0": the log's end offset is raft's last index, and raft's commit index is
// the high watermark. Terms are the batches' partitionLeaderEpoch.
//
// A new leader's no-op is an empty batch (no records, one offset: what Kafka's
// own log cleaner leaves behind, so every client skips it; kafka-python 2.0.2
// hands control records to the application as if they were data). A
// membership entry is a control batch (attributes bit 5) of one record whose
// key is Kafka's control key (version 0, type KRAFT_VOTERS (6), the slot
// Kafka's own Raft log uses for its voters) and whose value is
// raft::encode_membership. Every replica builds the same bytes for the same
// entry (no clock in them). Read back, a no-op is a normal entry whose data is
// its empty batch.

#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "spate/cluster/raft_state.h"
#include "spate/raft/log_view.h"
#include "spate/storage/partition_log.h"

namespace spate::cluster {

inline constexpr std::int16_t kControlMembership = 6;

// The empty batch stored for a new leader's no-op, at `base` with epoch `term`.
[[nodiscard]] std::vector<std::byte> make_noop_batch(Offset base, Term term);

// The control batch stored for a membership entry, at offset `base` with
// partitionLeaderEpoch `term`.
[[nodiscard]] std::vector<std::byte> make_control_batch(std::int16_t type,
                                                        std::span<const std::byte> value,
                                                        Offset base, Term term);

// What a stored control batch is to raft: its type and value.
struct ControlRecord {
  std::int16_t type = 0;
  std::vector<std::byte> value;
};
// Errors: malformed if the batch is not a one-record uncompressed control
// batch with a readable control key.
[[nodiscard]] Result<ControlRecord> read_control_batch(std::span<const std::byte> batch);

// Threading: the partition's shard only. Reads go to the log's files (the
// page cache), except for the boundaries of the most recent batches, kept in
// memory (most of raft's lookups land there).
class PartitionRaftLog final : public raft::LogView {
 public:
  // `state` is the replica's raft.state (its start and membership indexes);
  // indexes it names that no longer hold a membership batch (a crash between
  // raft.state and the log) are dropped by open().
  PartitionRaftLog(storage::PartitionLog& log, RaftState state);
  // Checks the membership indexes against the log. Errors: the log's;
  // corrupt_log for a membership entry whose value does not decode.
  [[nodiscard]] Status open();

  [[nodiscard]] raft::Index first_index() const override;
  [[nodiscard]] raft::Index last_index() const override;
  [[nodiscard]] Term term(raft::Index index) const override;
  [[nodiscard]] raft::Index previous_index(raft::Index index) const override;
  [[nodiscard]] std::vector<raft::Entry> entries(raft::Index from, raft::Index to,
                                                 std::size_t max_bytes) const override;
  [[nodiscard]] std::vector<raft::Index> membership_indexes() const override;
  [[nodiscard]] std::optional<raft::Membership> start_membership() const override;
  [[nodiscard]] std::vector<std::byte> start_snapshot() const override;

  // The driver's writes (Ready, in its order). append: a normal entry's data
  // is a stamped batch (stored verbatim); a no-op or membership entry becomes
  // its control batch. Errors: the log's (append_replicated); invalid_argument
  // if the entry does not start at last_index() + 1 or its batch disagrees
  // with its index, span or term.
  // `own`: an entry this replica proposed as leader (validated then).
  [[nodiscard]] Status append(const raft::Entry& entry, bool own = false);
  // Removes every entry from index `first` on (an entry's first index).
  [[nodiscard]] Status truncate_from(raft::Index first);
  // Discards the log and restarts it empty after `index` (Ready::restart:
  // its first entry will be index + 1, at offset `index`). state() must
  // already name `index` as the start, durably in raft.state: that is the
  // commit point, and an open finishes an interrupted restart from it
  // (Partition's start_raft). Errors: PartitionLog::restart_at's.
  [[nodiscard]] Status restart(raft::Index index);

  // Deleting a prefix (retention, DeleteRecords) keeps the membership at the
  // log's new start: raft.state records the membership entries a deletion
  // takes (RaftState::deleted_memberships) before the deletion is made.
  // The first membership entry of the log not recorded yet (a deletion must
  // not reach it before it is), or nullopt.
  [[nodiscard]] std::optional<raft::Index> first_unrecorded_membership() const;
  // Records in state() every membership entry of the log up to index
  // `through` (the driver writes raft.state before the deletion). Returns
  // whether any was added.
  bool record_memberships_through(raft::Index through);
  // After the log's start moved, durably: forgets the membership entries
  // and records the start no longer needs (the latest recorded at or below
  // it stays: it is the start's membership).
  void forget_below_start();

  // What raft.state must hold for this log (the driver writes it before the
  // appends and truncations that change it; see raft_state.h).
  [[nodiscard]] const RaftState& state() const { return state_; }
  [[nodiscard]] RaftState& state() { return state_; }
  // Whether `entry` adds a membership index (raft.state to be written first).
  [[nodiscard]] static bool is_membership(const raft::Entry& entry) {
    return entry.kind == raft::EntryKind::membership;
  }

 private:
  struct Boundary {
    Offset base;
    Offset last;
    Term term;
  };
  [[nodiscard]] std::optional<Boundary> batch_ending_at(Offset last) const;
  [[nodiscard]] std::optional<Boundary> batch_holding(Offset offset) const;
  [[nodiscard]] const Boundary* cached(Offset offset) const;
  void remember(const Boundary& b);
  [[nodiscard]] raft::Entry to_entry(std::span<const std::byte> batch,
                                     const protocol::BatchHeader& header) const;

  storage::PartitionLog& log_;
  RaftState state_;
  // The membership entries state_.membership_indexes names, checked by open().
  std::map<raft::Index, raft::Entry> memberships_;
  // The most recent batches' boundaries, ascending and contiguous up to the
  // log's end (a cache: anything older is read from the log).
  std::deque<Boundary> recent_;
  // The batch holding the log's start offset, found once per start.
  struct FirstBatch {
    Offset start;
    Offset base;
  };
  mutable std::optional<FirstBatch> first_;
  static constexpr std::size_t kRecentMax = 512;
};

}  // namespace spate::cluster
