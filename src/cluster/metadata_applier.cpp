// SPDX-License-Identifier: Apache-2.0
//
// MetadataApplier (metadata_applier.h).

#include "spate/cluster/metadata_applier.h"

#include "spate/cluster/reassignment.h"
#include "spate/common/log.h"
#include "spate/net/log_limiter.h"

#include "module_shared.h"

namespace spate::cluster {
namespace {

constexpr auto kOperationTimeout = std::chrono::seconds(30);

bool assigned_here(const TopicMeta& t, NodeId self) {
  for (const auto& p : t.partitions) {
    if (std::find(p.replicas.begin(), p.replicas.end(), self) != p.replicas.end()) return true;
    if (std::find(p.target.begin(), p.target.end(), self) != p.target.end()) return true;
  }
  return false;
}

bool valid_port(const HostPort& a) { return a.port > 0 && a.port <= 65535; }

}  // namespace

std::map<NodeId, HostPort> peer_addresses(NodeId self,
                                          const std::map<NodeId, BrokerRegistration>& registered,
                                          const std::map<NodeId, HostPort>& seeds) {
  std::map<NodeId, HostPort> out;
  for (const auto& [id, b] : registered) {
    if (id == self) continue;
    // A voter is reached the way the operator said: its registration carries
    // the address it gave itself, which is not necessarily this broker's
    // route to it.
    const auto seed = seeds.find(id);
    const HostPort& address = seed != seeds.end() ? seed->second : b.cluster;
    if (valid_port(address)) out.emplace(id, address);
  }
  return out;
}

MetadataApplier::MetadataApplier(Controller& controller, PartitionManager& partitions,
                                 Transport* transport, const Clock& clock,
                                 asio::any_io_executor shard, std::map<NodeId, HostPort> seeds,
                                 std::chrono::milliseconds interval)
    : controller_(controller),
      partitions_(partitions),
      transport_(transport),
      clock_(clock),
      shard_(std::move(shard)),
      interval_(interval),
      seeds_(std::move(seeds)) {}

void MetadataApplier::start() { task_.spawn(shard_, run()); }

awaitable<void> MetadataApplier::stop() {
  stopping_ = true;
  wake_.notify_all();
  co_await task_.ended();
  passed_.notify_all();  // whoever waits for a pass: there is none to come
}

awaitable<void> MetadataApplier::run() {
  // Bounded: until stop().
  while (!stopping_) {
    co_await pass();
    ++passes_;
    passed_.notify_all();
    if (stopping_) break;
    if (controller_.state().applied_index() == applied_index_) {
      co_await controller_.changed().wait_at_most(interval_);
    }
  }
}

awaitable<void> MetadataApplier::pass() {
  applied_index_ = controller_.state().applied_index();
  update_peers();
  co_await hold_topics();
  co_await drop_topics();
  co_await report_leaders();
  co_await move_replicas();
}

void MetadataApplier::update_peers() {
  if (transport_ == nullptr) return;
  const auto wanted =
      peer_addresses(controller_.config().self, controller_.state().brokers(), seeds_);
  for (const auto& [id, address] : wanted) {
    auto it = peers_.find(id);
    if (it != peers_.end() && it->second == address) continue;
    if (auto s = transport_->set_peer(id, address.host, static_cast<std::uint16_t>(address.port));
        !s) {
      logger()->warn("cannot add node {} at {}:{} as a peer: {}", id, address.host, address.port,
                     s.error());
      continue;
    }
    peers_[id] = address;
  }
  // A broker removed from the cluster (unregister_broker) is no peer any more:
  // nothing of it is replicated here, and it may be gone for good.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    logger()->info("node {} is no longer registered: no longer connecting to it", it->first);
    transport_->forget_peer(it->first);
    it = peers_.erase(it);
  }
}

awaitable<void> MetadataApplier::hold_topics() {
  const NodeId self = controller_.config().self;
  // Copied: the state may change while a topic's folders are made.
  std::vector<HostedTopic> wanted;
  for (const auto& [id, t] : controller_.state().topics()) {
    const auto* here = partitions_.topic(t.name);
    if (!assigned_here(t, self) && (here == nullptr || here->id != id)) continue;
    HostedTopic h{t.name, id, t.configs, {}};
    // A broker of a reassignment's target joins as a learner: it holds the
    // partition, opened with the replicas as the group's voters and the
    // joining brokers as learners (kept in topics.meta, so that one
    // restarted before its log holds a membership comes back a learner).
    for (const auto& p : t.partitions) {
      h.replicas.push_back(partition_members(p));
      h.voters.push_back(p.replicas);
    }
    // Only a state that holds everything committed before this run's
    // registration may say this broker lost a partition (not one replaying
    // an old log after a restart).
    h.remove_unassigned = controller_.caught_up();
    if (here != nullptr && here->id == id && here->overrides == h.overrides &&
        here->replicas == h.replicas && here->learners == hosted_learners(h)) {
      continue;
    }
    wanted.push_back(std::move(h));
  }
  for (auto& h : wanted) {
    if (stopping_) co_return;
    const auto* here = partitions_.topic(h.name);
    if (here != nullptr && here->id == 0) {
      co_await adopt_single_node_topic(std::move(h));
      continue;
    }
    if (here != nullptr && here->id != h.id) {
      // An older topic of the same name: the metadata deleted it (its id is
      // below this one's) — drop_topics removes it first.
      if (here->id > h.id) {
        logger()->warn("topic {} is held here as id {}; the metadata has id {}: not served", h.name,
                       here->id, h.id);
        continue;
      }
      if (auto s =
              co_await partitions_.delete_topic(h.name, clock_.steady_now() + kOperationTimeout);
          !s) {
        logger()->error("deleting the old topic {} (id {}): {}", h.name, here->id, s.error());
        continue;
      }
    }
    const auto name = h.name;
    if (auto s =
            co_await partitions_.host_topic(std::move(h), clock_.steady_now() + kOperationTimeout);
        !s) {
      logger()->error("holding topic {}: {}", name, s.error());
    }
  }
}

