// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/partition_manager.h"

#include <atomic>
#include <set>

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/common/log.h"

namespace spate::cluster {
namespace {

constexpr const char* kTopicsMetaFile = "topics.meta";
constexpr std::uint32_t kTopicsMagic = 0x53505450;  // "SPTP"
constexpr std::uint16_t kTopicsVersion = 1;

void write_string(ByteWriter& w, const std::string& s) {
  w.write<std::uint16_t>(static_cast<std::uint16_t>(s.size()));
  w.write_string(s);
}

Result<std::string> read_string(ByteReader& r) {
  auto n = r.read<std::uint16_t>();
  if (!n) return n.error();
  auto bytes = r.read_bytes(*n);
  if (!bytes) return bytes.error();
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

}  // namespace

std::vector<std::byte> encode_topics_meta(const std::vector<TopicRecord>& topics) {
  ByteWriter w(64);
  w.write<std::uint32_t>(kTopicsMagic);
  w.write<std::uint16_t>(kTopicsVersion);
  w.write<std::uint32_t>(static_cast<std::uint32_t>(topics.size()));
  for (const auto& t : topics) {
    write_string(w, t.name);
    w.write<std::int32_t>(t.partitions);
    w.write<std::uint32_t>(static_cast<std::uint32_t>(t.overrides.size()));
    for (const auto& [k, v] : t.overrides) {
      write_string(w, k);
      write_string(w, v);
    }
  }
  w.write<std::uint32_t>(crc32c::value(w.view()));
  return w.release();
}

Result<std::vector<TopicRecord>> decode_topics_meta(std::span<const std::byte> bytes) {
  auto bad = [](std::string_view why) {
    return Error::corrupt(fmt::format("{}: {}", kTopicsMetaFile, why));
  };
  if (bytes.size() < 14) return bad("shorter than its header");
  const auto body = bytes.first(bytes.size() - 4);
  if (crc32c::value(body) != load_be<std::uint32_t>(bytes.subspan(bytes.size() - 4).data())) {
    return bad("CRC mismatch");
  }
  ByteReader r(body);
  if (*r.read<std::uint32_t>() != kTopicsMagic) return bad("wrong magic");
  if (*r.read<std::uint16_t>() != kTopicsVersion) return bad("unknown version");
  const auto count = *r.read<std::uint32_t>();
  if (count > body.size()) return bad("topic count larger than the file");
  std::vector<TopicRecord> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    TopicRecord t;
    auto name = read_string(r);
    if (!name) return bad("truncated topic name");
    t.name = std::move(*name);
    auto partitions = r.read<std::int32_t>();
    auto configs = r.read<std::uint32_t>();
    if (!partitions || !configs) return bad("truncated topic");
    if (*partitions < 1 || *partitions > kPartitionsMax) {
      return bad(fmt::format("topic {} has {} partitions", t.name, *partitions));
    }
    t.partitions = *partitions;
    if (*configs > body.size()) return bad("config count larger than the file");
    for (std::uint32_t c = 0; c < *configs; ++c) {
      auto k = read_string(r);
      if (!k) return bad("truncated config name");
      auto v = read_string(r);
      if (!v) return bad("truncated config value");
      t.overrides[*k] = *v;
    }
    out.push_back(std::move(t));
  }
  if (r.remaining() != 0) return bad("trailing bytes");
  return out;
}

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
    const storage::TaskRunner& runner) {
  std::unique_ptr<PartitionManager> m(
      new PartitionManager(fs, dir, defaults, clock, std::move(shard), disk));
  auto logger = log::get(log::Module::cluster);
  std::vector<TopicRecord> records;
  bool meta_present = false;
  bool changed = false;
  auto bytes = storage::read_file(fs, dir.path() / kTopicsMetaFile, kTopicsMetaReadBytesMax);
  if (bytes) {
    auto decoded = decode_topics_meta(*bytes);
    if (!decoded) return decoded.error();
    records = std::move(*decoded);
    meta_present = true;
  } else if (bytes.error().code() != Errc::not_found) {
    return bytes.error();
  }
  for (auto& r : records) {
    auto normalized = normalize_topic_configs(r.overrides);
    if (!normalized) {
      return Error::corrupt(
          fmt::format("{}: topic {}: {}", kTopicsMetaFile, r.name, normalized.error().detail()));
    }
    if (*normalized != r.overrides) changed = true;  // written by an older version
    r.overrides = std::move(*normalized);
    m->topics_[r.name] = Topic{r.name, r.overrides, {}};
  }
  if (meta_present) {
    // topics.meta is written last by a create or CreatePartitions and first
    // by a delete: a folder it does not list (an unknown topic, or an index
    // past the topic's count) is what a crash left of one of them. Removed
    // before anything opens it, so that a damaged leftover cannot stop the
    // start.
    std::map<std::string, std::int32_t> counts;
    for (const auto& r : records) counts[r.name] = r.partitions;
    auto ids = dir.list_partitions();
    if (!ids) return ids.error();
    for (const auto& id : *ids) {
      auto it = counts.find(id.topic);
      if (it != counts.end() && id.partition < it->second) continue;
      logger->warn(
          "removing partition folder {}: {} does not list it (an interrupted create, delete or "
          "CreatePartitions)",
          id.dir_name(), kTopicsMetaFile);
      // Not fatal: a full disk must not stop the broker from starting.
      if (auto s = dir.remove_partition(id); !s) {
        logger->warn("cannot remove partition folder {} now: {}", id.dir_name(),
                     s.error().message());
      }
    }
  }
  auto opened = dir.open_all(
      [&](const storage::TopicPartition& tp) {
        auto it = m->topics_.find(tp.topic);
        return apply_topic_configs(defaults,
                                   it == m->topics_.end() ? ConfigMap{} : it->second.overrides);
      },
      clock, runner);
  if (!opened) return opened.error();
  std::map<std::string, std::map<std::int32_t, std::unique_ptr<storage::PartitionLog>>> found;
  for (auto& p : *opened) found[p.id.topic][p.id.partition] = std::move(p.log);
  for (auto it = found.begin(); it != found.end();) {
    auto& [name, logs] = *it;
    if (m->topics_.contains(name)) {
      ++it;
      continue;
    }
    if (meta_present) {
      // A leftover that could not be removed above: not served.
      it = found.erase(it);
      continue;
    }
    logger->warn(
        "topic {} has partition folders but there is no {}: keeping it with default configs", name,
        kTopicsMetaFile);
    m->topics_.try_emplace(name, Topic{name, {}, {}});
    records.push_back({name, 0, {}});
    changed = true;
    ++it;
  }
  for (const auto& r : records) {
    Topic& t = m->topics_[r.name];
    auto& logs = found[r.name];
    // Without topics.meta (an old data directory), the folders say.
    const std::int32_t total =
        meta_present ? r.partitions
                     : std::max(r.partitions, logs.empty() ? 0 : logs.rbegin()->first + 1);
    for (std::int32_t i = 0; i < total; ++i) {
      auto it = logs.find(i);
      std::unique_ptr<storage::PartitionLog> log;
      if (it != logs.end()) {
        log = std::move(it->second);
      } else {
        // A folder that is gone (lost or removed by hand): made again, empty.
        auto created =
            dir.open_partition({r.name, i}, apply_topic_configs(defaults, t.overrides), clock);
        if (!created) return created.error();
        log = std::move(*created);
      }
      t.partitions.push_back(m->adopt(r.name, i, std::move(log)));
    }
    if (total != r.partitions) changed = true;
  }
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

std::shared_ptr<Partition> PartitionManager::adopt(const std::string& topic, std::int32_t index,
                                                   std::unique_ptr<storage::PartitionLog> log) {
  ++partition_count_;
  return std::make_shared<Partition>(storage::TopicPartition{topic, index}, std::move(log), shard_,
                                     disk_);
}

std::vector<TopicRecord> PartitionManager::records() const {
  std::vector<TopicRecord> out;
  out.reserve(topics_.size());
  for (const auto& [name, t] : topics_) {
    out.push_back({name, static_cast<std::int32_t>(t.partitions.size()), t.overrides});
  }
  return out;
}

namespace {

Result<std::vector<std::byte>> encode_bounded(const std::vector<TopicRecord>& records) {
  auto bytes = encode_topics_meta(records);
  if (bytes.size() > kTopicsMetaWriteBytesMax) {
    return Error(Errc::policy_violation,
                 fmt::format("{} would take {} bytes, more than the limit {}", kTopicsMetaFile,
                             bytes.size(), kTopicsMetaWriteBytesMax));
  }
  return bytes;
}

}  // namespace

Status PartitionManager::persist_now() {
  auto bytes = encode_bounded(records());
  if (!bytes) return bytes.error();
  return storage::write_file_atomic(fs_, dir_.path() / kTopicsMetaFile, *bytes);
}

// One admin operation's turn; ends it when destroyed.
class PartitionManager::Turn {
 public:
  explicit Turn(PartitionManager* m) : m_(m) {}
  Turn(Turn&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Turn& operator=(Turn&&) = delete;
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
  ~Turn() {
    if (m_ != nullptr) m_->end_turn();
  }

 private:
  PartitionManager* m_;
};

awaitable<Result<PartitionManager::Turn>> PartitionManager::take_turn(Deadline deadline) {
  if (closing_) co_return Error(Errc::shutting_down, "the broker is stopping");
  ++admin_waiting_;
  // Bounded by the deadline: each pass waits for the running operation to
  // end or the deadline.
  while (admin_busy_) {
    if (std::chrono::steady_clock::now() >= deadline) {
      --admin_waiting_;
      co_return Error(Errc::timeout, fmt::format("{} earlier topic operations still running",
                                                 admin_waiting_ + (admin_busy_ ? 1 : 0)));
    }
    co_await admin_idle_.wait_until(deadline);
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

awaitable<Status> PartitionManager::write_meta(std::vector<TopicRecord> records) {
  auto bytes = encode_bounded(records);
  if (!bytes) co_return bytes.error();
  auto path = dir_.path() / kTopicsMetaFile;
  // The job is a named variable, not a temporary in the co_await (see
  // off_shard), and its result comes back through shared state.
  auto written = std::make_shared<Status>();
  std::function<void()> job = [this, written, path, bytes = std::move(*bytes)] {
    *written = storage::write_file_atomic(fs_, path, bytes);
  };
  co_await off_shard(std::move(job));
  co_return *written;
}

awaitable<Result<std::vector<std::unique_ptr<storage::PartitionLog>>>>
PartitionManager::make_partitions(const std::string& name, const ConfigMap& overrides,
                                  std::int32_t from, std::int32_t to) {
  using Logs = std::vector<std::unique_ptr<storage::PartitionLog>>;
  const auto config = apply_topic_configs(defaults_, overrides);
  auto made = std::make_shared<Result<Logs>>(Logs{});
  std::function<void()> job = [this, made, name, config, from, to] {
    *made = [&]() -> Result<Logs> {
      Logs out;
      for (std::int32_t i = from; i < to; ++i) {
        // Nothing of this topic's partition i is in topics.meta: a folder by
        // that name is a leftover of an interrupted delete, never data.
        auto log = [&]() -> Result<std::unique_ptr<storage::PartitionLog>> {
          if (auto s = dir_.remove_partition({name, i}); !s) return s.error();
          return dir_.open_partition({name, i}, config, clock_);
        }();
        if (!log) {
          for (auto& opened : out) (void)opened->close();
          out.clear();
          for (std::int32_t j = from; j <= i; ++j) {
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
  std::function<void()> job = [this, name, from, to] {
    for (std::int32_t i = from; i < to; ++i) {
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
    auto check = [&]() -> Status {
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
    }();
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
    records.push_back({specs[k].name, specs[k].partitions, specs[k].overrides});
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
    Topic topic{spec.name, spec.overrides, {}};
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
  partition_count_ -= topic.partitions.size();
  // Stopped on the shard (appends and reads refused, the flush in flight
  // done); closed and removed on the worker: a close syncs several files.
  for (auto& p : topic.partitions) co_await p->stop();
  std::function<void()> close_logs = [partitions = topic.partitions] {
    for (const auto& p : partitions) (void)p->close_log();
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
    if (auto s = p->set_config(config); !s) co_return s;
  }
  log::get(log::Module::cluster)
      ->info("topic configs changed name={} overrides={}", name, topic.overrides.size());
  co_return Status{};
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
    for (auto& p : t.partitions) p->tick();
  }
}

awaitable<std::size_t> PartitionManager::close_all() {
  // The running topic operation (if any) finishes first; later ones are
  // refused from here on.
  auto turn = co_await take_turn(std::chrono::steady_clock::now() + std::chrono::minutes(10));
  closing_ = true;
  std::vector<std::shared_ptr<Partition>> all;
  all.reserve(partition_count_);
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) all.push_back(p);
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
