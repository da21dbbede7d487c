// SPDX-License-Identifier: Apache-2.0
//
// A leader's view of its followers (etcd's tracker.Progress and
// ProgressTracker): how far each member's log is known to match, what to send
// it next, and the flow control that bounds the appends in flight to it.
// Private to raft.

#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "spate/raft/config.h"
#include "spate/raft/messages.h"
#include "spate/raft/replica.h"

namespace spate::raft {

// One member's progress. A follower whose position is not known (or was
// lost) is probed: one append in flight until it answers. Otherwise appends
// stream, at most Config::max_inflight at a time.
struct Progress {
  Index match = 0;
  Index next = 1;
  bool probing = true;  // one append in flight until the follower's position is known
  std::size_t inflight = 0;
  bool active = false;       // replied since the last quorum check
  Index match_at_beat = -1;  // match at the previous heartbeat reply

  // No append may go now.
  [[nodiscard]] bool paused(std::size_t max_inflight) const;
  // A restart went (the follower restarts its log at the leader's start).
  void sent_restart();
  // An append carrying `entries` went.
  void sent(const std::vector<Entry>& entries);
  // The follower rejected an append: probe from `next`, never below what
  // matches and at most one back from where we were.
  void rejected(Index next);
  // The follower holds the log up to `index`: true if the match moved.
  bool acknowledged(Index index);
  // A heartbeat reply while the leader's log ends at `last`: true if an
  // append should go (behind, and resent from the match when the appends in
  // flight were lost or rejected by a reply taken for stale).
  bool heartbeat_replied(Index last, std::size_t max_inflight);
};

class ProgressTracker {
 public:
  // A new leader: every member starts at `next`, only `self` active.
  void reset(const Membership& members, NodeId self, Index next);
  void clear() { progress_.clear(); }
  // The membership changed under a leader: members gone are forgotten, new
  // ones start as a probe of the last entry (`last`), active for an election
  // timeout before check-quorum counts them.
  void sync(const Membership& members, NodeId self, Index last);

  [[nodiscard]] Progress* find(NodeId id);
  [[nodiscard]] const Progress* find(NodeId id) const;
  Progress& operator[](NodeId id) { return progress_[id]; }
  [[nodiscard]] Progress& at(NodeId id) { return progress_.at(id); }
  [[nodiscard]] const std::map<NodeId, Progress>& all() const { return progress_; }

  // The largest index that a quorum of `members`' voters hold, `self` holding
  // `self_match` (a leader that removed itself does not count itself).
  [[nodiscard]] Index quorum_match(const Membership& members, NodeId self, Index self_match) const;
  // Check-quorum: the voters heard from since the last call (`self` counts),
  // then forgets who was heard from.
  std::size_t take_active(const Membership& members, NodeId self);
  // The voter among `voters` whose log matches furthest (kNoNode if none).
  [[nodiscard]] NodeId most_caught_up(const std::vector<NodeId>& voters) const;
  [[nodiscard]] std::vector<FollowerStatus> statuses(const Membership& members, NodeId self) const;
  // "" or the first follower whose progress is outside a log ending at `last`.
  [[nodiscard]] std::string check(NodeId self, Index last) const;

 private:
  std::map<NodeId, Progress> progress_;
};

}  // namespace spate::raft
