// SPDX-License-Identifier: Apache-2.0
//
// Private to broker: the consumer group series of /metrics (issue 14).

#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "spate/cluster/partition_manager.h"
#include "spate/groups/coordinator.h"

namespace spate::broker {

// The most group-partition series (spate_group_committed_offset and
// spate_group_lag each) one scrape shows; the groups past it are left out
// and counted in spate_group_series_dropped (docs/limits.md).
inline constexpr std::size_t kGroupPartitionSeriesMax = 10'000;

// A Prometheus label value: backslash, double quote and newline escaped.
[[nodiscard]] std::string escape_label(std::string_view value);

// Appends spate_group_members, _state, _generation, _committed_offset and
// _lag (log end offset minus committed, 0 at least).
void render_group_metrics(const groups::Coordinator& coordinator,
                          const cluster::PartitionManager& partitions, std::string& out,
                          std::size_t series_max = kGroupPartitionSeriesMax);

}  // namespace spate::broker
