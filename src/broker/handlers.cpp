// SPDX-License-Identifier: Apache-2.0
//
// One handler per API: a decoded request in, a response struct out.

#include "handlers.h"

#include <algorithm>
#include <charconv>

#include "spate/common/log.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"

namespace spate::broker {
namespace {

using protocol::ErrorCode;
using Clock_ = std::chrono::steady_clock;
using Frame = std::optional<ResponseFrame>;

constexpr std::int32_t kRequestTimeoutMaxMs = 5 * 60 * 1000;

// ---------------------------------------------------------------- ApiVersions

awaitable<std::optional<protocol::ApiVersionsResponse>> api_versions(
    HandlerContext& ctx, protocol::ApiVersionsRequest& /*request*/) {
  protocol::ApiVersionsResponse r;
  for (const auto& api : served_apis()) {
    r.api_keys.push_back({static_cast<std::int16_t>(api.key), api.min_version, api.max_version});
  }
  (void)ctx;
  co_return r;
}

// ---------------------------------------------------------------- Metadata

protocol::MetadataResponseTopic describe_topic(HandlerContext& ctx, const cluster::Topic& t) {
  protocol::MetadataResponseTopic out;
  out.name = t.name;
  for (std::size_t i = 0; i < t.partitions.size(); ++i) {
    protocol::MetadataResponsePartition p;
    p.partition_index = static_cast<std::int32_t>(i);
    p.leader_id = ctx.config.node_id;
    p.replica_nodes = {ctx.config.node_id};
    p.isr_nodes = {ctx.config.node_id};
    if (t.partitions[i]->log().fenced()) {
      p.error_code = ctx.code(ErrorCode::kafka_storage_error);
      p.offline_replicas = {ctx.config.node_id};
    }
    out.partitions.push_back(std::move(p));
  }
  return out;
}

awaitable<std::optional<protocol::MetadataResponse>> metadata(HandlerContext& ctx,
                                                              protocol::MetadataRequest& request) {
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
  for (const auto& wanted : *request.topics) {
    const cluster::Topic* t = ctx.partitions.topic(wanted.name);
    if (t == nullptr && may_create) {
      auto s = ctx.partitions.create_topic(wanted.name, ctx.config.default_partitions, {});
      if (!s && s.error().code() != Errc::already_exists) {
        protocol::MetadataResponseTopic bad;
        bad.name = wanted.name;
        bad.error_code =
            ctx.code(s.error().code() == Errc::invalid_argument ? ErrorCode::invalid_topic_exception
                                                                : ErrorCode::kafka_storage_error);
        r.topics.push_back(std::move(bad));
        continue;
      }
      t = ctx.partitions.topic(wanted.name);
    }
    if (t == nullptr) {
      protocol::MetadataResponseTopic missing;
      missing.name = wanted.name;
      missing.error_code =
          ctx.code(storage::validate_topic_name(wanted.name) ? ErrorCode::unknown_topic_or_partition
                                                             : ErrorCode::invalid_topic_exception);
      r.topics.push_back(std::move(missing));
      continue;
    }
    r.topics.push_back(describe_topic(ctx, *t));
  }
  co_return r;
}

// ---------------------------------------------------------------- Produce

awaitable<std::optional<protocol::ProduceResponse>> produce(HandlerContext& ctx,
                                                            protocol::ProduceRequest& request) {
  protocol::ProduceResponse r;
  const bool acks_valid = request.acks == 0 || request.acks == 1 || request.acks == -1;
  struct Pending {
    std::shared_ptr<cluster::Partition> partition;
    Offset end;
    protocol::ProducePartitionResponse* response;
  };
  std::vector<Pending> pending;
  // Everything is appended before the first suspension, so pipelined
  // requests on one connection append in their order.
  r.responses.reserve(request.topic_data.size());
  for (auto& topic : request.topic_data) {
    auto& tr = r.responses.emplace_back();
    tr.name = topic.name;
    tr.partition_responses.reserve(topic.partition_data.size());
    for (auto& data : topic.partition_data) {
      auto& pr = tr.partition_responses.emplace_back();
      pr.index = data.index;
      pr.base_offset = -1;
      if (!acks_valid) {
        pr.error_code = ctx.code(ErrorCode::invalid_required_acks);
        continue;
      }
      auto partition = ctx.partitions.partition(topic.name, data.index);
      if (!partition) {
        pr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
        continue;
      }
      pr.log_start_offset = partition->start_offset().value();
      if (!data.records || data.records->empty()) {
        pr.error_code = ctx.code(ErrorCode::corrupt_message);
        continue;
      }
      auto appended = partition->append(*data.records);
      if (!appended) {
        pr.error_code = ctx.code(error_code_for(appended.error().code()));
        log::get("broker")->debug("produce to {}-{} refused: {}", topic.name, data.index,
                                  appended.error().message());
        continue;
      }
      pr.base_offset = appended->base_offset.value();
      pending.push_back({partition, appended->last_offset + 1, &pr});
    }
  }
  if (request.acks == 0) co_return std::nullopt;
  if (request.acks == -1) {
    const auto timeout = std::clamp(request.timeout_ms, 0, kRequestTimeoutMaxMs);
    const auto deadline = Clock_::now() + std::chrono::milliseconds(timeout);
    for (auto& p : pending) {
      auto s = co_await p.partition->wait_committed(p.end, deadline);
      if (!s) p.response->error_code = ctx.code(error_code_for(s.error().code()));
    }
  }
  co_return r;
}

// ---------------------------------------------------------------- Fetch

// One Fetch answer in the making: the response struct (records left empty)
// and, per partition in order, the file region holding its records.
struct FetchResult {
  protocol::FetchResponse response;
  std::vector<std::optional<storage::FileSlice>> slices;
};

// Reads every partition once. Returns the bytes found in all.
std::int64_t fetch_once(HandlerContext& ctx, const protocol::FetchRequest& request,
                        const std::vector<std::shared_ptr<cluster::Partition>>& partitions,
                        FetchResult& out, bool& any_error) {
  (void)ctx;
  out = FetchResult{};
  any_error = false;
  std::int64_t total = 0;
  std::int64_t budget = std::max(request.max_bytes, 0);
  std::size_t index = 0;
  for (const auto& t : request.topics) {
    auto& tr = out.response.responses.emplace_back();
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      auto& slice = out.slices.emplace_back();
      pr.partition_index = p.partition;
      const auto& partition = partitions[index++];
      if (!partition) {
        pr.error_code = static_cast<std::int16_t>(ErrorCode::unknown_topic_or_partition);
        pr.high_watermark = -1;
        any_error = true;
        continue;
      }
      pr.high_watermark = partition->high_watermark().value();
      pr.last_stable_offset = pr.high_watermark;
      pr.log_start_offset = partition->start_offset().value();
      pr.records = std::vector<std::byte>{};
      // The first partition with data always gets a whole batch, even past
      // max_bytes, so a consumer never stalls on a big one.
      const std::int64_t limit =
          std::min<std::int64_t>(std::max(p.partition_max_bytes, 0),
                                 total == 0 ? std::max<std::int64_t>(budget, 1) : budget);
      if (limit <= 0) continue;
      auto read = partition->read(Offset(p.fetch_offset), static_cast<std::uint64_t>(limit));
      if (!read) {
        pr.error_code = static_cast<std::int16_t>(error_code_for(read.error().code()));
        any_error = true;
        continue;
      }
      if (read->bytes.size == 0) continue;
      total += static_cast<std::int64_t>(read->bytes.size);
      budget -= static_cast<std::int64_t>(read->bytes.size);
      slice = read->bytes;
    }
  }
  return total;
}

awaitable<FetchResult> fetch(HandlerContext& ctx, const protocol::FetchRequest& request) {
  const auto max_wait = std::clamp(request.max_wait_ms, 0, kRequestTimeoutMaxMs);
  const auto deadline = Clock_::now() + std::chrono::milliseconds(max_wait);
  std::vector<std::shared_ptr<cluster::Partition>> partitions;
  for (const auto& t : request.topics) {
    for (const auto& p : t.partitions) {
      partitions.push_back(ctx.partitions.partition(t.topic, p.partition));
    }
  }
  FetchResult result;
  // Bounded by the deadline: each pass either answers or waits until woken
  // (new data) or the deadline.
  while (true) {
    bool any_error = false;
    const std::int64_t total = fetch_once(ctx, request, partitions, result, any_error);
    if (any_error || total >= request.min_bytes || Clock_::now() >= deadline ||
        partitions.empty()) {
      if (any_error) ctx.error = true;
      co_return result;
    }
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor, deadline);
    for (auto& p : partitions) {
      if (p) p->committed().add(timer);
    }
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
    for (auto& p : partitions) {
      if (p) p->committed().remove(timer);
    }
  }
}

