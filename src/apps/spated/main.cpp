// SPDX-License-Identifier: Apache-2.0
//
// spated: parses its settings, starts the admin HTTP listener (503 while
// starting), opens the data directory and every partition (in parallel),
// then serves Kafka clients. On SIGTERM/SIGINT it stops accepting, lets
// in-flight requests finish, flushes and closes every log, and exits 0.
// Wiring only (design.md, Modules).

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <pthread.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "spate/broker/broker.h"
#include "spate/cluster/disk_thread.h"
#include "spate/cluster/partition_manager.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/server/admin_server.h"
#include "spate/server/kafka_server.h"
#include "spate/storage/data_dir.h"

#include "options.h"

namespace {

using namespace spate;  // NOLINT(google-build-using-namespace): wiring only

constexpr int kExitConfig = 2;
constexpr int kExitStorage = 3;
constexpr int kExitListen = 4;
constexpr auto kTickPeriod = std::chrono::milliseconds(100);

// Raises the soft descriptor limit to the hard one (segment files, client
// connections) and returns the soft limit in force.
rlim_t raise_open_files_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

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

void write_ready_file(const std::string& path, std::uint16_t port, std::uint16_t admin_port,
                      std::size_t partitions) {
  if (path.empty()) return;
  std::ofstream ready(path + ".tmp");
  ready << "pid=" << ::getpid() << "\nport=" << port << "\nadmin_port=" << admin_port
        << "\npartitions=" << partitions << "\n";
  ready.close();
  std::rename((path + ".tmp").c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
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
  auto logger = log::get(log::Module::spated);
  const auto listen = *apps::parse_host_port(config.listen, "listen");
  const auto admin_listen = *apps::parse_host_port(config.admin_listen, "admin-listen");

  // A peer that closes while sendfile(2) writes to it must be an EPIPE for
  // that connection, not a SIGPIPE that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  // Registered before anything starts: a signal during start-up is queued
  // and handled once serving.
  asio::signal_set signals(io, SIGTERM, SIGINT);
  // The admin listener first, so that /health says 503 while starting.
  broker::Broker* broker_ptr = nullptr;
  std::atomic<bool> broker_ready{false};
  server::AdminServer admin(io, admin_listen.host, admin_listen.port, [&]() -> std::string {
    return broker_ready ? broker_ptr->render_metrics() : std::string("# starting\n");
  });
  auto admin_port = admin.listen();
  if (!admin_port) {
    logger->critical("{}", admin_port.error().detail());
    return kExitListen;
  }
  admin.start();
  std::thread network([&io] {
    pthread_setname_np(pthread_self(), "spate-shard0");
    io.run();
  });
  auto stop_network = [&] {
    work.reset();
    io.stop();
    network.join();
  };

  cluster::DiskThread disk;
  auto fs = storage::make_posix_fs();
  SystemClock clock;
  auto dir = storage::DataDir::open(*fs, config.data_dir, {config.node_id, new_cluster_id()});
  if (!dir) {
    logger->critical("cannot use data directory {}: {}", config.data_dir, dir.error().message());
    stop_network();
    return kExitStorage;
  }
  {
    // Sealed segments share a budget of descriptors; the rest of the limit is
    // left to connections and active segments (docs/limits.md).
    const rlim_t open_files = raise_open_files_limit();
    const std::size_t segment_files =
        std::min<std::size_t>(config.max_open_segment_files,
                              std::max<std::size_t>(16, static_cast<std::size_t>(open_files / 4)));
    (*dir)->set_max_open_segment_files(segment_files);
    logger->info("open files limit {}, sealed segment files kept open at most {}", open_files,
                 segment_files);
  }
  storage::TaskRunner runner = run_parallel;
  auto manager = cluster::PartitionManager::open(*fs, **dir, apps::log_config(config), clock,
                                                 io.get_executor(), disk, runner);
  if (!manager) {
    logger->critical("cannot open partitions: {}", manager.error().message());
    stop_network();
    return kExitStorage;
  }

  (*manager)->set_limits({config.max_topics, config.max_partitions});
  broker::Metrics metrics;
  broker::BrokerConfig bc;
  bc.node_id = config.node_id;
  bc.cluster_id = (*dir)->meta().cluster_id;
  bc.auto_create_topics = config.auto_create_topics;
  bc.default_partitions = config.num_partitions;
  bc.frame_bytes_max = config.max_frame_bytes;
  bc.fetch_bytes_max = config.fetch_max_bytes;
  bc.request_decompressed_bytes_max =
      static_cast<std::size_t>(config.max_request_decompressed_bytes);
  bc.decode_limits.items_total_max = config.max_request_entries;
  bc.broker_configs = {
      {"auto.create.topics.enable", config.auto_create_topics ? "true" : "false"},
      {"num.partitions", std::to_string(config.num_partitions)},
      {"log.dirs", config.data_dir},
      {"log.segment.bytes", std::to_string(config.segment_bytes_max)},
      {"log.roll.ms", std::to_string(config.segment_ms)},
      {"log.retention.ms", std::to_string(config.retention_ms)},
      {"log.retention.bytes", std::to_string(config.retention_bytes)},
      {"message.max.bytes", std::to_string(config.max_message_bytes)},
      {"spate.flush.policy", config.flush_policy},
      {"log.flush.interval.ms", std::to_string(config.flush_interval_ms)},
      {"socket.request.max.bytes", std::to_string(config.max_frame_bytes)},
      {"fetch.max.bytes", std::to_string(config.fetch_max_bytes)},
      {"connections.max.idle.ms", std::to_string(config.idle_timeout_ms)},
      {"max.connections", std::to_string(config.max_connections)},
      {"queued.max.request.bytes", std::to_string(config.max_queued_bytes)},
      {"default.replication.factor", "1"},
  };
  server::ServerConfig sc;
  sc.host = listen.host;
  sc.port = listen.port;
  sc.frame_bytes_max = config.max_frame_bytes;
  sc.connections_max = config.max_connections;
  sc.idle_timeout = std::chrono::milliseconds(config.idle_timeout_ms);
  sc.inflight_requests_max = config.max_inflight_requests;
  sc.queued_bytes_max = config.max_queued_bytes;
  sc.queued_response_bytes_max = config.max_queued_response_bytes;
  sc.write_timeout = std::chrono::milliseconds(config.write_timeout_ms);

  // From here on everything runs on the network thread (the shard).
  broker::Broker broker(bc, **manager, metrics, clock);
  server::KafkaServer kafka(io, sc, broker);
  std::promise<Result<std::uint16_t>> bound;
  asio::post(io, [&] {
    auto port = kafka.listen();
    if (port) {
      if (!config.advertise.empty()) {
        auto hp = *apps::parse_host_port(config.advertise, "advertise");
        broker.set_advertised(hp.host, hp.port);
      } else {
        const bool any = listen.host == "0.0.0.0" || listen.host == "::";
        broker.set_advertised(any ? "127.0.0.1" : listen.host, *port);
      }
      broker_ptr = &broker;
      broker_ready = true;
      kafka.start();
      admin.set_serving(true);
    }
    bound.set_value(port);
  });
  auto port = bound.get_future().get();
  if (!port) {
    logger->critical("{}", port.error().detail());
    std::promise<std::size_t> closed;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { closed.set_value(co_await (*manager)->close_all()); },
        asio::detached);
    closed.get_future().wait();
    stop_network();
    return kExitListen;
  }
  const auto startup_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
  logger->info(
      "serving node_id={} cluster_id={} listen={}:{} advertised={}:{} admin=http://{}:{} "
      "data_dir={} topics={} partitions={} flush_policy={} startup_ms={}",
      config.node_id, bc.cluster_id, listen.host, *port, broker.config().advertised_host,
      broker.config().advertised_port, admin_listen.host, *admin_port, config.data_dir,
      (*manager)->topics().size(), (*manager)->partition_count(), config.flush_policy, startup_ms);
  write_ready_file(config.ready_file, *port, *admin_port, (*manager)->partition_count());

  // Periodic partition work (roll by age, retention, interval flushes), and
  // the ordered shutdown on SIGTERM/SIGINT.
  asio::steady_timer ticker(io);
  bool stopping = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        boost::system::error_code ec;
        while (!stopping) {
          ticker.expires_after(kTickPeriod);
          co_await ticker.async_wait(asio::redirect_error(use_awaitable, ec));
          if (!stopping) (*manager)->tick();
        }
      },
      asio::detached);
  std::promise<std::size_t> stopped;
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    logger->info("stopping on signal {}: refusing new connections, finishing requests",
                 signal_number);
    stopping = true;
    ticker.cancel();
    admin.set_serving(false);
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          co_await kafka.stop(std::chrono::milliseconds(config.shutdown_grace_ms));
          const std::size_t failures = co_await (*manager)->close_all();
          admin.stop();
          stopped.set_value(failures);
        },
        [&](std::exception_ptr e) {
          if (e) {
            logger->critical("shutdown failed with an exception");
            stopped.set_value(1);
          }
        });
  });
  const std::size_t failures = stopped.get_future().get();
  stop_network();
  logger->info("stopped partitions={} close_failures={}", (*manager)->partition_count(), failures);
  return failures == 0 ? 0 : kExitStorage;
}
