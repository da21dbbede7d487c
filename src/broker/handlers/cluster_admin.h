// SPDX-License-Identifier: Apache-2.0
//
// Topic administration and Metadata on a cluster broker (one with a
// controller): the changes go through the controller's log
// (docs/cluster.md, "A broker in a cluster"), and Metadata answers from the controller's state,
// for the whole cluster. The handlers call these when ctx.controller is set.

#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "spate/cluster/metadata.h"
#include "spate/cluster/partition_manager.h"
#include "spate/protocol/messages/metadata.h"

#include "../handlers.h"
#include "common.h"

namespace spate::broker {

struct ClusterTopicSpec {
  cluster::TopicSpec topic;
  std::int32_t replication_factor = -1;  // -1: the default
  std::optional<cluster::ReplicaAssignment> assignment;
};

// The replication factor of a topic created without one: 3, or fewer when
// fewer brokers are registered.
[[nodiscard]] std::int32_t default_replication_factor(const cluster::MetadataState& state);

// One status per spec. Returns once each topic committed and (bounded by
// the deadline) its partitions have leaders. Errors: as CreateTopics' codes.
awaitable<std::vector<Status>> cluster_create_topics(HandlerContext& ctx,
                                                     std::vector<ClusterTopicSpec> specs,
                                                     bool validate_only, SteadyTime deadline);
awaitable<Status> cluster_delete_topic(HandlerContext& ctx, std::string name, SteadyTime deadline);
awaitable<Status> cluster_add_partitions(HandlerContext& ctx, std::string name, std::int32_t total,
                                         bool validate_only, SteadyTime deadline);
awaitable<Status> cluster_change_topic_configs(HandlerContext& ctx, std::string name,
                                               cluster::PartitionManager::ConfigChange change,
                                               bool validate_only, SteadyTime deadline);
// Metadata's entry for a topic that does not exist (metadata.cpp), on a
// single node and in a cluster alike.
[[nodiscard]] protocol::MetadataResponseTopic missing_metadata_topic(HandlerContext& ctx,
                                                                     const std::string& name);
awaitable<std::optional<protocol::MetadataResponse>> cluster_metadata(
    HandlerContext& ctx, protocol::MetadataRequest& request);

// The leader and leader epoch a cluster broker's Metadata names for
// partition `index` of topic `topic_id` (cluster_metadata.cpp explains the
// choice): -1 and -1 for none (the partition then answers
// LEADER_NOT_AVAILABLE). `local`: the status of the replica here, if one is
// open. A leader is named only if alive(leader) and only at an epoch no
// lower than `floors` holds, which it then raises.
struct MetadataLeader {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = -1;
  bool operator==(const MetadataLeader&) const = default;
};
[[nodiscard]] MetadataLeader metadata_leader(const cluster::PartitionMeta& meta,
                                             const std::optional<cluster::PartitionStatus>& local,
                                             const std::function<bool(NodeId)>& alive,
                                             LeaderEpochFloors& floors, cluster::TopicId topic_id,
                                             std::size_t index);

}  // namespace spate::broker
