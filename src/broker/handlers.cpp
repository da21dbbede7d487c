// SPDX-License-Identifier: Apache-2.0
//
// One handler per API: a decoded request in, a response struct out.

#include "handlers.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

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
#include "spate/protocol/record_batch.h"

namespace spate::broker {
namespace {

using protocol::ErrorCode;
using Clock_ = std::chrono::steady_clock;
using Frame = std::optional<ResponseFrame>;

constexpr std::int32_t kRequestTimeoutMaxMs = 5 * 60 * 1000;
// Admin requests without a timeout of their own (Metadata auto-creation)
// wait this long for their turn.
constexpr auto kAdminWaitDefault = std::chrono::seconds(30);
// Error messages carry at most this many bytes, and names quoted in them at
// most kQuotedBytesMax: a client's 32 KiB name must not come back 32 KiB long.
constexpr std::size_t kErrorMessageBytesMax = 1024;
constexpr std::size_t kQuotedBytesMax = 64;
// A handler doing many entries of slow work (a timestamp lookup, ...) lets
// the shard serve others at least this often.
constexpr auto kSliceMax = std::chrono::microseconds(500);

// `text` cut to `max` bytes at a UTF-8 boundary, "..." marking the cut.
std::string shorten(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  std::size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0U) == 0x80U) --n;
  return fmt::format("{}...", text.substr(0, n));
}

std::string bounded(std::string_view message) { return shorten(message, kErrorMessageBytesMax); }
std::string quote_name(std::string_view name) { return shorten(name, kQuotedBytesMax); }

Clock_::time_point deadline_after(const HandlerContext& ctx, std::int32_t timeout_ms) {
  const std::int32_t max = std::min(kRequestTimeoutMaxMs, ctx.config.request_wait_max_ms);
  return Clock_::now() + std::chrono::milliseconds(std::clamp(timeout_ms, 0, std::max(max, 0)));
}

// Suspends to let other requests on the shard run once this one has had the
// thread for kSliceMax. Call between entries of slow work.
class Slicer {
 public:
  awaitable<void> maybe_yield() {
    if (Clock_::now() - started_ < kSliceMax) co_return;
    auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, use_awaitable);
    started_ = Clock_::now();
  }

 private:
  Clock_::time_point started_ = Clock_::now();
};

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
    if (t.partitions[i]->fenced()) {
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
      auto created =
          co_await ctx.partitions.create_topics(missing, false, Clock_::now() + kAdminWaitDefault);
      for (std::size_t i = 0; i < created.size(); ++i) {
        const auto& s = created[i];
        if (s || s.error().code() == Errc::already_exists) continue;
        log::get("broker")->warn("auto-creating topic {} failed: {}", quote_name(missing[i].name),
                                 s.error().message());
      }
    }
  }
  for (const auto& wanted : *request.topics) {
    const cluster::Topic* t = ctx.partitions.topic(wanted.name);
    if (t == nullptr) {
      protocol::MetadataResponseTopic missing;
      missing.name = wanted.name;
      // Retriable while auto-creation is on (a limit or a failed create);
      // invalid names never will be.
      missing.error_code = ctx.code(!storage::validate_topic_name(wanted.name)
                                        ? ErrorCode::invalid_topic_exception
                                        : ErrorCode::unknown_topic_or_partition);
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
  // Validation decompresses on the shard: bounded per request, so that one
  // request of decompression bombs cannot hold every other client up.
  protocol::DecompressBudget budget{.left = ctx.config.request_decompressed_bytes_max};
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
      auto appended = partition->append(*data.records, &budget);
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
    const auto deadline = deadline_after(ctx, request.timeout_ms);
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
//
// Both byte limits are soft only for the first batch of the first partition
// with data (so that a consumer never stalls on a batch larger than its
// limits, as in Kafka): every later read must fit what is left. The response
// never holds more than fetch_bytes_max (the broker's fetch.max.bytes) plus
// that one batch, however many entries or duplicates the request names.
std::int64_t fetch_once(HandlerContext& ctx, const protocol::FetchRequest& request,
                        const std::vector<std::shared_ptr<cluster::Partition>>& partitions,
                        FetchResult& out, bool& any_error) {
  out = FetchResult{};
  any_error = false;
  std::int64_t total = 0;
  std::int64_t budget =
      std::min<std::int64_t>(std::max(request.max_bytes, 0), ctx.config.fetch_bytes_max);
  std::size_t index = 0;
  for (const auto& t : request.topics) {
    auto& tr = out.response.responses.emplace_back();
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      auto& slice = out.slices.emplace_back();
      pr.partition_index = p.partition;
      const auto& partition = partitions[index++];
      if (!partition || partition->closed()) {
        // Unknown, or deleted (or the broker stopping) while this Fetch waited.
        pr.error_code = static_cast<std::int16_t>(
            partition ? ErrorCode::not_leader_or_follower : ErrorCode::unknown_topic_or_partition);
        pr.high_watermark = -1;
        any_error = true;
        continue;
      }
      pr.high_watermark = partition->high_watermark().value();
      pr.last_stable_offset = pr.high_watermark;
      pr.log_start_offset = partition->start_offset().value();
      pr.records = std::vector<std::byte>{};
      const std::int64_t limit = std::min<std::int64_t>(std::max(p.partition_max_bytes, 0), budget);
      const bool first = total == 0;
      if (limit <= 0 && !first) continue;
      auto read = partition->read(Offset(p.fetch_offset),
                                  static_cast<std::uint64_t>(std::max<std::int64_t>(limit, 1)));
      if (!read) {
        pr.error_code = static_cast<std::int16_t>(error_code_for(read.error().code()));
        any_error = true;
        continue;
      }
      const auto size = static_cast<std::int64_t>(read->bytes.size);
      if (size == 0) continue;
      // A read returns at least one whole batch: past the limits, only the
      // first partition with data may keep it.
      if (!first && size > limit) continue;
      total += size;
      budget = std::max<std::int64_t>(budget - size, 0);
      slice = read->bytes;
    }
  }
  return total;
}

awaitable<FetchResult> fetch(HandlerContext& ctx, const protocol::FetchRequest& request) {
  const auto deadline = deadline_after(ctx, request.max_wait_ms);
  std::vector<std::shared_ptr<cluster::Partition>> partitions;
  for (const auto& t : request.topics) {
    for (const auto& p : t.partitions) {
      partitions.push_back(ctx.partitions.partition(t.topic, p.partition));
    }
  }
  std::vector<std::shared_ptr<cluster::Partition>> distinct;
  for (const auto& p : partitions) {
    if (p) distinct.push_back(p);
  }
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
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
    // Once per partition, however often the request names it (a waiter
    // list per entry made every wake-up quadratic).
    for (auto& p : distinct) p->committed().add(timer);
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
    for (auto& p : distinct) p->committed().remove(timer);
  }
}

