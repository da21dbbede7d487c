// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager::adopt_single_node_topic: a single node's topic, kept on
// disk while this broker is in a cluster, becomes the cluster topic the
// controller migrated it into (single_node_migration.h), data intact.

#include "spate/cluster/partition_manager.h"
#include "spate/cluster/single_node_migration.h"
#include "spate/common/log.h"

#include "partition_manager_turn.h"

namespace spate::cluster {
namespace {

// `spec` against the single node's topic `held` of `total` partitions:
// every partition on `self` alone, as migration_commands assigns them.
Status check_adoptable(const HostedTopic& spec, std::int32_t total, NodeId self) {
  if (spec.id == 0) return Error::invalid(fmt::format("topic '{}': cluster id 0", spec.name));
  if (spec.replicas.size() != static_cast<std::size_t>(total)) {
    return Error(Errc::invalid_partitions,
                 fmt::format("topic '{}' has {} partition(s) here (a single node's), the "
                             "controller's topic of that name {}",
                             spec.name, total, spec.replicas.size()));
  }
  const std::vector<NodeId> alone{self};
  for (std::size_t i = 0; i < spec.replicas.size(); ++i) {
    const bool voters_ok =
        i >= spec.voters.size() || spec.voters[i].empty() || spec.voters[i] == alone;
    if (spec.replicas[i] != alone || !voters_ok) {
      return Error(Errc::invalid_replica_assignment,
                   fmt::format("topic '{}' partition {}: the controller's replicas are [{}], not "
                               "this broker ({}) alone",
                               spec.name, i, fmt::join(spec.replicas[i], ","), self));
    }
  }
  return {};
}

}  // namespace

awaitable<Status> PartitionManager::adopt_single_node_topic(HostedTopic spec, Deadline deadline) {
  if (auto s = storage::validate_topic_name(spec.name); !s) co_return s;
  auto normalized = normalize_topic_configs(spec.overrides);
  if (!normalized) co_return normalized.error();
  auto turn = co_await take_turn(deadline);
  if (!turn) co_return turn.error();
  auto it = topics_.find(spec.name);
  if (it == topics_.end() || it->second.id != 0) {
    co_return Error(Errc::not_found, fmt::format("no single node's topic '{}' here", spec.name));
  }
  const NodeId self = replica_.self;
  const auto total = static_cast<std::int32_t>(it->second.partitions.size());
  if (auto s = check_adoptable(spec, total, self); !s) co_return s;
  // On the worker: every raft.state checked before any is written, so a
  // refusal leaves the topic as it was; then the logs open, data intact.
  using Logs = std::vector<std::unique_ptr<storage::PartitionLog>>;
  auto made = std::make_shared<Result<Logs>>(Logs{});
  const auto config = apply_topic_configs(defaults_, *normalized);
  std::function<void()> job = [this, made, name = spec.name, total, self, config] {
    *made = [&]() -> Result<Logs> {
      for (bool write : {false, true}) {
        for (std::int32_t i = 0; i < total; ++i) {
          const auto folder = dir_.path() / storage::TopicPartition{name, i}.dir_name();
          if (auto type = fs_.entry_type(folder); !type || *type != storage::EntryType::directory) {
            continue;  // lost: opened empty below, as a single node would
          }
          if (auto r = adopt_single_node_raft_state(fs_, folder, self, write); !r) return r.error();
        }
      }
      Logs out;
      for (std::int32_t i = 0; i < total; ++i) {
        auto log = dir_.open_partition({name, i}, config, clock_);
        if (!log) {
          for (auto& opened : out) (void)opened->close();
          return log.error();
        }
        out.push_back(std::move(*log));
      }
      return out;
    }();
  };
  co_await off_shard(std::move(job));
  if (!*made) co_return made->error();
  auto records = this->records();
  for (auto& r : records) {
    if (r.name == spec.name) r = {spec.name, total, *normalized, spec.id, spec.replicas};
  }
  if (auto s = co_await write_meta(std::move(records)); !s) {
    // The raft.state files stay rewritten: accepted as they are next time.
    co_await drop_logs(std::move(**made));
    co_return s;
  }
  Topic& topic = topics_[spec.name];  // (the turn kept it: found again after the awaits)
  topic.id = spec.id;
  topic.replicas = spec.replicas;
  topic.overrides = *normalized;
  cluster_names_[spec.id] = spec.name;
  for (std::int32_t i = 0; i < total; ++i) {
    const auto k = static_cast<std::size_t>(i);
    topic.partitions[k] = adopt(spec.name, i, std::move((**made)[k]), spec.id, spec.replicas[k]);
  }
  log::get(log::Module::cluster)
      ->info(
          "single node's topic {} adopted as cluster topic id {}: {} partition(s) on this broker",
          spec.name, spec.id, total);
  co_return Status{};
}

}  // namespace spate::cluster
