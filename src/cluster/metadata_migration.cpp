// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/metadata_migration.h"

#include <algorithm>

namespace spate::cluster {

std::vector<Command> migration_commands(const std::vector<TopicRecord>& topics, NodeId self,
                                        std::int64_t producer_ids_next,
                                        const MetadataLimits& limits) {
  std::vector<Command> out;
  out.reserve(topics.size() + 1);
  for (std::int64_t left = producer_ids_next; left > 0;) {
    const auto count = std::min(left, limits.producer_id_block_max);
    out.emplace_back(AllocateProducerIds{self, count});
    left -= count;
  }
  for (const auto& t : topics) {
    CreateTopic c;
    c.name = t.name;
    c.assignments.assign(static_cast<std::size_t>(std::max(t.partitions, 0)), {self});
    c.configs = t.overrides;
    out.emplace_back(std::move(c));
  }
  return out;
}

}  // namespace spate::cluster
