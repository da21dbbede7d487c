// SPDX-License-Identifier: Apache-2.0

#include "common.h"

#include <ostream>

#include "spate/client/tools.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/messages/list_offsets.h"

#include "json.h"

namespace spate::client {

using protocol::ApiKey;

int fail(Io io, const std::string& message) {
  io.err << "spate: " << message << "\n";
  return 1;
}

int usage_error(Io io, const std::string& message) {
  fail(io, message);
  return 2;
}

std::optional<std::unique_ptr<Client>> connect_or_report(const CommonOptions& c, Io io) {
  Options options;
  options.timeout = c.timeout;
  auto client = Client::connect(c.brokers, options);
  if (!client) {
    fail(io, client.error().code() == Errc::invalid_argument
                 ? fmt::format("--brokers: {}", client.error().detail())
                 : client.error().detail());
    return std::nullopt;
  }
  return std::move(*client);
}

std::string error_name(std::int16_t code) {
  using protocol::ErrorCode;
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::none:
      return "NONE";
    case ErrorCode::unknown_server_error:
      return "UNKNOWN_SERVER_ERROR";
    case ErrorCode::offset_out_of_range:
      return "OFFSET_OUT_OF_RANGE";
    case ErrorCode::corrupt_message:
      return "CORRUPT_MESSAGE";
    case ErrorCode::unknown_topic_or_partition:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case ErrorCode::leader_not_available:
      return "LEADER_NOT_AVAILABLE";
    case ErrorCode::not_leader_or_follower:
      return "NOT_LEADER_OR_FOLLOWER";
    case ErrorCode::request_timed_out:
      return "REQUEST_TIMED_OUT";
    case ErrorCode::message_too_large:
      return "MESSAGE_TOO_LARGE";
    case ErrorCode::invalid_topic_exception:
      return "INVALID_TOPIC_EXCEPTION";
    case ErrorCode::record_list_too_large:
      return "RECORD_LIST_TOO_LARGE";
    case ErrorCode::invalid_required_acks:
      return "INVALID_REQUIRED_ACKS";
    case ErrorCode::invalid_timestamp:
      return "INVALID_TIMESTAMP";
    case ErrorCode::unsupported_version:
      return "UNSUPPORTED_VERSION";
    case ErrorCode::topic_already_exists:
      return "TOPIC_ALREADY_EXISTS";
    case ErrorCode::invalid_partitions:
      return "INVALID_PARTITIONS";
    case ErrorCode::invalid_replication_factor:
      return "INVALID_REPLICATION_FACTOR";
    case ErrorCode::invalid_replica_assignment:
      return "INVALID_REPLICA_ASSIGNMENT";
    case ErrorCode::invalid_config:
      return "INVALID_CONFIG";
    case ErrorCode::no_reassignment_in_progress:
      return "NO_REASSIGNMENT_IN_PROGRESS";
    case ErrorCode::broker_id_not_registered:
      return "BROKER_ID_NOT_REGISTERED";
    case ErrorCode::policy_violation:
      return "POLICY_VIOLATION";
    case ErrorCode::invalid_request:
      return "INVALID_REQUEST";
    case ErrorCode::kafka_storage_error:
      return "KAFKA_STORAGE_ERROR";
    case ErrorCode::invalid_record:
      return "INVALID_RECORD";
    case ErrorCode::coordinator_load_in_progress:
      return "COORDINATOR_LOAD_IN_PROGRESS";
    case ErrorCode::coordinator_not_available:
      return "COORDINATOR_NOT_AVAILABLE";
    case ErrorCode::not_coordinator:
      return "NOT_COORDINATOR";
    case ErrorCode::illegal_generation:
      return "ILLEGAL_GENERATION";
    case ErrorCode::invalid_group_id:
      return "INVALID_GROUP_ID";
    case ErrorCode::unknown_member_id:
      return "UNKNOWN_MEMBER_ID";
    case ErrorCode::rebalance_in_progress:
      return "REBALANCE_IN_PROGRESS";
    case ErrorCode::offset_metadata_too_large:
      return "OFFSET_METADATA_TOO_LARGE";
    case ErrorCode::non_empty_group:
      return "NON_EMPTY_GROUP";
    case ErrorCode::group_id_not_found:
      return "GROUP_ID_NOT_FOUND";
    default:
      return fmt::format("error {}", code);
  }
}

