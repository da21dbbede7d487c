// SPDX-License-Identifier: Apache-2.0
//
// DescribeConfigs: topic overrides and defaults, and the broker's read-only configs.

#include "spate/protocol/messages/describe_configs.h"

#include "common.h"

namespace spate::broker {
namespace {

std::string broker_resource_name(const HandlerContext& ctx) {
  return std::to_string(ctx.config.node_id);
}

// Read-only: the spated settings, then the defaults of the topic configs
// that no setting names. Built once per request, however many times it
// names the broker.
std::vector<cluster::ConfigEntry> broker_entries(const HandlerContext& ctx) {
  std::vector<cluster::ConfigEntry> out;
  std::vector<std::string> listed;
  for (const auto& [name, value] : ctx.config.broker_configs) {
    cluster::ConfigEntry& e = out.emplace_back();
    e.name = name;
    e.value = value;
    e.is_default = false;
    e.read_only = true;
    e.source = cluster::kSourceStaticBroker;
    e.synonyms.push_back({name, value, cluster::kSourceStaticBroker});
    listed.push_back(name);
  }
  for (auto& e : cluster::describe_broker_log_configs(ctx.partitions.defaults(), listed)) {
    out.push_back(std::move(e));
  }
  return out;
}

protocol::DescribeConfigsEntry to_wire(const cluster::ConfigEntry& e, bool synonyms) {
  protocol::DescribeConfigsEntry out;
  out.name = e.name;
  out.value = e.value;
  out.read_only = e.read_only;
  out.is_default = e.is_default;
  out.config_source = e.source;
  out.is_sensitive = e.sensitive;
  if (synonyms) {
    for (const auto& s : e.synonyms) out.synonyms.push_back({s.name, s.value, s.source});
  }
  return out;
}

}  // namespace

awaitable<std::optional<protocol::DescribeConfigsResponse>> describe_configs(
    HandlerContext& ctx, protocol::DescribeConfigsRequest& request) {
  protocol::DescribeConfigsResponse r;
  std::optional<std::vector<cluster::ConfigEntry>> broker;
  r.results.reserve(request.resources.size());
  for (const auto& res : request.resources) {
    auto& rr = r.results.emplace_back();
    rr.resource_type = res.resource_type;
    rr.resource_name = res.resource_name;
    auto add_all = [&](const std::vector<cluster::ConfigEntry>& entries) {
      const auto& keys = res.configuration_keys;
      rr.configs.reserve(keys ? std::min(keys->size(), entries.size()) : entries.size());
      for (const auto& e : entries) {
        if (!keys || std::find(keys->begin(), keys->end(), e.name) != keys->end()) {
          rr.configs.push_back(to_wire(e, request.include_synonyms));
        }
      }
    };
    if (res.resource_type == protocol::kResourceTopic) {
      const cluster::Topic* t = ctx.partitions.topic(res.resource_name);
      if (t == nullptr) {
        rr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
        rr.error_message = fmt::format("topic '{}' does not exist", quote_name(res.resource_name));
        continue;
      }
      add_all(cluster::describe_topic_configs(ctx.partitions.defaults(), t->overrides));
    } else if (res.resource_type == protocol::kResourceBroker) {
      if (!res.resource_name.empty() && res.resource_name != broker_resource_name(ctx)) {
        rr.error_code = ctx.code(ErrorCode::invalid_request);
        rr.error_message = fmt::format("this is broker {}", ctx.config.node_id);
        continue;
      }
      if (!broker) broker = broker_entries(ctx);
      add_all(*broker);
    } else {
      rr.error_code = ctx.code(ErrorCode::invalid_request);
      rr.error_message = fmt::format("resource type {} is not supported", res.resource_type);
    }
  }
  co_return r;
}

}  // namespace spate::broker