awaitable<void> MetadataApplier::adopt_single_node_topic(HostedTopic h) {
  // A single node's topic kept on disk (single_node_migration.h): adopted
  // when the controller's topic of its name is its migration (all of its
  // partitions on this broker alone). A refusal that lasts (another shape, a
  // raft.state that is not a single node's) is said once per topic id and
  // not tried again in this run: the data stays on disk, not served.
  const auto name = h.name;
  const TopicId id = h.id;
  if (auto r = refused_.find(name); r != refused_.end() && r->second == id) co_return;
  auto s = co_await partitions_.adopt_single_node_topic(std::move(h),
                                                        clock_.steady_now() + kOperationTimeout);
  if (s) co_return;
  const auto code = s.error().code();
  if (code != Errc::invalid_partitions && code != Errc::invalid_replica_assignment &&
      code != Errc::invalid_argument && code != Errc::corrupt_log) {
    logger()->warn("adopting the single node's topic {} as cluster topic id {}: {} (tried again)",
                   name, id, s.error());
    co_return;
  }
  refused_[name] = id;
  logger()->error(
      "topic {} (id {} in the controller) is a single node's topic here that cannot be served "
      "as it: {}; its data is kept on disk, not served and not deleted",
      name, id, s.error());
}

awaitable<void> MetadataApplier::drop_topics() {
  const auto& state = controller_.state();
  std::vector<std::string> gone;
  for (const auto& [name, t] : partitions_.topics()) {
    if (t.id == 0 || t.id >= state.next_topic_id()) continue;  // not reached yet
    const auto* now = state.topic(t.id);
    if (now == nullptr) gone.push_back(name);
  }
  for (const auto& name : gone) {
    if (stopping_) co_return;
    if (auto s = co_await partitions_.delete_topic(name, clock_.steady_now() + kOperationTimeout);
        !s && s.error().code() != Errc::not_found) {
      logger()->error("deleting topic {}: {}", name, s.error());
    }
  }
}

void MetadataApplier::for_each_led(
    const std::function<void(TopicId, std::int32_t, const PartitionMeta&, Partition&)>& fn) const {
  for (const auto& [name, t] : partitions_.topics()) {
    if (t.id == 0) continue;
    const auto* meta = controller_.state().topic(t.id);
    if (meta == nullptr) continue;
    for (std::size_t i = 0; i < t.partitions.size() && i < meta->partitions.size(); ++i) {
      const auto& p = t.partitions[i];
      if (!p || p->closed() || !p->leader()) continue;
      fn(t.id, static_cast<std::int32_t>(i), meta->partitions[i], *p);
    }
  }
}

awaitable<void> MetadataApplier::report_leaders() {
  const NodeId self = controller_.config().self;
  std::vector<SetPartitionLeader> reports;
  for_each_led([&](TopicId topic, std::int32_t index, const PartitionMeta& m, Partition& part) {
    Partition* p = &part;
    // In sync: the replicas whose progress kept up (Partition::
    // in_sync_replicas, replica.lag.time.max.ms) on live brokers, in the
    // assignment's order.
    const auto in_sync = p->in_sync_replicas();
    std::vector<NodeId> isr;
    for (const NodeId r : m.replicas) {
      if (r == self || (controller_.state().alive(r) &&
                        std::find(in_sync.begin(), in_sync.end(), r) != in_sync.end())) {
        isr.push_back(r);
      }
    }
    if (m.leader == self && m.leader_epoch == p->term() && m.isr == isr) return;
    if (m.leader_epoch > p->term()) return;  // a later leader reported already
    const RaftGroupId group{topic, index};
    auto last = reported_.find(group);
    if (last != reported_.end() && last->second.first == p->term() && last->second.second == isr) {
      return;
    }
    reported_[group] = {p->term(), isr};
    reports.push_back(SetPartitionLeader{topic, index, self, p->term(), std::move(isr)});
  });
  for (auto& r : reports) {
    if (stopping_) co_return;
    Command command = r;  // named: see Controller::propose
    const auto deadline = clock_.steady_now() + std::chrono::seconds(3);
    auto out = co_await controller_.propose(std::move(command), deadline);
    if (!out) {
      logger()->debug("reporting the leader of topic {} partition {}: {}", r.topic, r.partition,
                      out.error());
      // Not committed (as far as this broker knows): the next pass tries again.
      for (auto& each : reports) reported_.erase(RaftGroupId{each.topic, each.partition});
      co_return;  // no controller now: the next pass tries again
    }
  }
}

}  // namespace spate::cluster
