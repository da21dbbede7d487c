// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager: topic operations (create, delete, add partitions, change
// configs), one at a time, their file work on the worker thread; close_all,
// which takes the last turn.

#include "spate/cluster/partition_manager.h"

#include <atomic>
#include <set>

#include "spate/common/log.h"

#include "partition_manager_turn.h"

namespace spate::cluster {

awaitable<Result<PartitionManager::Turn>> PartitionManager::take_turn(Deadline deadline) {
  if (closing_) co_return Error(Errc::shutting_down, "the broker is stopping");
  ++admin_waiting_;
  // Bounded by the deadline: each pass waits for the running operation to
  // end or the deadline.
  while (admin_busy_) {
    const auto now = clock_.steady_now();
    if (now >= deadline) {
      --admin_waiting_;
      co_return Error(Errc::timeout, fmt::format("{} earlier topic operations still running",
                                                 admin_waiting_ + (admin_busy_ ? 1 : 0)));
    }
    co_await admin_idle_.wait_at_most(deadline - now);
  }
  --admin_waiting_;
  if (closing_) co_return Error(Errc::shutting_down, "the broker is stopping");
  admin_busy_ = true;
  co_return Turn(this);
}

void PartitionManager::end_turn() {
  admin_busy_ = false;
  admin_idle_.notify_all();
}

namespace {

// A config refused while a topic operation applies it: its own cause, so
// that the client sees INVALID_CONFIG (handlers/error_codes.cpp).
Error as_invalid_config(const Error& e) {
  if (e.code() != Errc::invalid_argument) return e;
  return Error(Errc::invalid_config, e.detail());
}

}  // namespace

awaitable<void> PartitionManager::off_shard(std::function<void()> work) {
  co_await worker_->run(std::move(work), shard_);
}

namespace {

std::vector<std::int32_t> index_range(std::int32_t from, std::int32_t to) {
  std::vector<std::int32_t> out;
  for (std::int32_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

}  // namespace

awaitable<Result<std::vector<std::unique_ptr<storage::PartitionLog>>>>
PartitionManager::make_partitions(const std::string& name, const ConfigMap& overrides,
                                  std::int32_t from, std::int32_t to) {
  co_return co_await make_partitions(name, overrides, index_range(from, to));
}

awaitable<Result<std::vector<std::unique_ptr<storage::PartitionLog>>>>
PartitionManager::make_partitions(const std::string& name, const ConfigMap& overrides,
                                  std::vector<std::int32_t> indexes) {
  using Logs = std::vector<std::unique_ptr<storage::PartitionLog>>;
  const auto config = apply_topic_configs(defaults_, overrides);
  auto made = std::make_shared<Result<Logs>>(Logs{});
  std::function<void()> job = [this, made, name, config, indexes = std::move(indexes)] {
    *made = [&]() -> Result<Logs> {
      Logs out;
      for (std::size_t n = 0; n < indexes.size(); ++n) {
        const std::int32_t i = indexes[n];
        // Nothing of this topic's partition i is in topics.meta: a folder by
        // that name is a leftover of an interrupted delete, never data.
        auto log = [&]() -> Result<std::unique_ptr<storage::PartitionLog>> {
          if (auto s = dir_.remove_partition({name, i}); !s) return s.error();
          return dir_.open_partition({name, i}, config, clock_);
        }();
        if (!log) {
          for (auto& opened : out) (void)opened->close();
          out.clear();
          for (std::size_t k = 0; k <= n; ++k) {
            const std::int32_t j = indexes[k];
            if (auto s = dir_.remove_partition({name, j}); !s) {
              log::get(log::Module::cluster)
                  ->error("cannot remove partition folder {}-{} of a failed create: {}", name, j,
                          s.error().message());
            }
          }
          return log.error();
        }
        out.push_back(std::move(*log));
      }
      return out;
    }();
  };
  co_await off_shard(std::move(job));
  co_return std::move(*made);
}

awaitable<void> PartitionManager::remove_partitions(const std::string& name, std::int32_t from,
                                                    std::int32_t to) {
  co_await remove_partitions(name, index_range(from, to));
}

awaitable<void> PartitionManager::remove_partitions(const std::string& name,
                                                    std::vector<std::int32_t> indexes) {
  std::function<void()> job = [this, name, indexes = std::move(indexes)] {
    for (const std::int32_t i : indexes) {
      if (auto s = dir_.remove_partition({name, i}); !s) {
        log::get(log::Module::cluster)
            ->error("cannot remove partition folder {}-{}: {} (it is removed at the next start)",
                    name, i, s.error().message());
      }
    }
  };
  co_await off_shard(std::move(job));
}

awaitable<void> PartitionManager::drop_logs(
    std::vector<std::unique_ptr<storage::PartitionLog>> logs) {
  auto owned =
      std::make_shared<std::vector<std::unique_ptr<storage::PartitionLog>>>(std::move(logs));
  std::function<void()> job = [owned] {
    for (auto& log : *owned) (void)log->close();
    owned->clear();
  };
  co_await off_shard(std::move(job));
}

Status PartitionManager::check_new_topic(TopicSpec& spec, const std::set<std::string_view>& seen,
                                         std::size_t topics, std::size_t partitions) const {
  if (auto s = storage::validate_topic_name(spec.name); !s) return s;
  if (topics_.contains(spec.name) || seen.contains(spec.name)) {
    return Error(Errc::already_exists, fmt::format("topic '{}' already exists", spec.name));
  }
  if (spec.partitions < 1 || spec.partitions > kPartitionsMax) {
    return Error(Errc::invalid_partitions,
                 fmt::format("number of partitions must be in [1, {}], got {}", kPartitionsMax,
                             spec.partitions));
  }
  auto normalized = normalize_topic_configs(spec.overrides);
  if (!normalized) return as_invalid_config(normalized.error());
  spec.overrides = std::move(*normalized);
  if (auto s = storage::validate(apply_topic_configs(defaults_, spec.overrides)); !s) {
    return as_invalid_config(s.error());
  }
  if (topics + 1 > limits_.topics_max) {
    return Error(Errc::policy_violation,
                 fmt::format("this broker holds at most {} topics", limits_.topics_max));
  }
  if (partitions + static_cast<std::size_t>(spec.partitions) > limits_.partitions_max) {
    return Error(
        Errc::policy_violation,
        fmt::format("this broker holds at most {} partitions ({} exist or are being created)",
                    limits_.partitions_max, partitions));
  }
  return {};
}

awaitable<std::vector<Status>> PartitionManager::create_topics(std::vector<TopicSpec> specs,
                                                               bool validate_only,
                                                               Deadline deadline) {
  std::vector<Status> out(specs.size());
  auto turn = co_await take_turn(deadline);
  if (!turn) {
    for (auto& s : out) s = turn.error();
    co_return out;
  }
  std::size_t topics = topics_.size();
  std::size_t partitions = partition_count_;
  std::set<std::string_view> seen;
  std::vector<std::size_t> accepted;
  for (std::size_t k = 0; k < specs.size(); ++k) {
    auto& spec = specs[k];
    auto check = check_new_topic(spec, seen, topics, partitions);
    if (!check) {
      out[k] = check;
      continue;
    }
    seen.insert(spec.name);
    ++topics;
    partitions += static_cast<std::size_t>(spec.partitions);
    accepted.push_back(k);
  }
  if (validate_only || accepted.empty()) co_return out;
  // Folders first, topics.meta last: a crash in between leaves folders that
  // the next start removes.
  std::vector<std::pair<std::size_t, std::vector<std::unique_ptr<storage::PartitionLog>>>> made;
  for (std::size_t k : accepted) {
    auto logs = co_await make_partitions(specs[k].name, specs[k].overrides, 0, specs[k].partitions);
    if (!logs) {
      out[k] = logs.error();
      continue;
    }
    made.emplace_back(k, std::move(*logs));
  }
  if (made.empty()) co_return out;
  auto records = this->records();
  for (const auto& [k, logs] : made) {
    records.push_back({specs[k].name, specs[k].partitions, specs[k].overrides, 0, {}});
  }
  if (auto s = co_await write_meta(std::move(records)); !s) {
    for (auto& [k, logs] : made) {
      out[k] = s;
      co_await drop_logs(std::move(logs));
      co_await remove_partitions(specs[k].name, 0, specs[k].partitions);
    }
    co_return out;
  }
  for (auto& [k, logs] : made) {
    const auto& spec = specs[k];
    Topic topic{spec.name, spec.overrides, {}, 0, {}};
    for (std::size_t i = 0; i < logs.size(); ++i) {
      topic.partitions.push_back(
          adopt(spec.name, static_cast<std::int32_t>(i), std::move(logs[i])));
    }
    topics_[spec.name] = std::move(topic);
    log::get(log::Module::cluster)
        ->info("topic created name={} partitions={} configs={}", spec.name, spec.partitions,
               spec.overrides.size());
  }
  co_return out;
}

awaitable<Status> PartitionManager::create_topic(std::string name, std::int32_t partitions,
                                                 ConfigMap overrides, bool validate_only,
                                                 Deadline deadline) {
  std::vector<TopicSpec> specs;
  specs.push_back({std::move(name), partitions, std::move(overrides)});
  auto out = co_await create_topics(std::move(specs), validate_only, deadline);
  co_return out.front();
}

awaitable<Status> PartitionManager::delete_topic(std::string name, Deadline deadline) {
  auto turn = co_await take_turn(deadline);
  if (!turn) co_return turn.error();
  if (!topics_.contains(name)) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", name));
  }
  // topics.meta first: if it cannot be written, nothing changes.
  auto records = this->records();
  std::erase_if(records, [&](const TopicRecord& r) { return r.name == name; });
  if (auto s = co_await write_meta(std::move(records)); !s) co_return s;
  auto it = topics_.find(name);
  Topic topic = std::move(it->second);
  topics_.erase(it);
  if (topic.id != 0) cluster_names_.erase(topic.id);
  // Stopped on the shard (appends and reads refused, the flush in flight
  // done); closed and removed on the worker: a close syncs several files.
  for (auto& p : topic.partitions) {
    if (!p) continue;
    --partition_count_;
    co_await p->stop();
  }
  std::function<void()> close_logs = [partitions = topic.partitions] {
    for (const auto& p : partitions) {
      if (p) (void)p->close_log();
    }
  };
  co_await off_shard(std::move(close_logs));
  co_await remove_partitions(name, 0, static_cast<std::int32_t>(topic.partitions.size()));
  log::get(log::Module::cluster)
      ->info("topic deleted name={} partitions={}", name, topic.partitions.size());
  co_return Status{};
}

awaitable<Status> PartitionManager::add_partitions(std::string name, std::int32_t total,
                                                   bool validate_only, Deadline deadline) {
  auto turn = co_await take_turn(deadline);
  if (!turn) co_return turn.error();
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", name));
  }
  if (it->second.id != 0) {
    co_return Error::invalid(fmt::format(
        "topic '{}' belongs to the cluster: its partitions come from the controller", name));
  }
  const auto current = static_cast<std::int32_t>(it->second.partitions.size());
  if (total <= current) {
    co_return Error(Errc::invalid_partitions,
                    fmt::format("topic '{}' has {} partitions; the new count {} must be larger",
                                name, current, total));
  }
  if (total > kPartitionsMax) {
    co_return Error(Errc::invalid_partitions,
                    fmt::format("at most {} partitions per topic", kPartitionsMax));
  }
  const auto added = static_cast<std::size_t>(total - current);
  if (partition_count_ + added > limits_.partitions_max) {
    co_return Error(Errc::policy_violation,
                    fmt::format("this broker holds at most {} partitions ({} exist)",
                                limits_.partitions_max, partition_count_));
  }
  if (validate_only) co_return Status{};
  const ConfigMap overrides = it->second.overrides;
  auto logs = co_await make_partitions(name, overrides, current, total);
  if (!logs) co_return logs.error();
  auto records = this->records();
  for (auto& r : records) {
    if (r.name == name) r.partitions = total;
  }
  if (auto s = co_await write_meta(std::move(records)); !s) {
    co_await drop_logs(std::move(*logs));
    co_await remove_partitions(name, current, total);
    co_return s;
  }
  // The topic cannot have gone: every change to topics_ takes the turn.
  Topic& topic = topics_.at(name);
  for (std::int32_t i = current; i < total; ++i) {
    topic.partitions.push_back(
        adopt(name, i, std::move((*logs)[static_cast<std::size_t>(i - current)])));
  }
  log::get(log::Module::cluster)->info("topic partitions added name={} partitions={}", name, total);
  co_return Status{};
}

awaitable<Status> PartitionManager::set_topic_configs(std::string name, ConfigMap overrides,
                                                      bool validate_only, Deadline deadline) {
  ConfigChange change = [overrides = std::move(overrides)](const ConfigMap&) -> Result<ConfigMap> {
    return overrides;
  };
  Status s =
      co_await change_topic_configs(std::move(name), std::move(change), validate_only, deadline);
  co_return s;
}

awaitable<Status> PartitionManager::change_topic_configs(std::string name, ConfigChange change,
                                                         bool validate_only, Deadline deadline) {
  auto turn = co_await take_turn(deadline);
  if (!turn) co_return turn.error();
  if (!topics_.contains(name)) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", name));
  }
  // Computed from the overrides as they are now, in the turn: two changes of
  // different keys of one topic never lose one another.
  auto overrides = change(topics_.at(name).overrides);
  if (!overrides) co_return as_invalid_config(overrides.error());
  auto normalized = normalize_topic_configs(*overrides);
  if (!normalized) co_return as_invalid_config(normalized.error());
  const auto config = apply_topic_configs(defaults_, *normalized);
  if (auto s = storage::validate(config); !s) co_return as_invalid_config(s.error());
  if (validate_only) co_return Status{};
  auto records = this->records();
  for (auto& r : records) {
    if (r.name == name) r.overrides = *normalized;
  }
  if (auto s = co_await write_meta(std::move(records)); !s) co_return s;
  Topic& topic = topics_.at(name);
  topic.overrides = std::move(*normalized);
  for (auto& p : topic.partitions) {
    if (!p) continue;
    if (auto s = p->set_config(config); !s) co_return s;
  }
  log::get(log::Module::cluster)
      ->info("topic configs changed name={} overrides={}", name, topic.overrides.size());
  co_return Status{};
}

