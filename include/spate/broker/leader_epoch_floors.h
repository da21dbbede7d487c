// SPDX-License-Identifier: Apache-2.0
//
// The highest leader epoch this broker's Metadata (v7+) has named for each
// partition of a cluster topic, so that it never names an older one
// (docs/cluster.md, "Leader epochs in Metadata"). Clients that see a
// partition's epoch drop any later answer with a lower one; an answer that
// went backwards would send a client from this broker to a deposed leader.
//
// Keyed by the topic's id (never reused: a topic deleted and created again is
// another key). Held by the Broker and used on its one shard only: no locks.
// Bounded by the topics of the metadata: prune() forgets the others.

#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace spate::broker {

class LeaderEpochFloors {
 public:
  // The highest epoch named for (topic_id, partition); -1 if none.
  [[nodiscard]] std::int32_t floor(std::uint64_t topic_id, std::size_t partition) const {
    const auto it = floors_.find(topic_id);
    if (it == floors_.end() || partition >= it->second.size()) return -1;
    return it->second[partition];
  }

  // Notes that Metadata named `epoch` for (topic_id, partition). `partition`
  // comes from the controller's metadata (bounded by its partition limit),
  // never from a request.
  void named(std::uint64_t topic_id, std::size_t partition, std::int32_t epoch) {
    auto& per_partition = floors_[topic_id];
    if (partition >= per_partition.size()) per_partition.resize(partition + 1, -1);
    if (epoch > per_partition[partition]) per_partition[partition] = epoch;
  }

  // Forgets every topic for which keep(topic_id) is false.
  template <typename Keep>
  void prune(Keep&& keep) {
    std::erase_if(floors_, [&](const auto& entry) { return !keep(entry.first); });
  }

  [[nodiscard]] std::size_t topics() const { return floors_.size(); }

 private:
  std::unordered_map<std::uint64_t, std::vector<std::int32_t>> floors_;
};

}  // namespace spate::broker
