// SPDX-License-Identifier: Apache-2.0
//
// The logging facade (style.md §3.8): one spdlog logger per module, created on
// first use, one line per event, level settable at run time.

#pragma once

#include <memory>
#include <string_view>

#include <spdlog/spdlog.h>

namespace spate::log {

// The modules that log; each has one logger, named like its folder.
enum class Module { storage, raft, cluster, broker, server, client, spated, groups, count };

// The logger of `module`, made once (on first use) and then returned without
// a lookup. Thread-safe.
[[nodiscard]] const std::shared_ptr<spdlog::logger>& get(Module module);

// Sets the level of every module logger, existing and future.
void set_level(spdlog::level::level_enum level);

}  // namespace spate::log

#define SPATE_TRACE(logger, ...) SPDLOG_LOGGER_TRACE(logger, __VA_ARGS__)
