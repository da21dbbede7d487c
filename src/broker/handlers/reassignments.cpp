// SPDX-License-Identifier: Apache-2.0
//
// AlterPartitionReassignments and ListPartitionReassignments (KIP-455;
// docs/cluster.md, "Reassignment"). On a cluster broker a reassignment is a
// BeginReassignment (or CancelReassignment) committed through the
// controller; the partitions' leaders then move the replicas
// (cluster/reassignment.h). A single node has nowhere to move a replica to:
// it answers each partition with a clear error.

#include "spate/protocol/messages/reassignments.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "spate/cluster/controller.h"

#include "common.h"

namespace spate::broker {
namespace {

using protocol::ErrorCode;

// How long a proposal may take at least (a timeout of 0 still proposes).
SteadyTime commit_deadline(const HandlerContext& ctx, SteadyTime deadline) {
  return std::max(deadline, ctx.clock.steady_now() + std::chrono::seconds(10));
}

// Why `replicas` cannot be a target, or empty: distinct brokers, registered
// and alive, within the limit.
std::string check_target(const cluster::MetadataState& state,
                         const std::vector<std::int32_t>& replicas) {
  if (replicas.empty()) return "the replica list is empty";
  if (replicas.size() > state.limits().replicas_max) {
    return fmt::format("{} replicas: at most {}", replicas.size(), state.limits().replicas_max);
  }
  std::set<std::int32_t> seen;
  for (const std::int32_t id : replicas) {
    if (!seen.insert(id).second) return fmt::format("broker {} is listed twice", id);
    if (state.broker(NodeId(id)) == nullptr) return fmt::format("broker {} is not registered", id);
    if (!state.alive(NodeId(id))) return fmt::format("broker {} is not alive", id);
  }
  return {};
}

struct PartitionAnswer {
  ErrorCode code = ErrorCode::none;
  std::string message;
};

PartitionAnswer single_node_answer(HandlerContext& ctx, const std::string& topic,
                                   const protocol::ReassignablePartition& p) {
  const auto* t = ctx.partitions.topic(topic);
  if (t == nullptr || p.partition_index < 0 ||
      static_cast<std::size_t>(p.partition_index) >= t->partitions.size()) {
    return {ErrorCode::unknown_topic_or_partition, "no such topic or partition"};
  }
  if (!p.replicas) return {ErrorCode::no_reassignment_in_progress, "no reassignment in progress"};
  if (*p.replicas == std::vector<std::int32_t>{ctx.config.node_id}) return {};  // already there
  return {ErrorCode::invalid_replica_assignment,
          fmt::format("this broker is a single node (no --seeds): its only replica is broker {}",
                      ctx.config.node_id)};
}

awaitable<PartitionAnswer> cluster_answer(HandlerContext& ctx, const std::string& topic,
                                          const protocol::ReassignablePartition& p,
                                          SteadyTime deadline) {
  const auto& state = ctx.controller->state();
  const auto* t = state.topic(topic);
  if (t == nullptr || state.partition(t->id, p.partition_index) == nullptr) {
    co_return PartitionAnswer{ErrorCode::unknown_topic_or_partition, "no such topic or partition"};
  }
  const cluster::PartitionMeta& meta = *state.partition(t->id, p.partition_index);
  cluster::Command command;
  if (!p.replicas) {
    if (meta.target.empty()) {
      co_return PartitionAnswer{ErrorCode::no_reassignment_in_progress,
                                "no reassignment in progress"};
    }
    command = cluster::CancelReassignment{t->id, p.partition_index};
  } else {
    if (auto why = check_target(state, *p.replicas); !why.empty()) {
      co_return PartitionAnswer{ErrorCode::invalid_replica_assignment, std::move(why)};
    }
    std::vector<NodeId> target;
    for (const std::int32_t id : *p.replicas) target.emplace_back(id);
    command = cluster::BeginReassignment{t->id, p.partition_index, std::move(target)};
  }
  const bool cancel = !p.replicas;
  auto out = co_await ctx.controller->propose(std::move(command), commit_deadline(ctx, deadline));
  if (!out) co_return PartitionAnswer{error_code_for(out.error().code()), out.error().detail()};
  if (out->outcome.applied()) co_return PartitionAnswer{};
  if (cancel && out->outcome.error == Errc::not_found) {
    co_return PartitionAnswer{ErrorCode::no_reassignment_in_progress, out->outcome.message};
  }
  co_return PartitionAnswer{error_code_for(out->outcome.error), out->outcome.message};
}

}  // namespace

awaitable<std::optional<protocol::AlterPartitionReassignmentsResponse>>
alter_partition_reassignments(HandlerContext& ctx,
                              protocol::AlterPartitionReassignmentsRequest& request) {
  protocol::AlterPartitionReassignmentsResponse r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  std::map<std::string_view, std::size_t> named;
  for (const auto& t : request.topics) ++named[t.name];
  for (const auto& t : request.topics) {
    auto& tr = r.responses.emplace_back();
    tr.name = t.name;
    std::map<std::int32_t, std::size_t> seen;
    for (const auto& p : t.partitions) ++seen[p.partition_index];
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      PartitionAnswer a;
      if (named[t.name] > 1 || seen[p.partition_index] > 1) {
        a = {ErrorCode::invalid_request, "partition named more than once in the request"};
      } else if (ctx.controller == nullptr) {
        a = single_node_answer(ctx, t.name, p);
      } else {
        a = co_await cluster_answer(ctx, t.name, p, deadline);
      }
      pr.error_code = ctx.code(a.code);
      if (a.code != ErrorCode::none) pr.error_message = bounded(a.message);
    }
  }
  co_return r;
}

