// SPDX-License-Identifier: Apache-2.0
//
// Replica assignment for new partitions (assignment.h).

#include "spate/cluster/assignment.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace spate::cluster {

namespace {

struct Candidate {
  const BrokerSlot* broker;
  BrokerLoad load;
};

// The preferred leader of the next partition: the broker that leads the
// fewest partitions among those whose replica count is at most the
// rf-th smallest (so that the replicas still go to the least loaded),
// then fewest replicas, then the rotation.
std::size_t choose_leader(const std::vector<Candidate>& live, std::size_t rotation,
                          std::size_t rf) {
  const std::size_t n = live.size();
  std::vector<std::int64_t> counts;
  counts.reserve(n);
  for (const auto& c : live) counts.push_back(c.load.replicas);
  std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(rf - 1),
                   counts.end());
  const std::int64_t threshold = counts[rf - 1];
  std::size_t best = n;
  std::tuple<std::int64_t, std::int64_t, std::size_t> best_key;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (rotation + k) % n;
    if (live[i].load.replicas > threshold) continue;
    const auto key = std::make_tuple(live[i].load.leaders, live[i].load.replicas, k);
    if (best == n || key < best_key) {
      best = i;
      best_key = key;
    }
  }
  return best;
}

// The replicas of one partition, its leader first; the others are the
// least loaded brokers left (on racks not used yet first), visited in
// rotated id order from `rotation`.
std::vector<std::size_t> choose(const std::vector<Candidate>& live, std::size_t rotation,
                                std::size_t rf, bool use_racks, std::size_t rack_count) {
  const std::size_t n = live.size();
  std::vector<std::size_t> chosen{choose_leader(live, rotation, rf)};
  std::set<std::string> racks_used;
  auto use_rack = [&](std::size_t i) {
    if (!use_racks) return;
    racks_used.insert(*live[i].broker->rack);
    // Every rack has a replica: the next ones spread over them again.
    if (racks_used.size() == rack_count) racks_used.clear();
  };
  use_rack(chosen.front());
  while (chosen.size() < rf) {
    std::size_t best = n;
    std::tuple<bool, std::int64_t, std::int64_t, std::size_t> best_key;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (rotation + k) % n;
      if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) continue;
      const bool rack_repeats = use_racks && racks_used.contains(*live[i].broker->rack);
      // Among equals, followers are those that lead the most, which keeps
      // the others' replica counts low enough for them to lead next.
      const auto key =
          std::make_tuple(rack_repeats, live[i].load.replicas, -live[i].load.leaders, k);
      if (best == n || key < best_key) {
        best = i;
        best_key = key;
      }
    }
    chosen.push_back(best);
    use_rack(best);
  }
  return chosen;
}

}  // namespace

Result<ReplicaAssignment> assign_replicas(std::span<const BrokerSlot> brokers, const LoadMap& load,
                                          std::int32_t partitions, std::int32_t replication_factor,
                                          std::int32_t first_partition) {
  std::vector<Candidate> live;
  std::set<NodeId> seen;
  std::set<std::string> racks;
  bool all_racks = true;
  for (const auto& b : brokers) {
    if (!seen.insert(b.id).second) return Error::invalid(fmt::format("broker {} twice", b.id));
    if (b.fenced) continue;
    auto it = load.find(b.id);
    live.push_back({&b, it == load.end() ? BrokerLoad{} : it->second});
    if (b.rack) {
      racks.insert(*b.rack);
    } else {
      all_racks = false;
    }
  }
  std::sort(live.begin(), live.end(),
            [](const Candidate& a, const Candidate& b) { return a.broker->id < b.broker->id; });
  if (partitions < 1) {
    return Error(Errc::invalid_partitions,
                 fmt::format("number of partitions must be at least 1, got {}", partitions));
  }
  if (replication_factor < 1 || static_cast<std::size_t>(replication_factor) > live.size()) {
    return Error(Errc::invalid_replication_factor,
                 fmt::format("replication factor {} is not in [1, {}] (the live brokers)",
                             replication_factor, live.size()));
  }
  const bool use_racks = all_racks && !live.empty();
  const auto rf = static_cast<std::size_t>(replication_factor);
  ReplicaAssignment out;
  out.reserve(static_cast<std::size_t>(partitions));
  for (std::int32_t p = 0; p < partitions; ++p) {
    const auto number = static_cast<std::uint64_t>(static_cast<std::int64_t>(first_partition) + p);
    const auto rotation = static_cast<std::size_t>(number % live.size());
    auto chosen = choose(live, rotation, rf, use_racks, racks.size());
    std::vector<NodeId> replicas;
    replicas.reserve(rf);
    for (auto i : chosen) {
      replicas.push_back(live[i].broker->id);
      ++live[i].load.replicas;
    }
    ++live[chosen.front()].load.leaders;
    out.push_back(std::move(replicas));
  }
  return out;
}

std::vector<BrokerSlot> broker_slots(const MetadataState& state) {
  std::vector<BrokerSlot> out;
  out.reserve(state.brokers().size());
  for (const auto& [id, b] : state.brokers()) out.push_back({id, b.rack, b.fenced});
  return out;
}

LoadMap broker_load(const MetadataState& state) {
  LoadMap out;
  for (const auto& [id, t] : state.topics()) {
    for (const auto& p : t.partitions) {
      const auto& replicas = p.target.empty() ? p.replicas : p.target;
      for (auto r : replicas) ++out[r].replicas;
      ++out[replicas.front()].leaders;
    }
  }
  return out;
}

}  // namespace spate::cluster
