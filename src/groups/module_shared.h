// SPDX-License-Identifier: Apache-2.0
//
// Helpers several source files of the groups module share. The module builds
// as a unity build (up to six files to a translation unit), so a helper each
// file defined in its own anonymous namespace would be defined twice: it
// lives here once instead.

#pragma once

#include <memory>

#include "spate/common/log.h"

namespace spate::groups {

// The groups module's logger.
inline const std::shared_ptr<spdlog::logger>& logger() { return log::get(log::Module::groups); }

}  // namespace spate::groups
