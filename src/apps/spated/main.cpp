// SPDX-License-Identifier: Apache-2.0
//
// spated: parses and validates its settings, then runs a Node (node.h),
// which starts the listeners and partitions, serves, and on SIGTERM/SIGINT
// stops them in order and exits 0 (or 3 if a partition failed to close).
// Wiring only (design.md, Modules).

#include <cstdio>

#include "spate/common/clock.h"
#include "spate/common/log.h"

#include "node.h"
#include "options.h"

int main(int argc, char** argv) {
  using namespace spate;  // NOLINT(google-build-using-namespace): wiring only
  const auto started = SystemClock().steady_now();
  auto parsed = apps::parse_options(argc, argv);
  if (parsed.outcome == apps::ParseOutcome::exit_ok) {
    std::fputs(parsed.message.c_str(), stdout);
    return apps::kExitOk;
  }
  if (parsed.outcome == apps::ParseOutcome::exit_error) {
    std::fprintf(stderr, "%s\n", parsed.message.c_str());
    return apps::kExitConfig;
  }
  const apps::DaemonConfig& config = parsed.config;
  if (auto s = apps::validate(config); !s) {
    std::fprintf(stderr, "spated: %s\n", s.error().detail().c_str());
    return apps::kExitConfig;
  }
  log::set_level(spdlog::level::from_str(config.log_level));
  apps::Node node(config);
  return node.run(started);
}
