// SPDX-License-Identifier: Apache-2.0

#include "node.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "spate/common/rng.h"

namespace spate::apps {
namespace {

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

// Runs tasks on a pool of up to hardware_concurrency threads; returns when
// all are done (partitions open in parallel at start).
void run_on_pool(std::vector<std::function<void()>>& tasks) {
  const std::size_t threads = std::max<std::size_t>(
      1, std::min<std::size_t>(tasks.size(), std::thread::hardware_concurrency()));
  asio::thread_pool pool(threads);
  for (auto& task : tasks) asio::post(pool, [&task] { task(); });
  pool.join();
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

Node::Node(const DaemonConfig& config)
    : config_(config),
      listen_(*parse_host_port(config.listen, "listen")),
      admin_listen_(*parse_host_port(config.admin_listen, "admin-listen")),
      logger_(log::get(log::Module::spated)),
      shard_("spate-shard0"),
      signals_(shard_.io(), SIGTERM, SIGINT),
      seeds_(parse_seeds(config.seeds).value()) {}

Node::~Node() { shard_.stop(); }

int Node::run(Clock::SteadyTime started) {
  // A peer that closes while sendfile(2) writes to it must be an EPIPE for
  // that connection, not a SIGPIPE that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  auto admin_port = start_admin();
  if (!admin_port) {
    logger_->critical("{}", admin_port.error().detail());
    return kExitListen;
  }
  shard_.start();
  if (!open_storage() || !start_groups()) {
    abandon();
    return kExitStorage;
  }
  auto port = start_kafka();
  if (!port) {
    logger_->critical("{}", port.error().detail());
    abandon();
    return kExitListen;
  }
  const auto startup_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - started).count();
  logger_->info(
      "serving node_id={} cluster_id={} listen={}:{} advertised={}:{} admin=http://{}:{} "
      "data_dir={} topics={} partitions={} flush_policy={} startup_ms={}{}",
      config_.node_id, broker_->config().cluster_id, listen_.host, *port,
      broker_->config().advertised_host, broker_->config().advertised_port, admin_listen_.host,
      *admin_port, config_.data_dir, partitions_->topics().size(), partitions_->partition_count(),
      config_.flush_policy, startup_ms,
      seeds_.empty()
          ? std::string()
          : fmt::format(" cluster_listen={} seeds={}", config_.cluster_listen, config_.seeds));
  write_ready_file(config_.ready_file, *port, *admin_port, partitions_->partition_count());

  const std::size_t failures = serve_until_signal();
  shard_.stop();
  logger_->info("stopped partitions={} close_failures={}", partitions_->partition_count(),
                failures);
  return failures == 0 ? kExitOk : kExitStorage;
}

// The admin listener first, so that /health says 503 while starting.
Result<std::uint16_t> Node::start_admin() {
  admin_ = std::make_unique<server::AdminServer>(
      shard_.io(), admin_listen_.host, admin_listen_.port, [this]() -> std::string {
        return broker_ready_ ? broker_->render_metrics() : std::string("# starting\n");
      });
  auto port = admin_->listen();
  if (port) admin_->start();
  return port;
}

Status Node::open_storage() {
  fs_ = storage::make_posix_fs();
  auto dir = storage::DataDir::open(*fs_, config_.data_dir, {config_.node_id, new_cluster_id()});
  if (!dir) {
    logger_->critical("cannot use data directory {}: {}", config_.data_dir, dir.error().message());
    return dir.error();
  }
  dir_ = std::move(*dir);
  // A cluster member's directory started without --seeds would serve its
  // partitions with none of the controller's metadata, as a single node
  // whose Raft partitions can never elect a leader.
  if (seeds_.empty()) {
    auto controller = fs_->entry_type(dir_->path() / storage::kClusterDir);
    if (controller && *controller != storage::EntryType::none) {
      auto e = Error::invalid(fmt::format(
          "data directory {} belongs to a cluster (it holds the controller's log in {}/): start "
          "spated with the --seeds it ran with, or use another data directory",
          config_.data_dir, storage::kClusterDir));
      logger_->critical("cannot use data directory {}: {}", config_.data_dir, e.detail());
      return e;
    }
  }
  // Sealed segments share a budget of descriptors; the rest of the limit is
  // left to connections and active segments (docs/limits.md).
  const rlim_t open_files = raise_open_files_limit();
  const std::size_t segment_files =
      std::min<std::size_t>(config_.max_open_segment_files,
                            std::max<std::size_t>(16, static_cast<std::size_t>(open_files / 4)));
  dir_->set_max_open_segment_files(segment_files);
  logger_->info("open files limit {}, sealed segment files kept open at most {}", open_files,
                segment_files);
  cluster::ReplicaContext replica;
  if (!seeds_.empty()) {
    auto bound = bind_cluster();
    if (!bound) {
      logger_->critical("{}", bound.error().detail());
      return bound.error();
    }
    if (auto s = open_controller(); !s) return s;
    replica.self = NodeId(config_.node_id);
    replica.replica_lag_max = std::chrono::milliseconds(config_.replica_lag_time_max_ms);
    // Three quarters of the shortest election timeout (Partition::lease_held).
    replica.read_lease = kTickPeriod * replica.election_ticks * 3 / 4;
    replica.counters = &raft_counters_;
    replica.send = [t = transport_.get()](cluster::RaftGroupId group, raft::Message m) {
      const NodeId to = m.to;
      (void)t->send(to, group, m);
    };
  }
  auto partitions =
      cluster::PartitionManager::open(*fs_, *dir_, log_config(config_), clock_, shard_.executor(),
                                      shard_.disk(), run_on_pool, std::move(replica));
  if (!partitions) {
    logger_->critical("cannot open partitions: {}", partitions.error().message());
    return partitions.error();
  }
  partitions_ = std::move(*partitions);
  partitions_->set_limits({config_.max_topics, config_.max_partitions});
  return {};
}

// Replays the committed offsets and groups before the listener opens. In a
// cluster the coordinator serves the partitions of __consumer_offsets this
// broker comes to lead, loading each as its leadership arrives (tick()).
Status Node::start_groups() {
  if (seeds_.empty()) {
    coordinator_ =
        std::make_unique<groups::Coordinator>(coordinator_config(config_), *partitions_, clock_);
  } else {
    coordinator_ = std::make_unique<groups::Coordinator>(
        coordinator_config(config_), groups::cluster_offsets_topic(*partitions_, *controller_),
        clock_);
  }
  auto started = shard_.call_awaitable<Status>([this] { return coordinator_->start(); });
  if (!started) {
    logger_->critical("cannot start the group coordinator: {}", started.error().message());
  }
  return started;
}

// From here on everything runs on the shard.
Result<std::uint16_t> Node::start_kafka() {
  broker_ = std::make_unique<broker::Broker>(broker_config(config_, cluster_id()), *partitions_,
                                             metrics_, clock_);
  broker_->set_coordinator(coordinator_.get());
  broker_->set_controller(controller_.get());
  kafka_ = std::make_unique<server::KafkaServer>(shard_.io(), server_config(config_, listen_),
                                                 *broker_, clock_);
  auto bound = shard_.call([this]() -> Result<std::uint16_t> {
    auto port = kafka_->listen();
    if (!port) return port;
    if (!config_.advertise.empty()) {
      auto hp = *parse_host_port(config_.advertise, "advertise");
      broker_->set_advertised(hp.host, hp.port);
    } else {
      const bool any = listen_.host == "0.0.0.0" || listen_.host == "::";
      broker_->set_advertised(any ? "127.0.0.1" : listen_.host, *port);
    }
    broker_ready_ = true;
    kafka_->start();
    admin_->set_serving(true);
    return port;
  });
  if (bound && !seeds_.empty()) start_cluster();
  return bound;
}

// Periodic partition work (roll by age, retention, interval flushes), and
// the ordered shutdown on SIGTERM/SIGINT.
std::size_t Node::serve_until_signal() {
  std::promise<std::size_t> stopped;
  shard_.call([&] {
    shard_.start_ticking(kTickPeriod, [this] {
      partitions_->tick();
      if (coordinator_) coordinator_->tick();
      if (controller_) controller_->tick();
    });
    signals_.async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      logger_->info("stopping on signal {}: refusing new connections, finishing requests",
                    signal_number);
      asio::co_spawn(shard_.io(), stop_in_order(),
                     [&](const std::exception_ptr& e, std::size_t failures) {
                       if (e) logger_->critical("shutdown failed with an exception");
                       stopped.set_value(e ? 1 : failures);
                     });
    });
  });
  return stopped.get_future().get();
}

awaitable<std::size_t> Node::stop_in_order() {
  // In a cluster, leadership moves away first, while the broker still
  // serves and ticks: producers get NOT_LEADER_OR_FOLLOWER (retriable) and
  // follow the new leaders, instead of waiting out an election.
  if (!seeds_.empty()) co_await hand_over_leadership();
  shard_.stop_ticking();
  admin_->set_serving(false);
  if (coordinator_) coordinator_->stop();
  co_await kafka_->stop(std::chrono::milliseconds(config_.shutdown_grace_ms));
  co_await stop_cluster();
  const std::size_t failures = co_await partitions_->close_all();
  admin_->stop();
  co_return failures;
}

void Node::abandon() {
  if (transport_ || controller_) {
    shard_.call_awaitable<int>([this]() -> awaitable<int> {
      co_await stop_cluster();
      co_return 0;
    });
  }
  if (partitions_) {
    shard_.call_awaitable<std::size_t>([this] { return partitions_->close_all(); });
  }
  shard_.stop();
}

}  // namespace spate::apps
