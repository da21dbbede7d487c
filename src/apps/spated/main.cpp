// SPDX-License-Identifier: Apache-2.0
//
// spated: parses its settings, opens the data directory and every partition
// (in parallel), reports readiness, and on SIGTERM/SIGINT closes every log
// cleanly and exits 0. The Kafka listener, admin HTTP and replication are
// wired in by the broker issues that follow.

#include <cstdio>
#include <fstream>
#include <pthread.h>
#include <signal.h>
#include <thread>
#include <unistd.h>

#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/storage/data_dir.h"

#include "options.h"

namespace {

using namespace spate;  // NOLINT(google-build-using-namespace): wiring only

constexpr int kExitConfig = 2;
constexpr int kExitStorage = 3;

std::string new_cluster_id() {
  Rng rng = Rng::from_os();
  return fmt::format("{:016x}{:016x}", rng.next(), rng.next());
}

// Runs tasks on up to hardware_concurrency threads; returns when all are done.
void run_parallel(std::vector<std::function<void()>>& tasks) {
  const std::size_t workers = std::max<std::size_t>(
      1, std::min<std::size_t>(tasks.size(), std::thread::hardware_concurrency()));
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < tasks.size(); i = next++) tasks[i]();
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = apps::parse_options(argc, argv);
  if (parsed.outcome == apps::ParseOutcome::exit_ok) {
    std::fputs(parsed.message.c_str(), stdout);
    return 0;
  }
  if (parsed.outcome == apps::ParseOutcome::exit_error) {
    std::fprintf(stderr, "%s\n", parsed.message.c_str());
    return kExitConfig;
  }
  const apps::DaemonConfig& config = parsed.config;
  if (auto s = apps::validate(config); !s) {
    std::fprintf(stderr, "spated: %s\n", s.error().detail().c_str());
    return kExitConfig;
  }
  log::set_level(spdlog::level::from_str(config.log_level));
  auto logger = log::get("spated");

  // Signals are taken synchronously by this thread only (sigwait below).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto fs = storage::make_posix_fs();
  SystemClock clock;
  auto dir = storage::DataDir::open(*fs, config.data_dir, {config.node_id, new_cluster_id()});
  if (!dir) {
    logger->critical("cannot use data directory {}: {}", config.data_dir, dir.error().message());
    return kExitStorage;
  }
  const auto log_defaults = apps::log_config(config);
  storage::TaskRunner runner = run_parallel;
  auto partitions =
      (*dir)->open_all([&](const storage::TopicPartition&) { return log_defaults; }, clock, runner);
  if (!partitions) {
    logger->critical("cannot open partitions: {}", partitions.error().message());
    return kExitStorage;
  }
  logger->info(
      "started node_id={} cluster_id={} data_dir={} partitions={} listen={} flush_policy={} "
      "(Kafka listener, admin HTTP and replication not wired yet)",
      config.node_id, (*dir)->meta().cluster_id, config.data_dir, partitions->size(), config.listen,
      config.flush_policy);
  if (!config.ready_file.empty()) {
    std::ofstream ready(config.ready_file + ".tmp");
    ready << "pid=" << ::getpid() << "\npartitions=" << partitions->size() << "\n";
    ready.close();
    std::rename((config.ready_file + ".tmp").c_str(), config.ready_file.c_str());
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);  // Waits for the only events this process has yet.
  logger->info("stopping on signal {}", signal_number);
  std::size_t failures = 0;
  for (auto& p : *partitions) {
    if (auto s = p.log->close(); !s) {
      logger->error("[{}] close failed: {}", p.id.dir_name(), s.error().message());
      ++failures;
    }
  }
  logger->info("stopped partitions_closed={} failures={}", partitions->size() - failures, failures);
  return failures == 0 ? 0 : kExitStorage;
}
