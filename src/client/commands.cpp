// SPDX-License-Identifier: Apache-2.0
//
// The spate subcommands: topic admin, produce, consume (cluster info is in
// cluster_info.cpp).

#include "spate/client/commands.h"

#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "spate/client/client.h"
#include "spate/client/tools.h"
#include "spate/common/bytes.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/record_batch.h"

#include "common.h"
#include "json.h"

namespace spate::client {

using protocol::ApiKey;

// ---------------------------------------------------------------- topics

int topic_create(const CommonOptions& c, const std::string& name, std::int32_t partitions,
                 std::int16_t replication, const std::vector<std::string>& configs,
                 bool validate_only, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  protocol::CreateTopicsTopic topic{name, partitions, replication, {}, {}};
  for (const auto& kv : configs) {
    auto parsed = parse_key_value(kv);
    if (!parsed) return usage_error(io, fmt::format("--config {}", parsed.error().detail()));
    topic.configs.push_back({parsed->first, parsed->second});
  }
  protocol::CreateTopicsRequest request{
      {topic}, static_cast<std::int32_t>(c.timeout.count()), validate_only};
  auto r = (*client)->call<protocol::CreateTopicsResponse>(ApiKey::create_topics, request);
  if (!r) return fail(io, r.error().detail());
  const auto& result = r->topics.at(0);
  if (result.error_code != 0) {
    return fail(io,
                fmt::format("cannot create topic '{}': {}{}", name, error_name(result.error_code),
                            result.error_message ? ": " + *result.error_message : ""));
  }
  if (c.format == Format::json) {
    print_json(
        io.out,
        Json{{"topic", json_bytes(name)}, {"partitions", partitions}, {"created", !validate_only}});
  } else {
    io.out << fmt::format("{} topic {} with {} partition{}\n",
                          validate_only ? "valid: would create" : "created", name, partitions,
                          partitions == 1 ? "" : "s");
  }
  return 0;
}

int topic_list(const CommonOptions& c, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto md = metadata(**client, std::nullopt);
  if (!md) return fail(io, md.error().detail());
  if (c.format == Format::json) {
    Json topics = Json::array();
    for (const auto& t : md->topics) {
      topics.push_back({{"topic", json_bytes(t.name)}, {"partitions", t.partitions.size()}});
    }
    print_json(io.out, topics);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : md->topics) rows.push_back({t.name, std::to_string(t.partitions.size())});
  io.out << format_table({"TOPIC", "PARTITIONS"}, rows);
  return 0;
}

int topic_describe(const CommonOptions& c, const std::string& name, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto leaders = Leaders::open(**client, name, false);
  if (!leaders) return fail(io, leaders.error().detail());
  auto starts = list_offsets(**leaders, protocol::kListOffsetsEarliest);
  auto ends = list_offsets(**leaders, protocol::kListOffsetsLatest);
  const auto* topic = &(*leaders)->topic_info();
  const auto n = (*leaders)->partitions();
  if (!starts) return fail(io, starts.error().detail());
  if (!ends) return fail(io, ends.error().detail());
  protocol::DescribeConfigsRequest dc;
  dc.resources.push_back({protocol::kResourceTopic, name, std::nullopt});
  auto configs = (*client)->call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, dc);
  if (!configs) return fail(io, configs.error().detail());
  const auto& result = configs->results.at(0);
  if (result.error_code != 0) {
    return fail(io, fmt::format("cannot describe configs of '{}': {}", name,
                                error_name(result.error_code)));
  }
  if (c.format == Format::json) {
    Json partitions = Json::array();
    for (std::int32_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const auto& p = topic->partitions[k];
      partitions.push_back({{"partition", p.partition_index},
                            {"leader", p.leader_id},
                            {"start_offset", (*starts)[k]},
                            {"end_offset", (*ends)[k]}});
    }
    Json values = Json::object();
    for (const auto& e : result.configs) values[json_text(e.name)] = json_bytes_or_null(e.value);
    print_json(io.out, Json{{"topic", json_bytes(name)},
                            {"partitions", std::move(partitions)},
                            {"configs", std::move(values)}});
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (std::int32_t i = 0; i < n; ++i) {
    const auto& p = topic->partitions[static_cast<std::size_t>(i)];
    std::string replicas;
    for (auto r : p.replica_nodes) replicas += (replicas.empty() ? "" : ",") + std::to_string(r);
    rows.push_back({std::to_string(p.partition_index), std::to_string(p.leader_id), replicas,
                    std::to_string((*starts)[static_cast<std::size_t>(i)]),
                    std::to_string((*ends)[static_cast<std::size_t>(i)]),
                    p.error_code ? std::string(error_name(p.error_code)) : ""});
  }
  io.out << "Topic " << name << "\n"
         << format_table({"PARTITION", "LEADER", "REPLICAS", "START", "END", "ERROR"}, rows);
  std::vector<std::vector<std::string>> config_rows;
  for (const auto& e : result.configs) {
    // config_source (v1+): 1 topic, 4 static broker, 5 default; v0 has is_default.
    const bool is_default = e.config_source == 5 || (e.config_source == -1 && e.is_default);
    config_rows.push_back({e.name, e.value.value_or("(null)"),
                           is_default             ? "default"
                           : e.config_source == 4 ? "broker"
                                                  : "topic"});
  }
  io.out << "\n" << format_table({"CONFIG", "VALUE", "SOURCE"}, config_rows);
  return 0;
}

int topic_alter(const CommonOptions& c, const std::string& name,
                const std::vector<std::string>& set, const std::vector<std::string>& remove,
                Io io) {
  if (set.empty() && remove.empty())
    return fail(io, "nothing to change: give --config or --delete-config");
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  protocol::IncrementalAlterConfigsResource res{protocol::kResourceTopic, name, {}};
  for (const auto& kv : set) {
    auto parsed = parse_key_value(kv);
    if (!parsed) return usage_error(io, fmt::format("--config {}", parsed.error().detail()));
    res.configs.push_back({parsed->first, protocol::kConfigOpSet, parsed->second});
  }
  for (const auto& key : remove)
    res.configs.push_back({key, protocol::kConfigOpDelete, std::nullopt});
  protocol::IncrementalAlterConfigsRequest request{{res}, false};
  auto r = (*client)->call<protocol::IncrementalAlterConfigsResponse>(
      ApiKey::incremental_alter_configs, request);
  if (!r) return fail(io, r.error().detail());
  const auto& result = r->responses.at(0);
  if (result.error_code != 0) {
    return fail(io,
                fmt::format("cannot alter topic '{}': {}{}", name, error_name(result.error_code),
                            result.error_message ? ": " + *result.error_message : ""));
  }
  if (c.format == Format::json) {
    print_json(io.out, Json{{"topic", json_bytes(name)}, {"altered", true}});
  } else {
    io.out << fmt::format("altered topic {}\n", name);
  }
  return 0;
}

int topic_delete(const CommonOptions& c, const std::string& name, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  protocol::DeleteTopicsRequest request{{name}, static_cast<std::int32_t>(c.timeout.count())};
  auto r = (*client)->call<protocol::DeleteTopicsResponse>(ApiKey::delete_topics, request);
  if (!r) return fail(io, r.error().detail());
  if (r->responses.at(0).error_code != 0) {
    return fail(io, fmt::format("cannot delete topic '{}': {}", name,
                                error_name(r->responses[0].error_code)));
  }
  if (c.format == Format::json) {
    print_json(io.out, Json{{"topic", json_bytes(name)}, {"deleted", true}});
  } else {
    io.out << fmt::format("deleted topic {}\n", name);
  }
  return 0;
}

int topic_add_partitions(const CommonOptions& c, const std::string& name, std::int32_t total,
                         Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  protocol::CreatePartitionsRequest request{
      {{name, total, std::nullopt}}, static_cast<std::int32_t>(c.timeout.count()), false};
  auto r = (*client)->call<protocol::CreatePartitionsResponse>(ApiKey::create_partitions, request);
  if (!r) return fail(io, r.error().detail());
  const auto& result = r->results.at(0);
  if (result.error_code != 0) {
    return fail(
        io, fmt::format("cannot add partitions to '{}': {}{}", name, error_name(result.error_code),
                        result.error_message ? ": " + *result.error_message : ""));
  }
  if (c.format == Format::json) {
    print_json(io.out, Json{{"topic", json_bytes(name)}, {"partitions", total}});
  } else {
    io.out << fmt::format("topic {} now has {} partitions\n", name, total);
  }
  return 0;
}

int topic_delete_records(const CommonOptions& c, const std::string& name, std::int32_t partition,
                         std::int64_t before, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto leaders = Leaders::open(**client, name, false);
  if (!leaders) return fail(io, leaders.error().detail());
  if (partition < 0 || partition >= (*leaders)->partitions()) {
    return fail(io, fmt::format("topic '{}' has no partition {} (it has {})", name, partition,
                                (*leaders)->partitions()));
  }
  protocol::DeleteRecordsRequest request;
  request.topics.push_back({name, {{partition, before}}});
  request.timeout_ms = static_cast<std::int32_t>(c.timeout.count());
  // To the partition's leader; asked again after it moved.
  auto r = retry_unavailable(c.timeout, [&]() -> Result<protocol::DeleteRecordsResponse> {
    const auto node = (*leaders)->leader(partition);
    auto at = node >= 0 ? (*leaders)->broker(node)
                        : Result<Client*>(Error(Errc::unavailable, "no leader"));
    auto answer = at ? (*at)->call<protocol::DeleteRecordsResponse>(ApiKey::delete_records, request)
                     : Result<protocol::DeleteRecordsResponse>(at.error());
    const bool moved = answer && answer->topics.size() == 1 &&
                       answer->topics[0].partitions.size() == 1 &&
                       leader_moved(answer->topics[0].partitions[0].error_code);
    if (answer && !moved) return answer;
    if (!answer && node >= 0) (*leaders)->drop(node);
    (void)(*leaders)->refresh();
    return Error(Errc::unavailable,
                 fmt::format("{}/{}: {}", name, partition,
                             answer ? error_name(answer->topics[0].partitions[0].error_code)
                                    : answer.error().detail()));
  });
  if (!r) return fail(io, r.error().detail());
  if (r->topics.size() != 1 || r->topics[0].partitions.size() != 1) {
    return fail(io, fmt::format("cannot delete records of {}/{}: the answer names no partition",
                                name, partition));
  }
  const auto& result = r->topics[0].partitions[0];
  if (result.error_code != 0) {
    return fail(io, fmt::format("cannot delete records of {}/{}: {}", name, partition,
                                error_name(result.error_code)));
  }
  if (c.format == Format::json) {
    print_json(io.out, Json{{"topic", json_bytes(name)},
                            {"partition", partition},
                            {"start_offset", result.low_watermark}});
  } else {
    io.out << fmt::format("{}/{} now starts at offset {}\n", name, partition, result.low_watermark);
  }
  return 0;
}

// ---------------------------------------------------------------- produce

namespace {

using Headers = std::vector<std::pair<std::string, std::vector<std::byte>>>;

// One line of input as a record: KEY<separator>VALUE when the separator is
// set and found, else the value alone; timestamped now, with `headers`.
protocol::RecordSpec record_of(std::string_view line, const std::string& key_separator,
                               const Headers& headers) {
  protocol::RecordSpec record;
  record.timestamp = wall_ms();
  if (!key_separator.empty()) {
    const auto at = line.find(key_separator);
    if (at != std::string_view::npos) {
      record.key = to_bytes(line.substr(0, at));
      line = line.substr(at + key_separator.size());
    }
  }
  record.value = to_bytes(line);
  for (const auto& [k, v] : headers) record.headers.push_back({k, v});
  return record;
}

}  // namespace

int produce(const CommonOptions& c, const ProduceOptions& p, Io io) {
  auto acks = parse_acks(p.acks);
  if (!acks) return usage_error(io, acks.error().detail());
  auto codec = parse_compression(p.compression);
  if (!codec) return usage_error(io, codec.error().detail());
  Headers headers;
  for (const auto& h : p.headers) {
    auto kv = parse_key_value(h);
    if (!kv) return usage_error(io, fmt::format("--header {}", kv.error().detail()));
    headers.push_back({kv->first, to_bytes(kv->second)});
  }
  std::ifstream file;
  std::istream* in = &io.in;
  if (!p.file.empty()) {
    file.open(p.file);
    if (!file) return fail(io, fmt::format("cannot read {}", p.file));
    in = &file;
  }
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto leaders = Leaders::open(**client, p.topic, true);
  if (!leaders) return fail(io, leaders.error().detail());
  const auto partitions = (*leaders)->partitions();
  if (p.partition && (*p.partition < 0 || *p.partition >= partitions)) {
    return fail(io, fmt::format("topic '{}' has no partition {} (it has {})", p.topic, *p.partition,
                                partitions));
  }
  Producer producer(**leaders, *acks, *codec, c.timeout);
  std::map<std::int32_t, protocol::BatchBuilder> open;
  std::map<std::int32_t, std::size_t> open_bytes;
  std::int32_t round_robin = 0;
  std::int64_t records = 0;
  std::string line;
  // Bounded by the input: one record per line.
  while (std::getline(*in, line)) {
    auto record = record_of(line, p.key_separator, headers);
    std::int32_t partition = 0;
    if (p.partition) {
      partition = *p.partition;
    } else if (record.key) {
      partition = partition_for_key(*record.key, partitions);
    } else {
      partition = round_robin;
    }
    auto [it, inserted] = open.try_emplace(partition, record.timestamp);
    it->second.add(record);
    open_bytes[partition] += line.size() + 32;
    ++records;
    if (open_bytes[partition] >= p.batch_bytes) {
      if (auto s = producer.send(partition, it->second.build()); !s)
        return fail(io, s.error().detail());
      open.erase(it);
      open_bytes.erase(partition);
      round_robin = (round_robin + 1) % partitions;  // a new batch, a new partition
    }
  }
  for (auto& [partition, builder] : open) {
    if (builder.record_count() == 0) continue;
    if (auto s = producer.send(partition, builder.build()); !s) return fail(io, s.error().detail());
  }
  if (auto s = producer.finish(); !s) return fail(io, s.error().detail());
  if (c.format == Format::json) {
    print_json(io.out, Json{{"topic", json_bytes(p.topic)}, {"records", records}});
  } else {
    io.err << fmt::format("produced {} record{} to {}\n", records, records == 1 ? "" : "s",
                          p.topic);
  }
  return 0;
}

// ---------------------------------------------------------------- consume

namespace {

// A consumer of some partitions of one topic: where each stands, where each
// ended when it started, how many records it printed.
struct Consumer {
  const ConsumeOptions& o;
  std::vector<std::int32_t> wanted;
  std::vector<std::int64_t> ends;
  std::map<std::int32_t, std::int64_t> position;
  std::int64_t printed = 0;
  std::int64_t limit = std::numeric_limits<std::int64_t>::max();
};

// The partitions `o` names. Errors: not_found for a partition the topic lacks.
Result<std::vector<std::int32_t>> wanted_partitions(const ConsumeOptions& o, std::int32_t n) {
  std::vector<std::int32_t> wanted;
  if (o.partition) {
    if (*o.partition < 0 || *o.partition >= n) {
      return Error::not_found(
          fmt::format("topic '{}' has no partition {} (it has {})", o.topic, *o.partition, n));
    }
    wanted.push_back(*o.partition);
  } else {
    for (std::int32_t i = 0; i < n; ++i) wanted.push_back(i);
  }
  return wanted;
}

// Sets where each wanted partition starts (--from), and the ends.
Status start_positions(Leaders& leaders, const StartPosition& from, Consumer& c) {
  auto starts = list_offsets(leaders, protocol::kListOffsetsEarliest, &c.wanted);
  auto ends = list_offsets(leaders, protocol::kListOffsetsLatest, &c.wanted);
  if (!starts) return starts.error();
  if (!ends) return ends.error();
  std::optional<std::vector<std::int64_t>> at_time;
  if (from.kind == StartPosition::Kind::timestamp) {
    auto t = list_offsets(leaders, from.value, &c.wanted);
    if (!t) return t.error();
    at_time = std::move(*t);
  }
  for (auto p : c.wanted) {
    const auto i = static_cast<std::size_t>(p);
    std::int64_t start = (*starts)[i];
    switch (from.kind) {
      case StartPosition::Kind::beginning:
        break;
      case StartPosition::Kind::end:
        start = (*ends)[i];
        break;
      case StartPosition::Kind::offset:
        start = std::clamp(from.value, (*starts)[i], (*ends)[i]);
        break;
      case StartPosition::Kind::from_end:
        start = std::max((*starts)[i], (*ends)[i] - from.value);
        break;
      case StartPosition::Kind::timestamp:
        start = (*at_time)[i] < 0 ? (*ends)[i] : (*at_time)[i];
        break;
    }
    c.position[p] = start;
  }
  c.ends = std::move(*ends);
  return {};
}

// One Fetch to `client` of `partitions` from their positions; prints what
// comes back (up to the limit) and advances the positions. `moved`: the
// partitions whose leader moved. Errors: the call's; another partition error
// or undecodable records (invalid).
Status fetch_and_print(Client& client, const std::vector<std::int32_t>& partitions,
                       std::int32_t max_wait_ms, Consumer& c, std::ostream& out,
                       std::vector<std::int32_t>& moved) {
  protocol::FetchRequest f;
  f.max_wait_ms = max_wait_ms;
  f.min_bytes = 1;
  f.max_bytes = 16 << 20;
  f.isolation_level = 0;
  protocol::FetchTopic ft{c.o.topic, {}};
  for (auto p : partitions) ft.partitions.push_back({p, -1, c.position[p], -1, 1 << 20});
  f.topics.push_back(std::move(ft));
  auto r = client.call<protocol::FetchResponse>(ApiKey::fetch, f);
  if (!r) return r.error();
  for (const auto& tr : r->responses) {
    for (const auto& pr : tr.partitions) {
      if (!c.position.contains(pr.partition_index)) continue;  // not asked for
      auto& position = c.position[pr.partition_index];
      if (leader_moved(pr.error_code)) {
        moved.push_back(pr.partition_index);
        continue;
      }
      if (pr.error_code != 0) {
        return Error::invalid(fmt::format("fetch {}/{} at offset {}: {}", c.o.topic,
                                          pr.partition_index, position, error_name(pr.error_code)));
      }
      if (!pr.records) continue;
      auto s = for_each_record(
          *pr.records,
          [&](const protocol::RecordView& rec) {
            if (rec.offset < position || c.printed >= c.limit) return;
            print_record(out, c.o.output, c.o.topic, pr.partition_index, rec);
            position = rec.offset + 1;
            ++c.printed;
          },
          [&](std::int64_t next) { position = std::max(position, next); });
      if (!s) {
        return Error::invalid(
            fmt::format("{}/{}: {}", c.o.topic, pr.partition_index, s.error().detail()));
      }
    }
  }
  return {};
}

// One Fetch to each leader of the wanted partitions (waiting up to 500 ms
// in all). A leader that moved or a broker that went away is looked up
// again; true when every leader answered.
Result<bool> fetch_from_leaders(Leaders& leaders, Consumer& c, std::ostream& out,
                                std::string& why) {
  std::map<std::int32_t, std::vector<std::int32_t>> by_leader;
  bool answered = true;
  for (auto p : c.wanted) {
    const auto leader = leaders.leader(p);
    if (leader >= 0) {
      by_leader[leader].push_back(p);
    } else {
      answered = false;
      why = fmt::format("{}/{}: no leader", c.o.topic, p);
    }
  }
  const auto wait = static_cast<std::int32_t>(500 / std::max<std::size_t>(1, by_leader.size()));
  for (const auto& [node, partitions] : by_leader) {
    std::vector<std::int32_t> moved;
    auto client = leaders.broker(node);
    Status s = client ? fetch_and_print(**client, partitions, wait, c, out, moved)
                      : Status(client.error());
    if (!s && s.error().code() == Errc::invalid_argument) return s.error();
    if (!s) {
      leaders.drop(node);
      answered = false;
      why = s.error().detail();
    } else if (!moved.empty()) {
      answered = false;
      why = fmt::format("{}/{}: its leader moved", c.o.topic, moved.front());
    }
  }
  if (!answered) {
    if (auto s = leaders.refresh(); !s) return s.error();
  }
  return answered;
}

}  // namespace

int consume(const CommonOptions& c, const ConsumeOptions& o, Io io) {
  auto from = parse_start_position(o.from);
  if (!from) return usage_error(io, from.error().detail());
  if (o.output != "text" && o.output != "kv" && o.output != "json") {
    return usage_error(io, fmt::format("--output '{}': expected text, kv or json", o.output));
  }
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto leaders = Leaders::open(**client, o.topic, false);
  if (!leaders) return fail(io, leaders.error().detail());
  auto wanted = wanted_partitions(o, (*leaders)->partitions());
  if (!wanted) return fail(io, wanted.error().detail());
  Consumer consumer{
      o, std::move(*wanted), {}, {}, 0, o.count.value_or(std::numeric_limits<std::int64_t>::max())};
  if (auto s = start_positions(**leaders, *from, consumer); !s) {
    return fail(io, s.error().detail());
  }
  // Bounded: each pass advances a position, or (following) waits up to 500
  // ms, or finds a leader moved, at most for the timeout in a row; reading
  // to the end, a timeout with no position moving ends it too.
  // Since when no pass had an answer from every leader (attempt > 0).
  auto unanswered_since = std::chrono::steady_clock::now();
  auto moved_at = unanswered_since;
  int attempt = 0;
  while (consumer.printed < consumer.limit) {
    bool caught_up = true;
    const auto before = consumer.position;
    for (auto p : consumer.wanted) {
      caught_up = caught_up && consumer.position[p] >= consumer.ends[static_cast<std::size_t>(p)];
    }
    if (caught_up && !o.follow) break;
    if (!o.follow && std::chrono::steady_clock::now() - moved_at >= c.timeout) {
      return fail(io, fmt::format("consume {}: no record came for {} ms before the end offsets "
                                  "read at the start",
                                  o.topic, c.timeout.count()));
    }
    std::string why;
    auto answered = fetch_from_leaders(**leaders, consumer, io.out, why);
    if (!answered) return fail(io, answered.error().detail());
    io.out.flush();
    if (consumer.position != before) moved_at = std::chrono::steady_clock::now();
    if (*answered) {
      attempt = 0;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (attempt == 0) unanswered_since = now;
    if (now - unanswered_since >= c.timeout) {
      return fail(io, fmt::format("consume {}: no leader answered within {} ms ({})", o.topic,
                                  c.timeout.count(), why));
    }
    std::this_thread::sleep_for(retry_backoff(attempt++));
  }
  return 0;
}

}  // namespace spate::client