// ---------------------------------------------------------------- ListOffsets

awaitable<std::optional<protocol::ListOffsetsResponse>> list_offsets(
    HandlerContext& ctx, protocol::ListOffsetsRequest& request) {
  protocol::ListOffsetsResponse r;
  Slicer slicer;
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
        // Each lookup may read and decode a batch: let others in between.
        co_await slicer.maybe_yield();
        // The topic may have gone (or been made again) meanwhile.
        partition = ctx.partitions.partition(t.name, p.partition_index);
        if (!partition) {
          pr.error_code = ctx.code(ErrorCode::unknown_topic_or_partition);
          continue;
        }
        auto hit = partition->find_offset_by_timestamp(p.timestamp);
        if (!hit) {
          pr.error_code = ctx.code(error_code_for(hit.error().code()));
        } else if (*hit) {
          pr.offset = (*hit)->offset.value();
          pr.timestamp = (*hit)->timestamp;
        }
      }
    }
  }
  co_return r;
}

// ---------------------------------------------------------------- topics

awaitable<std::optional<protocol::CreateTopicsResponse>> create_topics(
    HandlerContext& ctx, protocol::CreateTopicsRequest& request) {
  protocol::CreateTopicsResponse r;
  // What each topic asks for, checked here so that every cause has its own
  // error code; the manager checks again (and the limits) in its turn.
  std::vector<cluster::TopicSpec> specs;
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
    if (!t.assignments.empty()) {
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
    if (t.replication_factor != -1 && t.replication_factor != 1) {
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
    specs.push_back({t.name, partitions, std::move(configs)});
    spec_of.push_back(r.topics.size() - 1);
  }
  if (specs.empty()) co_return r;
  auto results = co_await ctx.partitions.create_topics(std::move(specs), request.validate_only,
                                                       deadline_after(ctx, request.timeout_ms));
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i]) continue;
    auto& tr = r.topics[spec_of[i]];
    const auto& e = results[i].error();
    ErrorCode code = ErrorCode::kafka_storage_error;
    switch (e.code()) {
      case Errc::already_exists:
        code = ErrorCode::topic_already_exists;
        break;
      case Errc::limit_exceeded:
        code = ErrorCode::policy_violation;
        break;
      case Errc::timeout:
        code = ErrorCode::request_timed_out;
        break;
      case Errc::invalid_argument:
        code = ErrorCode::invalid_config;
        break;
      default:
        break;
    }
    tr.error_code = ctx.code(code);
    if (ctx.version() >= 1) tr.error_message = bounded(e.detail());
  }
  co_return r;
}

awaitable<std::optional<protocol::DeleteTopicsResponse>> delete_topics(
    HandlerContext& ctx, protocol::DeleteTopicsRequest& request) {
  protocol::DeleteTopicsResponse r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  for (const auto& name : request.topic_names) {
    auto& tr = r.responses.emplace_back();
    tr.name = name;
    auto s = co_await ctx.partitions.delete_topic(name, deadline);
    if (!s) {
      const auto c = s.error().code();
      tr.error_code = ctx.code(c == Errc::not_found ? ErrorCode::unknown_topic_or_partition
                               : c == Errc::timeout ? ErrorCode::request_timed_out
                                                    : ErrorCode::kafka_storage_error);
    }
  }
  co_return r;
}

