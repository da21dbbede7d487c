// SPDX-License-Identifier: Apache-2.0
//
// Topic administration through the controller (cluster_admin.h).

#include "cluster_admin.h"

#include "spate/cluster/assignment.h"
#include "spate/cluster/controller.h"
#include "spate/cluster/topic_config.h"

namespace spate::broker {
namespace {

// How long a create waits for its partitions' first leaders at most.
constexpr auto kLeadersWaitMax = std::chrono::seconds(10);

Status as_status(const Result<cluster::Proposed>& r) {
  if (!r) return r.error();
  if (r->outcome.applied()) return {};
  return Error(r->outcome.error, r->outcome.message);
}

Error as_invalid_config(const Error& e) {
  if (e.code() != Errc::invalid_argument) return e;
  return Error(Errc::invalid_config, e.detail());
}

bool leaders_known(const cluster::MetadataState& state, const std::string& name) {
  const auto* t = state.topic(name);
  if (t == nullptr) return true;  // deleted meanwhile: nothing to wait for
  for (const auto& p : t->partitions) {
    if (p.leader == cluster::kNoLeader) return false;
  }
  return true;
}

// How long a proposal may take: the request's timeout, but at least a few
// seconds, since a timeout of 0 (librdkafka's default for admin requests)
// means "do not wait for the outcome", not "do not do it".
SteadyTime commit_deadline(const HandlerContext& ctx, SteadyTime deadline) {
  return std::max(deadline, ctx.clock.steady_now() + std::chrono::seconds(10));
}

}  // namespace

std::int32_t default_replication_factor(const cluster::MetadataState& state) {
  return static_cast<std::int32_t>(std::clamp<std::size_t>(state.brokers().size(), 1, 3));
}

awaitable<std::vector<Status>> cluster_create_topics(HandlerContext& ctx,
                                                     std::vector<ClusterTopicSpec> specs,
                                                     bool validate_only, SteadyTime deadline) {
  std::vector<Status> out(specs.size());
  auto& controller = *ctx.controller;
  std::vector<std::string> created;
  for (std::size_t k = 0; k < specs.size(); ++k) {
    auto& spec = specs[k];
    auto configs = cluster::normalize_topic_configs(spec.topic.overrides);
    if (!configs) {
      out[k] = as_invalid_config(configs.error());
      continue;
    }
    const auto& state = controller.state();
    if (state.topic(spec.topic.name) != nullptr) {
      out[k] = Error(Errc::already_exists,
                     fmt::format("topic '{}' already exists", quote_name(spec.topic.name)));
      continue;
    }
    cluster::ReplicaAssignment assignment;
    if (spec.assignment) {
      assignment = std::move(*spec.assignment);
    } else {
      const auto rf = spec.replication_factor == -1 ? default_replication_factor(state)
                                                    : spec.replication_factor;
      auto assigned = cluster::assign_replicas(
          cluster::broker_slots(state), cluster::broker_load(state), spec.topic.partitions, rf);
      if (!assigned) {
        out[k] = assigned.error();
        continue;
      }
      assignment = std::move(*assigned);
    }
    if (validate_only) continue;
    // Named, never a temporary converted in the co_await's arguments: GCC 12
    // destroys such a temporary twice.
    cluster::Command command =
        cluster::CreateTopic{spec.topic.name, 0, std::move(assignment), std::move(*configs)};
    out[k] =
        as_status(co_await controller.propose(std::move(command), commit_deadline(ctx, deadline)));
    if (out[k]) created.push_back(spec.topic.name);
  }
  // Clients produce right after a create: answer once the new partitions
  // have leaders (or the wait ends; they then retry LEADER_NOT_AVAILABLE).
  const auto until = std::min(deadline, ctx.clock.steady_now() + kLeadersWaitMax);
  for (const auto& name : created) {
    const std::function<bool()> ready = [&controller, &name] {
      return leaders_known(controller.state(), name);
    };
    (void)co_await controller.changed().wait_for(ready,
                                                 net::deadline_in(until - ctx.clock.steady_now()));
  }
  co_return out;
}

awaitable<Status> cluster_delete_topic(HandlerContext& ctx, std::string name, SteadyTime deadline) {
  if (ctx.controller->state().topic(name) == nullptr) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", quote_name(name)));
  }
  cluster::Command command = cluster::DeleteTopic{name, 0};
  co_return as_status(
      co_await ctx.controller->propose(std::move(command), commit_deadline(ctx, deadline)));
}

awaitable<Status> cluster_add_partitions(HandlerContext& ctx, std::string name, std::int32_t total,
                                         bool validate_only, SteadyTime deadline) {
  const auto& state = ctx.controller->state();
  const auto* t = state.topic(name);
  if (t == nullptr) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", quote_name(name)));
  }
  const auto current = static_cast<std::int32_t>(t->partitions.size());
  if (total <= current || total > cluster::kPartitionsMax) {
    co_return Error(Errc::invalid_partitions,
                    fmt::format("topic '{}' has {} partitions; the new count {} must be larger "
                                "(and at most {})",
                                quote_name(name), current, total, cluster::kPartitionsMax));
  }
  const auto rf = static_cast<std::int32_t>(t->partitions.front().replicas.size());
  auto assigned = cluster::assign_replicas(
      cluster::broker_slots(state), cluster::broker_load(state), total - current, rf, current);
  if (!assigned) co_return assigned.error();
  if (validate_only) co_return Status{};
  cluster::Command command = cluster::CreatePartitions{name, std::move(*assigned)};
  co_return as_status(
      co_await ctx.controller->propose(std::move(command), commit_deadline(ctx, deadline)));
}

awaitable<Status> cluster_change_topic_configs(HandlerContext& ctx, std::string name,
                                               cluster::PartitionManager::ConfigChange change,
                                               bool validate_only, SteadyTime deadline) {
  const auto* t = ctx.controller->state().topic(name);
  if (t == nullptr) {
    co_return Error::not_found(fmt::format("topic '{}' does not exist", quote_name(name)));
  }
  // Computed from the configs as this broker has applied them: a change
  // racing another of the same topic may undo it (last writer wins), as in
  // Kafka's AlterConfigs.
  auto overrides = change(t->configs);
  if (!overrides) co_return as_invalid_config(overrides.error());
  auto normalized = cluster::normalize_topic_configs(*overrides);
  if (!normalized) co_return as_invalid_config(normalized.error());
  const auto config = cluster::apply_topic_configs(ctx.partitions.defaults(), *normalized);
  if (auto s = storage::validate(config); !s) co_return as_invalid_config(s.error());
  if (validate_only) co_return Status{};
  cluster::Command command = cluster::AlterTopicConfigs{name, std::move(*normalized)};
  co_return as_status(
      co_await ctx.controller->propose(std::move(command), commit_deadline(ctx, deadline)));
}

}  // namespace spate::broker
