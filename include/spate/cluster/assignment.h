// SPDX-License-Identifier: Apache-2.0
//
// Where a new topic's (or new partitions') replicas go, and which partitions
// should hand leadership back to their preferred replica. Pure functions of
// their arguments (docs/controller.md, "Assignment").

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spate/cluster/metadata.h"
#include "spate/common/result.h"

namespace spate::cluster {

struct BrokerSlot {
  NodeId id;
  std::optional<std::string> rack;
  bool fenced = false;
};

// What a broker already holds: replicas, and partitions it is the preferred
// (first) replica of.
struct BrokerLoad {
  std::int64_t replicas = 0;
  std::int64_t leaders = 0;
  bool operator==(const BrokerLoad&) const = default;
};
using LoadMap = std::map<NodeId, BrokerLoad>;

// Replicas for `partitions` new partitions, numbered from `first_partition`
// (0 for a new topic, the current count for CreatePartitions):
//  * only unfenced brokers, each at most once per partition;
//  * the brokers holding the fewest replicas (counting `load` and the
//    partitions placed so far) are taken first; ties go by id, rotated by
//    the partition's number so that equal brokers take turns;
//  * when every live broker has a rack, each partition's replicas spread
//    over as many racks as they can before a rack repeats;
//  * the first replica (preferred leader) is, among those chosen, the one
//    that is preferred leader of the fewest partitions.
// Errors: invalid_replication_factor (below 1, or more than the live
// brokers), invalid_partitions (partitions below 1), invalid_argument
// (a broker listed twice).
[[nodiscard]] Result<ReplicaAssignment> assign_replicas(std::span<const BrokerSlot> brokers,
                                                        const LoadMap& load,
                                                        std::int32_t partitions,
                                                        std::int32_t replication_factor,
                                                        std::int32_t first_partition = 0);

// The registered brokers as assign_replicas takes them.
[[nodiscard]] std::vector<BrokerSlot> broker_slots(const MetadataState& state);
// Replicas and preferred leaderships per broker in `state` (pending
// reassignment targets count as the replicas they will be).
[[nodiscard]] LoadMap broker_load(const MetadataState& state);

}  // namespace spate::cluster
