// SPDX-License-Identifier: Apache-2.0
//
// `spate cluster info`: the cluster id, the controller, every broker (asked
// directly, so that one that is down shows as such), and per partition its
// leader, replicas, in-sync and offline replicas, end offset as the leader
// reports it, and each follower's lag: the leader's log end minus the
// follower's, each asked of the broker itself with ListOffsets' debugging
// replica id (-2), which Kafka and Spate answer on any replica with its own
// log end. The answers are a few milliseconds apart, so under load the lag is
// approximate (never below 0). Kafka requests only (Metadata, ListOffsets),
// so it works against any broker of the cluster, or any Kafka cluster.

#include <algorithm>
#include <map>
#include <tuple>

#include "spate/client/client.h"
#include "spate/client/commands.h"
#include "spate/client/tools.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"

#include "common.h"
#include "json.h"

namespace spate::client {
namespace {

using protocol::ApiKey;

// A broker Metadata lists, or a bootstrap address it does not (id nullopt),
// with a connection when it answered ApiVersions and the reason when not.
struct Probe {
  std::optional<std::int32_t> id;
  std::string address;
  std::unique_ptr<Client> client;
  std::string error;
};

struct PartitionRow {
  std::string topic;
  protocol::MetadataResponsePartition meta;
  std::optional<std::int64_t> end_offset;
  std::string error;                                // why there is no end offset
  std::map<std::int32_t, std::int64_t> log_ends{};  // by replica, as each reported it
};

std::string host_port(const std::string& host, std::int32_t port) {
  return Endpoint{host, static_cast<std::uint16_t>(port)}.text();
}

Probe probe(std::optional<std::int32_t> id, std::string address, const CommonOptions& c) {
  Options options;
  options.timeout = c.timeout;
  Probe p{id, std::move(address), nullptr, ""};
  auto client = Client::connect(p.address, options);
  if (client) {
    p.client = std::move(*client);
  } else {
    p.error = client.error().detail();
  }
  return p;
}

// Every listed broker, then each bootstrap address no listed broker has that
// does not answer.
std::vector<Probe> probe_brokers(const protocol::MetadataResponse& md,
                                 const std::vector<Endpoint>& bootstrap, const CommonOptions& c) {
  std::vector<Probe> out;
  auto brokers = md.brokers;
  std::sort(brokers.begin(), brokers.end(),
            [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
  for (const auto& b : brokers) {
    if (b.port <= 0 || b.port > 65535) {
      out.push_back({b.node_id, fmt::format("{}:{}", b.host, b.port), nullptr,
                     fmt::format("Metadata gives it port {}", b.port)});
      continue;
    }
    out.push_back(probe(b.node_id, host_port(b.host, b.port), c));
  }
  for (const auto& e : bootstrap) {
    const auto address = e.text();
    if (std::any_of(out.begin(), out.end(), [&](const Probe& p) { return p.address == address; }))
      continue;
    // One that answers is a broker under another name (localhost for
    // 127.0.0.1) or one not registered yet: only a silent one is news.
    auto p = probe(std::nullopt, address, c);
    if (!p.client) out.push_back(std::move(p));
  }
  return out;
}

std::vector<PartitionRow> partition_rows(const protocol::MetadataResponse& md) {
  std::vector<PartitionRow> rows;
  for (const auto& t : md.topics) {
    if (t.error_code != 0) {
      rows.push_back({t.name, {}, std::nullopt, error_name(t.error_code), {}});
      rows.back().meta.partition_index = -1;
      rows.back().meta.leader_id = -1;
      continue;
    }
    for (const auto& p : t.partitions) rows.push_back({t.name, p, std::nullopt, "", {}});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.meta.partition_index) < std::tie(b.topic, b.meta.partition_index);
  });
  return rows;
}

// One ListOffsets (latest) to `leader` for the rows it leads.
void ask_leader(Client& leader, std::vector<PartitionRow*>& led) {
  protocol::ListOffsetsRequest request;
  std::map<std::pair<std::string, std::int32_t>, PartitionRow*> by_key;
  for (auto* row : led) {
    if (request.topics.empty() || request.topics.back().name != row->topic)
      request.topics.push_back({row->topic, {}});
    request.topics.back().partitions.push_back(
        {row->meta.partition_index, protocol::kListOffsetsLatest});
    by_key[{row->topic, row->meta.partition_index}] = row;
    row->error = "the leader did not report it";
  }
  auto r = leader.call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, request);
  if (!r) {
    for (auto* row : led) row->error = r.error().detail();
    return;
  }
  for (const auto& t : r->topics) {
    for (const auto& p : t.partitions) {
      auto it = by_key.find({t.name, p.partition_index});
      if (it == by_key.end()) continue;
      if (p.error_code != 0) {
        it->second->error = error_name(p.error_code);
      } else {
        it->second->end_offset = p.offset;
        it->second->error.clear();
      }
    }
  }
}

// The end offset of every partition, asked of its leader.
void fetch_end_offsets(std::vector<PartitionRow>& rows, std::vector<Probe>& probes) {
  std::map<std::int32_t, std::vector<PartitionRow*>> by_leader;
  for (auto& row : rows) {
    if (!row.error.empty()) continue;  // the topic's error
    if (row.meta.leader_id < 0) {
      row.error = row.meta.error_code != 0 ? error_name(row.meta.error_code) : "no leader";
      continue;
    }
    by_leader[row.meta.leader_id].push_back(&row);
  }
  for (auto& [leader_id, led] : by_leader) {
    // (A structured binding cannot be captured by a lambda before C++20's
    // P1091 in clang: copied first.)
    const std::int32_t leader = leader_id;
    auto it =
        std::find_if(probes.begin(), probes.end(), [&](const Probe& p) { return p.id == leader; });
    const std::string why = it == probes.end() ? fmt::format("leader {} is not listed", leader)
                            : !it->client      ? fmt::format("leader {} did not answer", leader)
                                               : "";
    if (!why.empty()) {
      for (auto* row : led) row->error = why;
      continue;
    }
    ask_leader(*it->client, led);
  }
  // A partition error (LEADER_NOT_AVAILABLE) comes first: it says more.
  for (auto& row : rows) {
    if (row.meta.error_code != 0 && !row.end_offset) row.error = error_name(row.meta.error_code);
  }
}

// Kafka's ListOffsetsRequest.DEBUGGING_REPLICA_ID: any replica answers.
constexpr std::int32_t kDebuggingReplicaId = -2;

// Each answering broker's own log end of every partition it is a replica of.
void fetch_log_ends(std::vector<PartitionRow>& rows, std::vector<Probe>& probes) {
  for (auto& broker : probes) {
    if (!broker.id || !broker.client) continue;
    protocol::ListOffsetsRequest request;
    request.replica_id = kDebuggingReplicaId;
    std::map<std::pair<std::string, std::int32_t>, PartitionRow*> by_key;
    for (auto& row : rows) {
      const auto& replicas = row.meta.replica_nodes;
      if (row.meta.partition_index < 0 ||
          std::find(replicas.begin(), replicas.end(), *broker.id) == replicas.end()) {
        continue;
      }
      if (request.topics.empty() || request.topics.back().name != row.topic)
        request.topics.push_back({row.topic, {}});
      request.topics.back().partitions.push_back(
          {row.meta.partition_index, protocol::kListOffsetsLatest});
      by_key[{row.topic, row.meta.partition_index}] = &row;
    }
    if (by_key.empty()) continue;
    auto r = broker.client->call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, request);
    if (!r) continue;  // no lag shown for its replicas
    for (const auto& t : r->topics) {
      for (const auto& p : t.partitions) {
        auto it = by_key.find({t.name, p.partition_index});
        if (it != by_key.end() && p.error_code == 0) it->second->log_ends[*broker.id] = p.offset;
      }
    }
  }
}

