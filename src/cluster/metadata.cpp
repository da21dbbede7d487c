// SPDX-License-Identifier: Apache-2.0
//
// MetadataState: applying commands (the broker and producer-id ones here,
// topics and partitions in metadata_topics.cpp), the shared checks, queries.

#include "spate/cluster/metadata.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include <fmt/format.h>

namespace spate::cluster {

static_assert(MetadataLimits{}.config_value_bytes_max == kConfigValueBytesMax);

namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace

std::string_view command_name(const Command& command) {
  static constexpr std::string_view kNames[] = {"noop",
                                                "register_broker",
                                                "fence_broker",
                                                "unfence_broker",
                                                "create_topic",
                                                "delete_topic",
                                                "create_partitions",
                                                "alter_topic_configs",
                                                "allocate_producer_ids",
                                                "set_partition_leader",
                                                "begin_reassignment",
                                                "complete_reassignment",
                                                "cancel_reassignment",
                                                "unregister_broker"};
  static_assert(std::size(kNames) == std::variant_size_v<Command>);
  return kNames[command.index()];
}

Result<ApplyOutcome> MetadataState::apply(const Command& command, std::int64_t index) {
  if (index <= applied_index_) {
    return Error::invalid(fmt::format("{} at index {}, but index {} is already applied",
                                      command_name(command), index, applied_index_));
  }
  applied_index_ = index;
  return std::visit(Overloaded{
                        [](const NoopCommand&) { return ApplyOutcome::done(); },
                        [&](const RegisterBroker& c) { return register_broker(c, index); },
                        [&](const FenceBroker& c) { return set_fenced(c.id, c.epoch, true); },
                        [&](const UnfenceBroker& c) { return set_fenced(c.id, c.epoch, false); },
                        [&](const CreateTopic& c) { return create_topic(c); },
                        [&](const DeleteTopic& c) { return delete_topic(c); },
                        [&](const CreatePartitions& c) { return create_partitions(c); },
                        [&](const AlterTopicConfigs& c) { return alter_configs(c); },
                        [&](const AllocateProducerIds& c) { return allocate_producer_ids(c); },
                        [&](const SetPartitionLeader& c) { return set_leader(c); },
                        [&](const BeginReassignment& c) { return begin_reassignment(c); },
                        [&](const CompleteReassignment& c) { return complete_reassignment(c); },
                        [&](const CancelReassignment& c) { return cancel_reassignment(c); },
                        [&](const UnregisterBroker& c) { return unregister_broker(c); },
                    },
                    command);
}

namespace {

std::string check_host_port(const HostPort& hp, std::string_view what, std::size_t max) {
  if (hp.host.empty() || hp.host.size() > max) {
    return fmt::format("{} host must have 1 to {} bytes, has {}", what, max, hp.host.size());
  }
  if (hp.port < 1 || hp.port > 65535) return fmt::format("{} port {} is not valid", what, hp.port);
  return {};
}

}  // namespace

ApplyOutcome MetadataState::register_broker(const RegisterBroker& c, std::int64_t index) {
  std::string why;
  if (c.id.value() < 0) why = fmt::format("broker id {} is negative", c.id);
  if (why.empty()) why = check_host_port(c.advertised, "advertised", limits_.string_bytes_max);
  if (why.empty()) why = check_host_port(c.cluster, "cluster", limits_.string_bytes_max);
  if (why.empty() && c.rack && (c.rack->empty() || c.rack->size() > limits_.string_bytes_max)) {
    why = fmt::format("rack must have 1 to {} bytes", limits_.string_bytes_max);
  }
  if (!why.empty()) return ApplyOutcome::refused(Errc::invalid_argument, std::move(why));
  auto it = brokers_.find(c.id);
  if (it == brokers_.end() && brokers_.size() >= limits_.brokers_max) {
    return ApplyOutcome::refused(
        Errc::policy_violation,
        fmt::format("the cluster holds at most {} brokers", limits_.brokers_max));
  }
  BrokerRegistration& b = brokers_[c.id];
  // A retry of the registration in force keeps its epoch: the broker may
  // already have used it.
  const bool retry = it != brokers_.end() && b.incarnation == c.incarnation;
  b.id = c.id;
  b.advertised = c.advertised;
  b.cluster = c.cluster;
  b.rack = c.rack;
  b.incarnation = c.incarnation;
  if (!retry) b.epoch = index;
  b.fenced = false;
  return ApplyOutcome::done(b.epoch);
}

ApplyOutcome MetadataState::set_fenced(NodeId id, std::int64_t epoch, bool fenced) {
  auto it = brokers_.find(id);
  if (it == brokers_.end())
    return ApplyOutcome::refused(Errc::not_found, fmt::format("no broker {}", id));
  if (epoch != -1 && epoch != it->second.epoch) {
    return ApplyOutcome::refused(
        Errc::stale_broker_epoch,
        fmt::format("broker {} has epoch {}, not {}", id, it->second.epoch, epoch));
  }
  it->second.fenced = fenced;
  return ApplyOutcome::done(it->second.epoch);
}

ApplyOutcome MetadataState::unregister_broker(const UnregisterBroker& c) {
  auto it = brokers_.find(c.id);
  if (it == brokers_.end()) {
    return ApplyOutcome::refused(Errc::not_found, fmt::format("broker {} is not registered", c.id));
  }
  // A replica left on it would be lost with it: the operator drains first.
  if (const auto held = partitions_on(c.id); held > 0) {
    return ApplyOutcome::refused(
        Errc::policy_violation,
        fmt::format("broker {} still holds replicas of {} partition(s) (assigned or moving); "
                    "drain it first (spate cluster drain {})",
                    c.id, held, c.id));
  }
  const std::int64_t epoch = it->second.epoch;
  brokers_.erase(it);
  return ApplyOutcome::done(epoch);
}

ApplyOutcome MetadataState::allocate_producer_ids(const AllocateProducerIds& c) {
  if (!brokers_.contains(c.broker)) {
    return ApplyOutcome::refused(Errc::not_found, fmt::format("no broker {}", c.broker));
  }
  if (c.count < 1 || c.count > limits_.producer_id_block_max) {
    return ApplyOutcome::refused(Errc::invalid_argument,
                                 fmt::format("a producer id block holds 1 to {} ids, not {}",
                                             limits_.producer_id_block_max, c.count));
  }
  if (next_producer_id_ > std::numeric_limits<std::int64_t>::max() - c.count) {
    return ApplyOutcome::refused(Errc::limit_exceeded, "every producer id is used");
  }
  const std::int64_t start = next_producer_id_;
  next_producer_id_ += c.count;
  return ApplyOutcome::done(start);
}

std::string MetadataState::check_configs(const ConfigMap& configs) const {
  if (configs.size() > limits_.configs_max) {
    return fmt::format("{} config overrides, at most {}", configs.size(), limits_.configs_max);
  }
  for (const auto& [name, value] : configs) {
    if (name.empty() || name.size() > limits_.string_bytes_max) {
      return fmt::format("a config name must have 1 to {} bytes", limits_.string_bytes_max);
    }
    if (value.size() > limits_.config_value_bytes_max) {
      return fmt::format("config {} has a value of {} bytes, at most {}", name, value.size(),
                         limits_.config_value_bytes_max);
    }
  }
  return {};
}

std::string MetadataState::check_replicas(const std::vector<NodeId>& replicas,
                                          std::string_view what) const {
  if (replicas.empty() || replicas.size() > limits_.replicas_max) {
    return fmt::format("{} name {} replicas, not 1 to {}", what, replicas.size(),
                       limits_.replicas_max);
  }
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (!brokers_.contains(replicas[i])) {
      return fmt::format("{} name broker {}, which is not registered", what, replicas[i]);
    }
    if (std::find(replicas.begin(), replicas.begin() + static_cast<std::ptrdiff_t>(i),
                  replicas[i]) != replicas.begin() + static_cast<std::ptrdiff_t>(i)) {
      return fmt::format("{} name broker {} twice", what, replicas[i]);
    }
  }
  return {};
}

