// SPDX-License-Identifier: Apache-2.0
//
// MetadataApplier: makes this broker what the controller's metadata says
// (docs/cluster.md, "A broker in a cluster"). After every change it
// applied, and at least every `interval`:
//   - every cluster topic with a partition assigned here is held
//     (PartitionManager::host_topic), with the topic's configs; a single
//     node's topic kept here under that name is adopted if the topic is its
//     migration (PartitionManager::adopt_single_node_topic);
//   - a cluster topic held here that the metadata no longer has (its id is
//     below next_topic_id, so its creation and deletion were both applied)
//     is deleted; one the metadata has not reached yet is left alone;
//   - every registered broker is a transport peer: at the address this
//     broker's --seeds gives it if it is one of them (the operator's route to
//     the voters, which may differ from the address the broker registered:
//     a proxy, a NAT), otherwise at its registered cluster address;
//   - each partition this broker leads (confirmed) reports its leader and
//     epoch to the controller when the metadata records another, so that any
//     broker's Metadata answer names the leader.
// One io_context (the shard's).

#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "spate/cluster/controller.h"
#include "spate/cluster/partition_manager.h"
#include "spate/cluster/transport.h"
#include "spate/common/asio.h"
#include "spate/net/background_task.h"
#include "spate/net/signal.h"

namespace spate::cluster {

// The transport peers this broker should have: every registered broker but
// `self` with a valid cluster port, at its address in `seeds` (this broker's
// --seeds) if it is there, else at its registered cluster address.
[[nodiscard]] std::map<NodeId, HostPort> peer_addresses(
    NodeId self, const std::map<NodeId, BrokerRegistration>& registered,
    const std::map<NodeId, HostPort>& seeds);

class MetadataApplier {
 public:
  // `seeds`: this broker's --seeds (node -> cluster address); those brokers
  // keep these addresses as peers (peer_addresses).
  MetadataApplier(Controller& controller, PartitionManager& partitions, Transport* transport,
                  const Clock& clock, asio::any_io_executor shard,
                  std::map<NodeId, HostPort> seeds = {},
                  std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  MetadataApplier(const MetadataApplier&) = delete;
  MetadataApplier& operator=(const MetadataApplier&) = delete;

  void start();
  // Ends the loop (after the pass in flight).
  awaitable<void> stop();

  // Passes made, and the metadata index the last one saw.
  [[nodiscard]] std::uint64_t passes() const { return passes_; }
  [[nodiscard]] std::int64_t applied_index() const { return applied_index_; }
  // Notified after each pass.
  [[nodiscard]] net::Signal& passed() { return passed_; }

 private:
  awaitable<void> run();
  awaitable<void> pass();
  awaitable<void> hold_topics();
  awaitable<void> drop_topics();
  // A single node's topic held here (id 0) that the metadata has as `h`.
  awaitable<void> adopt_single_node_topic(HostedTopic h);
  void update_peers();
  awaitable<void> report_leaders();
  // Calls `fn` for every partition of a cluster topic this broker leads
  // (confirmed), with the metadata's view of it.
  void for_each_led(
      const std::function<void(TopicId, std::int32_t, const PartitionMeta&, Partition&)>& fn) const;
  // Each partition this broker leads moves its Raft membership one step
  // towards the metadata's (reassignment.h; metadata_applier_moves.cpp).
  awaitable<void> move_replicas();

  Controller& controller_;
  PartitionManager& partitions_;
  Transport* transport_;
  const Clock& clock_;
  asio::any_io_executor shard_;
  std::chrono::milliseconds interval_;
  std::map<NodeId, HostPort> seeds_;  // this broker's --seeds
  std::map<NodeId, HostPort> peers_;  // as last given to the transport
  // The last leader report proposed per partition (term, in-sync replicas):
  // a refused report is not proposed again until something changes.
  std::map<RaftGroupId, std::pair<Term, std::vector<NodeId>>> reported_;
  // Single node's topics that could not be adopted, and the metadata's id
  // of each when that was logged (logged again only for another id).
  std::map<std::string, TopicId> refused_;
  bool stopping_ = false;
  std::uint64_t passes_ = 0;
  std::int64_t applied_index_ = -1;
  net::Signal passed_;
  net::Signal wake_;
  net::BackgroundTask task_{log::Module::cluster, "metadata applier"};
};

}  // namespace spate::cluster
