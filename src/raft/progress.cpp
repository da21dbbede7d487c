// SPDX-License-Identifier: Apache-2.0

#include "progress.h"

#include <algorithm>
#include <functional>

#include <fmt/format.h>

namespace spate::raft {

bool Progress::paused(std::size_t max_inflight) const {
  return probing ? inflight > 0 : inflight >= max_inflight;
}

void Progress::sent_restart() {
  probing = true;
  inflight = 1;
}

void Progress::sent(const std::vector<Entry>& entries) {
  if (probing) {
    inflight = 1;
  } else {
    next = entries.empty() ? next : entries.back().index + 1;
    ++inflight;
  }
}

void Progress::rejected(Index hint) {
  next = std::max(match + 1, std::min(hint, next - 1 >= match + 1 ? next - 1 : next));
  probing = true;
  inflight = 0;
}

bool Progress::acknowledged(Index index) {
  if (index > match) {
    match = index;
    next = std::max(next, match + 1);
    if (probing) {
      probing = false;
      inflight = 0;
    } else if (inflight > 0) {
      --inflight;
    }
    return true;
  }
  if (inflight > 0 && !probing) --inflight;
  return false;
}

bool Progress::heartbeat_replied(Index last, std::size_t max_inflight) {
  // Behind, and not one entry further since the last heartbeat reply: the
  // appends in flight were lost, or rejected by a reply we had to take for
  // stale. Resend from what is known to match.
  const bool stalled = match == match_at_beat;
  match_at_beat = match;
  if (match >= last) return false;
  if (probing || inflight >= max_inflight || stalled) {
    probing = true;
    inflight = 0;
    next = match + 1;
  }
  return true;
}

void ProgressTracker::reset(const Membership& members, NodeId self, Index next) {
  progress_.clear();
  for (const auto& ids : {members.voters, members.learners}) {
    for (auto id : ids) {
      Progress p;
      p.next = next;
      p.active = id == self;
      progress_[id] = p;
    }
  }
  progress_[self].active = true;
}

void ProgressTracker::sync(const Membership& members, NodeId self, Index last) {
  // Learners and voters both replicate; a new member starts as a probe.
  std::erase_if(progress_,
                [&](const auto& kv) { return kv.first != self && !members.contains(kv.first); });
  for (const auto& ids : {members.voters, members.learners}) {
    for (auto id : ids) {
      if (progress_.contains(id)) continue;
      Progress p;
      p.next = last;    // the probe carries the last entry
      p.active = true;  // give it an election timeout before check-quorum counts it
      progress_[id] = p;
    }
  }
}

Progress* ProgressTracker::find(NodeId id) {
  const auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::find(NodeId id) const {
  const auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

Index ProgressTracker::quorum_match(const Membership& members, NodeId self,
                                    Index self_match) const {
  // Voters of the latest membership only: learners never count.
  std::vector<Index> matches;
  for (const auto& id : members.voters) {
    const Progress* p = find(id);
    matches.push_back(id == self ? self_match : p == nullptr ? 0 : p->match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<>());
  return matches[members.quorum() - 1];
}

std::size_t ProgressTracker::take_active(const Membership& members, NodeId self) {
  std::size_t active = 0;
  for (auto& [id, p] : progress_) {
    if (members.is_voter(id) && (p.active || id == self)) ++active;
    if (id != self) p.active = false;
  }
  return active;
}

NodeId ProgressTracker::most_caught_up(const std::vector<NodeId>& voters) const {
  NodeId best = kNoNode;
  Index best_match = -1;
  for (auto id : voters) {
    const Progress* p = find(id);
    if (p != nullptr && p->match > best_match) {
      best = id;
      best_match = p->match;
    }
  }
  return best;
}

std::vector<FollowerStatus> ProgressTracker::statuses(const Membership& members,
                                                      NodeId self) const {
  std::vector<FollowerStatus> out;
  for (const auto& [id, p] : progress_) {
    if (id == self) continue;
    out.push_back({id, members.is_voter(id), p.match, p.next, p.probing, p.inflight, p.active});
  }
  return out;
}

std::string ProgressTracker::check(NodeId self, Index last) const {
  for (const auto& [id, p] : progress_) {
    if (id == self) continue;  // its own entry tracks only what is durable here
    if (p.match > last || p.next > last + 1 || p.match >= p.next) {
      return fmt::format("follower {} match {} next {} with last index {}", id, p.match, p.next,
                         last);
    }
  }
  return "";
}

}  // namespace spate::raft