std::string MetadataState::check_assignment(const ReplicaAssignment& a,
                                            std::size_t replication_factor) const {
  for (std::size_t p = 0; p < a.size(); ++p) {
    auto why = check_replicas(a[p], fmt::format("the replicas of new partition {}", p));
    if (!why.empty()) return why;
    if (a[p].size() != replication_factor) {
      return fmt::format("new partition {} has {} replicas, the topic has {}", p, a[p].size(),
                         replication_factor);
    }
  }
  return {};
}

const BrokerRegistration* MetadataState::broker(NodeId id) const {
  auto it = brokers_.find(id);
  return it == brokers_.end() ? nullptr : &it->second;
}

bool MetadataState::alive(NodeId id) const {
  const auto* b = broker(id);
  return b != nullptr && !b->fenced;
}

std::size_t MetadataState::partitions_on(NodeId id) const {
  std::size_t count = 0;
  for (const auto& [topic_id, t] : topics_) {
    for (const auto& p : t.partitions) {
      if (std::find(p.replicas.begin(), p.replicas.end(), id) != p.replicas.end() ||
          std::find(p.target.begin(), p.target.end(), id) != p.target.end()) {
        ++count;
      }
    }
  }
  return count;
}

const TopicMeta* MetadataState::topic(TopicId id) const {
  auto it = topics_.find(id);
  return it == topics_.end() ? nullptr : &it->second;
}

