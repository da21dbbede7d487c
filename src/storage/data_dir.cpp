// SPDX-License-Identifier: Apache-2.0
//
// The data directory: node.meta, partition folders, opening every log.

#include "spate/storage/data_dir.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/common/log.h"
#include "spate/storage/envelope.h"

namespace spate::storage {
namespace {

constexpr const char* kNodeMetaFile = "node.meta";
constexpr const char* kDeletedSuffix = ".deleted";
constexpr std::uint32_t kNodeMetaMagic = 0x53504E4D;  // "SPNM"
constexpr std::uint16_t kNodeMetaVersion = 1;
constexpr std::size_t kTopicNameBytesMax = 249;
constexpr std::size_t kClusterIdBytesMax = 255;

Status remove_tree(Filesystem& fs, const std::filesystem::path& dir) {
  auto names = fs.list_directory(dir);
  if (!names) return names.error();
  for (const auto& name : *names) {
    auto type = fs.entry_type(dir / name);
    if (!type) return type.error();
    if (*type == EntryType::directory) {
      if (auto s = remove_tree(fs, dir / name); !s) return s;
    } else if (auto s = fs.remove(dir / name); !s) {
      return s;
    }
  }
  return fs.remove(dir);
}

}  // namespace

std::string TopicPartition::dir_name() const { return fmt::format("{}-{}", topic, partition); }

Status validate_topic_name(std::string_view topic) {
  if (topic.empty()) return Error::invalid("topic name is empty");
  if (topic.size() > kTopicNameBytesMax) {
    return Error::invalid(fmt::format("topic name is {} characters, at most {} allowed",
                                      topic.size(), kTopicNameBytesMax));
  }
  if (topic == "." || topic == "..") {
    return Error::invalid(fmt::format("topic name '{}' is not allowed", topic));
  }
  for (char c : topic) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Error::invalid(
          fmt::format("topic name '{}' has a character outside [a-zA-Z0-9._-]", topic));
    }
  }
  return {};
}

Result<TopicPartition> parse_partition_dir_name(std::string_view name) {
  const auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) {
    return Error::invalid(fmt::format("'{}' is not <topic>-<partition>", name));
  }
  auto digits = name.substr(dash + 1);
  std::int32_t partition = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), partition);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || partition < 0 ||
      (digits.size() > 1 && digits[0] == '0')) {
    return Error::invalid(fmt::format("'{}' does not end in a partition number", name));
  }
  TopicPartition tp{std::string(name.substr(0, dash)), partition};
  if (auto s = validate_topic_name(tp.topic); !s) return s.error();
  return tp;
}

std::vector<std::byte> encode_node_meta(const NodeMeta& meta) {
  SPATE_ASSERT(meta.cluster_id.size() <= kClusterIdBytesMax, "cluster id too long");
  ByteWriter w;
  w.write<std::uint16_t>(0);  // reserved
  w.write<std::int32_t>(meta.node_id);
  w.write<std::uint16_t>(static_cast<std::uint16_t>(meta.cluster_id.size()));
  w.write_string(meta.cluster_id);
  return encode_envelope(kNodeMetaMagic, kNodeMetaVersion, w.view());
}

Result<NodeMeta> decode_node_meta(std::span<const std::byte> bytes) {
  auto bad = [](std::string_view why) { return Error::corrupt(fmt::format("node.meta: {}", why)); };
  // A newer version stays unsupported_version: the file is whole, this build is old.
  auto file = open_envelope(bytes, kNodeMetaMagic, kNodeMetaVersion);
  if (!file) {
    return Error(file.error().code(), fmt::format("node.meta: {}", file.error().detail()));
  }
  ByteReader in(file->body);
  auto reserved = in.read<std::uint16_t>();
  auto node_id = in.read<std::int32_t>();
  auto length = in.read<std::uint16_t>();
  if (!reserved || !node_id || !length) return bad("too short");
  auto id = in.read_bytes(*length);
  if (!id || !in.empty()) return bad("cluster id length does not match the file");
  NodeMeta meta;
  meta.node_id = *node_id;
  meta.cluster_id.assign(reinterpret_cast<const char*>(id->data()), id->size());
  return meta;
}

