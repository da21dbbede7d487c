// SPDX-License-Identifier: Apache-2.0
//
// Module loggers on one shared stderr sink.

#include "spate/common/log.h"

#include <array>
#include <atomic>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace spate::log {
namespace {

std::atomic<spdlog::level::level_enum> g_level{spdlog::level::info};
std::mutex g_mutex;

constexpr std::array<const char*, static_cast<std::size_t>(Module::count)> kNames = {
    "storage", "raft", "cluster", "broker", "server", "client", "spated", "groups"};

std::shared_ptr<spdlog::logger> make(const char* name) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
  logger->set_level(g_level.load());
  return logger;
}

}  // namespace

const std::shared_ptr<spdlog::logger>& get(Module module) {
  // Each made on its first use (a module that never logs costs nothing at
  // start), then returned without a lookup.
  static std::array<std::once_flag, kNames.size()> once;
  static std::array<std::shared_ptr<spdlog::logger>, kNames.size()> loggers;
  const auto i = static_cast<std::size_t>(module);
  std::call_once(once[i], [i] { loggers[i] = make(kNames[i]); });
  return loggers[i];
}

void set_level(spdlog::level::level_enum level) {
  g_level.store(level);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
}

}  // namespace spate::log
