// SPDX-License-Identifier: Apache-2.0
//
// Preferred-leader balancing (Kafka's auto.leader.rebalance.enable;
// docs/cluster.md, "Leadership balancing"). The first replica of a
// partition's assignment is its preferred leader, and assignment spreads
// those evenly (assignment.h), so leaders spread evenly when each partition
// is led by its preferred replica. After a broker dies its partitions' leaders
// move elsewhere; once it is back, alive and in sync, each partition's
// current leader hands leadership back to it (Partition::transfer_leadership).
//
// Who decides: every broker, for the partitions it leads itself. The
// metadata says which partitions have a live, in-sync preferred replica that
// does not lead (MetadataState::preferred_leader_moves); the leader checks
// the preferred replica against its own, fresher view of its followers
// (Partition::in_sync_replicas) and starts the transfer. No command goes
// through the controller: the new leader reports itself as any leader does.
// At most `max_transfers` start per round, so a broker's return does not
// stall every partition at once. One io_context (the shard's).

#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "spate/cluster/controller.h"
#include "spate/cluster/partition.h"
#include "spate/cluster/partition_manager.h"
#include "spate/common/asio.h"
#include "spate/net/background_task.h"
#include "spate/net/signal.h"

namespace spate::cluster {

struct LeaderBalanceConfig {
  // Between rounds (Kafka's leader.imbalance.check.interval.seconds); 0: off.
  std::chrono::milliseconds interval{30'000};
  std::size_t max_transfers = 10;  // started per round
};

// One round over `moves`: for each whose partition (`lookup`, null if not
// held here) this broker leads, not already handing over, with the preferred
// replica another voter in sync by its own view and heard from within the
// last second, starts the transfer to it.
// Returns how many started (at most `max`).
using PartitionLookup = std::function<std::shared_ptr<Partition>(const LeaderMove&)>;
[[nodiscard]] std::size_t restore_preferred_leaders(const std::vector<LeaderMove>& moves,
                                                    const PartitionLookup& lookup, std::size_t max);

class LeaderBalancer {
 public:
  LeaderBalancer(const Controller& controller, const PartitionManager& partitions,
                 asio::any_io_executor shard, LeaderBalanceConfig config);
  LeaderBalancer(const LeaderBalancer&) = delete;
  LeaderBalancer& operator=(const LeaderBalancer&) = delete;

  // Does nothing when the interval is 0.
  void start();
  // Ends the loop.
  awaitable<void> stop();

  // One round now (the loop's; tests).
  std::size_t round();
  [[nodiscard]] std::size_t transfers_started() const { return started_; }

 private:
  awaitable<void> run();

  const Controller& controller_;
  const PartitionManager& partitions_;
  asio::any_io_executor shard_;
  LeaderBalanceConfig config_;
  std::size_t started_ = 0;
  bool stopping_ = false;
  net::Signal wake_;
  net::BackgroundTask task_{log::Module::cluster, "leader balancer"};
};

}  // namespace spate::cluster