Result<protocol::MetadataResponse> metadata(Client& client,
                                            std::optional<std::vector<std::string>> topics,
                                            bool auto_create) {
  protocol::MetadataRequest request;
  if (topics) {
    request.topics.emplace();
    for (auto& t : *topics) request.topics->push_back({t});
  }
  request.allow_auto_topic_creation = auto_create;
  return client.call<protocol::MetadataResponse>(ApiKey::metadata, request);
}

Result<protocol::MetadataResponseTopic> topic_metadata(Client& client, const std::string& topic,
                                                       bool auto_create) {
  auto md = metadata(client, std::vector<std::string>{topic}, auto_create);
  if (!md) return md.error();
  for (auto& t : md->topics) {
    if (t.name != topic) continue;
    if (t.error_code ==
        static_cast<std::int16_t>(protocol::ErrorCode::unknown_topic_or_partition)) {
      return Error::not_found(fmt::format("unknown topic '{}'", topic));
    }
    if (t.error_code != 0) {
      return Error::invalid(fmt::format("topic '{}': {}", topic, error_name(t.error_code)));
    }
    if (t.partitions.empty())
      return Error::not_found(fmt::format("topic '{}' has no partitions", topic));
    std::sort(t.partitions.begin(), t.partitions.end(),
              [](const auto& a, const auto& b) { return a.partition_index < b.partition_index; });
    return std::move(t);
  }
  return Error::not_found(fmt::format("unknown topic '{}'", topic));
}

Result<std::vector<std::int64_t>> list_offsets(Client& client, const std::string& topic,
                                               std::int32_t partitions, std::int64_t timestamp,
                                               const std::vector<std::int32_t>* only) {
  protocol::ListOffsetsRequest request;
  protocol::ListOffsetsTopic t{topic, {}};
  if (only != nullptr) {
    for (const std::int32_t p : *only) t.partitions.push_back({p, timestamp});
  } else {
    for (std::int32_t p = 0; p < partitions; ++p) t.partitions.push_back({p, timestamp});
  }
  request.topics.push_back(std::move(t));
  auto r = client.call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, request);
  if (!r) return r.error();
  std::vector<std::int64_t> out(static_cast<std::size_t>(partitions), -1);
  for (const auto& tr : r->topics) {
    for (const auto& pr : tr.partitions) {
      if (pr.error_code != 0) {
        return Error::invalid(fmt::format("offsets of {}/{}: {}", topic, pr.partition_index,
                                          error_name(pr.error_code)));
      }
      if (pr.partition_index >= 0 && pr.partition_index < partitions) {
        out[static_cast<std::size_t>(pr.partition_index)] = pr.offset;
      }
    }
  }
  return out;
}

Result<std::int16_t> parse_acks(const std::string& text) {
  if (text == "all" || text == "-1") return std::int16_t{-1};
  if (text == "1") return std::int16_t{1};
  if (text == "0") return std::int16_t{0};
  return Error::invalid(fmt::format("--acks '{}': expected 0, 1 or all", text));
}