namespace {

protocol::OngoingPartitionReassignment ongoing(std::int32_t index,
                                               const cluster::PartitionMeta& p) {
  protocol::OngoingPartitionReassignment o;
  o.partition_index = index;
  auto has = [](const std::vector<NodeId>& ids, NodeId id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  // Kafka's form: the target first, then the replicas leaving.
  for (const NodeId id : p.target) {
    o.replicas.push_back(id.value());
    if (!has(p.replicas, id)) o.adding_replicas.push_back(id.value());
  }
  for (const NodeId id : p.replicas) {
    if (has(p.target, id)) continue;
    o.replicas.push_back(id.value());
    o.removing_replicas.push_back(id.value());
  }
  return o;
}

}  // namespace

awaitable<std::optional<protocol::ListPartitionReassignmentsResponse>> list_partition_reassignments(
    HandlerContext& ctx, protocol::ListPartitionReassignmentsRequest& request) {
  protocol::ListPartitionReassignmentsResponse r;
  if (ctx.controller == nullptr) co_return r;  // a single node moves nothing
  const auto& state = ctx.controller->state();
  auto add_topic = [&](const cluster::TopicMeta& t, const std::vector<std::int32_t>* only) {
    protocol::OngoingTopicReassignment out;
    out.name = t.name;
    for (std::size_t i = 0; i < t.partitions.size(); ++i) {
      const auto index = static_cast<std::int32_t>(i);
      if (only != nullptr && std::find(only->begin(), only->end(), index) == only->end()) continue;
      if (!t.partitions[i].target.empty())
        out.partitions.push_back(ongoing(index, t.partitions[i]));
    }
    if (!out.partitions.empty()) r.topics.push_back(std::move(out));
  };
  if (!request.topics) {
    for (const auto& [id, t] : state.topics()) add_topic(t, nullptr);
    co_return r;
  }
  // Kafka lists what is pending among the partitions named; unknown ones
  // are left out.
  std::set<std::string_view> done;
  for (const auto& t : *request.topics) {
    if (!done.insert(t.name).second) continue;
    const auto* meta = state.topic(t.name);
    if (meta != nullptr) add_topic(*meta, &t.partition_indexes);
  }
  co_return r;
}

}  // namespace spate::broker
