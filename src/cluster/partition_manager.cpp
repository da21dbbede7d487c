// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/partition_manager.h"

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/common/log.h"

namespace spate::cluster {
namespace {

constexpr const char* kTopicsMetaFile = "topics.meta";
constexpr std::uint32_t kTopicsMagic = 0x53505450;  // "SPTP"
constexpr std::uint16_t kTopicsVersion = 1;
constexpr std::size_t kTopicsMetaBytesMax = 64U << 20U;

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

Result<std::unique_ptr<PartitionManager>> PartitionManager::open(
    storage::Filesystem& fs, storage::DataDir& dir, const storage::LogConfig& defaults,
    const Clock& clock, asio::any_io_executor shard, DiskThread& disk,
    const storage::TaskRunner& runner) {
  std::unique_ptr<PartitionManager> m(
      new PartitionManager(fs, dir, defaults, clock, std::move(shard), disk));
  std::vector<TopicRecord> records;
  auto bytes = storage::read_file(fs, dir.path() / kTopicsMetaFile, kTopicsMetaBytesMax);
  if (bytes) {
    auto decoded = decode_topics_meta(*bytes);
    if (!decoded) return decoded.error();
    records = std::move(*decoded);
  } else if (bytes.error().code() != Errc::not_found) {
    return bytes.error();
  }
  for (auto& r : records) {
    if (auto s = validate_topic_configs(r.overrides); !s) {
      return Error::corrupt(
          fmt::format("{}: topic {}: {}", kTopicsMetaFile, r.name, s.error().detail()));
    }
    m->topics_[r.name] = Topic{r.name, r.overrides, {}};
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
  bool changed = false;
  for (auto& [name, logs] : found) {
    auto [it, inserted] = m->topics_.try_emplace(name, Topic{name, {}, {}});
    if (inserted) {
      log::get("cluster")->warn(
          "topic {} has partition folders but no entry in {}: keeping it "
          "with default configs",
          name, kTopicsMetaFile);
      changed = true;
    }
  }
  for (const auto& r : records) {
    Topic& t = m->topics_[r.name];
    auto& logs = found[r.name];
    const std::int32_t total = std::max(r.partitions, logs.empty() ? 0 : logs.rbegin()->first + 1);
    for (std::int32_t i = 0; i < total; ++i) {
      auto it = logs.find(i);
      if (it != logs.end()) {
        t.partitions.push_back(std::make_shared<Partition>(storage::TopicPartition{r.name, i},
                                                           std::move(it->second), m->shard_, disk));
      } else {
        // A create that a crash interrupted: finish it.
        auto log =
            dir.open_partition({r.name, i}, apply_topic_configs(defaults, t.overrides), clock);
        if (!log) return log.error();
        t.partitions.push_back(std::make_shared<Partition>(storage::TopicPartition{r.name, i},
                                                           std::move(*log), m->shard_, disk));
      }
    }
    if (total != r.partitions) changed = true;
    found.erase(r.name);
  }
  for (auto& [name, logs] : found) {
    Topic& t = m->topics_[name];
    const std::int32_t total = logs.rbegin()->first + 1;
    for (std::int32_t i = 0; i < total; ++i) {
      auto it = logs.find(i);
      std::unique_ptr<storage::PartitionLog> log;
      if (it != logs.end()) {
        log = std::move(it->second);
      } else {
        auto created = dir.open_partition({name, i}, defaults, clock);
        if (!created) return created.error();
        log = std::move(*created);
      }
      t.partitions.push_back(std::make_shared<Partition>(storage::TopicPartition{name, i},
                                                         std::move(log), m->shard_, disk));
    }
  }
  if (changed) {
    if (auto s = m->persist(); !s) return s.error();
  }
  return m;
}

Status PartitionManager::persist() {
  std::vector<TopicRecord> records;
  for (const auto& [name, t] : topics_) {
    records.push_back({name, static_cast<std::int32_t>(t.partitions.size()), t.overrides});
  }
  return storage::write_file_atomic(fs_, dir_.path() / kTopicsMetaFile,
                                    encode_topics_meta(records));
}

Status PartitionManager::open_partitions(Topic& topic, std::int32_t total) {
  const auto config = apply_topic_configs(defaults_, topic.overrides);
  for (auto i = static_cast<std::int32_t>(topic.partitions.size()); i < total; ++i) {
    auto log = dir_.open_partition({topic.name, i}, config, clock_);
    if (!log) return log.error();
    topic.partitions.push_back(std::make_shared<Partition>(storage::TopicPartition{topic.name, i},
                                                           std::move(*log), shard_, disk_));
  }
  return {};
}

Status PartitionManager::create_topic(const std::string& name, std::int32_t partitions,
                                      const ConfigMap& overrides, bool validate_only) {
  if (auto s = storage::validate_topic_name(name); !s) return s;
  if (topics_.contains(name)) {
    return Error(Errc::already_exists, fmt::format("topic '{}' already exists", name));
  }
  if (partitions < 1 || partitions > kPartitionsMax) {
    return Error::invalid(
        fmt::format("number of partitions must be in [1, {}], got {}", kPartitionsMax, partitions));
  }
  if (auto s = validate_topic_configs(overrides); !s) return s;
  if (auto s = storage::validate(apply_topic_configs(defaults_, overrides)); !s) return s;
  if (validate_only) return {};
  Topic topic{name, overrides, {}};
  if (auto s = open_partitions(topic, partitions); !s) {
    for (auto& p : topic.partitions) (void)p->log().close();
    return s;
  }
  topics_[name] = std::move(topic);
  if (auto s = persist(); !s) return s;
  log::get("cluster")->info("topic created name={} partitions={} configs={}", name, partitions,
                            overrides.size());
  return {};
}

awaitable<Status> PartitionManager::delete_topic(std::string name) {
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", name));
  }
  Topic topic = std::move(it->second);
  topics_.erase(it);
  if (auto s = persist(); !s) co_return s;
  for (auto& p : topic.partitions) {
    (void)co_await p->close();
    if (auto s = dir_.remove_partition(p->id()); !s) co_return s;
  }
  log::get("cluster")->info("topic deleted name={} partitions={}", name, topic.partitions.size());
  co_return Status{};
}

Status PartitionManager::add_partitions(const std::string& name, std::int32_t total,
                                        bool validate_only) {
  auto it = topics_.find(name);
  if (it == topics_.end()) return Error::not_found(fmt::format("topic '{}' does not exist", name));
  Topic& topic = it->second;
  const auto current = static_cast<std::int32_t>(topic.partitions.size());
  if (total <= current) {
    return Error::invalid(fmt::format(
        "topic '{}' has {} partitions; the new count {} must be larger", name, current, total));
  }
  if (total > kPartitionsMax) {
    return Error::invalid(fmt::format("at most {} partitions per topic", kPartitionsMax));
  }
  if (validate_only) return {};
  if (auto s = open_partitions(topic, total); !s) return s;
  if (auto s = persist(); !s) return s;
  log::get("cluster")->info("topic partitions added name={} partitions={}", name, total);
  return {};
}

Status PartitionManager::set_topic_configs(const std::string& name, const ConfigMap& overrides,
                                           bool validate_only) {
  auto it = topics_.find(name);
  if (it == topics_.end()) return Error::not_found(fmt::format("topic '{}' does not exist", name));
  if (auto s = validate_topic_configs(overrides); !s) return s;
  const auto config = apply_topic_configs(defaults_, overrides);
  if (auto s = storage::validate(config); !s) return s;
  if (validate_only) return {};
  it->second.overrides = overrides;
  for (auto& p : it->second.partitions) {
    if (auto s = p->log().set_config(config); !s) return s;
  }
  if (auto s = persist(); !s) return s;
  log::get("cluster")->info("topic configs changed name={} overrides={}", name, overrides.size());
  return {};
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

std::size_t PartitionManager::partition_count() const {
  std::size_t n = 0;
  for (const auto& [name, t] : topics_) n += t.partitions.size();
  return n;
}

void PartitionManager::tick() {
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) p->tick();
  }
}

awaitable<std::size_t> PartitionManager::close_all() {
  std::size_t failures = 0;
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) {
      if (auto s = co_await p->close(); !s) {
        log::get("cluster")->error("[{}] close failed: {}", p->id().dir_name(),
                                   s.error().message());
        ++failures;
      }
    }
  }
  co_return failures;
}

}  // namespace spate::cluster
