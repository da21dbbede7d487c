// SPDX-License-Identifier: Apache-2.0
//
// MetadataState: the topic and partition commands.

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "spate/cluster/metadata.h"
#include "spate/storage/data_dir.h"

#include "module_shared.h"

namespace spate::cluster {

namespace {

PartitionMeta new_partition(const std::vector<NodeId>& replicas) {
  PartitionMeta p;
  p.replicas = replicas;
  // No leader until the partition's Raft group elects one and reports it;
  // every replica starts with the same (empty) log, so all are in sync.
  p.isr = replicas;
  return p;
}

// After the members changed (a reassignment begun, replaced, completed or
// cancelled): in-sync replicas that are no longer members leave the set,
// and a leader that is no longer one is cleared (its successor reports a
// later epoch).
void drop_non_members(PartitionMeta& p) {
  auto member = [&](NodeId id) { return contains(p.replicas, id) || contains(p.target, id); };
  std::erase_if(p.isr, [&](NodeId id) { return !member(id); });
  if (!member(p.leader)) p.leader = kNoLeader;
}

std::string unknown_partition(TopicId topic, std::int32_t partition) {
  return fmt::format("no partition {} in topic id {}", partition, topic);
}

}  // namespace

ApplyOutcome MetadataState::create_topic(const CreateTopic& c) {
  if (auto s = storage::validate_topic_name(c.name); !s) {
    return ApplyOutcome::refused(Errc::invalid_argument, s.error().detail());
  }
  if (c.name.size() > limits_.topic_name_bytes_max) {
    return ApplyOutcome::refused(
        Errc::invalid_argument,
        fmt::format("topic name longer than {} bytes", limits_.topic_name_bytes_max));
  }
  if (topic_ids_.contains(c.name)) {
    return ApplyOutcome::refused(Errc::already_exists,
                                 fmt::format("topic {} already exists", c.name));
  }
  if (c.id != 0 && c.id < next_topic_id_) {
    return ApplyOutcome::refused(
        Errc::invalid_argument,
        fmt::format("topic id {} is below the next id {} (ids are never reused)", c.id,
                    next_topic_id_));
  }
  // The next id would wrap to 0 (kControllerTopicId), which no snapshot
  // holds: found by metadata_fuzz.
  if (c.id == std::numeric_limits<TopicId>::max() ||
      (c.id == 0 && next_topic_id_ == std::numeric_limits<TopicId>::max())) {
    return ApplyOutcome::refused(Errc::limit_exceeded, "every topic id is used");
  }
  if (topics_.size() >= limits_.topics_max) {
    return ApplyOutcome::refused(
        Errc::policy_violation,
        fmt::format("the cluster holds at most {} topics", limits_.topics_max));
  }
  const auto n = c.assignments.size();
  if (n < 1 || n > limits_.partitions_per_topic_max) {
    return ApplyOutcome::refused(Errc::invalid_partitions,
                                 fmt::format("number of partitions must be in [1, {}], got {}",
                                             limits_.partitions_per_topic_max, n));
  }
  if (n > limits_.partitions_max - partition_count_) {
    return ApplyOutcome::refused(Errc::policy_violation,
                                 fmt::format("the cluster holds at most {} partitions ({} exist)",
                                             limits_.partitions_max, partition_count_));
  }
  if (auto why = check_assignment(c.assignments, c.assignments.front().size()); !why.empty()) {
    return ApplyOutcome::refused(Errc::invalid_replica_assignment, std::move(why));
  }
  if (auto why = check_configs(c.configs); !why.empty()) {
    return ApplyOutcome::refused(Errc::invalid_config, std::move(why));
  }
  const TopicId id = c.id == 0 ? next_topic_id_ : c.id;
  TopicMeta& t = topics_[id];
  t.name = c.name;
  t.id = id;
  t.configs = c.configs;
  t.partitions.reserve(n);
  for (const auto& replicas : c.assignments) t.partitions.push_back(new_partition(replicas));
  topic_ids_[c.name] = id;
  partition_count_ += n;
  next_topic_id_ = id + 1;
  return ApplyOutcome::done(static_cast<std::int64_t>(id));
}

ApplyOutcome MetadataState::delete_topic(const DeleteTopic& c) {
  auto it = topic_ids_.find(c.name);
  if (it == topic_ids_.end() || (c.id != 0 && it->second != c.id)) {
    return ApplyOutcome::refused(Errc::not_found,
                                 c.id == 0 ? fmt::format("no topic {}", c.name)
                                           : fmt::format("no topic {} with id {}", c.name, c.id));
  }
  auto t = topics_.find(it->second);
  partition_count_ -= t->second.partitions.size();
  const auto id = static_cast<std::int64_t>(t->first);
  topics_.erase(t);
  topic_ids_.erase(it);
  return ApplyOutcome::done(id);
}

ApplyOutcome MetadataState::create_partitions(const CreatePartitions& c) {
  TopicMeta* t = mutable_topic(c.name);
  if (t == nullptr)
    return ApplyOutcome::refused(Errc::not_found, fmt::format("no topic {}", c.name));
  const auto n = c.assignments.size();
  const auto total = t->partitions.size() + n;
  if (n < 1 || total > limits_.partitions_per_topic_max) {
    return ApplyOutcome::refused(
        Errc::invalid_partitions,
        fmt::format("topic {} has {} partitions: {} more make more than {} or none", c.name,
                    t->partitions.size(), n, limits_.partitions_per_topic_max));
  }
  if (n > limits_.partitions_max - partition_count_) {
    return ApplyOutcome::refused(Errc::policy_violation,
                                 fmt::format("the cluster holds at most {} partitions ({} exist)",
                                             limits_.partitions_max, partition_count_));
  }
  if (auto why = check_assignment(c.assignments, t->partitions.front().replicas.size());
      !why.empty()) {
    return ApplyOutcome::refused(Errc::invalid_replica_assignment, std::move(why));
  }
  for (const auto& replicas : c.assignments) t->partitions.push_back(new_partition(replicas));
  partition_count_ += n;
  return ApplyOutcome::done(static_cast<std::int64_t>(t->partitions.size()));
}

ApplyOutcome MetadataState::alter_configs(const AlterTopicConfigs& c) {
  TopicMeta* t = mutable_topic(c.name);
  if (t == nullptr)
    return ApplyOutcome::refused(Errc::not_found, fmt::format("no topic {}", c.name));
  if (auto why = check_configs(c.configs); !why.empty()) {
    return ApplyOutcome::refused(Errc::invalid_config, std::move(why));
  }
  t->configs = c.configs;
  return ApplyOutcome::done();
}

ApplyOutcome MetadataState::set_leader(const SetPartitionLeader& c) {
  PartitionMeta* p = mutable_partition(c.topic, c.partition);
  if (p == nullptr)
    return ApplyOutcome::refused(Errc::not_found, unknown_partition(c.topic, c.partition));
  if (c.epoch.value() < 0) {
    return ApplyOutcome::refused(Errc::invalid_argument,
                                 fmt::format("leader epoch {} is negative", c.epoch));
  }
  if (c.epoch < p->leader_epoch || (c.epoch == p->leader_epoch && c.leader != p->leader)) {
    return ApplyOutcome::refused(
        Errc::fenced_leader_epoch,
        fmt::format("leader {} in epoch {}: the partition has leader {} in epoch {}", c.leader,
                    c.epoch, p->leader, p->leader_epoch));
  }
  // Members of the Raft group: the replicas, and during a reassignment the
  // target's too (they join as learners, then voters).
  auto member = [&](NodeId id) { return contains(p->replicas, id) || contains(p->target, id); };
  if (!member(c.leader)) {
    return ApplyOutcome::refused(
        Errc::invalid_replica_assignment,
        fmt::format("leader {} is not a replica of the partition", c.leader));
  }
  if (!contains(c.isr, c.leader)) {
    return ApplyOutcome::refused(Errc::invalid_argument,
                                 fmt::format("the in-sync replicas lack the leader {}", c.leader));
  }
  if (c.isr.size() > p->replicas.size() + p->target.size()) {
    return ApplyOutcome::refused(Errc::invalid_argument,
                                 fmt::format("{} in-sync replicas for {} members", c.isr.size(),
                                             p->replicas.size() + p->target.size()));
  }
  for (std::size_t i = 0; i < c.isr.size(); ++i) {
    const bool repeated = std::find(c.isr.begin(), c.isr.begin() + static_cast<std::ptrdiff_t>(i),
                                    c.isr[i]) != c.isr.begin() + static_cast<std::ptrdiff_t>(i);
    if (!member(c.isr[i]) || repeated) {
      return ApplyOutcome::refused(
          Errc::invalid_argument,
          fmt::format("in-sync replica {} is repeated or not a replica", c.isr[i]));
    }
  }
  p->leader = c.leader;
  p->leader_epoch = c.epoch;
  p->isr = c.isr;
  return ApplyOutcome::done(c.epoch.value());
}

ApplyOutcome MetadataState::begin_reassignment(const BeginReassignment& c) {
  PartitionMeta* p = mutable_partition(c.topic, c.partition);
  if (p == nullptr)
    return ApplyOutcome::refused(Errc::not_found, unknown_partition(c.topic, c.partition));
  if (auto why = check_replicas(c.target, "the target replicas"); !why.empty()) {
    return ApplyOutcome::refused(Errc::invalid_replica_assignment, std::move(why));
  }
  // Moving to where it is ends any move in progress (Kafka does the same).
  p->target = c.target == p->replicas ? std::vector<NodeId>{} : c.target;
  drop_non_members(*p);  // a replaced target's replicas leave
  return ApplyOutcome::done();
}

ApplyOutcome MetadataState::complete_reassignment(const CompleteReassignment& c) {
  PartitionMeta* p = mutable_partition(c.topic, c.partition);
  if (p == nullptr)
    return ApplyOutcome::refused(Errc::not_found, unknown_partition(c.topic, c.partition));
  if (p->target.empty() || p->target != c.target) {
    // A completion of a reassignment that was replaced or cancelled since.
    return ApplyOutcome::refused(
        Errc::not_found, fmt::format("partition {} of topic id {} is not moving to {}", c.partition,
                                     c.topic, fmt::join(c.target, ",")));
  }
  p->replicas = std::move(p->target);
  p->target.clear();
  drop_non_members(*p);
  return ApplyOutcome::done();
}

ApplyOutcome MetadataState::cancel_reassignment(const CancelReassignment& c) {
  PartitionMeta* p = mutable_partition(c.topic, c.partition);
  if (p == nullptr)
    return ApplyOutcome::refused(Errc::not_found, unknown_partition(c.topic, c.partition));
  if (p->target.empty()) {
    return ApplyOutcome::refused(
        Errc::not_found,
        fmt::format("no reassignment of partition {} of topic id {}", c.partition, c.topic));
  }
  p->target.clear();
  drop_non_members(*p);  // replicas that were only joining leave
  return ApplyOutcome::done();
}

}  // namespace spate::cluster
