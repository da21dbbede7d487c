// SPDX-License-Identifier: Apache-2.0
//
// DataDir: the broker's data directory: node.meta (who owns it) and one
// folder per partition, `<topic>-<partition>` (design.md, Storage layout;
// docs/storage-format.md §Data directory).

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/storage/file.h"
#include "spate/storage/file_cache.h"
#include "spate/storage/partition_log.h"

namespace spate::storage {

// How many sealed segment files all the logs of a data directory keep open
// together, unless set_max_open_segment_files() says otherwise
// (--max-open-segment-files; docs/limits.md).
inline constexpr std::size_t kDefaultMaxOpenSegmentFiles = 1000;

// Topic metadata beside node.meta, written and read by the cluster module
// (cluster::PartitionManager); a data directory only knows its name.
inline constexpr const char* kTopicsMetaFile = "topics.meta";
// Written once a single node's topics.meta was migrated into the controller
// (cluster/single_node_migration.h): the topics it migrated.
inline constexpr const char* kTopicsMetaMigratedFile = "topics.meta.migrated";
// The next producer id not yet handed out (cluster::ProducerIds).
inline constexpr const char* kProducerIdsFile = "producer.ids";
// The controller's folder (cluster::Controller): its log and Raft state.
inline constexpr const char* kClusterDir = "__cluster";

// A partition's name. Topic names follow Kafka's rule: 1–249 characters of
// [a-zA-Z0-9._-], not "." or "..".
struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;

  auto operator<=>(const TopicPartition&) const = default;
  // "<topic>-<partition>"
  [[nodiscard]] std::string dir_name() const;
};

// Errors: invalid_argument with the reason.
[[nodiscard]] Status validate_topic_name(std::string_view topic);
// Parses a partition folder name; the partition is the part after the last '-'.
// Errors: invalid_argument.
[[nodiscard]] Result<TopicPartition> parse_partition_dir_name(std::string_view name);

// What node.meta holds: written once when the directory is created.
struct NodeMeta {
  std::int32_t node_id = 0;
  std::string cluster_id;  // at most 255 bytes
  bool operator==(const NodeMeta&) const = default;
};

[[nodiscard]] std::vector<std::byte> encode_node_meta(const NodeMeta& meta);
// Errors: corrupt_log (damaged file), unsupported_version.
[[nodiscard]] Result<NodeMeta> decode_node_meta(std::span<const std::byte> bytes);

// Runs a batch of independent tasks and returns when all have finished. The
// default runs them one after another; the daemon passes one that uses a
// thread pool (storage itself never starts threads).
using TaskRunner = std::function<void(std::vector<std::function<void()>>& tasks)>;

struct OpenedPartition {
  TopicPartition id;
  std::unique_ptr<PartitionLog> log;
};

// Owner: the broker. Threading: open_partition/remove_partition for different
// partitions may run concurrently (they share only the Filesystem, which is
// thread-safe); the rest on one thread.
// The name a partition's folder is renamed to while it is being removed.
[[nodiscard]] std::string deleted_dir_name(const TopicPartition& id);

class DataDir {
 public:
  // Opens `path`, creating it (and node.meta) if it does not exist or is
  // empty. An existing node.meta must name the same node id; its cluster id
  // wins over `meta.cluster_id` (read it back with meta()).
  // Errors: foreign_directory if `path` holds files but no node.meta, or an
  //   entry that is neither node.meta nor a partition folder (the message
  //   names it); invalid_argument if node.meta names another node id;
  //   corrupt_log for a damaged node.meta; io_error (unreadable directory).
  [[nodiscard]] static Result<std::unique_ptr<DataDir>> open(Filesystem& fs,
                                                             const std::filesystem::path& path,
                                                             const NodeMeta& meta);

  [[nodiscard]] const NodeMeta& meta() const { return meta_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  // Partition folders present, sorted.
  [[nodiscard]] Result<std::vector<TopicPartition>> list_partitions();

  // Opens (creating if missing) the log of one partition.
  [[nodiscard]] Result<std::unique_ptr<PartitionLog>> open_partition(const TopicPartition& id,
                                                                     const LogConfig& config,
                                                                     const Clock& clock);

  // Opens every partition present, each with config_for(id), through
  // `runner` (in parallel if it runs tasks in parallel). Fails with the first
  // error in partition order, naming the partition; logs opened before a
  // failure are closed uncleanly (dropped), which is safe.
  [[nodiscard]] Result<std::vector<OpenedPartition>> open_all(
      const std::function<LogConfig(const TopicPartition&)>& config_for, const Clock& clock,
      const TaskRunner& runner = {});

  // The descriptor budget of sealed segments shared by every log opened from
  // here on (at least 1). Call before opening partitions.
  void set_max_open_segment_files(std::size_t max) {
    file_cache_ = std::make_shared<FileCache>(fs_, max);
  }
  [[nodiscard]] const FileCache& file_cache() const { return *file_cache_; }

  // Deletes a partition's folder and files (DeleteTopics), if present: it is
  // first renamed to a name ending in ".deleted" (at most 255 bytes, see
  // deleted_dir_name), so that a crash leaves it whole or marked. The log
  // must be closed or dropped first.
  [[nodiscard]] Status remove_partition(const TopicPartition& id);

 private:
  DataDir(Filesystem& fs, std::filesystem::path path, NodeMeta meta)
      : fs_(fs),
        path_(std::move(path)),
        meta_(std::move(meta)),
        file_cache_(std::make_shared<FileCache>(fs, kDefaultMaxOpenSegmentFiles)) {}

  Filesystem& fs_;
  std::filesystem::path path_;
  NodeMeta meta_;
  std::shared_ptr<FileCache> file_cache_;
};

}  // namespace spate::storage
