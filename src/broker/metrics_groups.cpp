// SPDX-License-Identifier: Apache-2.0

#include "metrics_groups.h"

#include <array>

#include <fmt/format.h>

namespace spate::broker {

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

void header(std::string& out, const char* name, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
}

void render_group_states(const std::vector<groups::Coordinator::GroupStats>& stats,
                         std::string& out) {
  using groups::GroupState;
  header(out, "spate_group_members", "Members of the consumer group.");
  for (const auto& g : stats) {
    out += fmt::format("spate_group_members{{group=\"{}\"}} {}\n", escape_label(g.group_id),
                       g.members);
  }
  header(out, "spate_group_generation", "Generation of the consumer group.");
  for (const auto& g : stats) {
    out += fmt::format("spate_group_generation{{group=\"{}\"}} {}\n", escape_label(g.group_id),
                       g.generation);
  }
  static constexpr std::array kStates = {GroupState::empty, GroupState::preparing_rebalance,
                                         GroupState::completing_rebalance, GroupState::stable,
                                         GroupState::dead};
  header(out, "spate_group_state", "1 for the consumer group's current state, 0 for the others.");
  for (const auto& g : stats) {
    const auto id = escape_label(g.group_id);
    for (const auto s : kStates) {
      out += fmt::format("spate_group_state{{group=\"{}\",state=\"{}\"}} {}\n", id,
                         groups::state_name(s), s == g.state ? 1 : 0);
    }
  }
}

}  // namespace

void render_group_metrics(const groups::Coordinator& coordinator,
                          const cluster::PartitionManager& partitions, std::string& out,
                          std::size_t series_max) {
  const auto stats = coordinator.group_stats();
  render_group_states(stats, out);
  // Committed offsets and lag: whole groups, in group order, while they fit
  // under series_max (a scrape stays bounded however many groups commit).
  std::string committed;
  std::string lag;
  std::size_t series = 0;
  std::size_t dropped = 0;
  for (const auto& [group, entry] : coordinator.offsets().groups()) {
    if (series + entry.offsets.size() > series_max) {
      dropped += entry.offsets.size();
      continue;
    }
    series += entry.offsets.size();
    const auto id = escape_label(group);
    for (const auto& [key, value] : entry.offsets) {
      const auto labels = fmt::format("group=\"{}\",topic=\"{}\",partition=\"{}\"", id,
                                      escape_label(key.topic), key.partition);
      committed += fmt::format("spate_group_committed_offset{{{}}} {}\n", labels, value.offset);
      const auto p =
          partitions.closing() ? nullptr : partitions.partition(key.topic, key.partition);
      if (p == nullptr) continue;  // the topic is gone: no lag
      lag += fmt::format("spate_group_lag{{{}}} {}\n", labels,
                         std::max<std::int64_t>(0, p->end_offset().value() - value.offset));
    }
  }
  header(out, "spate_group_committed_offset", "Committed offset of a consumer group partition.");
  out += committed;
  header(out, "spate_group_lag",
         "Log end offset minus the committed offset of a consumer group partition.");
  out += lag;
  header(out, "spate_group_series_dropped",
         "Group-partition series left out of this scrape past their limit (docs/limits.md).");
  out += fmt::format("spate_group_series_dropped {}\n", dropped);
  header(out, "spate_group_offsets_bytes",
         "Bytes committed offsets of all groups take in memory (pending commits included).");
  out += fmt::format("spate_group_offsets_bytes {}\n", coordinator.offset_bytes());
  header(out, "spate_group_offsets_bytes_limit",
         "Bytes committed offsets may take at most (--max-offsets-bytes).");
  out +=
      fmt::format("spate_group_offsets_bytes_limit {}\n", coordinator.config().offsets_bytes_max);
}

}  // namespace spate::broker
