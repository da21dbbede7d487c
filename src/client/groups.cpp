// SPDX-License-Identifier: Apache-2.0
//
// The spate group subcommands: list, describe, reset-offsets, delete
// (issue 14). They use FindCoordinator, ListGroups, DescribeGroups,
// OffsetFetch, ListOffsets (for lag), OffsetCommit (generation -1 and an
// empty member id: the commit of a "simple" group, which the broker refuses
// while the group has members) and DeleteGroups.

#include "spate/protocol/messages/groups.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "spate/client/client.h"
#include "spate/client/commands.h"
#include "spate/common/bytes.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/group_admin.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/offsets.h"

#include "common.h"
#include "group_member.h"
#include "json.h"

namespace spate::client {

using protocol::ApiKey;

namespace {

using TopicPartition = std::pair<std::string, std::int32_t>;

// A connection to the broker coordinating `group` (find_coordinator):
// nullptr when that is `client` itself.
Result<std::unique_ptr<Client>> connect_coordinator(Client& client, const std::string& group) {
  // The coordinator found may be gone by the time we connect: asked again.
  return retry_unavailable(client.options().timeout, [&]() -> Result<std::unique_ptr<Client>> {
    auto at = find_coordinator(client, group);
    if (!at) return at.error();
    if (at->text() == client.endpoint().text()) return std::unique_ptr<Client>();
    auto c = Client::connect(at->text(), client.options());
    if (!c) return Error(Errc::unavailable, c.error().detail());
    return c;
  });
}

Result<protocol::DescribeGroupsGroup> describe_one(Client& client, const std::string& group) {
  protocol::DescribeGroupsRequest request;
  request.groups.push_back(group);
  auto r = client.call<protocol::DescribeGroupsResponse>(ApiKey::describe_groups, request);
  if (!r) return r.error();
  if (r->groups.size() != 1) {
    return Error::malformed(fmt::format("DescribeGroups answered {} groups", r->groups.size()));
  }
  auto& g = r->groups[0];
  if (g.error_code != 0) {
    return Error::invalid(
        fmt::format("cannot describe group '{}': {}", group, error_name(g.error_code)));
  }
  return std::move(g);
}

// Every committed offset of the group (OffsetFetch with null topics).
Result<std::map<TopicPartition, std::int64_t>> committed_offsets(Client& client,
                                                                 const std::string& group) {
  protocol::OffsetFetchRequest request;
  request.group_id = group;
  request.topics = std::nullopt;
  auto r = client.call<protocol::OffsetFetchResponse>(ApiKey::offset_fetch, request);
  if (!r) return r.error();
  if (r->error_code != 0) {
    return Error::invalid(fmt::format("cannot fetch the committed offsets of group '{}': {}", group,
                                      error_name(r->error_code)));
  }
  std::map<TopicPartition, std::int64_t> out;
  for (const auto& t : r->topics) {
    for (const auto& p : t.partitions) {
      if (p.error_code == 0 && p.committed_offset >= 0) {
        out[{t.name, p.partition_index}] = p.committed_offset;
      }
    }
  }
  return out;
}

std::string assignment_text(const std::vector<TopicPartition>& parts) {
  std::map<std::string, std::vector<std::int32_t>> by_topic;
  for (const auto& [topic, partition] : parts) by_topic[topic].push_back(partition);
  std::string out;
  for (auto& [topic, list] : by_topic) {
    std::sort(list.begin(), list.end());
    out += fmt::format("{}{}:{}", out.empty() ? "" : " ", topic, fmt::join(list, ","));
  }
  return out;
}

// Log end offsets of every partition of `topics` (a topic that is gone is
// left out).
std::map<TopicPartition, std::int64_t> end_offsets(Client& client,
                                                   const std::set<std::string>& topics) {
  std::map<TopicPartition, std::int64_t> out;
  for (const auto& topic : topics) {
    auto leaders = Leaders::open(client, topic, false);
    if (!leaders) continue;
    const auto n = (*leaders)->partitions();
    auto ends = list_offsets(**leaders, protocol::kListOffsetsLatest);
    if (!ends) continue;
    for (std::int32_t p = 0; p < n; ++p) out[{topic, p}] = (*ends)[static_cast<std::size_t>(p)];
  }
  return out;
}

struct MemberRow {
  const protocol::DescribeGroupsMember* member;
  std::optional<std::vector<TopicPartition>> assigned;
};

struct PartitionRow {
  TopicPartition tp;
  std::optional<std::int64_t> committed;
  std::optional<std::int64_t> end;
  std::string member;  // the client id of the member it is assigned to
  [[nodiscard]] std::optional<std::int64_t> lag() const {
    if (!end) return std::nullopt;
    return std::max<std::int64_t>(0, *end - committed.value_or(0));
  }
};

std::string text_or_dash(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : "-";
}

void print_describe_json(Io io, const protocol::DescribeGroupsGroup& g,
                         const std::vector<MemberRow>& members,
                         const std::vector<PartitionRow>& partitions, std::int64_t total_lag) {
  Json ms = Json::array();
  for (const auto& m : members) {
    Json assigned = nullptr;
    if (m.assigned) {
      assigned = Json::array();
      for (const auto& [t, p] : *m.assigned) {
        assigned.push_back({{"topic", json_bytes(t)}, {"partition", p}});
      }
    }
    ms.push_back({{"member_id", json_bytes(m.member->member_id)},
                  {"instance_id", json_bytes_or_null(m.member->group_instance_id)},
                  {"client_id", json_bytes(m.member->client_id)},
                  {"host", json_bytes(m.member->client_host)},
                  {"assignment", std::move(assigned)}});
  }
  Json ps = Json::array();
  for (const auto& p : partitions) {
    auto opt = [](const std::optional<std::int64_t>& v) { return v ? Json(*v) : Json(nullptr); };
    ps.push_back({{"topic", json_bytes(p.tp.first)},
                  {"partition", p.tp.second},
                  {"committed_offset", opt(p.committed)},
                  {"log_end_offset", opt(p.end)},
                  {"lag", opt(p.lag())}});
  }
  print_json(io.out, Json{{"group", json_bytes(g.group_id)},
                          {"state", g.group_state},
                          {"protocol_type", json_bytes(g.protocol_type)},
                          {"protocol", json_bytes(g.protocol_data)},
                          {"members", std::move(ms)},
                          {"partitions", std::move(ps)},
                          {"total_lag", total_lag}});
}

void print_describe_table(Io io, const protocol::DescribeGroupsGroup& g,
                          const std::vector<MemberRow>& members,
                          const std::vector<PartitionRow>& partitions, std::int64_t total_lag) {
  io.out << fmt::format("Group {}  state {}  protocol {}{}\n", g.group_id, g.group_state,
                        g.protocol_data.empty() ? "-" : g.protocol_data,
                        g.protocol_type.empty() ? "" : " (" + g.protocol_type + ")");
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : members) {
    rows.push_back({m.member->member_id, m.member->group_instance_id.value_or("-"),
                    m.member->client_id, m.member->client_host,
                    m.assigned ? assignment_text(*m.assigned) : "(not decodable)"});
  }
  if (rows.empty()) {
    io.out << "\nno active members\n";
  } else {
    io.out << "\n" << format_table({"MEMBER", "INSTANCE", "CLIENT", "HOST", "ASSIGNMENT"}, rows);
  }
  rows.clear();
  for (const auto& p : partitions) {
    rows.push_back({p.tp.first, std::to_string(p.tp.second), text_or_dash(p.committed),
                    text_or_dash(p.end), text_or_dash(p.lag()), p.member.empty() ? "-" : p.member});
  }
  io.out << "\n"
         << format_table({"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "CLIENT"}, rows)
         << fmt::format("\ntotal lag {}\n", total_lag);
}

// The partitions to show: every committed one and every assigned one.
std::vector<PartitionRow> partition_rows(Client& client,
                                         const std::map<TopicPartition, std::int64_t>& committed,
                                         const std::vector<MemberRow>& members) {
  std::map<TopicPartition, PartitionRow> rows;
  for (const auto& [tp, offset] : committed) rows[tp] = {tp, offset, std::nullopt, ""};
  for (const auto& m : members) {
    if (!m.assigned) continue;
    for (const auto& tp : *m.assigned) {
      auto& row = rows[tp];
      row.tp = tp;
      row.member = m.member->client_id;
    }
  }
  std::set<std::string> topics;
  for (const auto& [tp, row] : rows) topics.insert(tp.first);
  const auto ends = end_offsets(client, topics);
  std::vector<PartitionRow> out;
  for (auto& [tp, row] : rows) {
    if (auto it = ends.find(tp); it != ends.end()) row.end = it->second;
    out.push_back(std::move(row));
  }
  return out;
}

// Connects to the group's coordinator; reports and returns nullopt on failure.
std::optional<std::unique_ptr<Client>> connect_for(const CommonOptions& c, const std::string& group,
                                                   Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return std::nullopt;
  auto coordinator = connect_coordinator(**client, group);
  if (!coordinator) {
    fail(io, coordinator.error().detail());
    return std::nullopt;
  }
  return *coordinator ? std::move(*coordinator) : std::move(*client);
}

}  // namespace

int group_list(const CommonOptions& c, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  // Each broker lists the groups it coordinates: every broker is asked.
  auto md = metadata(**client, std::vector<std::string>{});
  if (!md) return fail(io, md.error().detail());
  std::map<std::string, protocol::ListGroupsGroup> found;
  int code = 0;
  for (const auto& b : md->brokers) {
    std::unique_ptr<Client> other;
    Client* at = client->get();
    if (md->brokers.size() > 1) {
      auto connected =
          b.port > 0 && b.port <= 65535
              ? Client::connect(Endpoint{b.host, static_cast<std::uint16_t>(b.port)}.text(),
                                (*client)->options())
              : Result<std::unique_ptr<Client>>(Error::malformed("no address"));
      if (!connected) {
        code = 1;
        fail(io, fmt::format("cannot list the groups of broker {}: {}", b.node_id,
                             connected.error().detail()));
        continue;
      }
      other = std::move(*connected);
      at = other.get();
    }
    auto r =
        at->call<protocol::ListGroupsResponse>(ApiKey::list_groups, protocol::ListGroupsRequest{});
    const std::string error = !r                   ? r.error().detail()
                              : r->error_code != 0 ? error_name(r->error_code)
                                                   : std::string();
    if (!error.empty()) {
      code = 1;
      fail(io, fmt::format("cannot list the groups of broker {}: {}", b.node_id, error));
      continue;
    }
    for (auto& g : r->groups) found.try_emplace(g.group_id, std::move(g));
  }
  std::vector<protocol::ListGroupsGroup> groups;
  for (auto& [_, g] : found) groups.push_back(std::move(g));
  if (c.format == Format::json) {
    Json out = Json::array();
    for (const auto& g : groups) {
      out.push_back({{"group", json_bytes(g.group_id)},
                     {"state", g.group_state},
                     {"protocol_type", json_bytes(g.protocol_type)}});
    }
    print_json(io.out, out);
    return code;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : groups) {
    rows.push_back({g.group_id, g.group_state.empty() ? "-" : g.group_state,
                    g.protocol_type.empty() ? "-" : g.protocol_type});
  }
  io.out << format_table({"GROUP", "STATE", "PROTOCOL TYPE"}, rows);
  return code;
}

int group_describe(const CommonOptions& c, const std::string& group, Io io) {
  auto client = connect_for(c, group, io);
  if (!client) return 1;
  auto g = describe_one(**client, group);
  if (!g) return fail(io, g.error().detail());
  auto committed = committed_offsets(**client, group);
  if (!committed) return fail(io, committed.error().detail());
  if (g->group_state == "Dead" && committed->empty()) {
    return fail(io, fmt::format("no group '{}'", group));
  }
  std::vector<MemberRow> members;
  for (const auto& m : g->members) {
    members.push_back({&m, g->protocol_type == "consumer" || g->protocol_type.empty()
                               ? decode_assignment(m.member_assignment)
                               : std::nullopt});
  }
  const auto partitions = partition_rows(**client, *committed, members);
  std::int64_t total_lag = 0;
  for (const auto& p : partitions) total_lag += p.lag().value_or(0);
  if (c.format == Format::json) {
    print_describe_json(io, *g, members, partitions, total_lag);
  } else {
    print_describe_table(io, *g, members, partitions, total_lag);
  }
  return 0;
}

namespace {

// The new offset of each chosen partition. Errors: the topic's or partition's.
Result<std::vector<std::pair<std::int32_t, std::int64_t>>> reset_targets(
    Client& client, const ResetOptions& o,
    const std::map<TopicPartition, std::int64_t>& committed) {
  auto leaders = Leaders::open(client, o.topic, false);
  if (!leaders) return leaders.error();
  const auto n = (*leaders)->partitions();
  if (o.partition && (*o.partition < 0 || *o.partition >= n)) {
    return Error::invalid(fmt::format("--partition {}: topic '{}' has partitions 0 to {}",
                                      *o.partition, o.topic, n - 1));
  }
  auto starts = list_offsets(**leaders, protocol::kListOffsetsEarliest);
  if (!starts) return starts.error();
  auto ends = list_offsets(**leaders, protocol::kListOffsetsLatest);
  if (!ends) return ends.error();
  Result<std::vector<std::int64_t>> at_time = std::vector<std::int64_t>{};
  if (o.to == ResetOptions::To::time) at_time = list_offsets(**leaders, o.offset);
  if (!at_time) return at_time.error();
  std::vector<std::pair<std::int32_t, std::int64_t>> out;
  for (std::int32_t p = 0; p < n; ++p) {
    if (o.partition && *o.partition != p) continue;
    const auto k = static_cast<std::size_t>(p);
    const auto start = (*starts)[k];
    const auto end = (*ends)[k];
    std::int64_t target = end;
    if (o.to == ResetOptions::To::earliest) target = start;
    if (o.to == ResetOptions::To::offset) target = o.offset;
    // The first offset at or after the time; none: the end.
    if (o.to == ResetOptions::To::time && (*at_time)[k] >= 0) target = (*at_time)[k];
    if (o.to == ResetOptions::To::shift) {
      auto it = committed.find({o.topic, p});
      if (it == committed.end()) {
        return Error::invalid(fmt::format(
            "--shift-by: group has no committed offset for {}/{} (use --partition)", o.topic, p));
      }
      target = o.offset > 0 && it->second > std::numeric_limits<std::int64_t>::max() - o.offset
                   ? end
                   : it->second + o.offset;
    }
    // Kafka's tool clamps an offset outside the log into it.
    out.emplace_back(p, std::clamp(target, start, end));
  }
  return out;
}

Status commit_offsets(Client& client, const std::string& group, const std::string& topic,
                      const std::vector<std::pair<std::int32_t, std::int64_t>>& targets) {
  protocol::OffsetCommitRequest request;
  request.group_id = group;
  request.generation_id_or_member_epoch = -1;
  protocol::OffsetCommitTopic t{topic, {}};
  for (const auto& [p, offset] : targets) {
    protocol::OffsetCommitPartition part;
    part.partition_index = p;
    part.committed_offset = offset;
    part.committed_metadata = "";
    t.partitions.push_back(part);
  }
  request.topics.push_back(std::move(t));
  auto r = client.call<protocol::OffsetCommitResponse>(ApiKey::offset_commit, request);
  if (!r) return r.error();
  for (const auto& tr : r->topics) {
    for (const auto& pr : tr.partitions) {
      if (pr.error_code == 0) continue;
      const auto code = static_cast<protocol::ErrorCode>(pr.error_code);
      const bool busy = code == protocol::ErrorCode::unknown_member_id ||
                        code == protocol::ErrorCode::illegal_generation ||
                        code == protocol::ErrorCode::rebalance_in_progress;
      return Error::invalid(
          busy ? fmt::format("cannot reset the offsets of group '{}': it has active members "
                             "({}); stop its consumers first",
                             group, error_name(pr.error_code))
               : fmt::format("cannot commit {}/{} for group '{}': {}", tr.name, pr.partition_index,
                             group, error_name(pr.error_code)));
    }
  }
  return {};
}

}  // namespace

int group_reset_offsets(const CommonOptions& c, const std::string& group, const ResetOptions& o,
                        Io io) {
  auto client = connect_for(c, group, io);
  if (!client) return 1;
  auto g = describe_one(**client, group);
  if (!g) return fail(io, g.error().detail());
  if (!g->members.empty()) {
    return fail(io, fmt::format("cannot reset the offsets of group '{}': it has {} active "
                                "member{} (state {}); stop its consumers first",
                                group, g->members.size(), g->members.size() == 1 ? "" : "s",
                                g->group_state));
  }
  auto committed = committed_offsets(**client, group);
  if (!committed) return fail(io, committed.error().detail());
  auto targets = reset_targets(**client, o, *committed);
  if (!targets) return fail(io, targets.error().detail());
  if (!o.dry_run) {
    if (auto s = commit_offsets(**client, group, o.topic, *targets); !s) {
      return fail(io, s.error().detail());
    }
  }
  std::vector<std::vector<std::string>> rows;
  Json parts = Json::array();
  for (const auto& [p, offset] : *targets) {
    std::optional<std::int64_t> old;
    if (auto it = committed->find({o.topic, p}); it != committed->end()) old = it->second;
    rows.push_back({o.topic, std::to_string(p), text_or_dash(old), std::to_string(offset)});
    parts.push_back({{"partition", p},
                     {"old_offset", old ? Json(*old) : Json(nullptr)},
                     {"new_offset", offset}});
  }
  if (c.format == Format::json) {
    print_json(io.out, Json{{"group", json_bytes(group)},
                            {"topic", json_bytes(o.topic)},
                            {"dry_run", o.dry_run},
                            {"partitions", std::move(parts)}});
  } else {
    io.out << (o.dry_run ? "dry run: would set\n" : "")
           << format_table({"TOPIC", "PARTITION", "OLD", "NEW"}, rows);
  }
  return 0;
}

int group_delete(const CommonOptions& c, const std::vector<std::string>& groups, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  // Each group to its coordinator.
  std::vector<protocol::DeleteGroupsResult> answers;
  for (const auto& group : groups) {
    auto coordinator = connect_coordinator(**client, group);
    if (!coordinator) return fail(io, coordinator.error().detail());
    Client& at = *coordinator ? **coordinator : **client;
    protocol::DeleteGroupsRequest request{{group}};
    auto r = at.call<protocol::DeleteGroupsResponse>(ApiKey::delete_groups, request);
    if (!r) return fail(io, r.error().detail());
    for (auto& result : r->results) answers.push_back(std::move(result));
  }
  int code = 0;
  Json results = Json::array();
  for (const auto& result : answers) {
    const auto e = static_cast<protocol::ErrorCode>(result.error_code);
    if (e != protocol::ErrorCode::none) {
      code = 1;
      fail(io, e == protocol::ErrorCode::non_empty_group
                   ? fmt::format("cannot delete group '{}': it has active members", result.group_id)
               : e == protocol::ErrorCode::group_id_not_found
                   ? fmt::format("cannot delete group '{}': no such group", result.group_id)
                   : fmt::format("cannot delete group '{}': {}", result.group_id,
                                 error_name(result.error_code)));
    } else if (c.format == Format::table) {
      io.out << fmt::format("deleted group {}\n", result.group_id);
    }
    results.push_back(
        {{"group", json_bytes(result.group_id)},
         {"deleted", e == protocol::ErrorCode::none},
         {"error",
          e == protocol::ErrorCode::none ? Json(nullptr) : Json(error_name(result.error_code))}});
  }
  if (c.format == Format::json) print_json(io.out, results);
  return code;
}

}  // namespace spate::client
