// SPDX-License-Identifier: Apache-2.0

#include "membership.h"

#include <algorithm>

#include <fmt/format.h>

#include "spate/common/assert.h"
#include "spate/raft/wire.h"

namespace spate::raft {

bool Membership::is_voter(NodeId id) const {
  return std::find(voters.begin(), voters.end(), id) != voters.end();
}

bool Membership::is_learner(NodeId id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

std::string Membership::describe() const {
  return fmt::format("voters [{}] learners [{}]", fmt::join(voters, " "), fmt::join(learners, " "));
}

MembershipLog::MembershipLog(const Config& config, const LogView& log)
    : id_(config.id), base_index_(log.first_index() - 1) {
  if (auto start = log.start_membership()) {
    base_ = std::move(*start);
  } else {
    base_.voters = config.voters;
    base_.learners = config.learners;
    std::sort(base_.voters.begin(), base_.voters.end());
    std::sort(base_.learners.begin(), base_.learners.end());
  }
  for (Index i : log.membership_indexes()) {
    auto entries = log.entries(i, i, 0);
    SPATE_ASSERT(entries.size() == 1 && entries[0].kind == EntryKind::membership,
                 "node {}: the log has no membership entry at {}", id_, i);
    add(entries[0]);
  }
  refresh();
}

Index MembershipLog::latest_index() const {
  return changes_.empty() ? base_index_ : changes_.rbegin()->first;
}

Membership MembershipLog::at(Index index) const {
  auto it = changes_.upper_bound(index);
  if (it == changes_.begin()) return base_;
  return std::prev(it)->second;
}

void MembershipLog::add(const Entry& entry) {
  auto members = decode_membership(entry.data);
  SPATE_ASSERT(members.has_value(), "node {}: membership entry {} does not decode: {}", id_,
               entry.index, members.error().message());
  changes_[entry.index] = std::move(*members);
  refresh();
}

bool MembershipLog::truncate_from(Index first) {
  const bool any = std::erase_if(changes_, [&](const auto& kv) { return kv.first >= first; }) > 0;
  refresh();
  return any;
}

void MembershipLog::restart(Index index, Membership membership) {
  base_index_ = index;
  base_ = std::move(membership);
  changes_.clear();
  refresh();
}

Result<Membership> apply_change(const Membership& current, MembershipChange change,
                                Index learner_lag, Index max_lag) {
  using Type = MembershipChange::Type;
  const NodeId node = change.node;
  Membership next = current;
  switch (change.type) {
    case Type::add_learner:
      if (node.value() < 0 || current.contains(node)) {
        return Error::invalid(fmt::format("node {} cannot be added: {}", node, current.describe()));
      }
      next.learners.push_back(node);
      break;
    case Type::promote:
      if (!current.is_learner(node)) {
        return Error::invalid(
            fmt::format("node {} is not a learner: {}", node, current.describe()));
      }
      if (learner_lag > max_lag) {
        return Error::invalid(fmt::format("learner {} is {} behind the leader (at most {})", node,
                                          learner_lag, max_lag));
      }
      std::erase(next.learners, node);
      next.voters.push_back(node);
      break;
    case Type::remove:
      if (!current.contains(node)) {
        return Error::invalid(fmt::format("node {} is not a member: {}", node, current.describe()));
      }
      if (current.is_voter(node) && current.voters.size() == 1) {
        return Error::invalid(fmt::format("node {} is the last voter", node));
      }
      std::erase(next.voters, node);
      std::erase(next.learners, node);
      break;
  }
  std::sort(next.voters.begin(), next.voters.end());
  std::sort(next.learners.begin(), next.learners.end());
  return next;
}

}  // namespace spate::raft