// Each follower's lag behind the leader's log end (nullopt: not known).
std::map<std::int32_t, std::optional<std::int64_t>> lags(const PartitionRow& row) {
  std::map<std::int32_t, std::optional<std::int64_t>> out;
  auto leader = row.log_ends.find(row.meta.leader_id);
  for (const auto id : row.meta.replica_nodes) {
    if (id == row.meta.leader_id) continue;
    auto follower = row.log_ends.find(id);
    out[id] = leader == row.log_ends.end() || follower == row.log_ends.end()
                  ? std::nullopt
                  : std::optional<std::int64_t>(
                        std::max<std::int64_t>(0, leader->second - follower->second));
  }
  return out;
}

// The largest follower lag, "-" if any is unknown (or no leader).
std::string lag_text(const PartitionRow& row) {
  if (row.meta.leader_id < 0) return "-";
  std::int64_t most = 0;
  for (const auto& [id, lag] : lags(row)) {
    if (!lag) return "-";
    most = std::max(most, *lag);
  }
  return std::to_string(most);
}

Json ids_json(const std::vector<std::int32_t>& ids) { return Json(ids); }

std::string ids_text(const std::vector<std::int32_t>& ids) {
  return fmt::format("{}", fmt::join(ids, ","));
}

void print_info_json(std::ostream& out, const protocol::MetadataResponse& md,
                     const std::vector<Probe>& probes, const std::vector<PartitionRow>& rows) {
  Json brokers = Json::array();
  Json unreachable = Json::array();
  for (const auto& p : probes) {
    Json b = p.id ? Json{{"id", *p.id}} : Json::object();
    b["address"] = json_bytes(p.address);
    b["answered"] = p.client != nullptr;
    b["error"] = p.client ? Json(nullptr) : json_bytes(p.error);
    (p.id ? brokers : unreachable).push_back(std::move(b));
  }
  Json partitions = Json::array();
  for (const auto& r : rows) {
    Json lag = Json::object();
    for (const auto& [id, v] : lags(r)) lag[std::to_string(id)] = v ? Json(*v) : Json(nullptr);
    partitions.push_back({{"topic", json_bytes(r.topic)},
                          {"partition", r.meta.partition_index},
                          {"leader", r.meta.leader_id},
                          {"replicas", ids_json(r.meta.replica_nodes)},
                          {"isr", ids_json(r.meta.isr_nodes)},
                          {"offline", ids_json(r.meta.offline_replicas)},
                          {"end_offset", r.end_offset ? Json(*r.end_offset) : Json(nullptr)},
                          {"lag", std::move(lag)},
                          {"error", r.error.empty() ? Json(nullptr) : json_bytes(r.error)}});
  }
  print_json(out, Json{{"cluster_id", json_bytes(md.cluster_id.value_or(""))},
                       {"controller", md.controller_id},
                       {"brokers", std::move(brokers)},
                       {"unreachable", std::move(unreachable)},
                       {"topics", md.topics.size()},
                       {"partitions", std::move(partitions)}});
}

