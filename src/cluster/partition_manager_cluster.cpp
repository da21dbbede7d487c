// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager: cluster topics, held as the controller's metadata
// assigns them (host_topic), under the same turn and topics.meta ordering as
// the other topic operations (partition_manager.cpp).

#include <algorithm>

#include "spate/cluster/partition_manager.h"
#include "spate/common/log.h"

#include "partition_manager_turn.h"

namespace spate::cluster {
namespace {

Status check_hosted(const HostedTopic& spec) {
  if (auto s = storage::validate_topic_name(spec.name); !s) return s;
  if (spec.id == 0) return Error::invalid(fmt::format("topic '{}': cluster id 0", spec.name));
  if (spec.replicas.empty() || spec.replicas.size() > static_cast<std::size_t>(kPartitionsMax)) {
    return Error::invalid(
        fmt::format("topic '{}': {} partitions", spec.name, spec.replicas.size()));
  }
  if (spec.voters.size() > spec.replicas.size()) {
    return Error::invalid(fmt::format("topic '{}': {} voter lists", spec.name, spec.voters.size()));
  }
  for (const auto& list : spec.voters) {
    if (list.size() > kReplicasMax) {
      return Error::invalid(fmt::format("topic '{}': {} voters", spec.name, list.size()));
    }
  }
  for (const auto& list : spec.replicas) {
    if (list.empty() || list.size() > kReplicasMax) {
      return Error::invalid(fmt::format("topic '{}': {} replicas", spec.name, list.size()));
    }
  }
  return {};
}

}  // namespace

std::vector<std::vector<NodeId>> hosted_learners(const HostedTopic& spec) {
  std::vector<std::vector<NodeId>> out(spec.replicas.size());
  bool any = false;
  for (std::size_t i = 0; i < spec.replicas.size() && i < spec.voters.size(); ++i) {
    const auto& voters = spec.voters[i];
    if (voters.empty()) continue;  // the replicas vote
    for (const NodeId n : spec.replicas[i]) {
      if (std::find(voters.begin(), voters.end(), n) != voters.end()) continue;
      out[i].push_back(n);
      any = true;
    }
  }
  if (!any) out.clear();
  return out;
}

awaitable<Status> PartitionManager::host_topic(HostedTopic spec, Deadline deadline) {
  if (auto s = check_hosted(spec); !s) co_return s;
  auto normalized = normalize_topic_configs(spec.overrides);
  if (!normalized) co_return normalized.error();
  auto turn = co_await take_turn(deadline);
  if (!turn) co_return turn.error();
  const auto total = static_cast<std::int32_t>(spec.replicas.size());
  auto it = topics_.find(spec.name);
  if (it != topics_.end() && it->second.id != spec.id) {
    co_return Error(Errc::already_exists, fmt::format("topic '{}' is held here with id {}, not {}",
                                                      spec.name, it->second.id, spec.id));
  }
  const auto current =
      it == topics_.end() ? 0 : static_cast<std::int32_t>(it->second.partitions.size());
  if (total < current) {
    co_return Error(Errc::invalid_partitions,
                    fmt::format("topic '{}' has {} partitions here, the metadata {}", spec.name,
                                current, total));
  }
  std::vector<std::int32_t> make;
  std::vector<std::int32_t> drop;  // held here, no longer assigned
  for (std::int32_t i = 0; i < total; ++i) {
    const bool held = i < current && it->second.partitions[static_cast<std::size_t>(i)] != nullptr;
    const bool assigned = is_replica(spec.replicas, i, replica_.self);
    if (!held && assigned) make.push_back(i);
    if (held && !assigned && spec.remove_unassigned) drop.push_back(i);
  }
  auto learners = hosted_learners(spec);
  const bool same = it != topics_.end() && make.empty() && drop.empty() && total == current &&
                    it->second.overrides == *normalized && it->second.replicas == spec.replicas &&
                    it->second.learners == learners;
  if (same) co_return Status{};
  if (partition_count_ + make.size() > limits_.partitions_max) {
    co_return Error(Errc::policy_violation,
                    fmt::format("this broker holds at most {} partitions ({} exist)",
                                limits_.partitions_max, partition_count_));
  }
  // Folders first, topics.meta last (as create_topics).
  auto logs = co_await make_partitions(spec.name, *normalized, make);
  if (!logs) co_return logs.error();
  auto records = this->records();
  std::erase_if(records, [&](const TopicRecord& r) { return r.name == spec.name; });
  records.push_back({spec.name, total, *normalized, spec.id, spec.replicas, learners});
  if (auto s = co_await write_meta(std::move(records)); !s) {
    co_await drop_logs(std::move(*logs));
    co_await remove_partitions(spec.name, make);
    co_return s;
  }
  Topic& topic = topics_[spec.name];
  topic.name = spec.name;
  topic.id = spec.id;
  topic.replicas = spec.replicas;
  topic.learners = learners;
  cluster_names_[spec.id] = spec.name;
  if (topic.overrides != *normalized) {
    topic.overrides = *normalized;
    const auto config = apply_topic_configs(defaults_, topic.overrides);
    for (auto& p : topic.partitions) {
      if (!p) continue;
      if (auto s = p->set_config(config); !s) {
        log::get(log::Module::cluster)
            ->error("[{}] cannot apply the topic's configs: {}", p->id().dir_name(), s.error());
      }
    }
  }
  topic.partitions.resize(static_cast<std::size_t>(total));
  for (std::size_t k = 0; k < make.size(); ++k) {
    const auto i = static_cast<std::size_t>(make[k]);
    topic.partitions[i] =
        adopt(spec.name, make[k], std::move((*logs)[k]), spec.id, spec.replicas[i],
              i < learners.size() ? learners[i] : std::vector<NodeId>{});
  }
  if (!drop.empty()) co_await unhost_partitions(spec.name, std::move(drop));
  log::get(log::Module::cluster)
      ->info("cluster topic held name={} id={} partitions={} here={}", spec.name, spec.id, total,
             partition_count_);
  co_return Status{};
}

awaitable<void> PartitionManager::unhost_partitions(const std::string& name,
                                                    std::vector<std::int32_t> indexes) {
  // topics.meta was written without them: stopped on the shard, closed and
  // removed on the worker (as delete_topic).
  auto it = topics_.find(name);
  if (it == topics_.end()) co_return;
  std::vector<std::shared_ptr<Partition>> closing;
  for (const std::int32_t i : indexes) {
    auto& slot = it->second.partitions[static_cast<std::size_t>(i)];
    if (!slot) continue;
    closing.push_back(std::move(slot));
    slot = nullptr;
    --partition_count_;
  }
  for (auto& p : closing) co_await p->stop();
  std::function<void()> close_logs = [closing] {
    for (const auto& p : closing) (void)p->close_log();
  };
  co_await off_shard(std::move(close_logs));
  log::get(log::Module::cluster)
      ->info("cluster topic {}: {} partition(s) no longer assigned here, removed", name,
             indexes.size());
  co_await remove_partitions(name, std::move(indexes));
}

}  // namespace spate::cluster
