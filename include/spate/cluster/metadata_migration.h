// SPDX-License-Identifier: Apache-2.0
//
// A single node's metadata (topics.meta and producer.ids) as controller
// commands, proposed once when the node first starts as a cluster (issue 15:
// "today's topics.meta is migrated into it on first start"). Pure.

#pragma once

#include <cstdint>
#include <vector>

#include "spate/cluster/metadata.h"
#include "spate/cluster/partition_manager.h"

namespace spate::cluster {

// In order: allocate_producer_ids blocks for `self` covering at least
// `producer_ids_next` ids, so that an id the node handed out before is never
// handed out again (in a fresh state the blocks start at 0), then one
// create_topic per topic (its partitions all on `self`, its overrides as
// they are). The blocks come first: once a client sees a topic, the ids its
// old producers used are reserved. The broker must be registered first. Proposed twice (a crash
// between proposing and recording that it was done), the topics are
// refused the second time (already_exists) and only ids are skipped.
[[nodiscard]] std::vector<Command> migration_commands(const std::vector<TopicRecord>& topics,
                                                      NodeId self, std::int64_t producer_ids_next,
                                                      const MetadataLimits& limits = {});

}  // namespace spate::cluster
