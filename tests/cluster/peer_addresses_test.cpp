// SPDX-License-Identifier: Apache-2.0
//
// peer_addresses (metadata_applier.h): the voters named in this broker's
// --seeds are reached at the seeds' addresses (the operator's route, e.g. a
// proxy, which the chaos test relies on), every other registered broker at
// the cluster address it registered; this broker is never its own peer.

#include <gtest/gtest.h>

#include "spate/cluster/metadata_applier.h"

namespace spate::cluster {
namespace {

BrokerRegistration registered(std::int32_t id, std::string host, std::int32_t port) {
  BrokerRegistration b;
  b.id = NodeId(id);
  b.advertised = HostPort{host, 9092};
  b.cluster = HostPort{std::move(host), port};
  return b;
}

TEST(PeerAddresses, SeedsKeepTheirConfiguredAddress) {
  const std::map<NodeId, BrokerRegistration> brokers = {
      {NodeId(0), registered(0, "10.0.0.1", 9093)},
      {NodeId(1), registered(1, "10.0.0.2", 9093)},
      {NodeId(2), registered(2, "10.0.0.3", 9093)},
      {NodeId(3), registered(3, "10.0.0.4", 9093)},  // joined later: not a seed
  };
  // Broker 0 reaches the voters 1 and 2 through proxies.
  const std::map<NodeId, HostPort> seeds = {{NodeId(0), HostPort{"10.0.0.1", 9093}},
                                            {NodeId(1), HostPort{"127.0.0.1", 7001}},
                                            {NodeId(2), HostPort{"127.0.0.1", 7002}}};
  const auto peers = peer_addresses(NodeId(0), brokers, seeds);
  const std::map<NodeId, HostPort> expected = {{NodeId(1), HostPort{"127.0.0.1", 7001}},
                                               {NodeId(2), HostPort{"127.0.0.1", 7002}},
                                               {NodeId(3), HostPort{"10.0.0.4", 9093}}};
  EXPECT_EQ(peers, expected);
}

TEST(PeerAddresses, WithoutSeedsTheRegistrationsDecide) {
  const std::map<NodeId, BrokerRegistration> brokers = {{NodeId(0), registered(0, "a", 1)},
                                                        {NodeId(1), registered(1, "b", 2)}};
  const auto peers = peer_addresses(NodeId(1), brokers, {});
  ASSERT_EQ(peers.size(), 1U);
  EXPECT_EQ(peers.at(NodeId(0)), (HostPort{"a", 1}));
}

TEST(PeerAddresses, BadPortsAreSkipped) {
  // A registration with a port out of range (hostile or stale metadata) is
  // no peer; a seed's valid address wins over its registration's bad one.
  const std::map<NodeId, BrokerRegistration> brokers = {{NodeId(1), registered(1, "b", 0)},
                                                        {NodeId(2), registered(2, "c", 70000)},
                                                        {NodeId(3), registered(3, "d", -1)}};
  const std::map<NodeId, HostPort> seeds = {{NodeId(3), HostPort{"seed", 4000}}};
  const auto peers = peer_addresses(NodeId(0), brokers, seeds);
  const std::map<NodeId, HostPort> expected = {{NodeId(3), HostPort{"seed", 4000}}};
  EXPECT_EQ(peers, expected);
}

TEST(PeerAddresses, AnUnregisteredSeedIsNotAddedHere) {
  // bind_cluster() makes every seed a peer at start-up; the applier only
  // follows registrations, so a seed that never registered changes nothing.
  const std::map<NodeId, BrokerRegistration> brokers = {{NodeId(0), registered(0, "a", 1)}};
  const std::map<NodeId, HostPort> seeds = {{NodeId(5), HostPort{"x", 5}}};
  EXPECT_TRUE(peer_addresses(NodeId(0), brokers, seeds).empty());
}

}  // namespace
}  // namespace spate::cluster
