// SPDX-License-Identifier: Apache-2.0

#include "common.h"

#include <algorithm>
#include <ostream>
#include <set>
#include <thread>

#include "spate/client/tools.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/messages/groups.h"
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

bool leader_moved(std::int16_t error_code) {
  using protocol::ErrorCode;
  switch (static_cast<ErrorCode>(error_code)) {
    case ErrorCode::not_leader_or_follower:
    case ErrorCode::leader_not_available:
    case ErrorCode::fenced_leader_epoch:
    case ErrorCode::unknown_leader_epoch:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds retry_backoff(int attempt) {
  return std::chrono::milliseconds(std::min(1000, 50 << std::clamp(attempt, 0, 5)));
}

Result<std::unique_ptr<Leaders>> Leaders::open(Client& bootstrap, const std::string& topic,
                                               bool auto_create) {
  std::unique_ptr<Leaders> out(new Leaders(bootstrap));
  out->topic_.name = topic;
  // A topic just created, or a broker catching up with the metadata,
  // answers LEADER_NOT_AVAILABLE (unavailable): asked again.
  auto s = retry_unavailable(bootstrap.options().timeout, [&]() -> Status {
    auto md = metadata(bootstrap, std::vector<std::string>{topic}, auto_create);
    if (!md) return md.error();
    return out->take(std::move(*md), true);
  });
  if (!s) return s.error();
  return out;
}

Status Leaders::take(protocol::MetadataResponse md, bool from_bootstrap) {
  const auto known = topic_.partitions.size();
  for (auto& t : md.topics) {
    if (t.name != topic_.name) continue;
    if (t.error_code ==
        static_cast<std::int16_t>(protocol::ErrorCode::unknown_topic_or_partition)) {
      return Error::not_found(fmt::format("unknown topic '{}'", topic_.name));
    }
    if (leader_moved(t.error_code)) {  // the broker is catching up: ask again
      return Error(Errc::unavailable,
                   fmt::format("topic '{}': {}", topic_.name, error_name(t.error_code)));
    }
    if (t.error_code != 0) {
      return Error::invalid(fmt::format("topic '{}': {}", topic_.name, error_name(t.error_code)));
    }
    if (t.partitions.empty()) {
      return Error::not_found(fmt::format("topic '{}' has no partitions", topic_.name));
    }
    std::sort(t.partitions.begin(), t.partitions.end(),
              [](const auto& a, const auto& b) { return a.partition_index < b.partition_index; });
    for (std::size_t i = 0; i < t.partitions.size(); ++i) {
      if (t.partitions[i].partition_index != static_cast<std::int32_t>(i)) {
        return Error::malformed(fmt::format("topic '{}': Metadata lists partition {} at place {}",
                                            topic_.name, t.partitions[i].partition_index, i));
      }
    }
    if (known != 0 && t.partitions.size() != known) {
      return Error::invalid(fmt::format("topic '{}' now has {} partitions, not {}", topic_.name,
                                        t.partitions.size(), known));
    }
    topic_ = std::move(t);
    brokers_.clear();
    unusable_.clear();
    for (const auto& b : md.brokers) {
      if (b.port <= 0 || b.port > 65535 || b.host.empty()) {
        unusable_[b.node_id] = fmt::format("broker {} is listed at '{}' port {}, no address",
                                           b.node_id, b.host, b.port);
        continue;
      }
      brokers_[b.node_id] = Endpoint{b.host, static_cast<std::uint16_t>(b.port)};
    }
    // One broker listed, by the broker we were given: that one (whatever
    // address it advertises: a port mapping may stand between).
    single_ = from_bootstrap && md.brokers.size() == 1;
    single_id_ = single_ ? md.brokers[0].node_id : -1;
    // A broker no longer listed (removed, or its address changed) is
    // connected to again, if at all.
    for (auto it = clients_.begin(); it != clients_.end();) {
      auto b = brokers_.find(it->first);
      const bool at_bootstrap = single_ && it->first == single_id_;
      it = !at_bootstrap &&
                   (b == brokers_.end() || b->second.text() != it->second->endpoint().text())
               ? clients_.erase(it)
               : std::next(it);
    }
    return {};
  }
  return Error::not_found(fmt::format("unknown topic '{}'", topic_.name));
}

std::int32_t Leaders::leader(std::int32_t partition) const {
  if (partition < 0 || static_cast<std::size_t>(partition) >= topic_.partitions.size()) return -1;
  const auto& p = topic_.partitions[static_cast<std::size_t>(partition)];
  return p.error_code == 0 ? p.leader_id : -1;
}

Result<Endpoint> Leaders::endpoint(std::int32_t node) const {
  if (single_ && node == single_id_) return bootstrap_.endpoint();
  if (auto b = brokers_.find(node); b != brokers_.end()) return b->second;
  auto bad = unusable_.find(node);
  return Error::not_found(bad != unusable_.end()
                              ? bad->second
                              : fmt::format("broker {} is not listed in Metadata", node));
}

Result<std::vector<Endpoint>> leader_endpoints(Leaders& leaders) {
  bool first = true;
  auto r = retry_unavailable(leaders.timeout(), [&]() -> Result<std::vector<Endpoint>> {
    if (!first) {
      if (auto s = leaders.refresh(); !s) return s.error();
    }
    first = false;
    std::vector<Endpoint> out;
    for (std::int32_t p = 0; p < leaders.partitions(); ++p) {
      const auto leader = leaders.leader(p);
      if (leader < 0) {
        return Error(Errc::unavailable, fmt::format("{}/{}: no leader", leaders.topic(), p));
      }
      auto e = leaders.endpoint(leader);
      if (!e) return Error(Errc::unavailable, e.error().detail());
      out.push_back(std::move(*e));
    }
    return out;
  });
  if (!r && r.error().code() == Errc::unavailable) {
    return Error(Errc::timeout,
                 fmt::format("topic {}: no leader of every partition within {} ms ({})",
                             leaders.topic(), leaders.timeout().count(), r.error().detail()));
  }
  return r;
}

Result<Endpoint> find_coordinator(Client& client, const std::string& group) {
  using protocol::ErrorCode;
  auto r = retry_unavailable(client.options().timeout, [&]() -> Result<Endpoint> {
    protocol::FindCoordinatorRequest request{group, 0};
    auto found = client.call<protocol::FindCoordinatorResponse>(ApiKey::find_coordinator, request);
    if (!found) return found.error();
    const auto e = static_cast<ErrorCode>(found->error_code);
    if (e == ErrorCode::coordinator_not_available || e == ErrorCode::not_coordinator ||
        e == ErrorCode::coordinator_load_in_progress) {
      return Error(Errc::unavailable, error_name(found->error_code));
    }
    if (e != ErrorCode::none) {
      return Error::invalid(fmt::format("no coordinator for group '{}': {}{}", group,
                                        error_name(found->error_code),
                                        found->error_message ? ": " + *found->error_message : ""));
    }
    if (found->port <= 0 || found->port > 65535 || found->host.empty()) {
      return Error::malformed(
          fmt::format("the coordinator of group '{}' is node {} at '{}' port {}: no address", group,
                      found->node_id, found->host, found->port));
    }
    // A cluster of one: the broker we were given (whatever address it
    // advertises: a port mapping may stand between).
    auto md = metadata(client, std::vector<std::string>{});
    if (md && md->brokers.size() == 1) return client.endpoint();
    return Endpoint{found->host, static_cast<std::uint16_t>(found->port)};
  });
  if (!r && r.error().code() == Errc::unavailable) {
    return Error(Errc::timeout,
                 fmt::format("no coordinator for group '{}' within {} ms ({})", group,
                             client.options().timeout.count(), r.error().detail()));
  }
  return r;
}

void Leaders::drop(std::int32_t node) {
  clients_.erase(node);
  if (single_ && node == single_id_) bootstrap_dropped_ = true;
}

Result<Client*> Leaders::broker(std::int32_t node) {
  if (single_ && node == single_id_ && !bootstrap_dropped_) return &bootstrap_;
  if (auto it = clients_.find(node); it != clients_.end()) return it->second.get();
  auto e = endpoint(node);
  if (!e) return e.error();
  auto c = Client::connect(e->text(), bootstrap_.options());
  if (!c) return c.error();
  return clients_.emplace(node, std::move(*c)).first->second.get();
}

namespace {

// An error after which the topic's Metadata is worth asking again (a
// broker gone or catching up), not the end of the command.
bool metadata_retriable(const Error& e) {
  return e.code() == Errc::unavailable || e.code() == Errc::io_error || e.code() == Errc::timeout;
}

}  // namespace

Status Leaders::refresh() {
  const std::vector<std::string> topics{topic_.name};
  if (!bootstrap_dropped_) {
    auto md = metadata(bootstrap_, topics, false);
    Status first = md ? take(std::move(*md), true) : Status(md.error());
    if (first || !metadata_retriable(first.error())) return first;
  }
  // The bootstrap connection failed (its broker killed, say) or its broker
  // is behind: any listed broker (in a cluster of one, the bootstrap
  // address again). None answering keeps what we had; the caller retries.
  std::vector<std::int32_t> others;
  if (single_) {
    others.push_back(single_id_);
  } else {
    for (const auto& [node, endpoint] : brokers_) others.push_back(node);
  }
  for (const auto node : others) {
    auto client = broker(node);
    if (!client) continue;
    auto again = metadata(**client, topics, false);
    if (!again) {
      drop(node);
      continue;
    }
    // The bootstrap address again (a cluster of one) is the bootstrap broker.
    auto s = take(std::move(*again), single_ && node == single_id_);
    if (s || !metadata_retriable(s.error())) return s;
  }
  return {};
}

namespace {

// One ListOffsets of `partitions` to the broker `client`; fills `out`, and
// `moved` with the partitions whose leader moved. Errors: the call's, or a
// partition's other error (invalid).
Status list_offsets_at(Client& client, const std::string& topic,
                       const std::vector<std::int32_t>& partitions, std::int64_t timestamp,
                       std::vector<std::int64_t>& out, std::vector<std::int32_t>& moved,
                       std::string& why) {
  protocol::ListOffsetsRequest request;
  protocol::ListOffsetsTopic t{topic, {}};
  for (const std::int32_t p : partitions) t.partitions.push_back({p, timestamp});
  request.topics.push_back(std::move(t));
  auto r = client.call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, request);
  if (!r) return r.error();
  std::set<std::int32_t> unanswered(partitions.begin(), partitions.end());
  for (const auto& tr : r->topics) {
    for (const auto& pr : tr.partitions) {
      if (tr.name != topic || unanswered.erase(pr.partition_index) == 0) continue;  // not asked
      if (leader_moved(pr.error_code)) {
        moved.push_back(pr.partition_index);
        why = fmt::format("{}/{}: {}", topic, pr.partition_index, error_name(pr.error_code));
        continue;
      }
      if (pr.error_code != 0) {
        return Error::invalid(fmt::format("offsets of {}/{}: {}", topic, pr.partition_index,
                                          error_name(pr.error_code)));
      }
      out[static_cast<std::size_t>(pr.partition_index)] = pr.offset;
    }
  }
  if (!unanswered.empty()) {
    return Error::malformed(
        fmt::format("offsets of {}/{}: not in the answer", topic, *unanswered.begin()));
  }
  return {};
}

}  // namespace

Result<std::vector<std::int64_t>> list_offsets(Leaders& leaders, std::int64_t timestamp,
                                               const std::vector<std::int32_t>* only) {
  const std::int32_t n = leaders.partitions();
  std::vector<std::int32_t> pending;
  if (only != nullptr) {
    pending = *only;
  } else {
    for (std::int32_t p = 0; p < n; ++p) pending.push_back(p);
  }
  std::vector<std::int64_t> out(static_cast<std::size_t>(n), -1);
  const auto deadline = std::chrono::steady_clock::now() + leaders.timeout();
  std::string why;
  // Bounded by the deadline (and 64 tries): each try asks every leader once.
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::map<std::int32_t, std::vector<std::int32_t>> by_leader;
    std::vector<std::int32_t> again;
    for (const std::int32_t p : pending) {
      const auto leader = leaders.leader(p);
      if (leader < 0) {
        again.push_back(p);
        why = fmt::format("{}/{}: no leader", leaders.topic(), p);
      } else {
        by_leader[leader].push_back(p);
      }
    }
    for (const auto& [node, partitions] : by_leader) {
      auto client = leaders.broker(node);
      Status s = client ? list_offsets_at(**client, leaders.topic(), partitions, timestamp, out,
                                          again, why)
                        : Status(client.error());
      if (!s && s.error().code() == Errc::invalid_argument) return s.error();
      if (!s) {
        leaders.drop(node);
        why = s.error().detail();
        again.insert(again.end(), partitions.begin(), partitions.end());
      }
    }
    if (again.empty()) return out;
    if (std::chrono::steady_clock::now() + retry_backoff(attempt) >= deadline) break;
    std::this_thread::sleep_for(retry_backoff(attempt));
    if (auto s = leaders.refresh(); !s) return s.error();
    pending = std::move(again);
  }
  return Error(Errc::timeout, fmt::format("offsets of {}: no leader answered within {} ms ({})",
                                          leaders.topic(), leaders.timeout().count(), why));
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

Producer::Producer(Leaders& leaders, std::int16_t acks, protocol::Compression codec,
                   std::chrono::milliseconds timeout, std::size_t window)
    : leaders_(leaders), acks_(acks), codec_(codec), timeout_(timeout), window_(window) {}

Status Producer::send(std::int32_t partition, std::vector<std::byte> batch) {
  if (codec_ != protocol::Compression::none) {
    auto compressed = protocol::compress_batch(batch, codec_);
    if (!compressed) return compressed.error();
    batch = std::move(*compressed);
  }
  // After a leader moved, what failed goes again first, in its order.
  if (!retry_.empty()) {
    if (auto s = finish(); !s) return s;
  }
  return submit(partition, std::move(batch));
}

// Sends the batch to its partition's leader, or queues it to be sent again
// (no leader known, no connection).
Status Producer::submit(std::int32_t partition, std::vector<std::byte> batch) {
  const auto node = leaders_.leader(partition);
  if (node < 0) {
    retry_.push_back({partition, std::move(batch),
                      fmt::format("{}/{}: no leader", leaders_.topic(), partition)});
    return {};
  }
  auto& queue = in_flight_[node];
  // Bounded: each pass takes one answer off the queue.
  while (queue.size() >= window_) {
    if (auto s = receive_one(node); !s) return s;
  }
  // Something failed meanwhile: it goes first, this after it.
  if (!retry_.empty()) {
    retry_.push_back({partition, std::move(batch), retry_.back().why});
    return {};
  }
  auto client = leaders_.broker(node);
  if (!client) {
    fail_connection(node, client.error().detail());
    retry_.push_back({partition, std::move(batch), client.error().detail()});
    return {};
  }
  protocol::ProduceRequest request;
  request.acks = acks_;
  // Half the call's: the broker answers REQUEST_TIMED_OUT (retried) before
  // the connection gives up on the answer.
  request.timeout_ms = static_cast<std::int32_t>(std::max<std::int64_t>(1, timeout_.count() / 2));
  request.topic_data.push_back({leaders_.topic(), {{partition, batch}}});
  auto v = (*client)->version(ApiKey::produce);
  if (!v) return v.error();
  auto id = (*client)->connection().send(ApiKey::produce, *v, request);
  if (!id) {
    fail_connection(node, id.error().detail());
    retry_.push_back({partition, std::move(batch), id.error().detail()});
    return {};
  }
  if (acks_ != 0) queue.push_back({*id, partition, std::move(batch)});
  return {};
}

// The connection to `node` failed: every batch in flight on it is sent again.
void Producer::fail_connection(std::int32_t node, const std::string& why) {
  leaders_.drop(node);
  auto& queue = in_flight_[node];
  for (auto& sent : queue) retry_.push_back({sent.partition, std::move(sent.batch), why});
  queue.clear();
}

Status Producer::receive_one(std::int32_t node) {
  auto& queue = in_flight_[node];
  Sent sent = std::move(queue.front());
  queue.pop_front();
  auto client = leaders_.broker(node);
  Result<std::int16_t> v = client ? (*client)->version(ApiKey::produce) : client.error();
  auto r = v ? (*client)->connection().receive<protocol::ProduceResponse>(sent.correlation_id,
                                                                          ApiKey::produce, *v)
             : Result<protocol::ProduceResponse>(v.error());
  if (!r) {
    retry_.push_back({sent.partition, std::move(sent.batch), r.error().detail()});
    fail_connection(node, r.error().detail());
    return {};
  }
  bool answered = false;
  for (const auto& t : r->responses) {
    for (const auto& p : t.partition_responses) {
      if (t.name != leaders_.topic() || p.index != sent.partition) {
        return Error::malformed(fmt::format("produce to {}/{}: the answer names {}/{}",
                                            leaders_.topic(), sent.partition, t.name, p.index));
      }
      answered = true;
      if (p.error_code == 0) continue;
      // REQUEST_TIMED_OUT: not committed in time (a quorum lost, say); it
      // may still commit, so a retry may store it twice, as in Kafka.
      if (leader_moved(p.error_code) ||
          p.error_code == static_cast<std::int16_t>(protocol::ErrorCode::request_timed_out)) {
        retry_.push_back(
            {sent.partition, std::move(sent.batch),
             fmt::format("{}/{}: {}", leaders_.topic(), p.index, error_name(p.error_code))});
        return {};
      }
      return Error::invalid(fmt::format("produce to {}/{} failed: {}", leaders_.topic(), p.index,
                                        error_name(p.error_code)));
    }
  }
  if (!answered) {
    return Error::malformed(fmt::format("produce to {}/{}: the answer names no partition",
                                        leaders_.topic(), sent.partition));
  }
  return {};
}

Status Producer::finish() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  // Bounded by the deadline (and 64 rounds): each round takes every answer,
  // then sends again what must be.
  for (int round = 0; round < 64; ++round) {
    for (auto& [node, queue] : in_flight_) {
      // Bounded by the queue: receive_one takes one off (or clears it).
      while (!queue.empty()) {
        if (auto s = receive_one(node); !s) return s;
      }
    }
    if (retry_.empty()) return {};
    const std::string why = retry_.back().why;
    if (std::chrono::steady_clock::now() + retry_backoff(round) >= deadline) {
      return Error(Errc::timeout, fmt::format("produce to {}: no leader took the batch within "
                                              "{} ms ({})",
                                              leaders_.topic(), timeout_.count(), why));
    }
    std::this_thread::sleep_for(retry_backoff(round));
    if (auto s = leaders_.refresh(); !s) return s;
    auto again = std::move(retry_);
    retry_.clear();
    for (auto& r : again) {
      if (auto s = submit(r.partition, std::move(r.batch)); !s) return s;
    }
  }
  return Error(Errc::timeout,
               fmt::format("produce to {}: still retrying after 64 rounds", leaders_.topic()));
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
