// SPDX-License-Identifier: Apache-2.0
//
// Helpers several source files of the cluster module share. The module
// builds as a unity build (up to six files to a translation unit), so a
// helper each file defined in its own anonymous namespace would be defined
// twice: it lives here once instead.

#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "spate/common/log.h"
#include "spate/common/types.h"

namespace spate::cluster {

// The cluster module's logger.
inline const std::shared_ptr<spdlog::logger>& logger() { return log::get(log::Module::cluster); }

// Whether `ids` (a replica or voter list) names `id`.
inline bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace spate::cluster
