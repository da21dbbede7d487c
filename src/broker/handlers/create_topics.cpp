// SPDX-License-Identifier: Apache-2.0
//
// CreateTopics: every cause of refusal checked here with its own error code,
// then the partition manager creates the rest in its turn.

#include "spate/protocol/messages/create_topics.h"

#include <map>

#include "spate/storage/data_dir.h"

#include "cluster_admin.h"
#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::CreateTopicsResponse>> create_topics(
    HandlerContext& ctx, protocol::CreateTopicsRequest& request) {
  protocol::CreateTopicsResponse r;
  // What each topic asks for, checked here so that every cause has its own
  // error code; the manager checks again (and the limits) in its turn.
  const bool cluster = ctx.controller != nullptr;
  std::vector<cluster::TopicSpec> specs;
  std::vector<ClusterTopicSpec> cluster_specs;
  std::vector<std::size_t> spec_of;  // response index of each spec
  std::map<std::string_view, std::size_t> count;
  for (const auto& t : request.topics) ++count[t.name];
  r.topics.reserve(request.topics.size());
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.name = t.name;
    auto fail = [&](ErrorCode code, std::string_view message) {
      tr.error_code = ctx.code(code);
      if (ctx.version() >= 1) tr.error_message = bounded(message);
    };
    if (count[t.name] > 1) {
      fail(ErrorCode::invalid_request, "topic named more than once in the request");
      continue;
    }
    if (auto s = storage::validate_topic_name(t.name); !s) {
      fail(ErrorCode::invalid_topic_exception, s.error().detail());
      continue;
    }
    std::int32_t partitions = t.num_partitions;
    std::optional<cluster::ReplicaAssignment> assignment;
    if (!t.assignments.empty() && cluster) {
      if (t.num_partitions != -1 || t.replication_factor != -1) {
        fail(ErrorCode::invalid_request,
             "give either assignments or partitions and replication factor, not both");
        continue;
      }
      // The controller's state checks the brokers named (distinct, registered).
      bool ok = t.assignments.size() <= static_cast<std::size_t>(cluster::kPartitionsMax);
      assignment.emplace();
      for (std::size_t i = 0; ok && i < t.assignments.size(); ++i) {
        const auto& a = t.assignments[i];
        ok = a.partition_index == static_cast<std::int32_t>(i) && !a.broker_ids.empty() &&
             a.broker_ids.size() <= cluster::kReplicasMax;
        auto& list = assignment->emplace_back();
        for (const auto b : a.broker_ids) list.emplace_back(b);
      }
      if (!ok) {
        fail(ErrorCode::invalid_replica_assignment,
             fmt::format("assignments must name partitions 0..n-1 (at most {}), each with 1 to {} "
                         "brokers",
                         cluster::kPartitionsMax, cluster::kReplicasMax));
        continue;
      }
      partitions = static_cast<std::int32_t>(t.assignments.size());
    } else if (!t.assignments.empty()) {
      if (t.num_partitions != -1 || t.replication_factor != -1) {
        fail(ErrorCode::invalid_request,
             "give either assignments or partitions and replication factor, not both");
        continue;
      }
      bool ok = t.assignments.size() <= static_cast<std::size_t>(cluster::kPartitionsMax);
      for (std::size_t i = 0; ok && i < t.assignments.size(); ++i) {
        const auto& a = t.assignments[i];
        if (a.partition_index != static_cast<std::int32_t>(i) || a.broker_ids.size() != 1 ||
            a.broker_ids[0] != ctx.config.node_id) {
          ok = false;
        }
      }
      if (!ok) {
        fail(ErrorCode::invalid_replica_assignment,
             fmt::format("assignments must name partitions 0..n-1 (at most {}), each on broker {} "
                         "alone",
                         cluster::kPartitionsMax, ctx.config.node_id));
        continue;
      }
      partitions = static_cast<std::int32_t>(t.assignments.size());
    }
    if (partitions == -1) partitions = ctx.config.default_partitions;
    if (partitions < 1 || partitions > cluster::kPartitionsMax) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("number of partitions must be in [1, {}], got {}", cluster::kPartitionsMax,
                       partitions));
      continue;
    }
    if (cluster && (t.replication_factor == 0 || t.replication_factor < -1 ||
                    t.replication_factor > static_cast<std::int32_t>(cluster::kReplicasMax))) {
      fail(ErrorCode::invalid_replication_factor,
           fmt::format("replication factor {} is not in [1, {}]", t.replication_factor,
                       cluster::kReplicasMax));
      continue;
    }
    if (!cluster && t.replication_factor != -1 && t.replication_factor != 1) {
      fail(ErrorCode::invalid_replication_factor,
           fmt::format("replication factor {} is larger than the 1 available broker",
                       t.replication_factor));
      continue;
    }
    cluster::ConfigMap configs;
    std::string config_error;
    for (const auto& c : t.configs) {
      if (!c.value) {
        config_error = fmt::format("config {} has a null value", quote_name(c.name));
        break;
      }
      if (auto s = cluster::validate_topic_config(c.name, *c.value); !s) {
        config_error = s.error().detail();
        break;
      }
      configs[c.name] = *c.value;
    }
    if (!config_error.empty()) {
      fail(ErrorCode::invalid_config, config_error);
      continue;
    }
    if (cluster) {
      cluster_specs.push_back(
          {{t.name, partitions, std::move(configs)}, t.replication_factor, std::move(assignment)});
    } else {
      specs.push_back({t.name, partitions, std::move(configs)});
    }
    spec_of.push_back(r.topics.size() - 1);
  }
  if (spec_of.empty()) co_return r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  std::vector<Status> results;
  if (cluster) {
    results = co_await cluster_create_topics(ctx, std::move(cluster_specs), request.validate_only,
                                             deadline);
  } else {
    results =
        co_await ctx.partitions.create_topics(std::move(specs), request.validate_only, deadline);
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i]) continue;
    auto& tr = r.topics[spec_of[i]];
    const auto& e = results[i].error();
    tr.error_code = ctx.code(error_code_for(e.code()));
    if (ctx.version() >= 1) tr.error_message = bounded(e.detail());
  }
  co_return r;
}

}  // namespace spate::broker