// ---------------------------------------------------------------- ListOffsets

awaitable<std::optional<protocol::ListOffsetsResponse>> list_offsets(
    HandlerContext& ctx, protocol::ListOffsetsRequest& request) {
  protocol::ListOffsetsResponse r;
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      auto partition = ctx.partitions.partition(t.name, p.partition_index);
      if (!partition) {
        pr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
        continue;
      }
      if (p.timestamp == protocol::kListOffsetsLatest) {
        pr.offset = partition->high_watermark().value();
      } else if (p.timestamp == protocol::kListOffsetsEarliest) {
        pr.offset = partition->start_offset().value();
      } else if (p.timestamp < 0) {
        pr.error_code = ctx.code(ErrorCode::invalid_request);
      } else {
        auto hit = partition->log().find_offset_by_timestamp(p.timestamp);
        if (!hit) {
          pr.error_code = ctx.code(error_code_for(hit.error().code()));
        } else if (*hit && (*hit)->offset < partition->high_watermark()) {
          pr.offset = (*hit)->offset.value();
          pr.timestamp = (*hit)->timestamp;
        }
      }
    }
  }
  co_return r;
}

// ---------------------------------------------------------------- topics

cluster::ConfigMap config_map(const std::vector<protocol::CreateTopicsConfig>& configs,
                              std::string& error) {
  cluster::ConfigMap out;
  for (const auto& c : configs) {
    if (!c.value) {
      error = fmt::format("config {} has a null value", c.name);
      continue;
    }
    out[c.name] = *c.value;
  }
  return out;
}