Result<std::unique_ptr<DataDir>> DataDir::open(Filesystem& fs, const std::filesystem::path& path,
                                               const NodeMeta& meta) {
  if (meta.cluster_id.size() > kClusterIdBytesMax) {
    return Error::invalid(fmt::format("cluster id of {} bytes (at most {})", meta.cluster_id.size(),
                                      kClusterIdBytesMax));
  }
  auto type = fs.entry_type(path);
  if (!type) return type.error();
  if (*type != EntryType::none && *type != EntryType::directory) {
    return Error(Errc::foreign_directory,
                 fmt::format("data directory {} exists and is not a directory", path.string()));
  }
  if (*type == EntryType::none) {
    if (auto s = fs.create_directories(path); !s) return s.error();
    if (path.has_parent_path()) {
      if (auto s = fs.sync_directory(path.parent_path()); !s) return s.error();
    }
  }
  auto names = fs.list_directory(path);
  if (!names) {
    return Error(names.error().code(), fmt::format("cannot read data directory {}: {}",
                                                   path.string(), names.error().detail()));
  }
  const auto meta_path = path / kNodeMetaFile;
  const bool has_meta = std::find(names->begin(), names->end(), kNodeMetaFile) != names->end();
  NodeMeta found = meta;
  if (has_meta) {
    auto bytes = read_file(fs, meta_path, 4096);
    if (!bytes) return bytes.error();
    auto decoded = decode_node_meta(*bytes);
    if (!decoded) {
      return Error(decoded.error().code(),
                   fmt::format("{}: {}", meta_path.string(), decoded.error().detail()));
    }
    if (decoded->node_id != meta.node_id) {
      return Error::invalid(
          fmt::format("data directory {} belongs to node {}, but this is node {} (--node-id)",
                      path.string(), decoded->node_id, meta.node_id));
    }
    found = *decoded;
  } else {
    std::vector<std::string> others;
    for (const auto& n : *names) {
      if (n != std::string(kNodeMetaFile) + ".tmp") others.push_back(n);
    }
    if (!others.empty()) {
      return Error(Errc::foreign_directory,
                   fmt::format("data directory {} is not empty but has no node.meta, so spated "
                               "did not create it (first entry: '{}'); choose an empty or new "
                               "directory",
                               path.string(), others.front()));
    }
    if (auto s = write_file_atomic(fs, meta_path, encode_node_meta(meta)); !s) return s.error();
    log::get(log::Module::storage)
        ->info("created data directory {} node_id={} cluster_id={}", path.string(), meta.node_id,
               meta.cluster_id);
  }
  std::unique_ptr<DataDir> dir(new DataDir(fs, path, found));
  // Check every entry now so that a stray file is reported before anything opens.
  auto partitions = dir->list_partitions();
  if (!partitions) return partitions.error();
  return dir;
}