awaitable<std::size_t> PartitionManager::close_all() {
  // The running topic operation (if any) finishes first; later ones are
  // refused from here on.
  auto turn = co_await take_turn(clock_.steady_now() + std::chrono::minutes(10));
  closing_ = true;
  std::vector<std::shared_ptr<Partition>> all;
  all.reserve(partition_count_);
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) {
      if (p) all.push_back(p);
    }
  }
  for (auto& p : all) co_await p->stop();
  // Each close syncs and writes a few small files: one after another they
  // took 30 ms a partition (a minute for 2,000). On a pool, the file system
  // overlaps them; the shard waits without blocking.
  auto failures = std::make_shared<std::atomic<std::size_t>>(0);
  asio::thread_pool pool(
      std::min<std::size_t>(kCloseThreads, std::max<std::size_t>(all.size(), 1)));
  for (auto& p : all) {
    asio::post(pool, [p, failures] {
      if (auto s = p->close_log(); !s) {
        log::get(log::Module::cluster)
            ->error("[{}] close failed: {}", p->id().dir_name(), s.error().message());
        failures->fetch_add(1);
      }
    });
  }
  std::function<void()> join = [&pool] { pool.join(); };
  co_await off_shard(std::move(join));
  co_return failures->load();
}

}  // namespace spate::cluster