awaitable<std::optional<protocol::CreatePartitionsResponse>> create_partitions(
    HandlerContext& ctx, protocol::CreatePartitionsRequest& request) {
  protocol::CreatePartitionsResponse r;
  const auto deadline = deadline_after(ctx, request.timeout_ms);
  std::map<std::string_view, std::size_t> count;
  for (const auto& t : request.topics) ++count[t.name];
  for (const auto& t : request.topics) {
    auto& tr = r.results.emplace_back();
    tr.name = t.name;
    if (count[t.name] > 1) {
      tr.error_code = ctx.code(ErrorCode::invalid_request);
      tr.error_message = "topic named more than once in the request";
      continue;
    }
    auto s =
        co_await ctx.partitions.add_partitions(t.name, t.count, request.validate_only, deadline);
    if (!s) {
      const auto c = s.error().code();
      tr.error_code = ctx.code(c == Errc::not_found          ? ErrorCode::unknown_topic_or_partition
                               : c == Errc::invalid_argument ? ErrorCode::invalid_partitions
                               : c == Errc::limit_exceeded   ? ErrorCode::policy_violation
                               : c == Errc::timeout          ? ErrorCode::request_timed_out
                                                             : ErrorCode::kafka_storage_error);
      tr.error_message = bounded(s.error().detail());
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
        // The file work runs on the disk thread: other clients go on meanwhile.
        if (auto s = co_await partition->advance_start(to); !s) {
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
        rr.error_message = fmt::format("topic '{}' does not exist", quote_name(res.resource_name));
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
  auto s = co_await ctx.partitions.change_topic_configs(name, change, validate_only,
                                                        Clock_::now() + kAdminWaitDefault);
  if (!s) {
    const auto c = s.error().code();
    fail(c == Errc::not_found          ? ErrorCode::unknown_topic_or_partition
         : c == Errc::invalid_argument ? ErrorCode::invalid_config
         : c == Errc::timeout          ? ErrorCode::request_timed_out
                                       : ErrorCode::kafka_storage_error,
         s.error().detail());
  }
  co_return out;
}

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
    // Applied to the overrides as they are when the change's turn comes.
    cluster::PartitionManager::ConfigChange change =
        [&res](const cluster::ConfigMap& current) -> Result<cluster::ConfigMap> {
      cluster::ConfigMap overrides = current;
      for (const auto& e : res.configs) {
        if (e.config_operation == protocol::kConfigOpSet) {
          if (!e.value) {
            return Error::invalid(fmt::format("config {} has a null value", quote_name(e.name)));
          }
          overrides[e.name] = *e.value;
        } else if (e.config_operation == protocol::kConfigOpDelete) {
          overrides.erase(e.name);
        } else {
          return Error::invalid(fmt::format(
              "config {}: operation {} applies to list configs only; none is a list here",
              quote_name(e.name), e.config_operation));
        }
      }
      return overrides;
    };
    auto altered = co_await alter_topic(ctx, res.resource_type, res.resource_name, change,
                                        request.validate_only);
    r.responses.push_back(std::move(altered));
  }
  co_return r;
}

// ---------------------------------------------------------------- dispatch

template <typename Req, typename Resp>
awaitable<Result<Frame>> run(HandlerContext& ctx, const protocol::ApiInfo& api,
                             std::span<const std::byte> body,
                             awaitable<std::optional<Resp>> (*handler)(HandlerContext&, Req&)) {
  auto request = protocol::decode_message<Req>(body, ctx.version(), ctx.config.decode_limits);
  if (!request) {
    co_return Error::malformed(fmt::format("{} v{} request (correlation id {}): {}", api.name,
                                           ctx.version(), ctx.header.correlation_id,
                                           request.error().detail()));
  }
  auto response = co_await handler(ctx, *request);
  if (!response) co_return Frame{};
  auto frame = response_frame(ctx, api, *response);
  if (!frame) co_return frame.error();
  co_return Frame(std::move(*frame));
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

Result<ResponseFrame> encode_fetch_response(
    const HandlerContext& ctx, const protocol::ApiInfo& api, const protocol::FetchResponse& r,
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
  if (total > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return Error::limit(
        fmt::format("a Fetch response of {} bytes exceeds the 2 GiB frame limit", total));
  }
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
  // A few dozen bytes: never near the frame limit.
  SPATE_ASSERT(protocol::finish_frame(out), "ApiVersions error response too large");
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
      auto request = protocol::decode_message<protocol::FetchRequest>(body, ctx.version(),
                                                                      ctx.config.decode_limits);
      if (!request) {
        co_return Error::malformed(fmt::format("Fetch v{} request (correlation id {}): {}",
                                               ctx.version(), ctx.header.correlation_id,
                                               request.error().detail()));
      }
      auto result = co_await fetch(ctx, *request);
      auto frame = encode_fetch_response(ctx, api, result.response, result.slices);
      if (!frame) co_return frame.error();
      co_return Frame(std::move(*frame));
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
