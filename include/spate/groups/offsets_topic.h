// SPDX-License-Identifier: Apache-2.0
//
// OffsetsTopic: where the group coordinator finds __consumer_offsets, and so
// which groups it coordinates (docs/groups.md, "In a cluster"). The
// coordinator coordinates the groups of every partition of the topic that
// this broker holds and leads (the Raft group's confirmed leader): on a
// single node that is every partition, from the start; in a cluster the
// leaderships move, and the coordinator loads and unloads partitions as they
// do. The topic is the same records in both cases; only where it comes from
// differs:
//   - local_offsets_topic: a single node's topic of the PartitionManager,
//     created (compacted) by prepare() when missing;
//   - cluster_offsets_topic: a cluster topic, created through the controller
//     by the broker (FindCoordinator), its partition count and the existence
//     of other topics taken from the controller's metadata.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "spate/cluster/controller.h"
#include "spate/cluster/partition.h"
#include "spate/cluster/partition_manager.h"
#include "spate/common/asio.h"
#include "spate/common/result.h"

namespace spate::groups {

inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

// The overrides __consumer_offsets is created with: compacted (only the
// latest commit of each group and partition, and the latest record of each
// group, are kept, as in Kafka's offsets topic), small segments so that
// compaction starts early.
[[nodiscard]] cluster::ConfigMap offsets_topic_configs();

// The partition of __consumer_offsets that holds `group_id`'s records, of
// `partitions` (0 when there are none yet). FNV-1a: stable across versions
// and platforms, since the placement of a group must never change while its
// records are in the log.
[[nodiscard]] std::int32_t offsets_partition(std::string_view group_id, std::int32_t partitions);

class OffsetsTopic {
 public:
  virtual ~OffsetsTopic() = default;
  // Makes the topic ready before the coordinator starts (a single node
  // creates it with `partitions` partitions, or makes it compacted).
  // Errors: the partition manager's.
  virtual awaitable<Status> prepare(std::int32_t partitions) = 0;
  // The topic's partition count in the cluster; 0 while it does not exist.
  [[nodiscard]] virtual std::int32_t partition_count() const = 0;
  // Partition `index` if this broker holds it, else null.
  [[nodiscard]] virtual std::shared_ptr<cluster::Partition> partition(std::int32_t index) const = 0;
  // Whether `topic` has a partition `index` anywhere in the cluster (commits
  // to others are refused; offsets of deleted topics expire).
  [[nodiscard]] virtual bool exists(const std::string& topic, std::int32_t index) const = 0;
};

[[nodiscard]] std::unique_ptr<OffsetsTopic> local_offsets_topic(
    cluster::PartitionManager& partitions);
[[nodiscard]] std::unique_ptr<OffsetsTopic> cluster_offsets_topic(
    cluster::PartitionManager& partitions, const cluster::Controller& controller);

}  // namespace spate::groups