awaitable<std::optional<protocol::CreateTopicsResponse>> create_topics(
    HandlerContext& ctx, protocol::CreateTopicsRequest& request) {
  protocol::CreateTopicsResponse r;
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.name = t.name;
    auto fail = [&](ErrorCode code, std::string message) {
      tr.error_code = ctx.code(code);
      if (ctx.version() >= 1) tr.error_message = std::move(message);
    };
    const bool duplicate = std::count_if(request.topics.begin(), request.topics.end(),
                                         [&](const auto& o) { return o.name == t.name; }) > 1;
    if (duplicate) {
      fail(ErrorCode::invalid_request, "topic named more than once in the request");
      continue;
    }
    std::int32_t partitions = t.num_partitions;
    if (!t.assignments.empty()) {
      if (t.num_partitions != -1 || t.replication_factor != -1) {
        fail(ErrorCode::invalid_request,
             "give either assignments or partitions and replication factor, not both");
        continue;
      }
      bool ok = true;
      for (std::size_t i = 0; i < t.assignments.size(); ++i) {
        const auto& a = t.assignments[i];
        if (a.partition_index != static_cast<std::int32_t>(i) || a.broker_ids.size() != 1 ||
            a.broker_ids[0] != ctx.config.node_id) {
          ok = false;
        }
      }
      if (!ok) {
        fail(ErrorCode::invalid_replica_assignment,
             fmt::format("assignments must name partitions 0..n-1, each on broker {} alone",
                         ctx.config.node_id));
        continue;
      }
      partitions = static_cast<std::int32_t>(t.assignments.size());
    }
    if (partitions == -1) partitions = ctx.config.default_partitions;
    if (t.replication_factor != -1 && t.replication_factor != 1) {
      fail(ErrorCode::invalid_replication_factor,
           fmt::format("replication factor {} is larger than the 1 available broker",
                       t.replication_factor));
      continue;
    }
    std::string config_error;
    auto configs = config_map(t.configs, config_error);
    if (!config_error.empty()) {
      fail(ErrorCode::invalid_config, config_error);
      continue;
    }
    auto s = ctx.partitions.create_topic(t.name, partitions, configs, request.validate_only);
    if (!s) {
      const auto& e = s.error();
      ErrorCode code = ErrorCode::kafka_storage_error;
      if (e.code() == Errc::already_exists) {
        code = ErrorCode::topic_already_exists;
      } else if (e.code() == Errc::invalid_argument) {
        if (e.detail().starts_with("topic name")) {
          code = ErrorCode::invalid_topic_exception;
        } else if (e.detail().starts_with("number of partitions")) {
          code = ErrorCode::invalid_partitions;
        } else {
          code = ErrorCode::invalid_config;
        }
      }
      fail(code, e.detail());
    }
  }
  co_return r;
}

