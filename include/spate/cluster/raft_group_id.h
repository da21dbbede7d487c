// SPDX-License-Identifier: Apache-2.0
//
// RaftGroupId: which Raft group a message belongs to. Every partition replica
// runs one group, named by its topic's id (assigned by the controller,
// starting at 1) and its partition; {0, 0} is the controller's own group.

#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <fmt/format.h>

namespace spate::cluster {

struct RaftGroupId {
  std::uint64_t topic_id = 0;
  std::int32_t partition = 0;

  auto operator<=>(const RaftGroupId&) const = default;
  [[nodiscard]] bool is_controller() const { return topic_id == 0 && partition == 0; }
  // "controller" or "topic 7 partition 3", for log lines.
  [[nodiscard]] std::string describe() const {
    if (is_controller()) return "controller";
    return fmt::format("topic {} partition {}", topic_id, partition);
  }
};

inline constexpr RaftGroupId kControllerGroup{};

}  // namespace spate::cluster

template <>
struct std::hash<spate::cluster::RaftGroupId> {
  std::size_t operator()(const spate::cluster::RaftGroupId& id) const noexcept {
    // The partition in the top bits: topic ids are small, partitions smaller.
    const auto partition = static_cast<std::uint64_t>(static_cast<std::uint32_t>(id.partition));
    return std::hash<std::uint64_t>{}(id.topic_id ^ (partition << 40U) ^ (partition >> 24U));
  }
};
