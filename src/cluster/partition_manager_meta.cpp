// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager: topics.meta, its format (an envelope, storage/envelope.h)
// and its persistence (docs/storage-format.md §topics.meta).

#include <algorithm>

#include "spate/cluster/partition_manager.h"
#include "spate/common/bytes.h"
#include "spate/common/log.h"
#include "spate/storage/envelope.h"

namespace spate::cluster {

using storage::kTopicsMetaFile;

namespace {

constexpr std::uint32_t kTopicsMagic = 0x53505450;  // "SPTP"
// Version 2 adds each topic's cluster id and replicas; version 3 each
// partition's learners (a reassignment in progress). Each is written only
// when needed: version 1 while every topic is a single node's (id 0),
// version 2 while no partition has learners.
constexpr std::uint16_t kTopicsVersion = 3;

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

Error bad(std::string_view why) {
  return Error::corrupt(fmt::format("{}: {}", kTopicsMetaFile, why));
}

// One topic of the body. Errors: corrupt_log.
// Version 2's tail of a topic: its id, then per partition its replicas
// (none: not hosted here). Errors: corrupt_log.
Status read_cluster_fields(ByteReader& r, TopicRecord& t) {
  auto id = r.read<std::uint64_t>();
  auto lists = r.read<std::uint32_t>();
  if (!id || !lists) return bad("truncated topic id");
  t.id = *id;
  if (*lists != 0 && *lists != static_cast<std::uint32_t>(t.partitions)) {
    return bad(
        fmt::format("topic {}: {} replica lists for {} partitions", t.name, *lists, t.partitions));
  }
  if (t.id == 0 && *lists != 0) return bad(fmt::format("topic {}: replicas without an id", t.name));
  for (std::uint32_t i = 0; i < *lists; ++i) {
    auto n = r.read<std::uint32_t>();
    if (!n) return bad("truncated replica list");
    if (*n > kReplicasMax) return bad(fmt::format("topic {}: {} replicas", t.name, *n));
    auto& list = t.replicas.emplace_back();
    for (std::uint32_t k = 0; k < *n; ++k) {
      auto node = r.read<std::int32_t>();
      if (!node || *node < 0) return bad("bad replica id");
      list.emplace_back(*node);
    }
  }
  return {};
}

// Version 3's tail of a cluster topic: per partition its learners, each one
// of its replicas (no lists: none). Errors: corrupt_log.
Status read_learners(ByteReader& r, TopicRecord& t) {
  auto lists = r.read<std::uint32_t>();
  if (!lists) return bad("truncated learner lists");
  if (*lists != 0 && *lists != t.replicas.size()) {
    return bad(fmt::format("topic {}: {} learner lists for {} replica lists", t.name, *lists,
                           t.replicas.size()));
  }
  for (std::uint32_t i = 0; i < *lists; ++i) {
    auto n = r.read<std::uint32_t>();
    if (!n) return bad("truncated learner list");
    const auto& replicas = t.replicas[i];
    // At least one replica votes.
    if (*n > 0 && *n >= replicas.size()) {
      return bad(fmt::format("topic {} partition {}: {} learners of {} replicas", t.name, i, *n,
                             replicas.size()));
    }
    auto& list = t.learners.emplace_back();
    for (std::uint32_t k = 0; k < *n; ++k) {
      auto node = r.read<std::int32_t>();
      if (!node) return bad("truncated learner list");
      if (std::find(replicas.begin(), replicas.end(), NodeId(*node)) == replicas.end()) {
        return bad(
            fmt::format("topic {} partition {}: learner {} is not a replica", t.name, i, *node));
      }
      list.emplace_back(*node);
    }
  }
  return {};
}

Result<TopicRecord> read_topic(ByteReader& r, std::uint16_t version) {
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
  // Each config takes at least 4 bytes: a count past that is damage.
  if (*configs > r.remaining()) return bad("config count larger than the file");
  for (std::uint32_t c = 0; c < *configs; ++c) {
    auto k = read_string(r);
    if (!k) return bad("truncated config name");
    auto v = read_string(r);
    if (!v) return bad("truncated config value");
    t.overrides[*k] = *v;
  }
  if (version >= 2) {
    if (auto st = read_cluster_fields(r, t); !st) return st.error();
  }
  if (version >= 3) {
    if (auto st = read_learners(r, t); !st) return st.error();
  }
  return t;
}

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

std::vector<std::byte> encode_topics_meta(const std::vector<TopicRecord>& topics) {
  ByteWriter w(64);
  const bool cluster =
      std::any_of(topics.begin(), topics.end(), [](const TopicRecord& t) { return t.id != 0; });
  const bool learners = std::any_of(topics.begin(), topics.end(), [](const TopicRecord& t) {
    return t.id != 0 && !t.learners.empty();
  });
  w.write<std::uint32_t>(static_cast<std::uint32_t>(topics.size()));
  for (const auto& t : topics) {
    write_string(w, t.name);
    w.write<std::int32_t>(t.partitions);
    w.write<std::uint32_t>(static_cast<std::uint32_t>(t.overrides.size()));
    for (const auto& [k, v] : t.overrides) {
      write_string(w, k);
      write_string(w, v);
    }
    if (!cluster) continue;
    w.write<std::uint64_t>(t.id);
    w.write<std::uint32_t>(static_cast<std::uint32_t>(t.replicas.size()));
    for (const auto& list : t.replicas) {
      w.write<std::uint32_t>(static_cast<std::uint32_t>(list.size()));
      for (const NodeId n : list) w.write<std::int32_t>(n.value());
    }
    if (!learners) continue;
    w.write<std::uint32_t>(static_cast<std::uint32_t>(t.learners.size()));
    for (const auto& list : t.learners) {
      w.write<std::uint32_t>(static_cast<std::uint32_t>(list.size()));
      for (const NodeId n : list) w.write<std::int32_t>(n.value());
    }
  }
  const std::uint16_t version = learners ? kTopicsVersion : cluster ? 2 : 1;
  return storage::encode_envelope(kTopicsMagic, version, w.view());
}

Result<std::vector<TopicRecord>> decode_topics_meta(std::span<const std::byte> bytes) {
  // Any damage, a newer version included, is corrupt_log: never guessed.
  auto file = storage::open_envelope(bytes, kTopicsMagic, kTopicsVersion);
  if (!file) return bad(file.error().detail());
  ByteReader r(file->body);
  auto count = r.read<std::uint32_t>();
  if (!count) return bad("too short");
  // Each topic takes at least 10 bytes: a count past that is damage.
  if (*count > r.remaining()) return bad("topic count larger than the file");
  std::vector<TopicRecord> out;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto t = read_topic(r, file->version);
    if (!t) return t.error();
    out.push_back(std::move(*t));
  }
  if (r.remaining() != 0) return bad("trailing bytes");
  return out;
}

Result<std::optional<std::vector<TopicRecord>>> PartitionManager::load_meta(bool* changed) {
  auto bytes = storage::read_file(fs_, dir_.path() / kTopicsMetaFile, kTopicsMetaReadBytesMax);
  if (!bytes) {
    if (bytes.error().code() == Errc::not_found) return std::optional<std::vector<TopicRecord>>{};
    return bytes.error();
  }
  auto records = decode_topics_meta(*bytes);
  if (!records) return records.error();
  for (auto& r : *records) {
    auto normalized = normalize_topic_configs(r.overrides);
    if (!normalized) {
      return Error::corrupt(
          fmt::format("{}: topic {}: {}", kTopicsMetaFile, r.name, normalized.error().detail()));
    }
    if (*normalized != r.overrides) *changed = true;  // written by an older version
    r.overrides = std::move(*normalized);
    topics_[r.name] = Topic{r.name, r.overrides, {}, r.id, r.replicas, r.learners};
    if (r.id != 0) cluster_names_[r.id] = r.name;
  }
  return std::optional(std::move(*records));
}

std::vector<TopicRecord> PartitionManager::records() const {
  std::vector<TopicRecord> out;
  out.reserve(topics_.size());
  for (const auto& [name, t] : topics_) {
    out.push_back({name, static_cast<std::int32_t>(t.partitions.size()), t.overrides, t.id,
                   t.replicas, t.learners});
  }
  return out;
}

Status PartitionManager::persist_now() {
  auto bytes = encode_bounded(records());
  if (!bytes) return bytes.error();
  return storage::write_file_atomic(fs_, dir_.path() / kTopicsMetaFile, *bytes);
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

}  // namespace spate::cluster
