// SPDX-License-Identifier: Apache-2.0
//
// The log as a replica sees it (etcd's raftLog and unstable): the durable log
// (a LogView, read-only) with the changes not yet made durable over it:
// entries appended since the last Ready, a pending truncation of durable
// entries they replace, or a pending restart of the whole log after the
// leader's start. Ready hands the changes out; advance() drops them once the
// driver made them durable. Private to raft.

#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "spate/raft/log_view.h"
#include "spate/raft/messages.h"
#include "spate/raft/ready.h"

namespace spate::raft {

class UnstableLog {
 public:
  // `id` names the node in assertion messages.
  UnstableLog(const LogView& durable, NodeId id);

  [[nodiscard]] const LogView& durable() const { return durable_; }
  [[nodiscard]] Index last_index() const {
    return entries_.empty() ? first_ - 1 : entries_.back().index;
  }
  // The term of the entry ending at `index` (or of the log's start);
  // Term(-1) inside an entry or outside the log.
  [[nodiscard]] Term term_at(Index index) const;
  // The index of the entry before entry `index`. REQUIRES: `index` is an entry's.
  [[nodiscard]] Index previous_index(Index index) const;
  // The largest entry index (or log start) at or below `index`; -1 if that is
  // below the log's start (deleted).
  [[nodiscard]] Index floor_index(Index index) const;
  // The last index of the durable log that no pending change replaces.
  [[nodiscard]] Index durable_last() const {
    if (pending_restart_) return pending_restart_->index;
    return pending_truncate_ ? std::min(*pending_truncate_ - 1, durable_.last_index())
                             : durable_.last_index();
  }
  // The entries from `from` on, stopping after max_bytes of data (at least one).
  [[nodiscard]] std::vector<Entry> entries_from(Index from, std::size_t max_bytes) const;

  // `entries` replace everything after `entries.front().first() - 1`, which
  // must be where an entry ends (or the end of the log).
  void append(std::vector<Entry> entries);
  // The log restarts empty after `restart.index`.
  void restart(LogRestart restart);

  // Something to make durable: entries, a truncation or a restart.
  [[nodiscard]] bool has_changes() const {
    return !entries_.empty() || pending_truncate_.has_value() || pending_restart_.has_value();
  }
  // The last index of the durable log that the driver keeps whatever this
  // Ready does; before a restart, nothing past `persisted_commit` is kept.
  [[nodiscard]] Index kept_end(Index persisted_commit) const {
    // Before a restart the old log is still there, and all of it after the
    // persisted commit may be replaced; otherwise the log is durable and kept
    // up to first_ - 1 (truncation and unstable entries start there).
    return pending_restart_ ? persisted_commit : std::min(durable_.last_index(), first_ - 1);
  }
  // Copies the changes into a Ready (restart, truncation, entries).
  void fill(Ready& ready) const;
  // The driver made `ready` durable: the durable log now holds its entries.
  void advance(const Ready& ready);
  // "" or what is wrong with the unstable entries (contiguous, with terms
  // non-decreasing and at most `term`).
  [[nodiscard]] std::string check(Term term) const;

 private:
  const LogView& durable_;
  NodeId id_;
  // Entries not yet durable: they start at first_ and replace the durable log
  // from there (a pending truncation when first_ is at or below the durable
  // last index).
  Index first_ = 1;
  std::vector<Entry> entries_;
  std::optional<Index> pending_truncate_;
  std::optional<LogRestart> pending_restart_;
};

}  // namespace spate::raft
