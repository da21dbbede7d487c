// SPDX-License-Identifier: Apache-2.0
//
// AlterConfigs and IncrementalAlterConfigs of topics.

#include "spate/protocol/messages/alter_configs.h"

#include <set>

#include "spate/protocol/messages/describe_configs.h"

#include "cluster_admin.h"
#include "common.h"

namespace spate::broker {
namespace {

awaitable<protocol::AlterConfigsResourceResponse> alter_topic(
    HandlerContext& ctx, std::int8_t type, const std::string& name,
    const cluster::PartitionManager::ConfigChange& change, bool validate_only) {
  protocol::AlterConfigsResourceResponse out;
  out.resource_type = type;
  out.resource_name = name;
  auto fail = [&](ErrorCode code, std::string_view message) {
    out.error_code = ctx.code(code);
    out.error_message = bounded(message);
  };
  if (type == protocol::kResourceBroker) {
    fail(ErrorCode::invalid_request, "broker configs are read-only (set them as spated flags)");
    co_return out;
  }
  if (type != protocol::kResourceTopic) {
    fail(ErrorCode::invalid_request, fmt::format("resource type {} is not supported", type));
    co_return out;
  }
  const auto deadline = ctx.clock.steady_now() + kAdminWaitDefault;
  Status s;
  if (ctx.controller != nullptr) {
    s = co_await cluster_change_topic_configs(ctx, name, change, validate_only, deadline);
  } else {
    s = co_await ctx.partitions.change_topic_configs(name, change, validate_only, deadline);
  }
  if (!s) {
    fail(error_code_for(s.error().code()), s.error().detail());
  }
  co_return out;
}

// What makes a resource's changes an invalid request, as Kafka sees it: a
// config named twice ("duplicate config keys") or an unknown operation.
std::optional<std::string> request_problem(
    const std::vector<protocol::IncrementalAlterConfigsEntry>& configs) {
  std::set<std::string_view> seen;
  for (const auto& e : configs) {
    if (!seen.insert(e.name).second) {
      return fmt::format("config {} is named more than once", quote_name(e.name));
    }
    if (e.config_operation < protocol::kConfigOpSet ||
        e.config_operation > protocol::kConfigOpSubtract) {
      return fmt::format("config {}: unknown operation {}", quote_name(e.name), e.config_operation);
    }
  }
  return std::nullopt;
}

}  // namespace

awaitable<std::optional<protocol::AlterConfigsResponse>> alter_configs(
    HandlerContext& ctx, protocol::AlterConfigsRequest& request) {
  protocol::AlterConfigsResponse r;
  for (const auto& res : request.resources) {
    Result<cluster::ConfigMap> overrides = cluster::ConfigMap{};
    for (const auto& e : res.configs) {
      if (!e.value) {
        overrides = Error::invalid(fmt::format("config {} has a null value", quote_name(e.name)));
        break;
      }
      (*overrides)[e.name] = *e.value;
    }
    // Replaces every override.
    cluster::PartitionManager::ConfigChange change =
        [&overrides](const cluster::ConfigMap&) -> Result<cluster::ConfigMap> { return overrides; };
    auto altered = co_await alter_topic(ctx, res.resource_type, res.resource_name, change,
                                        request.validate_only);
    r.responses.push_back(std::move(altered));
  }
  co_return r;
}

awaitable<std::optional<protocol::IncrementalAlterConfigsResponse>> incremental_alter_configs(
    HandlerContext& ctx, protocol::IncrementalAlterConfigsRequest& request) {
  protocol::IncrementalAlterConfigsResponse r;
  for (const auto& res : request.resources) {
    if (auto problem = request_problem(res.configs)) {
      auto& out = r.responses.emplace_back();
      out.resource_type = res.resource_type;
      out.resource_name = res.resource_name;
      out.error_code = ctx.code(ErrorCode::invalid_request);
      out.error_message = bounded(*problem);
      continue;
    }
    // Applied to the overrides as they are when the change's turn comes.
    cluster::PartitionManager::ConfigChange change =
        [&res, &ctx](const cluster::ConfigMap& current) -> Result<cluster::ConfigMap> {
      cluster::ConfigMap overrides = current;
      for (const auto& e : res.configs) {
        auto s = cluster::apply_config_op(overrides, ctx.partitions.defaults(), e.config_operation,
                                          e.name, e.value);
        if (!s) return s.error();
      }
      return overrides;
    };
    auto altered = co_await alter_topic(ctx, res.resource_type, res.resource_name, change,
                                        request.validate_only);
    r.responses.push_back(std::move(altered));
  }
  co_return r;
}

}  // namespace spate::broker
