// SPDX-License-Identifier: Apache-2.0
//
// `spate topic reassign`, `spate topic reassignments` and `spate cluster
// drain` (commands.h): Kafka's AlterPartitionReassignments and
// ListPartitionReassignments (KIP-455), and Metadata to see where replicas
// are, so they work against any broker of the cluster.

#include <algorithm>
#include <map>
#include <thread>

#include <fmt/ranges.h>

#include "spate/client/client.h"
#include "spate/client/commands.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/reassignments.h"

#include "common.h"
#include "json.h"

namespace spate::client {
namespace {

using protocol::ApiKey;

std::string join_ids(const std::vector<std::int32_t>& ids) {
  return fmt::format("{}", fmt::join(ids, ","));
}

Result<protocol::ListPartitionReassignmentsResponse> list_pending(Client& client,
                                                                  const CommonOptions& c) {
  protocol::ListPartitionReassignmentsRequest request;
  request.timeout_ms = static_cast<std::int32_t>(c.timeout.count());
  auto r = client.call<protocol::ListPartitionReassignmentsResponse>(
      ApiKey::list_partition_reassignments, request);
  if (!r) return r.error();
  if (r->error_code != 0) {
    return Error::invalid(fmt::format("cannot list reassignments: {}{}", error_name(r->error_code),
                                      r->error_message ? ": " + *r->error_message : ""));
  }
  return r;
}

// Sends one AlterPartitionReassignments; returns the failures, one line each.
Result<std::vector<std::string>> alter(Client& client, const CommonOptions& c,
                                       std::vector<protocol::ReassignableTopic> topics) {
  protocol::AlterPartitionReassignmentsRequest request;
  request.timeout_ms = static_cast<std::int32_t>(c.timeout.count());
  request.topics = std::move(topics);
  auto r = client.call<protocol::AlterPartitionReassignmentsResponse>(
      ApiKey::alter_partition_reassignments, request);
  if (!r) return r.error();
  if (r->error_code != 0) {
    return Error::invalid(fmt::format("reassignment refused: {}{}", error_name(r->error_code),
                                      r->error_message ? ": " + *r->error_message : ""));
  }
  std::vector<std::string> failures;
  for (const auto& t : r->responses) {
    for (const auto& p : t.partitions) {
      if (p.error_code == 0) continue;
      failures.push_back(fmt::format("{}/{}: {}{}", t.name, p.partition_index,
                                     error_name(p.error_code),
                                     p.error_message ? ": " + *p.error_message : ""));
    }
  }
  return failures;
}

}  // namespace

int topic_reassign(const CommonOptions& c, const std::string& name, std::int32_t partition,
                   const std::vector<std::int32_t>& replicas, bool cancel, Io io) {
  if (cancel == !replicas.empty()) {
    return usage_error(io, "give either --replicas or --cancel");
  }
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  protocol::ReassignablePartition p{partition, std::nullopt};
  if (!cancel) p.replicas = replicas;
  auto failures = alter(**client, c, {{name, {p}}});
  if (!failures) return fail(io, failures.error().detail());
  if (!failures->empty()) return fail(io, failures->front());
  if (c.format == Format::json) {
    print_json(io.out, Json{{"topic", json_bytes(name)},
                            {"partition", partition},
                            {"replicas", cancel ? Json(nullptr) : Json(replicas)},
                            {"cancelled", cancel}});
  } else if (cancel) {
    io.out << fmt::format("cancelled the reassignment of {}/{}\n", name, partition);
  } else {
    io.out << fmt::format("moving {}/{} to replicas {}\n", name, partition, join_ids(replicas));
  }
  return 0;
}

int topic_reassignments(const CommonOptions& c, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto r = list_pending(**client, c);
  if (!r) return fail(io, r.error().detail());
  if (c.format == Format::json) {
    Json out = Json::array();
    for (const auto& t : r->topics) {
      for (const auto& p : t.partitions) {
        out.push_back({{"topic", json_bytes(t.name)},
                       {"partition", p.partition_index},
                       {"replicas", p.replicas},
                       {"adding", p.adding_replicas},
                       {"removing", p.removing_replicas}});
      }
    }
    print_json(io.out, Json{{"reassignments", out}});
    return 0;
  }
  std::size_t count = 0;
  for (const auto& t : r->topics) {
    for (const auto& p : t.partitions) {
      io.out << fmt::format("{}/{}  replicas {}  adding {}  removing {}\n", t.name,
                            p.partition_index, join_ids(p.replicas), join_ids(p.adding_replicas),
                            join_ids(p.removing_replicas));
      ++count;
    }
  }
  if (count == 0) io.out << "no reassignment in progress\n";
  return 0;
}

namespace {

struct Placed {
  std::string topic;
  std::int32_t partition = 0;
  std::vector<std::int32_t> replicas;
};

// Where every replica on `id` goes: the live broker (not `id`, not already
// a replica) holding the fewest replicas, counting the moves planned.
Result<std::vector<Placed>> plan_drain(const protocol::MetadataResponse& md, std::int32_t id) {
  std::map<std::int32_t, std::size_t> load;
  for (const auto& b : md.brokers) {
    if (b.node_id != id) load[b.node_id] = 0;
  }
  for (const auto& t : md.topics) {
    for (const auto& p : t.partitions) {
      for (const std::int32_t r : p.replica_nodes) {
        if (load.contains(r)) ++load[r];
      }
    }
  }
  std::vector<Placed> out;
  for (const auto& t : md.topics) {
    for (const auto& p : t.partitions) {
      auto at = std::find(p.replica_nodes.begin(), p.replica_nodes.end(), id);
      if (at == p.replica_nodes.end()) continue;
      std::optional<std::int32_t> best;
      for (const auto& [broker, n] : load) {
        if (std::find(p.replica_nodes.begin(), p.replica_nodes.end(), broker) !=
            p.replica_nodes.end()) {
          continue;
        }
        if (!best || n < load[*best]) best = broker;
      }
      if (!best) {
        return Error::invalid(
            fmt::format("{}/{} has replicas {}: no other live broker to move the replica on {} to",
                        t.name, p.partition_index, join_ids(p.replica_nodes), id));
      }
      ++load[*best];
      Placed placed{t.name, p.partition_index, p.replica_nodes};
      placed.replicas[static_cast<std::size_t>(at - p.replica_nodes.begin())] = *best;
      out.push_back(std::move(placed));
    }
  }
  return out;
}

// How many partitions still list `id` as a replica or have a move pending.
Result<std::pair<std::size_t, std::size_t>> drain_left(Client& client, const CommonOptions& c,
                                                       std::int32_t id) {
  auto md = metadata(client, std::nullopt);
  if (!md) return md.error();
  std::size_t on = 0;
  for (const auto& t : md->topics) {
    for (const auto& p : t.partitions) {
      if (std::find(p.replica_nodes.begin(), p.replica_nodes.end(), id) != p.replica_nodes.end())
        ++on;
    }
  }
  auto pending = list_pending(client, c);
  if (!pending) return pending.error();
  std::size_t moving = 0;
  for (const auto& t : pending->topics) moving += t.partitions.size();
  return std::pair{on, moving};
}

}  // namespace

int cluster_drain(const CommonOptions& c, std::int32_t id, std::chrono::seconds wait, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto md = metadata(**client, std::nullopt);
  if (!md) return fail(io, md.error().detail());
  auto plan = plan_drain(*md, id);
  if (!plan) return fail(io, plan.error().detail());
  std::map<std::string, std::vector<protocol::ReassignablePartition>> by_topic;
  for (const auto& p : *plan) by_topic[p.topic].push_back({p.partition, p.replicas});
  std::vector<protocol::ReassignableTopic> topics;
  for (auto& [name, partitions] : by_topic) topics.push_back({name, std::move(partitions)});
  if (!topics.empty()) {
    auto failures = alter(**client, c, std::move(topics));
    if (!failures) return fail(io, failures.error().detail());
    for (const auto& f : *failures) io.err << "spate: " << f << '\n';
    if (!failures->empty()) return 1;
  }
  if (c.format == Format::table) {
    for (const auto& p : *plan) {
      io.out << fmt::format("moving {}/{} to replicas {}\n", p.topic, p.partition,
                            join_ids(p.replicas));
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + wait;
  std::optional<std::size_t> shown;
  // Bounded by `wait`: one look every 500 ms.
  while (true) {
    auto left = drain_left(**client, c, id);
    if (left) {
      if (c.format == Format::table && shown != left->first) {
        io.out << fmt::format("{} of {} partitions moved off broker {} ({} moves pending)\n",
                              plan->size() - std::min(plan->size(), left->first), plan->size(), id,
                              left->second);
        io.out.flush();
        shown = left->first;
      }
      if (left->first == 0 && left->second == 0) break;
    } else {
      io.err << "spate: " << left.error().detail() << " (retrying)\n";
    }
    if (std::chrono::steady_clock::now() >= until) {
      return fail(io, fmt::format("broker {} still holds replicas after {} s", id, wait.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  if (c.format == Format::json) {
    print_json(io.out, Json{{"broker", id}, {"moved", plan->size()}, {"seconds", took.count()}});
  } else {
    io.out << fmt::format("broker {} holds no replica ({} moved in {:.1f} s)\n", id, plan->size(),
                          took.count());
  }
  return 0;
}

}  // namespace spate::client