awaitable<std::optional<protocol::DeleteTopicsResponse>> delete_topics(
    HandlerContext& ctx, protocol::DeleteTopicsRequest& request) {
  protocol::DeleteTopicsResponse r;
  for (const auto& name : request.topic_names) {
    auto& tr = r.responses.emplace_back();
    tr.name = name;
    auto s = co_await ctx.partitions.delete_topic(name);
    if (!s) {
      tr.error_code =
          ctx.code(s.error().code() == Errc::not_found ? ErrorCode::unknown_topic_or_partition
                                                       : ErrorCode::kafka_storage_error);
    }
  }
  co_return r;
}

awaitable<std::optional<protocol::CreatePartitionsResponse>> create_partitions(
    HandlerContext& ctx, protocol::CreatePartitionsRequest& request) {
  protocol::CreatePartitionsResponse r;
  for (const auto& t : request.topics) {
    auto& tr = r.results.emplace_back();
    tr.name = t.name;
    auto s = ctx.partitions.add_partitions(t.name, t.count, request.validate_only);
    if (!s) {
      tr.error_code =
          ctx.code(s.error().code() == Errc::not_found ? ErrorCode::unknown_topic_or_partition
                   : s.error().code() == Errc::invalid_argument ? ErrorCode::invalid_partitions
                                                                : ErrorCode::kafka_storage_error);
      tr.error_message = s.error().detail();
    }
  }
  co_return r;
}

awaitable<std::optional<protocol::DeleteRecordsResponse>> delete_records(
    HandlerContext& ctx, protocol::DeleteRecordsRequest& request) {
  protocol::DeleteRecordsResponse r;
  for (const auto& t : request.topics) {
    auto& tr = r.topics.emplace_back();
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      pr.low_watermark = -1;
      auto partition = ctx.partitions.partition(t.name, p.partition_index);
      if (!partition) {
        pr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
        continue;
      }
      const Offset hw = partition->high_watermark();
      const Offset to = p.offset == -1 ? hw : Offset(p.offset);
      if (to < Offset(0) || to > hw) {
        pr.error_code = ctx.code(ErrorCode::offset_out_of_range);
        continue;
      }
      if (to > partition->start_offset()) {
        if (auto s = partition->log().advance_start(to); !s) {
          pr.error_code = ctx.code(error_code_for(s.error().code()));
          continue;
        }
      }
      pr.low_watermark = partition->start_offset().value();
    }
  }
  co_return r;
}

// ---------------------------------------------------------------- configs

std::string broker_resource_name(const HandlerContext& ctx) {
  return std::to_string(ctx.config.node_id);
}

