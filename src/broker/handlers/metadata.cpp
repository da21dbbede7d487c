// SPDX-License-Identifier: Apache-2.0
//
// Metadata: brokers, topics and partitions (with their leader epochs, v7+);
// auto-creates topics when asked.

#include "spate/protocol/messages/metadata.h"

#include <map>
#include <set>

#include "spate/common/log.h"

#include "cluster_admin.h"
#include "common.h"

namespace spate::broker {
namespace {

protocol::MetadataResponseTopic describe_topic(HandlerContext& ctx, const cluster::Topic& t) {
  protocol::MetadataResponseTopic out;
  out.name = t.name;
  out.is_internal = internal_topic(t.name);
  for (std::size_t i = 0; i < t.partitions.size(); ++i) {
    protocol::MetadataResponsePartition p;
    p.partition_index = static_cast<std::int32_t>(i);
    p.leader_id = ctx.config.node_id;
    p.replica_nodes = {ctx.config.node_id};
    p.isr_nodes = {ctx.config.node_id};
    // v7+: the partition's Raft term (its leader epoch, as Fetch and
    // ListOffsets check it); it only grows while the topic lives.
    if (t.partitions[i]) p.leader_epoch = wire_epoch(t.partitions[i]->term().value());
    if (t.partitions[i] && t.partitions[i]->fenced()) {
      p.error_code = ctx.code(ErrorCode::kafka_storage_error);
      p.offline_replicas = {ctx.config.node_id};
    }
    out.partitions.push_back(std::move(p));
  }
  return out;
}

}  // namespace

protocol::MetadataResponseTopic missing_metadata_topic(HandlerContext& ctx,
                                                       const std::string& name) {
  protocol::MetadataResponseTopic missing;
  missing.name = name;
  // Retriable while auto-creation is on (a limit or a failed create);
  // invalid names never will be.
  missing.error_code =
      ctx.code(!storage::validate_topic_name(name) ? ErrorCode::invalid_topic_exception
                                                   : ErrorCode::unknown_topic_or_partition);
  return missing;
}

awaitable<std::optional<protocol::MetadataResponse>> metadata(HandlerContext& ctx,
                                                              protocol::MetadataRequest& request) {
  if (ctx.controller != nullptr) co_return co_await cluster_metadata(ctx, request);
  protocol::MetadataResponse r;
  r.brokers.push_back(
      {ctx.config.node_id, ctx.config.advertised_host, ctx.config.advertised_port, std::nullopt});
  r.cluster_id = ctx.config.cluster_id;
  r.controller_id = ctx.config.node_id;
  // v0 has no null list: an empty list there means all topics.
  const bool all = !request.topics || (ctx.version() == 0 && request.topics->empty());
  if (all) {
    for (const auto& [name, t] : ctx.partitions.topics())
      r.topics.push_back(describe_topic(ctx, t));
    co_return r;
  }
  const bool may_create =
      ctx.config.auto_create_topics && (ctx.version() < 4 || request.allow_auto_topic_creation);
  if (may_create) {
    // Every missing topic in one operation (one topics.meta write), off the
    // shard; the answer waits for it.
    std::vector<cluster::TopicSpec> missing;
    std::set<std::string_view> named;
    for (const auto& wanted : *request.topics) {
      if (ctx.partitions.topic(wanted.name) != nullptr ||
          !storage::validate_topic_name(wanted.name) || !named.insert(wanted.name).second) {
        continue;
      }
      missing.push_back({wanted.name, ctx.config.default_partitions, {}});
    }
    if (!missing.empty()) {
      auto created = co_await ctx.partitions.create_topics(
          missing, false, ctx.clock.steady_now() + kAdminWaitDefault);
      for (std::size_t i = 0; i < created.size(); ++i) {
        const auto& s = created[i];
        if (s || s.error().code() == Errc::already_exists) continue;
        log::get(log::Module::broker)
            ->warn("auto-creating topic {} failed: {}", quote_name(missing[i].name),
                   s.error().message());
      }
    }
  }
  for (const auto& wanted : *request.topics) {
    const cluster::Topic* t = ctx.partitions.topic(wanted.name);
    if (t == nullptr) {
      r.topics.push_back(missing_metadata_topic(ctx, wanted.name));
      continue;
    }
    r.topics.push_back(describe_topic(ctx, *t));
  }
  co_return r;
}

}  // namespace spate::broker