Result<protocol::Compression> parse_compression(const std::string& text) {
  using protocol::Compression;
  if (text == "none") return Compression::none;
  if (text == "gzip") return Compression::gzip;
  if (text == "snappy") return Compression::snappy;
  if (text == "lz4") return Compression::lz4;
  if (text == "zstd") return Compression::zstd;
  return Error::invalid(
      fmt::format("--compression '{}': expected none, gzip, snappy, lz4 or zstd", text));
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Producer::Producer(Client& client, std::string topic, std::int16_t acks,
                   protocol::Compression codec, std::chrono::milliseconds timeout,
                   std::size_t window)
    : client_(client),
      topic_(std::move(topic)),
      acks_(acks),
      codec_(codec),
      timeout_(timeout),
      window_(window) {
  auto v = client_.version(ApiKey::produce);
  version_ = v ? *v : 3;
}

Status Producer::send(std::int32_t partition, std::vector<std::byte> batch) {
  if (codec_ != protocol::Compression::none) {
    auto compressed = protocol::compress_batch(batch, codec_);
    if (!compressed) return compressed.error();
    batch = std::move(*compressed);
  }
  while (in_flight_.size() >= window_) {
    if (auto s = receive_one(); !s) return s;
  }
  protocol::ProduceRequest request;
  request.acks = acks_;
  request.timeout_ms = static_cast<std::int32_t>(timeout_.count());
  request.topic_data.push_back({topic_, {{partition, std::move(batch)}}});
  auto id = client_.connection().send(ApiKey::produce, version_, request);
  if (!id) return id.error();
  if (acks_ != 0) in_flight_.emplace_back(*id, partition);
  return {};
}

Status Producer::receive_one() {
  const auto [id, partition] = in_flight_.front();
  in_flight_.pop_front();
  auto r = client_.connection().receive<protocol::ProduceResponse>(id, ApiKey::produce, version_);
  if (!r) return r.error();
  for (const auto& t : r->responses) {
    for (const auto& p : t.partition_responses) {
      if (p.error_code != 0) {
        return Error::invalid(
            fmt::format("produce to {}/{} failed: {}", topic_, p.index, error_name(p.error_code)));
      }
    }
  }
  return {};
}

Status Producer::finish() {
  while (!in_flight_.empty()) {
    if (auto s = receive_one(); !s) return s;
  }
  return {};
}

Status for_each_record(std::span<const std::byte> records,
                       const std::function<void(const protocol::RecordView&)>& on_record,
                       const std::function<void(std::int64_t)>& on_batch_end) {
  std::size_t at = 0;
  // Bounded by the bytes: each step consumes one whole batch.
  while (records.size() - at >= protocol::kBatchHeaderBytes) {
    auto header = protocol::decode_batch_header(records.subspan(at), records.size());
    if (!header) return header.error();
    if (at + header->total_bytes() > records.size()) break;  // a partial batch: next fetch
    const auto batch = records.subspan(at, header->total_bytes());
    // A fetched log may hold batches with fewer records than offsets, down
    // to none: after compaction, and the no-op a Raft leader writes when its
    // term starts (Kafka's clients accept them too).
    auto valid = protocol::validate_compacted_batch(batch, batch.size());
    if (!valid) return valid.error();
    auto section = protocol::batch_records(batch, 64U << 20U);
    if (!section) return section.error();
    auto decoded = protocol::decode_record_section(*header, *section);
    if (!decoded) return decoded.error();
    for (const auto& rec : *decoded) on_record(rec);
    on_batch_end(header->last_offset().value() + 1);
    at += header->total_bytes();
  }
  return {};
}

namespace {
std::string_view text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
}  // namespace

void print_record(std::ostream& out, const std::string& format, const std::string& topic,
                  std::int32_t partition, const protocol::RecordView& r) {
  if (format == "text") {
    out << (r.value ? text_of(*r.value) : std::string_view()) << '\n';
    return;
  }
  if (format == "kv") {
    out << (r.key ? text_of(*r.key) : std::string_view()) << '\t'
        << (r.value ? text_of(*r.value) : std::string_view()) << '\n';
    return;
  }
  Json headers = Json::object();
  for (const auto& h : r.headers) headers[json_text(h.key)] = json_bytes_or_null(h.value);
  print_json(out, Json{{"topic", json_bytes(topic)},
                       {"partition", partition},
                       {"offset", r.offset},
                       {"timestamp", r.timestamp},
                       {"key", json_bytes_or_null(r.key)},
                       {"value", json_bytes_or_null(r.value)},
                       {"headers", std::move(headers)}});
}

}  // namespace spate::client