awaitable<std::optional<protocol::DescribeConfigsResponse>> describe_configs(
    HandlerContext& ctx, protocol::DescribeConfigsRequest& request) {
  protocol::DescribeConfigsResponse r;
  for (const auto& res : request.resources) {
    auto& rr = r.results.emplace_back();
    rr.resource_type = res.resource_type;
    rr.resource_name = res.resource_name;
    auto wanted = [&](const std::string& name) {
      return !res.configuration_keys ||
             std::find(res.configuration_keys->begin(), res.configuration_keys->end(), name) !=
                 res.configuration_keys->end();
    };
    auto add = [&](const cluster::ConfigEntry& e, std::int8_t source) {
      if (!wanted(e.name)) return;
      protocol::DescribeConfigsEntry out;
      out.name = e.name;
      out.value = e.value;
      out.read_only = e.read_only;
      out.is_default = e.is_default;
      out.config_source = source;
      out.is_sensitive = e.sensitive;
      rr.configs.push_back(std::move(out));
    };
    if (res.resource_type == protocol::kResourceTopic) {
      const cluster::Topic* t = ctx.partitions.topic(res.resource_name);
      if (t == nullptr) {
        rr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
        rr.error_message = fmt::format("topic '{}' does not exist", res.resource_name);
        continue;
      }
      for (const auto& e :
           cluster::describe_topic_configs(ctx.partitions.defaults(), t->overrides)) {
        // 1 = DYNAMIC_TOPIC_CONFIG, 5 = DEFAULT_CONFIG (KIP-226 sources).
        add(e, e.is_default ? std::int8_t{5} : std::int8_t{1});
      }
    } else if (res.resource_type == protocol::kResourceBroker) {
      if (!res.resource_name.empty() && res.resource_name != broker_resource_name(ctx)) {
        rr.error_code = ctx.code(ErrorCode::invalid_request);
        rr.error_message = fmt::format("this is broker {}", ctx.config.node_id);
        continue;
      }
      for (const auto& [name, value] : ctx.config.broker_configs) {
        add(cluster::ConfigEntry{name, value, false, true, false},
            std::int8_t{4});  // STATIC_BROKER_CONFIG
      }
    } else {
      rr.error_code = ctx.code(ErrorCode::invalid_request);
      rr.error_message = fmt::format("resource type {} is not supported", res.resource_type);
    }
  }
  co_return r;
}

// Applies new overrides to a topic, or says why not. Shared by both alters.
protocol::AlterConfigsResourceResponse alter_topic(HandlerContext& ctx, std::int8_t type,
                                                   const std::string& name,
                                                   const Result<cluster::ConfigMap>& overrides,
                                                   bool validate_only) {
  protocol::AlterConfigsResourceResponse out;
  out.resource_type = type;
  out.resource_name = name;
  auto fail = [&](ErrorCode code, std::string message) {
    out.error_code = ctx.code(code);
    out.error_message = std::move(message);
  };
  if (type == protocol::kResourceBroker) {
    fail(ErrorCode::invalid_request, "broker configs are read-only (set them as spated flags)");
    return out;
  }
  if (type != protocol::kResourceTopic) {
    fail(ErrorCode::invalid_request, fmt::format("resource type {} is not supported", type));
    return out;
  }
  if (!overrides) {
    fail(ErrorCode::invalid_config, overrides.error().detail());
    return out;
  }
  auto s = ctx.partitions.set_topic_configs(name, *overrides, validate_only);
  if (!s) {
    fail(s.error().code() == Errc::not_found          ? ErrorCode::unknown_topic_or_partition
         : s.error().code() == Errc::invalid_argument ? ErrorCode::invalid_config
                                                      : ErrorCode::kafka_storage_error,
         s.error().detail());
  }
  return out;
}

awaitable<std::optional<protocol::AlterConfigsResponse>> alter_configs(
    HandlerContext& ctx, protocol::AlterConfigsRequest& request) {
  protocol::AlterConfigsResponse r;
  for (const auto& res : request.resources) {
    Result<cluster::ConfigMap> overrides = cluster::ConfigMap{};
    for (const auto& e : res.configs) {
      if (!e.value) {
        overrides = Error::invalid(fmt::format("config {} has a null value", e.name));
        break;
      }
      (*overrides)[e.name] = *e.value;
    }
    r.responses.push_back(
        alter_topic(ctx, res.resource_type, res.resource_name, overrides, request.validate_only));
  }
  co_return r;
}

awaitable<std::optional<protocol::IncrementalAlterConfigsResponse>> incremental_alter_configs(
    HandlerContext& ctx, protocol::IncrementalAlterConfigsRequest& request) {
  protocol::IncrementalAlterConfigsResponse r;
  for (const auto& res : request.resources) {
    Result<cluster::ConfigMap> overrides = cluster::ConfigMap{};
    if (const cluster::Topic* t = ctx.partitions.topic(res.resource_name)) overrides = t->overrides;
    for (const auto& e : res.configs) {
      if (e.config_operation == protocol::kConfigOpSet) {
        if (!e.value) {
          overrides = Error::invalid(fmt::format("config {} has a null value", e.name));
          break;
        }
        (*overrides)[e.name] = *e.value;
      } else if (e.config_operation == protocol::kConfigOpDelete) {
        overrides->erase(e.name);
      } else {
        overrides = Error::invalid(
            fmt::format("config {}: operation {} applies to list configs only; none is a list here",
                        e.name, e.config_operation));
        break;
      }
    }
    r.responses.push_back(
        alter_topic(ctx, res.resource_type, res.resource_name, overrides, request.validate_only));
  }
  co_return r;
}

