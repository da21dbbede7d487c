// SPDX-License-Identifier: Apache-2.0
//
// Node in cluster mode (--seeds): the inter-broker transport, the
// controller, the metadata applier, and the routing of Raft messages to
// partitions (docs/cluster.md, "A broker in a cluster").

#include <algorithm>
#include <map>

#include "node.h"

namespace spate::apps {

std::string Node::cluster_id() const {
  if (seeds_.empty()) return dir_->meta().cluster_id;
  // Every broker derives the same id from the voters' ids, so that their
  // transports accept each other and clients see one cluster.
  std::vector<std::int32_t> ids;
  for (const auto& s : seeds_) ids.push_back(s.id);
  std::sort(ids.begin(), ids.end());
  return fmt::format("spate-{}", fmt::join(ids, "-"));
}

Result<std::uint16_t> Node::bind_cluster() {
  auto hp = parse_host_port(config_.cluster_listen, "cluster-listen");
  if (!hp) return hp.error();
  cluster::TransportConfig tc;
  tc.node = NodeId(config_.node_id);
  tc.cluster_id = cluster_id();
  tc.host = hp->host;
  tc.port = hp->port;
  transport_ = std::make_unique<cluster::Transport>(shard_.io(), tc, clock_);
  transport_->on_raft([this](NodeId from, cluster::RaftGroupId group, raft::Message message) {
    route_raft(from, group, std::move(message));
  });
  // A closed connection to a partition's (or the controller's) leader: its
  // followers campaign at the minimum election timeout (docs/cluster.md,
  // "Failover").
  transport_->on_peer_lost([this](NodeId node) {
    if (controller_) controller_->peer_unreachable(node);
    if (partitions_) partitions_->peer_unreachable(node);
  });
  transport_->on_request(
      [this](NodeId from, std::uint16_t method,
             std::vector<std::byte> payload) -> awaitable<Result<std::vector<std::byte>>> {
        if (!controller_) co_return Error(Errc::unavailable, "the controller is not open yet");
        co_return co_await controller_->handle_call(from, method, std::move(payload));
      });
  auto port = shard_.call([this] { return transport_->listen(); });
  if (!port) {
    return Error(port.error().code(), fmt::format("cannot listen on --cluster-listen {}: {}",
                                                  config_.cluster_listen, port.error().detail()));
  }
  for (const auto& s : seeds_) {
    if (s.id == config_.node_id) continue;
    if (auto st = shard_.call(
            [&] { return transport_->set_peer(NodeId(s.id), s.address.host, s.address.port); });
        !st) {
      return st.error();
    }
  }
  return port;
}

void Node::route_raft(NodeId /*from*/, cluster::RaftGroupId group, raft::Message message) {
  if (group.is_controller()) {
    if (controller_) controller_->step(std::move(message));
    return;
  }
  if (!partitions_) return;
  // A group this broker does not hold (yet): dropped; Raft retries.
  if (auto p = partitions_->partition(group); p && !p->closed()) p->step(std::move(message));
}

Status Node::open_controller() {
  cluster::ControllerConfig cc;
  cc.self = NodeId(config_.node_id);
  cc.voters.clear();
  for (const auto& s : seeds_) cc.voters.emplace_back(s.id);
  const auto self = std::find_if(seeds_.begin(), seeds_.end(),
                                 [&](const Seed& s) { return s.id == config_.node_id; });
  if (self != seeds_.end()) {
    cc.registration.cluster = cluster::HostPort{self->address.host, self->address.port};
  } else {
    // A broker joining as a learner: the voters reach it at its listener
    // (options.cpp checked it names a host and port).
    auto listen = parse_host_port(config_.cluster_listen, "cluster-listen");
    if (!listen) return listen.error();
    cc.registration.cluster = cluster::HostPort{listen->host, listen->port};
  }
  cc.broker_session = std::chrono::milliseconds(config_.broker_session_timeout_ms);
  cc.counters = &raft_counters_;
  auto opened = shard_.call([&] {
    return cluster::Controller::open(*fs_, dir_->path(), clock_, shard_.executor(), shard_.disk(),
                                     transport_.get(), cc);
  });
  if (!opened) {
    logger_->critical("cannot open the controller log: {}", opened.error().message());
    return opened.error();
  }
  controller_ = std::move(*opened);
  return {};
}

void Node::start_cluster() {
  shard_.call([this] {
    controller_->set_advertised(
        cluster::HostPort{broker_->config().advertised_host, broker_->config().advertised_port});
    // The seeds keep their --seeds addresses as peers (docs/cluster.md).
    std::map<NodeId, cluster::HostPort> seeds;
    for (const auto& s : seeds_) {
      seeds.emplace(NodeId(s.id), cluster::HostPort{s.address.host, s.address.port});
    }
    applier_ = std::make_unique<cluster::MetadataApplier>(
        *controller_, *partitions_, transport_.get(), clock_, shard_.executor(), std::move(seeds));
    cluster::LeaderBalanceConfig balance;
    balance.interval = std::chrono::milliseconds(config_.leader_rebalance_interval_ms);
    balancer_ = std::make_unique<cluster::LeaderBalancer>(*controller_, *partitions_,
                                                          shard_.executor(), balance);
    // A single node's topics.meta and producer.ids, if this data directory
    // holds them unmigrated (single_node_migration.h).
    migration_ = std::make_unique<cluster::SingleNodeMigration>(
        *controller_, *partitions_, *fs_, dir_->path(), shard_.disk(), clock_, shard_.executor());
    transport_->start();
    controller_->start();
    applier_->start();
    balancer_->start();
    migration_->start();
  });
}

awaitable<void> Node::hand_over_leadership() {
  constexpr auto kHandOverMax = std::chrono::seconds(5);
  const auto started = clock_.steady_now();
  if (controller_ && controller_->is_leader()) {
    if (auto target = controller_->partition().transfer_leadership(); !target) {
      logger_->warn("cannot hand over the controller's leadership: {}", target.error());
    }
  }
  const std::size_t moved = co_await partitions_->transfer_leaderships(started + kHandOverMax);
  logger_->info(
      "handed over the leadership of {} partitions in {} ms", moved,
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - started).count());
}

awaitable<void> Node::stop_cluster() {
  if (balancer_) co_await balancer_->stop();
  if (applier_) co_await applier_->stop();
  if (transport_) co_await transport_->stop();
  if (controller_) co_await controller_->close();
  // After the controller: its close ends a proposal in flight at once.
  if (migration_) co_await migration_->stop();
}

}  // namespace spate::apps
