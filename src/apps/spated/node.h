// SPDX-License-Identifier: Apache-2.0
//
// Node: one spated process. It owns the shard (its io_context, disk thread
// and tick), the data directory and partitions, the broker, the Kafka and
// admin listeners, and the order in which they start and stop:
//
//   start:  admin listener (503) -> data directory -> partitions (opened in
//           parallel) -> group coordinator (replays __consumer_offsets) ->
//           broker -> Kafka listener -> admin says 200
//   stop:   admin says 503 -> the coordinator answers waiting group calls
//           (COORDINATOR_NOT_AVAILABLE) -> Kafka listener stops accepting and
//           lets requests finish (up to the grace) -> every partition flushed
//           and closed -> admin listener closed
//
// main() parses the settings and runs a Node.

#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "spate/broker/broker.h"
#include "spate/cluster/controller.h"
#include "spate/cluster/leader_balancer.h"
#include "spate/cluster/metadata_applier.h"
#include "spate/cluster/partition_manager.h"
#include "spate/cluster/shard.h"
#include "spate/cluster/single_node_migration.h"
#include "spate/cluster/transport.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/server/admin_server.h"
#include "spate/server/kafka_server.h"
#include "spate/storage/data_dir.h"

#include "options.h"

namespace spate::apps {

// spated's exit codes (docs/broker.md, Shutdown).
inline constexpr int kExitOk = 0;
inline constexpr int kExitConfig = 2;
inline constexpr int kExitStorage = 3;
inline constexpr int kExitListen = 4;

class Node {
 public:
  explicit Node(const DaemonConfig& config);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Starts, serves until SIGTERM or SIGINT, stops in order. Returns the
  // process's exit code. `started`: when the process started (start-up time
  // in the log).
  int run(Clock::SteadyTime started);

 private:
  [[nodiscard]] Result<std::uint16_t> start_admin();
  [[nodiscard]] Status open_storage();
  [[nodiscard]] Status start_groups();
  // Cluster mode (--seeds; node_cluster.cpp): the inter-broker listener,
  // bound before storage opens; the controller, opened with it; and what
  // starts once clients can be served.
  [[nodiscard]] Result<std::uint16_t> bind_cluster();
  [[nodiscard]] Status open_controller();
  void start_cluster();
  awaitable<void> stop_cluster();
  // SIGTERM in a cluster: hands every partition this broker leads (and the
  // controller) to another replica, bounded by kHandOverMax.
  awaitable<void> hand_over_leadership();
  // The cluster id: in cluster mode one all brokers derive from --seeds,
  // otherwise node.meta's.
  [[nodiscard]] std::string cluster_id() const;
  void route_raft(NodeId from, cluster::RaftGroupId group, raft::Message message);
  [[nodiscard]] Result<std::uint16_t> start_kafka();
  // Serves until a signal, then stops in order. Returns the partitions that
  // failed to close.
  std::size_t serve_until_signal();
  awaitable<std::size_t> stop_in_order();
  // On a failed start: closes what opened and stops the shard.
  void abandon();

  const DaemonConfig& config_;
  HostPort listen_;
  HostPort admin_listen_;
  std::shared_ptr<spdlog::logger> logger_;
  SystemClock clock_;
  cluster::Shard shard_;
  // Registered before anything starts: a signal during start-up is queued
  // and handled once serving.
  asio::signal_set signals_;
  std::atomic<bool> broker_ready_{false};
  std::unique_ptr<server::AdminServer> admin_;
  std::unique_ptr<storage::Filesystem> fs_;
  std::unique_ptr<storage::DataDir> dir_;
  std::vector<Seed> seeds_;  // empty: a single node
  // Every cluster partition's and the controller's (they hold its address).
  cluster::RaftCounters raft_counters_;
  std::unique_ptr<cluster::Transport> transport_;
  std::unique_ptr<cluster::Controller> controller_;
  std::unique_ptr<cluster::PartitionManager> partitions_;
  std::unique_ptr<cluster::MetadataApplier> applier_;
  std::unique_ptr<cluster::LeaderBalancer> balancer_;
  std::unique_ptr<cluster::SingleNodeMigration> migration_;
  broker::Metrics metrics_;
  std::unique_ptr<groups::Coordinator> coordinator_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<server::KafkaServer> kafka_;
};

}  // namespace spate::apps
