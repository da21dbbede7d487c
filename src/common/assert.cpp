// SPDX-License-Identifier: Apache-2.0
//
// The failure path of SPATE_ASSERT: log at critical, flush every logger, abort.

#include "spate/common/assert.h"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace spate::detail {

void assert_failed(const char* expr, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "assertion failed: %s at %s:%d %s\n", expr, file, line, message.c_str());
  std::fflush(stderr);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->critical("assertion failed: {} at {}:{} {}", expr, file, line, message);
    logger->flush();
  });
  std::abort();
}

}  // namespace spate::detail