void print_info_table(std::ostream& out, const protocol::MetadataResponse& md,
                      const std::vector<Probe>& probes, const std::vector<PartitionRow>& rows) {
  out << fmt::format("cluster {}  controller {}  topics {}  partitions {}\n",
                     md.cluster_id.value_or("(unknown)"), md.controller_id, md.topics.size(),
                     rows.size());
  std::vector<std::vector<std::string>> brokers;
  for (const auto& p : probes) {
    if (!p.id) continue;
    brokers.push_back({std::to_string(*p.id), p.address,
                       *p.id == md.controller_id ? "controller" : "",
                       p.client ? "answered" : "DOWN: " + p.error});
  }
  out << format_table({"BROKER", "ADDRESS", "ROLE", "STATE"}, brokers);
  for (const auto& p : probes) {
    if (p.id) continue;
    out << fmt::format("bootstrap {} is not a listed broker: {}\n", p.address, p.error);
  }
  if (rows.empty()) return;
  std::vector<std::vector<std::string>> table;
  for (const auto& r : rows) {
    table.push_back({r.topic, std::to_string(r.meta.partition_index),
                     std::to_string(r.meta.leader_id), ids_text(r.meta.replica_nodes),
                     ids_text(r.meta.isr_nodes), ids_text(r.meta.offline_replicas),
                     r.end_offset ? std::to_string(*r.end_offset) : "-", lag_text(r), r.error});
  }
  out << "\n"
      << format_table(
             {"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "END", "LAG", "ERROR"},
             table);
}

}  // namespace

int cluster_info(const CommonOptions& c, Io io) {
  auto bootstrap = parse_brokers(c.brokers);
  if (!bootstrap) return fail(io, fmt::format("--brokers: {}", bootstrap.error().detail()));
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto md = metadata(**client, std::nullopt);
  if (!md) return fail(io, md.error().detail());
  auto probes = probe_brokers(*md, *bootstrap, c);
  auto rows = partition_rows(*md);
  fetch_end_offsets(rows, probes);
  fetch_log_ends(rows, probes);
  if (c.format == Format::json) {
    print_info_json(io.out, *md, probes, rows);
  } else {
    print_info_table(io.out, *md, probes, rows);
  }
  return 0;
}

}  // namespace spate::client
