// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager: the topics of this node and their partitions, on one
// shard. Topic metadata (partition counts, config overrides) lives in
// `<data_dir>/topics.meta`, written atomically; partition data in the
// `<topic>-<partition>` folders of storage::DataDir. When the controller Raft
// group arrives, it becomes the source of this metadata.

#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "spate/cluster/disk_thread.h"
#include "spate/cluster/partition.h"
#include "spate/cluster/topic_config.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/storage/data_dir.h"

namespace spate::cluster {

inline constexpr std::int32_t kPartitionsMax = 10000;  // per topic

struct Topic {
  std::string name;
  ConfigMap overrides;
  std::vector<std::shared_ptr<Partition>> partitions;
};

// The bytes of topics.meta (docs/storage-format.md).
struct TopicRecord {
  std::string name;
  std::int32_t partitions = 0;
  ConfigMap overrides;
  bool operator==(const TopicRecord&) const = default;
};
[[nodiscard]] std::vector<std::byte> encode_topics_meta(const std::vector<TopicRecord>& topics);
[[nodiscard]] Result<std::vector<TopicRecord>> decode_topics_meta(std::span<const std::byte> bytes);

class PartitionManager {
 public:
  // Opens every partition in `dir` (in parallel through `runner`) and the
  // topic metadata. Errors: the storage's, naming the partition.
  [[nodiscard]] static Result<std::unique_ptr<PartitionManager>> open(
      storage::Filesystem& fs, storage::DataDir& dir, const storage::LogConfig& defaults,
      const Clock& clock, asio::any_io_executor shard, DiskThread& disk,
      const storage::TaskRunner& runner = {});

  // Errors: invalid_argument (bad name, count or config: message says which),
  // already_exists. With validate_only nothing changes.
  [[nodiscard]] Status create_topic(const std::string& name, std::int32_t partitions,
                                    const ConfigMap& overrides, bool validate_only = false);
  // Closes and removes every partition. Errors: not_found.
  awaitable<Status> delete_topic(std::string name);
  // Grows the topic to `total` partitions. Errors: not_found, invalid_argument.
  [[nodiscard]] Status add_partitions(const std::string& name, std::int32_t total,
                                      bool validate_only = false);
  // Replaces the topic's overrides. Errors: not_found, invalid_argument.
  [[nodiscard]] Status set_topic_configs(const std::string& name, const ConfigMap& overrides,
                                         bool validate_only = false);

  [[nodiscard]] const Topic* topic(const std::string& name) const;
  [[nodiscard]] std::shared_ptr<Partition> partition(const std::string& topic,
                                                     std::int32_t index) const;
  [[nodiscard]] const std::map<std::string, Topic>& topics() const { return topics_; }
  [[nodiscard]] const storage::LogConfig& defaults() const { return defaults_; }
  [[nodiscard]] std::size_t partition_count() const;

  // Roll, retention and interval flushes for every partition.
  void tick();
  // Closes every partition cleanly. Returns the number that failed.
  awaitable<std::size_t> close_all();

 private:
  PartitionManager(storage::Filesystem& fs, storage::DataDir& dir, storage::LogConfig defaults,
                   const Clock& clock, asio::any_io_executor shard, DiskThread& disk)
      : fs_(fs),
        dir_(dir),
        defaults_(defaults),
        clock_(clock),
        shard_(std::move(shard)),
        disk_(disk) {}
  [[nodiscard]] Status persist();
  [[nodiscard]] Status open_partitions(Topic& topic, std::int32_t total);

  storage::Filesystem& fs_;
  storage::DataDir& dir_;
  storage::LogConfig defaults_;
  const Clock& clock_;
  asio::any_io_executor shard_;
  DiskThread& disk_;
  std::map<std::string, Topic> topics_;
};

}  // namespace spate::cluster
