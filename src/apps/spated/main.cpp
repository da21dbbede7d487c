// SPDX-License-Identifier: Apache-2.0
//
// spated: parses and validates its settings, then runs a Node (node.h),
// which starts the listeners and partitions, serves, and on SIGTERM/SIGINT
// stops them in order and exits 0 (or 3 if a partition failed to close).
// Wiring only (design.md, Modules).

#include <cstdio>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "spate/common/clock.h"
#include "spate/common/log.h"

#include "node.h"
#include "options.h"

namespace {

// glibc's malloc hands a thread's freed memory back to the kernel whenever
// the top of its heap passes a trim threshold that follows the largest
// recent block (about twice it), and serves large blocks from mmap. A shard
// handling 256 KiB produce batches then page-faults every fresh buffer: the
// leader of a replication-factor-3 partition spent three quarters of a core
// at 50 MB/s, mostly in page faults and copies into new pages, and took 30 %
// at over 100 MB/s with these fixed thresholds (bench/README.md). Up to
// 128 MiB per arena is kept for reuse; blocks of 16 MiB or more still come
// from mmap.
void tune_allocator() {
#if defined(__GLIBC__)
  (void)mallopt(M_MMAP_THRESHOLD, 16 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace spate;  // NOLINT(google-build-using-namespace): wiring only
  tune_allocator();
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
