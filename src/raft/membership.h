// SPDX-License-Identifier: Apache-2.0
//
// Membership (etcd's confchange and the configuration half of its tracker):
// every membership a replica's log holds, so that the latest one is in effect
// as soon as it is appended and an older one comes back when a truncation
// removes a later one; and the rules for one change at a time (thesis §4.1).
// Private to raft.

#pragma once

#include <map>

#include "spate/common/result.h"
#include "spate/raft/config.h"
#include "spate/raft/log_view.h"
#include "spate/raft/messages.h"

namespace spate::raft {

class MembershipLog {
 public:
  // From the log's start membership (or `config`'s initial one) and the
  // membership entries the log holds.
  MembershipLog(const Config& config, const LogView& log);

  // The latest membership (appended, not necessarily committed).
  [[nodiscard]] const Membership& latest() const { return latest_; }
  // The index of the latest membership entry (the base's index if none).
  [[nodiscard]] Index latest_index() const;
  // The membership in effect at `index`.
  [[nodiscard]] Membership at(Index index) const;

  // A membership entry appended at `entry.index`.
  void add(const Entry& entry);
  // Forgets the membership entries at or after `first` (a truncation); true
  // if there were any.
  bool truncate_from(Index first);
  // The log restarted after `index` with `membership` in effect there.
  void restart(Index index, Membership membership);

 private:
  void refresh() { latest_ = changes_.empty() ? base_ : changes_.rbegin()->second; }

  NodeId id_;
  // `base_` is in effect at `base_index_` (the log's start when this replica
  // started or last restarted its log); `changes_` holds every membership
  // entry after it, durable or not; `latest_` is the latest.
  Index base_index_ = 0;
  Membership base_;
  std::map<Index, Membership> changes_;
  Membership latest_;
};

// `current` after `change`, or why the change is refused: invalid_argument
// for adding a member, promoting a non-learner or a learner lagging more than
// `max_lag` behind the leader (`learner_lag`, for a promotion), removing a
// non-member or the last voter.
[[nodiscard]] Result<Membership> apply_change(const Membership& current, MembershipChange change,
                                              Index learner_lag, Index max_lag);

}  // namespace spate::raft