const TopicMeta* MetadataState::topic(std::string_view name) const {
  auto it = topic_ids_.find(name);
  return it == topic_ids_.end() ? nullptr : topic(it->second);
}

TopicMeta* MetadataState::mutable_topic(std::string_view name) {
  auto it = topic_ids_.find(name);
  return it == topic_ids_.end() ? nullptr : &topics_.at(it->second);
}

const PartitionMeta* MetadataState::partition(TopicId topic_id, std::int32_t index) const {
  const auto* t = topic(topic_id);
  if (t == nullptr || index < 0 || static_cast<std::size_t>(index) >= t->partitions.size()) {
    return nullptr;
  }
  return &t->partitions[static_cast<std::size_t>(index)];
}

PartitionMeta* MetadataState::mutable_partition(TopicId topic_id, std::int32_t index) {
  return const_cast<PartitionMeta*>(std::as_const(*this).partition(topic_id, index));
}

std::vector<NodeId> MetadataState::offline_replicas(const PartitionMeta& p) const {
  std::vector<NodeId> out;
  for (auto id : p.replicas) {
    if (!alive(id)) out.push_back(id);
  }
  return out;
}

std::vector<LeaderMove> MetadataState::preferred_leader_moves() const {
  std::vector<LeaderMove> out;
  for (const auto& [id, t] : topics_) {
    for (std::size_t i = 0; i < t.partitions.size(); ++i) {
      const auto& p = t.partitions[i];
      const NodeId preferred = p.replicas.front();
      if (p.leader == preferred || !alive(preferred)) continue;
      if (std::find(p.isr.begin(), p.isr.end(), preferred) == p.isr.end()) continue;
      out.push_back({id, static_cast<std::int32_t>(i), preferred});
    }
  }
  return out;
}

bool MetadataState::operator==(const MetadataState& other) const {
  return brokers_ == other.brokers_ && topics_ == other.topics_ &&
         next_topic_id_ == other.next_topic_id_ && next_producer_id_ == other.next_producer_id_ &&
         applied_index_ == other.applied_index_;
}

}  // namespace spate::cluster