Result<std::vector<TopicPartition>> DataDir::list_partitions() {
  auto names = fs_.list_directory(path_);
  if (!names) return names.error();
  std::vector<TopicPartition> out;
  for (const auto& name : *names) {
    if (name == kNodeMetaFile || name == kTopicsMetaFile || name == kProducerIdsFile ||
        name == kClusterDir || name == kTopicsMetaMigratedFile) {
      continue;
    }
    if (name == std::string(kNodeMetaFile) + ".tmp" ||
        name == std::string(kTopicsMetaFile) + ".tmp" ||
        name == std::string(kProducerIdsFile) + ".tmp" ||
        name == std::string(kTopicsMetaMigratedFile) + ".tmp") {
      if (auto s = fs_.remove(path_ / name); !s) return s.error();
      continue;
    }
    auto type = fs_.entry_type(path_ / name);
    if (!type) return type.error();
    if (*type == EntryType::directory && name.ends_with(kDeletedSuffix)) {
      // A DeleteTopics that a crash interrupted: finish it.
      if (auto s = remove_tree(fs_, path_ / name); !s) return s.error();
      continue;
    }
    auto tp = parse_partition_dir_name(name);
    if (*type != EntryType::directory || !tp) {
      return Error(
          Errc::foreign_directory,
          fmt::format("unexpected entry '{}' in data directory {}: only node.meta and "
                      "<topic>-<partition> folders belong there{}",
                      name, path_.string(), tp ? "" : fmt::format(" ({})", tp.error().detail())));
    }
    out.push_back(std::move(*tp));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::unique_ptr<PartitionLog>> DataDir::open_partition(const TopicPartition& id,
                                                              const LogConfig& config,
                                                              const Clock& clock) {
  if (auto s = validate_topic_name(id.topic); !s) return s.error();
  if (id.partition < 0) return Error::invalid(fmt::format("partition {}", id.partition));
  return PartitionLog::open(fs_, path_ / id.dir_name(), config, clock,
                            fmt::format("{}/{}", id.topic, id.partition), file_cache_);
}

Result<std::vector<OpenedPartition>> DataDir::open_all(
    const std::function<LogConfig(const TopicPartition&)>& config_for, const Clock& clock,
    const TaskRunner& runner) {
  auto ids = list_partitions();
  if (!ids) return ids.error();
  std::vector<std::optional<Result<std::unique_ptr<PartitionLog>>>> results(ids->size());
  std::vector<std::function<void()>> tasks;
  tasks.reserve(ids->size());
  for (std::size_t i = 0; i < ids->size(); ++i) {
    tasks.emplace_back([this, i, &ids, &results, &config_for, &clock] {
      results[i].emplace(open_partition((*ids)[i], config_for((*ids)[i]), clock));
    });
  }
  if (runner) {
    runner(tasks);
  } else {
    for (auto& task : tasks) task();
  }
  std::vector<OpenedPartition> out;
  out.reserve(ids->size());
  for (std::size_t i = 0; i < ids->size(); ++i) {
    SPATE_ASSERT(results[i].has_value(), "task runner skipped partition {}", (*ids)[i].dir_name());
    auto& r = *results[i];
    if (!r) {
      return Error(r.error().code(),
                   fmt::format("partition {}: {}", (*ids)[i].dir_name(), r.error().detail()));
    }
    out.push_back({(*ids)[i], std::move(*r)});
  }
  return out;
}

std::string deleted_dir_name(const TopicPartition& id) {
  // A folder name holds at most 255 bytes and <topic>-<partition> may use
  // 255 already: a long one keeps a prefix and a hash of the whole name, so
  // that the marked name stays unique and within the limit.
  constexpr std::size_t kNameBytesMax = 255;
  constexpr std::size_t kSuffixBytes = std::char_traits<char>::length(kDeletedSuffix);
  const std::string name = id.dir_name();
  if (name.size() + kSuffixBytes <= kNameBytesMax) return name + kDeletedSuffix;
  const std::uint32_t hash = crc32c::value(std::as_bytes(std::span(name.data(), name.size())));
  return fmt::format("{}~{:08x}{}", name.substr(0, kNameBytesMax - kSuffixBytes - 9), hash,
                     kDeletedSuffix);
}

Status DataDir::remove_partition(const TopicPartition& id) {
  const auto dir = path_ / id.dir_name();
  auto type = fs_.entry_type(dir);
  if (!type) return type.error();
  if (*type == EntryType::none) return {};
  const auto doomed = path_ / deleted_dir_name(id);
  // Rename first: after a crash the folder is either whole or marked deleted.
  if (auto s = fs_.rename(dir, doomed); !s) return s;
  if (auto s = fs_.sync_directory(path_); !s) return s;
  if (auto s = remove_tree(fs_, doomed); !s) return s;
  return fs_.sync_directory(path_);
}

}  // namespace spate::storage
