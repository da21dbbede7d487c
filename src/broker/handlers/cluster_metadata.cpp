// SPDX-License-Identifier: Apache-2.0
//
// Metadata on a cluster broker: the brokers, topics and partitions of the
// whole cluster from the controller's state (cluster_admin.h), with each
// partition's leader epoch (v7+), never older than one named before.

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "spate/cluster/controller.h"
#include "spate/common/log.h"
#include "spate/protocol/messages/metadata.h"

#include "cluster_admin.h"

namespace spate::broker {
namespace {

std::vector<std::int32_t> ids(const std::vector<NodeId>& nodes) {
  std::vector<std::int32_t> out;
  out.reserve(nodes.size());
  for (const NodeId n : nodes) out.push_back(n.value());
  return out;
}

// The controller's last reported leader, unless a replica here knows a later
// term. Its newer leader is named once it serves: before its first commit a
// new leader refuses produce with NOT_LEADER_OR_FOLLOWER, and a client sent to
// it then may see its pipelined batches split between that refusal and an
// OUT_OF_ORDER_SEQUENCE_NUMBER once it serves (librdkafka then bumps its
// epoch, or with 2.0.2 fails the producer). No leader until then, as Kafka
// answers during an election; none either while the replica's term is newer
// than the report and it knows no leader (an election under way: pre-vote
// keeps an isolated replica's term still), since the reported leader is then
// deposed. So a named epoch is max(reported epoch, local term), and both only
// grow while the replica is open here.
std::pair<NodeId, Term> choose_leader(const cluster::PartitionMeta& meta,
                                      const std::optional<cluster::PartitionStatus>& local) {
  if (local) {
    if (local->serving_leader != cluster::kNoLeader && local->leader_epoch >= meta.leader_epoch)
      return {local->serving_leader, local->leader_epoch};
    if (local->leader_epoch > meta.leader_epoch) return {cluster::kNoLeader, cluster::kNoEpoch};
  }
  return {meta.leader, meta.leader_epoch};
}

protocol::MetadataResponseTopic describe(HandlerContext& ctx, const cluster::TopicMeta& t) {
  const auto& state = ctx.controller->state();
  const auto alive = [&](NodeId id) { return state.alive(id); };
  protocol::MetadataResponseTopic out;
  out.name = t.name;
  out.is_internal = internal_topic(t.name);
  const auto* here = ctx.partitions.topic(t.name);
  for (std::size_t i = 0; i < t.partitions.size(); ++i) {
    const auto& meta = t.partitions[i];
    protocol::MetadataResponsePartition p;
    p.partition_index = static_cast<std::int32_t>(i);
    std::optional<cluster::PartitionStatus> local;
    if (here != nullptr && here->id == t.id && i < here->partitions.size() && here->partitions[i] &&
        !here->partitions[i]->closed()) {
      local = here->partitions[i]->status();
    }
    const auto named =
        metadata_leader(meta, local, alive, ctx.broker.leader_epoch_floors(), t.id, i);
    p.leader_id = named.leader_id;
    p.leader_epoch = named.leader_epoch;
    if (named.leader_id < 0) p.error_code = ctx.code(ErrorCode::leader_not_available);
    p.replica_nodes = ids(meta.replicas);
    p.isr_nodes = ids(meta.isr.empty() ? meta.replicas : meta.isr);
    p.offline_replicas = ids(state.offline_replicas(meta));
    out.partitions.push_back(std::move(p));
  }
  return out;
}

// Keeps the epoch floors to the metadata's topics (a deleted topic's id is
// never used again). Cheap unless a topic went away since the last call.
void forget_deleted_topics(HandlerContext& ctx) {
  const auto& topics = ctx.controller->state().topics();
  auto& floors = ctx.broker.leader_epoch_floors();
  if (floors.topics() <= topics.size()) return;
  floors.prune([&](std::uint64_t id) { return topics.contains(id); });
}

}  // namespace

MetadataLeader metadata_leader(const cluster::PartitionMeta& meta,
                               const std::optional<cluster::PartitionStatus>& local,
                               const std::function<bool(NodeId)>& alive, LeaderEpochFloors& floors,
                               cluster::TopicId topic_id, std::size_t index) {
  const auto [leader, term] = choose_leader(meta, local);
  const std::int32_t epoch = wire_epoch(term.value());
  // Below an epoch named before (the replica here closed or moved away, the
  // new leader's report not in yet): no leader rather than an older one,
  // which a client that saw the newer epoch drops, and one that did not
  // follows back to a deposed leader.
  if (leader == cluster::kNoLeader || !alive(leader) || epoch < floors.floor(topic_id, index)) {
    return {};  // as Kafka: no leader to send to
  }
  floors.named(topic_id, index, epoch);
  return {leader.value(), epoch};
}

awaitable<std::optional<protocol::MetadataResponse>> cluster_metadata(
    HandlerContext& ctx, protocol::MetadataRequest& request) {
  auto& controller = *ctx.controller;
  protocol::MetadataResponse r;
  r.cluster_id = ctx.config.cluster_id;
  // Any broker takes admin requests (forwarding them to the controller
  // leader); clients such as kafka-python cannot use -1 while it is elected.
  const NodeId leader = controller.leader();
  r.controller_id = leader == cluster::kNoLeader ? ctx.config.node_id : leader.value();
  std::optional<std::string> self_rack;
  for (const auto& [id, b] : controller.state().brokers()) {
    if (id.value() == ctx.config.node_id) {
      self_rack = b.rack;  // listed below
      continue;
    }
    if (b.fenced) continue;
    r.brokers.push_back({id.value(), b.advertised.host, b.advertised.port, b.rack});
  }
  // This broker, always, at the address it has now: its registration in the
  // state may not be applied yet, or be one from before a restart on another
  // address (until the new one applies). A client given that old address for
  // the controller (this broker, while no leader is known) could not reach
  // it, and confluent-kafka's AdminClient waited out its timeout there.
  r.brokers.push_back(
      {ctx.config.node_id, ctx.config.advertised_host, ctx.config.advertised_port, self_rack});
  forget_deleted_topics(ctx);
  const bool all = !request.topics || (ctx.version() == 0 && request.topics->empty());
  if (all) {
    for (const auto& [id, t] : controller.state().topics()) r.topics.push_back(describe(ctx, t));
    co_return r;
  }
  // Not before this broker's metadata caught up: a topic it does not know
  // yet may exist (the client retries on LEADER_NOT_AVAILABLE meanwhile).
  const bool may_create = ctx.config.auto_create_topics && controller.caught_up() &&
                          (ctx.version() < 4 || request.allow_auto_topic_creation);
  if (may_create) {
    std::vector<ClusterTopicSpec> missing;
    std::set<std::string_view> named;
    for (const auto& wanted : *request.topics) {
      if (controller.state().topic(wanted.name) != nullptr ||
          !storage::validate_topic_name(wanted.name) || !named.insert(wanted.name).second) {
        continue;
      }
      missing.push_back({{wanted.name, ctx.config.default_partitions, {}}, -1, std::nullopt});
    }
    if (!missing.empty()) {
      auto created = co_await cluster_create_topics(ctx, missing, false,
                                                    ctx.clock.steady_now() + kAdminWaitDefault);
      for (std::size_t i = 0; i < created.size(); ++i) {
        const auto& s = created[i];
        if (s || s.error().code() == Errc::already_exists) continue;
        log::get(log::Module::broker)
            ->warn("auto-creating topic {} failed: {}", quote_name(missing[i].topic.name),
                   s.error().message());
      }
    }
  }
  for (const auto& wanted : *request.topics) {
    const auto* t = controller.state().topic(wanted.name);
    if (t == nullptr) {
      r.topics.push_back(missing_metadata_topic(ctx, wanted.name));
      if (!controller.caught_up() && storage::validate_topic_name(wanted.name)) {
        // Maybe not missing at all: clients keep such a topic and retry.
        r.topics.back().error_code = ctx.code(ErrorCode::leader_not_available);
      }
      continue;
    }
    r.topics.push_back(describe(ctx, *t));
  }
  co_return r;
}

}  // namespace spate::broker
