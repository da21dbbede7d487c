// SPDX-License-Identifier: Apache-2.0
//
// Topic administration and Metadata on a cluster broker (one with a
// controller): the changes go through the controller's log
// (docs/cluster.md, "A broker in a cluster"), and Metadata answers from the controller's state,
// for the whole cluster. The handlers call these when ctx.controller is set.

#pragma once

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

}  // namespace spate::broker
