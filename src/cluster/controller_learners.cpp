// SPDX-License-Identifier: Apache-2.0
//
// Controller: brokers outside the voters (controller.h; docs/cluster.md,
// "Joining a cluster"). The leader makes every registered broker that is not
// a member of the controller group a Raft learner of it, and removes a
// learner whose registration was removed (unregister_broker); a broker that
// is not a voter finds the leader by asking the voters in turn.

#include <algorithm>

#include <fmt/ranges.h>

#include "spate/cluster/controller.h"
#include "spate/common/log.h"

#include "module_shared.h"

namespace spate::cluster {
bool Controller::voter() const { return is_voter(config_.self); }

NodeId Controller::call_target() {
  const NodeId known = leader();
  if (known != kNoLeader || voter() || config_.voters.empty()) return known;
  // Not a member yet (or the leader is not known): a follower answers
  // not_leader and the caller's retry asks the next one.
  const NodeId to = config_.voters[next_voter_ % config_.voters.size()];
  ++next_voter_;
  return to;
}

bool Controller::is_voter(NodeId id) const {
  return std::find(config_.voters.begin(), config_.voters.end(), id) != config_.voters.end();
}

std::optional<ApplyOutcome> Controller::refusal(const Command& command) const {
  const auto* c = std::get_if<UnregisterBroker>(&command);
  if (c == nullptr) return std::nullopt;
  // The state does not hold the voters; this broker's --seeds and the
  // controller group's membership (its log's, replicated) do. Both are
  // asked: a broker restarted with other --seeds still refuses a voter of
  // the group in force.
  if (!is_voter(c->id) && !partition_->membership().is_voter(c->id)) return std::nullopt;
  return ApplyOutcome::refused(
      Errc::invalid_argument,
      fmt::format("broker {} is a controller voter (--seeds {}; the group's voters {}): only a "
                  "broker that joined outside --seeds can be removed",
                  c->id, fmt::join(config_.voters, ","),
                  fmt::join(partition_->membership().voters, ",")));
}

void Controller::add_learners() {
  if (stopping_ || !is_leader() || !partition_->membership_committed()) return;
  const raft::Membership membership = partition_->membership();
  // Every registered broker, fenced ones too: a fenced broker keeps its
  // registration (and so its place as a learner) until it comes back; the
  // leader probes it with one message at a time meanwhile.
  for (const auto& [id, broker] : state_.brokers()) {
    if (membership.contains(id)) continue;
    raft::MembershipChange change{raft::MembershipChange::Type::add_learner, id};
    auto index = partition_->change_membership(change);
    if (index) {
      logger()->info("controller: node {} joins the controller group as a learner (index {})", id,
                     *index);
    } else if (index.error().code() == Errc::busy || index.error().code() == Errc::not_leader) {
      // No entry of this term committed yet, or leadership moved: next pass.
      logger()->debug("controller: node {} as a learner: {}", id, index.error());
    } else {
      logger()->warn("controller: cannot add node {} as a learner: {}", id, index.error());
    }
    return;  // one membership change at a time
  }
  // A learner with no registration was removed (unregister_broker): the
  // leader stops sending it the log. The registration came before the
  // learner's addition in the log, so a state that holds the membership's
  // commit holds it too, unless it was removed since.
  for (const NodeId id : membership.learners) {
    if (state_.broker(id) != nullptr) continue;
    raft::MembershipChange change{raft::MembershipChange::Type::remove, id};
    auto index = partition_->change_membership(change);
    if (index) {
      logger()->info(
          "controller: node {} is no longer registered: removed from the controller "
          "group's learners (index {})",
          id, *index);
    } else if (index.error().code() == Errc::busy || index.error().code() == Errc::not_leader) {
      logger()->debug("controller: removing learner {}: {}", id, index.error());
    } else {
      logger()->warn("controller: cannot remove learner {}: {}", id, index.error());
    }
    return;
  }
}

}  // namespace spate::cluster