// ---------------------------------------------------------------- dispatch

template <typename Req, typename Resp>
awaitable<Result<Frame>> run(HandlerContext& ctx, const protocol::ApiInfo& api,
                             std::span<const std::byte> body,
                             awaitable<std::optional<Resp>> (*handler)(HandlerContext&, Req&)) {
  auto request = protocol::decode_message<Req>(body, ctx.version());
  if (!request) {
    co_return Error::malformed(fmt::format("{} v{} request (correlation id {}): {}", api.name,
                                           ctx.version(), ctx.header.correlation_id,
                                           request.error().detail()));
  }
  auto response = co_await handler(ctx, *request);
  if (!response) co_return Frame{};
  co_return Frame(response_frame(ctx, api, *response));
}

}  // namespace

ErrorCode error_code_for(Errc errc) {
  switch (errc) {
    case Errc::ok:
      return ErrorCode::none;
    case Errc::malformed:
    case Errc::crc_mismatch:
    case Errc::unsupported_version:
      return ErrorCode::corrupt_message;
    case Errc::record_too_large:
      return ErrorCode::message_too_large;
    case Errc::invalid_record:  // not retriable, unlike CORRUPT_MESSAGE (issue 12 item 11)
      return ErrorCode::invalid_record;
    case Errc::unsupported_format:  // magic 0/1: what Produce v0-v2 carry
      return ErrorCode::unsupported_version;
    case Errc::invalid_timestamp:
      return ErrorCode::invalid_timestamp;
    case Errc::offset_out_of_range:
      return ErrorCode::offset_out_of_range;
    case Errc::not_found:
      return ErrorCode::unknown_topic_or_partition;
    case Errc::already_exists:
      return ErrorCode::topic_already_exists;
    case Errc::timeout:
    case Errc::busy:  // retriable
      return ErrorCode::request_timed_out;
    case Errc::not_leader:
    case Errc::shutting_down:
      return ErrorCode::not_leader_or_follower;
    case Errc::invalid_argument:
    case Errc::limit_exceeded:
      return ErrorCode::invalid_request;
    case Errc::io_error:
    case Errc::no_space:
    case Errc::corrupt_log:
    case Errc::corrupt_index:
    case Errc::log_fenced:
    case Errc::foreign_directory:
      return ErrorCode::kafka_storage_error;
  }
  return ErrorCode::unknown_server_error;
}

