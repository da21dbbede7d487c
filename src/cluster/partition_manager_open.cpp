// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager: opening a data directory (topics.meta against the
// partition folders), the lookups and the tick.

#include "spate/cluster/partition_manager.h"
#include "spate/common/log.h"

namespace spate::cluster {

using storage::kTopicsMetaFile;

PartitionManager::PartitionManager(storage::Filesystem& fs, storage::DataDir& dir,
                                   storage::LogConfig defaults, const Clock& clock,
                                   asio::any_io_executor shard, DiskThread& disk)
    : fs_(fs),
      dir_(dir),
      defaults_(defaults),
      clock_(clock),
      shard_(std::move(shard)),
      disk_(disk),
      worker_(std::make_unique<DiskThread>()) {}

PartitionManager::~PartitionManager() = default;

Result<std::unique_ptr<PartitionManager>> PartitionManager::open(
    storage::Filesystem& fs, storage::DataDir& dir, const storage::LogConfig& defaults,
    const Clock& clock, asio::any_io_executor shard, DiskThread& disk,
    const storage::TaskRunner& runner, ReplicaContext replica) {
  std::unique_ptr<PartitionManager> m(
      new PartitionManager(fs, dir, defaults, clock, std::move(shard), disk));
  m->replica_ = std::move(replica);
  auto logger = log::get(log::Module::cluster);
  auto ids = ProducerIds::open(fs, dir.path(), disk, m->shard_);
  if (!ids) return ids.error();
  m->producer_ids_ = std::move(*ids);
  bool changed = false;
  auto loaded = m->load_meta(&changed);
  if (!loaded) return loaded.error();
  const bool meta_present = loaded->has_value();
  std::vector<TopicRecord> records;
  if (meta_present) {
    records = std::move(**loaded);
    if (auto s = m->remove_unlisted_folders(records); !s) return s.error();
  }
  auto found = m->open_logs(runner);
  if (!found) return found.error();
  m->keep_unlisted_topics(*found, meta_present, records, &changed);
  if (auto s = m->attach_logs(records, *found, meta_present, &changed); !s) return s.error();
  if (m->topics_.size() > m->limits_.topics_max ||
      m->partition_count_ > m->limits_.partitions_max) {
    logger->warn("{} topics with {} partitions exceed the limits ({} topics, {} partitions)",
                 m->topics_.size(), m->partition_count_, m->limits_.topics_max,
                 m->limits_.partitions_max);
  }
  if (changed) {
    // Not fatal either (a full disk): what it would record is in memory and
    // the next topic operation writes it.
    if (auto s = m->persist_now(); !s) {
      logger->warn("cannot rewrite {} now: {}", kTopicsMetaFile, s.error().message());
    }
  }
  return m;
}

Status PartitionManager::remove_unlisted_folders(const std::vector<TopicRecord>& records) {
  // topics.meta is written last by a create or CreatePartitions and first
  // by a delete: a folder it does not list (an unknown topic, or an index
  // past the topic's count) is what a crash left of one of them. Removed
  // before anything opens it, so that a damaged leftover cannot stop the
  // start.
  auto logger = log::get(log::Module::cluster);
  std::map<std::string, std::int32_t> counts;
  for (const auto& r : records) counts[r.name] = r.partitions;
  auto ids = dir_.list_partitions();
  if (!ids) return ids.error();
  for (const auto& id : *ids) {
    auto it = counts.find(id.topic);
    if (it != counts.end() && id.partition < it->second) continue;
    logger->warn(
        "removing partition folder {}: {} does not list it (an interrupted create, delete or "
        "CreatePartitions)",
        id.dir_name(), kTopicsMetaFile);
    // Not fatal: a full disk must not stop the broker from starting.
    if (auto s = dir_.remove_partition(id); !s) {
      logger->warn("cannot remove partition folder {} now: {}", id.dir_name(), s.error().message());
    }
  }
  return {};
}

Result<PartitionManager::FoundLogs> PartitionManager::open_logs(const storage::TaskRunner& runner) {
  auto opened = dir_.open_all(
      [&](const storage::TopicPartition& tp) {
        auto it = topics_.find(tp.topic);
        return apply_topic_configs(defaults_,
                                   it == topics_.end() ? ConfigMap{} : it->second.overrides);
      },
      clock_, runner);
  if (!opened) return opened.error();
  FoundLogs found;
  for (auto& p : *opened) found[p.id.topic][p.id.partition] = std::move(p.log);
  return found;
}

void PartitionManager::keep_unlisted_topics(FoundLogs& found, bool meta_present,
                                            std::vector<TopicRecord>& records, bool* changed) {
  for (auto it = found.begin(); it != found.end();) {
    const auto& name = it->first;
    if (topics_.contains(name)) {
      ++it;
      continue;
    }
    if (meta_present) {
      // A leftover that could not be removed above: not served.
      it = found.erase(it);
      continue;
    }
    log::get(log::Module::cluster)
        ->warn("topic {} has partition folders but there is no {}: keeping it with default configs",
               name, kTopicsMetaFile);
    topics_.try_emplace(name, Topic{name, {}, {}, 0, {}});
    records.push_back({name, 0, {}, 0, {}});
    *changed = true;
    ++it;
  }
}

bool is_replica(const std::vector<std::vector<NodeId>>& replicas, std::int32_t index, NodeId self) {
  if (index < 0 || static_cast<std::size_t>(index) >= replicas.size()) return false;
  const auto& list = replicas[static_cast<std::size_t>(index)];
  return std::find(list.begin(), list.end(), self) != list.end();
}

Status PartitionManager::attach_logs(const std::vector<TopicRecord>& records, FoundLogs& found,
                                     bool meta_present, bool* changed) {
  for (const auto& r : records) {
    Topic& t = topics_[r.name];
    auto& logs = found[r.name];
    // Without topics.meta (an old data directory), the folders say.
    const std::int32_t total =
        meta_present ? r.partitions
                     : std::max(r.partitions, logs.empty() ? 0 : logs.rbegin()->first + 1);
    // In a cluster (a sender is set) the controller's metadata says what is
    // served: a single node's topic is kept on disk, not served, until it
    // is adopted as the cluster topic it was migrated into
    // (adopt_single_node_topic, single_node_migration.h).
    const bool unserved = r.id == 0 && replica_.send;
    if (unserved) {
      log::get(log::Module::cluster)
          ->info(
              "topic {} is a single node's topic and this broker is in a cluster now: kept on "
              "disk, served once the controller has it as migrated from here",
              r.name);
    }
    for (std::int32_t i = 0; i < total; ++i) {
      auto it = logs.find(i);
      if (unserved || (r.id != 0 && !is_replica(r.replicas, i, replica_.self))) {
        // A cluster partition this broker is no replica of: not served
        // (a folder left there stays, closed).
        t.partitions.push_back(nullptr);
        continue;
      }
      std::unique_ptr<storage::PartitionLog> log;
      if (it != logs.end()) {
        log = std::move(it->second);
      } else {
        // A folder that is gone (lost or removed by hand): made again, empty.
        auto created =
            dir_.open_partition({r.name, i}, apply_topic_configs(defaults_, t.overrides), clock_);
        if (!created) return created.error();
        log = std::move(*created);
      }
      const auto k = static_cast<std::size_t>(i);
      t.partitions.push_back(adopt(r.name, i, std::move(log), r.id,
                                   r.id == 0 ? std::vector<NodeId>{} : r.replicas[k],
                                   k < r.learners.size() ? r.learners[k] : std::vector<NodeId>{}));
    }
    if (total != r.partitions) *changed = true;
  }
  return {};
}

std::shared_ptr<Partition> PartitionManager::adopt(const std::string& topic, std::int32_t index,
                                                   std::unique_ptr<storage::PartitionLog> log,
                                                   std::uint64_t id,
                                                   const std::vector<NodeId>& replicas,
                                                   const std::vector<NodeId>& learners) {
  ++partition_count_;
  PartitionRaftConfig raft;
  if (id != 0) {
    raft.self = replica_.self;
    raft.voters.clear();
    for (const NodeId n : replicas) {
      if (std::find(learners.begin(), learners.end(), n) == learners.end())
        raft.voters.push_back(n);
    }
    raft.learners = learners;
    raft.election_ticks = replica_.election_ticks;
    raft.heartbeat_ticks = replica_.heartbeat_ticks;
    raft.replica_lag_max = replica_.replica_lag_max;
    raft.read_lease = replica_.read_lease;
    raft.counters = replica_.counters;
  }
  auto partition = std::make_shared<Partition>(storage::TopicPartition{topic, index},
                                               std::move(log), shard_, disk_, raft);
  if (id != 0 && replica_.send) {
    partition->set_sender([send = replica_.send, group = RaftGroupId{id, index}](raft::Message m) {
      send(group, std::move(m));
    });
  }
  partition->set_cleaner(cleaner_.get());
  return partition;
}

std::shared_ptr<Partition> PartitionManager::partition(const RaftGroupId& group) const {
  auto it = cluster_names_.find(group.topic_id);
  if (it == cluster_names_.end()) return nullptr;
  return partition(it->second, group.partition);
}

const Topic* PartitionManager::topic(const std::string& name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

std::shared_ptr<Partition> PartitionManager::partition(const std::string& topic,
                                                       std::int32_t index) const {
  auto it = topics_.find(topic);
  if (it == topics_.end() || index < 0 ||
      static_cast<std::size_t>(index) >= it->second.partitions.size()) {
    return nullptr;
  }
  return it->second.partitions[static_cast<std::size_t>(index)];
}

void PartitionManager::tick() {
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) {
      if (p) p->tick();
    }
  }
}

void PartitionManager::peer_unreachable(NodeId node) {
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) {
      if (p) p->peer_unreachable(node);
    }
  }
}

}  // namespace spate::cluster
