// SPDX-License-Identifier: Apache-2.0
//
// MetadataApplier: replica movement (metadata_applier.h, reassignment.h).
// On every pass, each partition this broker leads takes the next step
// towards the membership the metadata asks for. Nothing is remembered
// between passes: the metadata and the membership in the log say where a
// move stands, so a new leader (of the partition or of the controller)
// carries on from there.

#include "spate/cluster/metadata_applier.h"
#include "spate/cluster/reassignment.h"
#include "spate/common/log.h"

#include "module_shared.h"

namespace spate::cluster {
namespace {

const char* change_name(raft::MembershipChange::Type type) {
  switch (type) {
    case raft::MembershipChange::Type::add_learner:
      return "adding learner";
    case raft::MembershipChange::Type::promote:
      return "promoting";
    case raft::MembershipChange::Type::remove:
      return "removing";
  }
  return "changing";
}

}  // namespace

awaitable<void> MetadataApplier::move_replicas() {
  const NodeId self = controller_.config().self;
  std::vector<CompleteReassignment> completions;
  for_each_led([&](TopicId topic, std::int32_t index, const PartitionMeta& m, Partition& part) {
    Partition* p = &part;
    MoveView view;
    view.self = self;
    view.membership = p->membership();
    view.committed = p->membership_committed();
    view.followers = p->followers();
    view.last_index = p->last_index();
    const MoveStep step = next_move_step(m, view);
    switch (step.kind) {
      case MoveStep::Kind::none:
        break;
      case MoveStep::Kind::change: {
        logger()->info("[{}] reassignment: {} node {} (membership {})", p->id().dir_name(),
                       change_name(step.change.type), step.change.node, view.membership.describe());
        if (auto s = p->change_membership(step.change); !s) {
          logger()->debug("[{}] membership change: {}", p->id().dir_name(), s.error());
        }
        break;
      }
      case MoveStep::Kind::transfer: {
        if (p->transferring()) break;
        logger()->info("[{}] reassignment: this leader leaves; handing over to node {}",
                       p->id().dir_name(), step.to);
        if (auto s = p->transfer_leadership(step.to); !s) {
          logger()->debug("[{}] leadership transfer: {}", p->id().dir_name(), s.error());
        }
        break;
      }
      case MoveStep::Kind::complete:
        completions.push_back(CompleteReassignment{topic, index, m.target});
        break;
    }
  });
  for (auto& c : completions) {
    if (stopping_) co_return;
    const auto topic = c.topic;
    const auto partition = c.partition;
    Command command = std::move(c);  // named: see Controller::propose
    auto out = co_await controller_.propose(std::move(command),
                                            clock_.steady_now() + std::chrono::seconds(3));
    if (!out) {
      logger()->debug("completing the reassignment of topic {} partition {}: {}", topic, partition,
                      out.error());
      co_return;  // the next pass tries again
    }
    logger()->info("reassignment of topic id {} partition {} completed{}", topic, partition,
                   out->outcome.applied() ? "" : ": " + out->outcome.message);
  }
}

}  // namespace spate::cluster