ResponseFrame encode_fetch_response(const HandlerContext& ctx, const protocol::ApiInfo& api,
                                    const protocol::FetchResponse& r,
                                    const std::vector<std::optional<storage::FileSlice>>& slices) {
  // The Fetch v4-v11 layout (kafka-protocol.md; protocol/messages/fetch.h),
  // written by hand so that each partition's records can be a file region.
  const std::int16_t version = ctx.header.request_api_version;
  SPATE_ASSERT(version >= 4 && !protocol::is_flexible(api, version), "Fetch v{} is not spliceable",
               version);
  ResponseFrame frame;
  ByteWriter out(1024);
  protocol::begin_frame(out);
  protocol::encode_response_header(out, ctx.header.correlation_id,
                                   protocol::response_header_version(api, version));
  out.write<std::int32_t>(r.throttle_time_ms);
  if (version >= 7) {
    out.write<std::int16_t>(r.error_code);
    out.write<std::int32_t>(r.session_id);
  }
  out.write<std::int32_t>(static_cast<std::int32_t>(r.responses.size()));
  std::size_t k = 0;
  for (const auto& t : r.responses) {
    out.write<std::int16_t>(static_cast<std::int16_t>(t.topic.size()));
    out.write_string(t.topic);
    out.write<std::int32_t>(static_cast<std::int32_t>(t.partitions.size()));
    for (const auto& p : t.partitions) {
      out.write<std::int32_t>(p.partition_index);
      out.write<std::int16_t>(p.error_code);
      out.write<std::int64_t>(p.high_watermark);
      out.write<std::int64_t>(p.last_stable_offset);
      if (version >= 5) out.write<std::int64_t>(p.log_start_offset);
      if (p.aborted_transactions) {
        out.write<std::int32_t>(static_cast<std::int32_t>(p.aborted_transactions->size()));
        for (const auto& a : *p.aborted_transactions) {
          out.write<std::int64_t>(a.producer_id);
          out.write<std::int64_t>(a.first_offset);
        }
      } else {
        out.write<std::int32_t>(-1);
      }
      if (version >= 11) out.write<std::int32_t>(p.preferred_read_replica);
      const auto& slice = slices.at(k++);
      if (slice && slice->size > 0) {
        out.write<std::int32_t>(static_cast<std::int32_t>(slice->size));
        frame.parts.push_back({out.release(), slice});
        out = ByteWriter(256);
      } else if (p.records) {
        out.write<std::int32_t>(static_cast<std::int32_t>(p.records->size()));
        out.write_bytes(*p.records);
      } else {
        out.write<std::int32_t>(-1);
      }
    }
  }
  if (out.size() > 0) frame.parts.push_back({out.release(), std::nullopt});
  const std::size_t total = frame.size() - protocol::kFrameSizeBytes;
  SPATE_ASSERT(total <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
               "Fetch response of {} bytes", total);
  store_be<std::int32_t>(frame.parts.front().bytes.data(), static_cast<std::int32_t>(total));
  return frame;
}

ResponseFrame api_versions_unsupported(HandlerContext& ctx) {
  protocol::ApiVersionsResponse r;
  r.error_code = ctx.code(ErrorCode::unsupported_version);
  for (const auto& api : served_apis()) {
    if (api.key == protocol::ApiKey::api_versions) {
      r.api_keys.push_back({static_cast<std::int16_t>(api.key), api.min_version, api.max_version});
    }
  }
  ByteWriter out(64);
  protocol::begin_frame(out);
  protocol::encode_response_header(out, ctx.header.correlation_id, 0);
  protocol::encode_message(out, r, 0);
  protocol::finish_frame(out);
  ResponseFrame frame;
  frame.parts.push_back({out.release(), std::nullopt});
  return frame;
}

awaitable<Result<Frame>> dispatch(HandlerContext& ctx, const protocol::ApiInfo& api,
                                  std::span<const std::byte> body) {
  using protocol::ApiKey;
  switch (api.key) {
    case ApiKey::api_versions:
      co_return co_await run(ctx, api, body, &api_versions);
    case ApiKey::metadata:
      co_return co_await run(ctx, api, body, &metadata);
    case ApiKey::produce:
      co_return co_await run(ctx, api, body, &produce);
    case ApiKey::fetch: {
      auto request = protocol::decode_message<protocol::FetchRequest>(body, ctx.version());
      if (!request) {
        co_return Error::malformed(fmt::format("Fetch v{} request (correlation id {}): {}",
                                               ctx.version(), ctx.header.correlation_id,
                                               request.error().detail()));
      }
      auto result = co_await fetch(ctx, *request);
      co_return Frame(encode_fetch_response(ctx, api, result.response, result.slices));
    }
    case ApiKey::list_offsets:
      co_return co_await run(ctx, api, body, &list_offsets);
    case ApiKey::create_topics:
      co_return co_await run(ctx, api, body, &create_topics);
    case ApiKey::delete_topics:
      co_return co_await run(ctx, api, body, &delete_topics);
    case ApiKey::create_partitions:
      co_return co_await run(ctx, api, body, &create_partitions);
    case ApiKey::delete_records:
      co_return co_await run(ctx, api, body, &delete_records);
    case ApiKey::describe_configs:
      co_return co_await run(ctx, api, body, &describe_configs);
    case ApiKey::alter_configs:
      co_return co_await run(ctx, api, body, &alter_configs);
    case ApiKey::incremental_alter_configs:
      co_return co_await run(ctx, api, body, &incremental_alter_configs);
    default:
      co_return Error(Errc::unsupported_version, fmt::format("{} is not served", api.name));
  }
}

}  // namespace spate::broker
