// SPDX-License-Identifier: Apache-2.0
//
// CLI11 wiring for spated's settings, and their validation.

#include "options.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <CLI/CLI.hpp>

#include "spate/cluster/topic_config.h"

namespace spate::apps {
namespace {

template <typename T>
CLI::Option* add(CLI::App& app, T& value, const std::string& name, const std::string& help) {
  std::string env = "SPATE_";
  for (char c : name) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return app.add_option("--" + name, value, help)->envname(env)->capture_default_str();
}

}  // namespace

Result<HostPort> parse_host_port(const std::string& text, const std::string& setting) {
  const auto bad = [&](const std::string& why) {
    return Error::invalid(fmt::format("--{} '{}': {} (expected HOST:PORT)", setting, text, why));
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("no host or port");
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') return bad("unbalanced brackets");
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
    return bad("port is not a number from 0 to 65535");
  }
  return HostPort{host, static_cast<std::uint16_t>(port)};
}

Parsed parse_options(int argc, char** argv) {
  Parsed parsed;
  DaemonConfig& c = parsed.config;
  CLI::App app{
      "spated: the Spate broker (Kafka wire protocol). With no arguments, a "
      "single-node broker on 0.0.0.0:9092 with its data in ./spate-data."};
  app.set_config("--config", "",
                 "TOML file with any of these settings (key = flag name "
                 "with _ for -)");
  app.allow_config_extras(CLI::config_extras_mode::error);
  add(app, c.node_id, "node-id", "this broker's id, unique in the cluster");
  add(app, c.data_dir, "data-dir", "where partitions and state live");
  add(app, c.listen, "listen", "Kafka-protocol listener for clients, HOST:PORT");
  add(app, c.advertise, "advertise",
      "address given to clients in Metadata (default: the listen address, 127.0.0.1 for "
      "0.0.0.0)");
  add(app, c.cluster_listen, "cluster-listen",
      "inter-broker listener, HOST:PORT (bound only with seeds: a single node needs none)");
  add(app, c.admin_listen, "admin-listen", "HTTP listener for /metrics and /health, HOST:PORT");
  add(app, c.seeds, "seeds",
      "controller voters, ID@HOST:PORT,... by cluster address (default: this node alone, a "
      "single-node broker); this broker reaches the voters at these addresses, whatever "
      "address they registered (a proxy or NAT may stand in between). A broker whose "
      "--node-id is not among them joins the cluster: it registers its --cluster-listen "
      "address and follows the controller's log as a non-voting learner");
  add(app, c.replica_lag_time_max_ms, "replica-lag-time-max-ms",
      "a follower that has not caught up with its leader's log for this long leaves the "
      "in-sync replicas (replica.lag.time.max.ms)");
  add(app, c.leader_rebalance_interval_ms, "leader-rebalance-interval-ms",
      "how often each leader hands partitions back to their preferred (first) replica when it "
      "is alive and in sync; 0 = never (auto.leader.rebalance.enable)");
  add(app, c.broker_session_timeout_ms, "broker-session-timeout-ms",
      "the controller leader fences a broker whose heartbeats stopped for this long: its "
      "replicas leave every in-sync set and it gets no new replica until they resume "
      "(broker.session.timeout.ms)");
  add(app, c.log_level, "log-level", "trace, debug, info, warn, error or critical");
  add(app, c.ready_file, "ready-file", "file written once the broker serves (for tests)");
  add(app, c.auto_create_topics, "auto-create-topics",
      "create a topic on first use in Metadata (auto.create.topics.enable)");
  add(app, c.num_partitions, "num-partitions", "partitions of an auto-created topic");
  add(app, c.max_topics, "max-topics", "topics this broker holds at most");
  add(app, c.max_partitions, "max-partitions",
      "partitions this broker holds at most, all topics together");
  add(app, c.max_request_entries, "max-request-entries",
      "array items (partitions, topics, names) one request may carry");
  add(app, c.fetch_max_bytes, "fetch-max-bytes",
      "record bytes one Fetch response carries at most, past its first batch (fetch.max.bytes)");
  add(app, c.max_request_decompressed_bytes, "max-request-decompressed-bytes",
      "bytes the compressed batches of one Produce request may decompress to in all, past its "
      "first one, while they are validated");
  add(app, c.max_connections, "max-connections", "client connections accepted at once");
  add(app, c.idle_timeout_ms, "idle-timeout-ms", "close a client connection idle this long");
  add(app, c.max_frame_bytes, "max-frame-bytes", "largest request frame accepted");
  add(app, c.max_inflight_requests, "max-inflight-requests",
      "requests read ahead per connection before reading pauses");
  add(app, c.max_queued_bytes, "max-queued-bytes",
      "request and response bytes held in memory, all connections together, before reading "
      "pauses (queued.max.request.bytes)");
  add(app, c.max_queued_response_bytes, "max-queued-response-bytes",
      "unsent response bytes per connection before reading from it pauses");
  add(app, c.write_timeout_ms, "write-timeout-ms",
      "close a client connection that reads none of its responses, or sends none of a request "
      "it started, for this long");
  add(app, c.shutdown_grace_ms, "shutdown-grace-ms",
      "on SIGTERM, time given to in-flight requests before connections close");
  add(app, c.segment_bytes_max, "segment-bytes-max", "roll a segment at this size (segment.bytes)");
  add(app, c.segment_ms, "segment-ms", "roll a segment at this age (segment.ms)");
  add(app, c.retention_ms, "retention-ms", "delete segments older than this; -1 = forever");
  add(app, c.retention_bytes, "retention-bytes",
      "delete old segments while a partition is larger; -1 = no limit");
  add(app, c.max_message_bytes, "max-message-bytes", "largest record batch accepted");
  add(app, c.index_interval_bytes, "index-interval-bytes", "one index entry per this many bytes");
  add(app, c.flush_policy, "flush-policy",
      "always (fsync before acknowledging; group commit), interval or none");
  add(app, c.flush_interval_ms, "flush-interval-ms", "fsync period for flush-policy=interval");
  add(app, c.max_open_segment_files, "max-open-segment-files",
      "sealed segment files kept open for reads, across all partitions (LRU)");
  add(app, c.max_producer_ids_per_partition, "max-producer-ids-per-partition",
      "idempotent producers each partition remembers; past it the least recently active goes");
  add(app, c.producer_id_expiration_ms, "producer-id-expiration-ms",
      "forget an idempotent producer silent this long (transactional.id.expiration.ms)");
  add(app, c.offsets_topic_partitions, "offsets-topic-partitions",
      "partitions of __consumer_offsets when it is created (offsets.topic.num.partitions)");
  add(app, c.offsets_retention_minutes, "offsets-retention-minutes",
      "committed offsets of a group without members expire this long after their commit");
  add(app, c.group_min_session_timeout_ms, "group-min-session-timeout-ms",
      "shortest session timeout a consumer may ask for");
  add(app, c.group_max_session_timeout_ms, "group-max-session-timeout-ms",
      "longest session timeout a consumer may ask for");
  add(app, c.group_max_size, "group-max-size", "most members in one consumer group");
  add(app, c.max_groups, "max-groups", "most consumer groups this broker coordinates");
  add(app, c.max_offsets_bytes, "max-offsets-bytes",
      "most bytes committed offsets of all groups may take in memory");
  bool print_config = false;
  // Not a setting: a config file written by --print-config must start a broker.
  app.add_flag("--print-config", print_config, "print the effective configuration as TOML and exit")
      ->configurable(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    parsed.outcome = ParseOutcome::exit_ok;
    parsed.message = app.help();
    return parsed;
  } catch (const CLI::ConfigError& e) {
    parsed.outcome = ParseOutcome::exit_error;
    parsed.message = fmt::format(
        "spated: --config file: {} (an unknown setting or a bad value; "
        "keys are the flag names, e.g. segment-bytes-max = 1073741824)",
        e.what());
    return parsed;
  } catch (const CLI::ParseError& e) {
    parsed.outcome = ParseOutcome::exit_error;
    parsed.message = fmt::format("spated: {}", e.what());
    return parsed;
  }
  if (print_config) {
    parsed.outcome = ParseOutcome::exit_ok;
    parsed.message = app.config_to_str(true, true);
  }
  return parsed;
}

Result<std::vector<Seed>> parse_seeds(const std::string& text) {
  std::vector<Seed> out;
  if (text.empty()) return out;
  std::size_t at = 0;
  // Bounded: each pass consumes one entry of the text.
  while (at <= text.size()) {
    const auto comma = std::min(text.find(',', at), text.size());
    const std::string entry = text.substr(at, comma - at);
    at = comma + 1;
    const auto sep = entry.find('@');
    if (sep == std::string::npos || sep == 0) {
      return Error::invalid(fmt::format("--seeds entry '{}' is not ID@HOST:PORT", entry));
    }
    const std::string id_text = entry.substr(0, sep);
    std::int32_t id = -1;
    const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc{} || end != id_text.data() + id_text.size() || id < 0) {
      return Error::invalid(
          fmt::format("--seeds entry '{}': '{}' is not a node id", entry, id_text));
    }
    auto hp = parse_host_port(entry.substr(sep + 1), "seeds");
    if (!hp) return hp.error();
    if (hp->port == 0 || hp->host == "0.0.0.0" || hp->host == "::") {
      return Error::invalid(
          fmt::format("--seeds entry '{}' must be an address other brokers can reach", entry));
    }
    for (const auto& s : out) {
      if (s.id == id) return Error::invalid(fmt::format("--seeds names node {} twice", id));
    }
    if (out.size() == kSeedsMax) {
      return Error::invalid(fmt::format("--seeds names more than {} voters", kSeedsMax));
    }
    out.push_back({id, std::move(*hp)});
    if (comma == text.size()) break;
  }
  return out;
}

namespace {

// A broker outside --seeds joins as a learner and registers its
// --cluster-listen address, which the voters must reach; a broker whose id is
// a seed's must be that seed, not a second broker with a copied id.
Status validate_cluster_address(const DaemonConfig& c, const std::vector<Seed>& seeds) {
  if (seeds.empty()) return Status{};
  auto listen = parse_host_port(c.cluster_listen, "cluster-listen");
  if (!listen) return listen.error();
  const auto self =
      std::find_if(seeds.begin(), seeds.end(), [&](const Seed& s) { return s.id == c.node_id; });
  if (self != seeds.end()) {
    // The same host with another port cannot be this seed (short of a proxy
    // on its own host): most likely a copied command line.
    if (listen->host == self->address.host && listen->port != self->address.port) {
      return Error::invalid(fmt::format(
          "--node-id {} is seed {}@{}:{}, but --cluster-listen {} is another address on that "
          "host: a broker joining the cluster needs a node id of its own, outside --seeds",
          c.node_id, self->id, self->address.host, self->address.port, c.cluster_listen));
    }
    return Status{};
  }
  if (listen->port == 0 || listen->host == "0.0.0.0" || listen->host == "::") {
    return Error::invalid(fmt::format(
        "--node-id {} is outside --seeds, so it joins the cluster and registers its "
        "--cluster-listen address for the voters to reach: '{}' must name a host and port "
        "they can reach, not a wildcard",
        c.node_id, c.cluster_listen));
  }
  for (const auto& s : seeds) {
    if (s.address.host == listen->host && s.address.port == listen->port) {
      return Error::invalid(fmt::format(
          "--cluster-listen {} is the address of seed {}: a broker outside --seeds (node {}) "
          "needs its own",
          c.cluster_listen, s.id, c.node_id));
    }
  }
  return Status{};
}

}  // namespace

Status validate(const DaemonConfig& c) {
  if (c.node_id < 0) return Error::invalid(fmt::format("--node-id {} must be >= 0", c.node_id));
  if (c.data_dir.empty()) return Error::invalid("--data-dir must not be empty");
  for (const auto& [value, name] :
       {std::pair{c.listen, "listen"}, std::pair{c.cluster_listen, "cluster-listen"},
        std::pair{c.admin_listen, "admin-listen"}}) {
    if (auto hp = parse_host_port(value, name); !hp) return hp.error();
  }
  auto seeds = parse_seeds(c.seeds);
  if (!seeds) return seeds.error();
  if (auto s = validate_cluster_address(c, *seeds); !s) return s;
  if (!c.advertise.empty()) {
    auto hp = parse_host_port(c.advertise, "advertise");
    if (!hp) return hp.error();
    if (hp->host == "0.0.0.0" || hp->port == 0) {
      return Error::invalid(
          fmt::format("--advertise '{}' must be an address clients can reach", c.advertise));
    }
  }
  static const std::vector<std::string> levels = {"trace", "debug", "info",
                                                  "warn",  "error", "critical"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end()) {
    return Error::invalid(fmt::format(
        "--log-level '{}' (expected trace, debug, info, warn, error or critical)", c.log_level));
  }
  auto policy = storage::parse_flush_policy(c.flush_policy);
  if (!policy) return Error::invalid(fmt::format("--flush-policy: {}", policy.error().detail()));
  if (c.max_topics < 1) return Error::invalid("--max-topics must be at least 1");
  if (c.max_partitions < 1) return Error::invalid("--max-partitions must be at least 1");
  if (c.max_request_entries < 1) return Error::invalid("--max-request-entries must be at least 1");
  // A response must stay under 2 GiB with one batch of the largest size past it.
  constexpr std::int64_t kFetchBytesCeiling = (std::int64_t{1} << 30);
  if (c.fetch_max_bytes < 1 || c.fetch_max_bytes > kFetchBytesCeiling) {
    return Error::invalid(fmt::format("--fetch-max-bytes {} must be in [1, {}]", c.fetch_max_bytes,
                                      kFetchBytesCeiling));
  }
  constexpr std::int64_t kDecompressedCeiling = std::int64_t{4} << 30;
  if (c.max_request_decompressed_bytes < 1 ||
      c.max_request_decompressed_bytes > kDecompressedCeiling) {
    return Error::invalid(fmt::format("--max-request-decompressed-bytes {} must be in [1, {}]",
                                      c.max_request_decompressed_bytes, kDecompressedCeiling));
  }
  if (c.segment_ms <= 0)
    return Error::invalid(fmt::format("--segment-ms {} must be > 0", c.segment_ms));
  if (c.flush_interval_ms <= 0) {
    return Error::invalid(fmt::format("--flush-interval-ms {} must be > 0", c.flush_interval_ms));
  }
  if (c.num_partitions < 1 || c.num_partitions > 10000) {
    return Error::invalid(
        fmt::format("--num-partitions {} must be in [1, 10000]", c.num_partitions));
  }
  if (c.max_connections < 1) return Error::invalid("--max-connections must be >= 1");
  if (c.max_open_segment_files < 1) {
    return Error::invalid("--max-open-segment-files must be >= 1");
  }
  if (c.max_producer_ids_per_partition < 1) {
    return Error::invalid("--max-producer-ids-per-partition must be >= 1");
  }
  if (c.producer_id_expiration_ms < 1) {
    return Error::invalid("--producer-id-expiration-ms must be >= 1");
  }
  if (c.offsets_topic_partitions < 1 || c.offsets_topic_partitions > 1000) {
    return Error::invalid(fmt::format("--offsets-topic-partitions {} must be in [1, 1000]",
                                      c.offsets_topic_partitions));
  }
  if (c.offsets_retention_minutes < 1) {
    return Error::invalid("--offsets-retention-minutes must be >= 1");
  }
  if (c.group_min_session_timeout_ms < 1 ||
      c.group_max_session_timeout_ms < c.group_min_session_timeout_ms) {
    return Error::invalid(fmt::format(
        "--group-min-session-timeout-ms {} must be >= 1 and <= --group-max-session-timeout-ms {}",
        c.group_min_session_timeout_ms, c.group_max_session_timeout_ms));
  }
  if (c.group_max_size < 1) return Error::invalid("--group-max-size must be >= 1");
  if (c.max_groups < 1) return Error::invalid("--max-groups must be >= 1");
  if (c.max_offsets_bytes < 1024 * 1024) {
    return Error::invalid(
        fmt::format("--max-offsets-bytes {} must be >= 1048576", c.max_offsets_bytes));
  }
  if (c.idle_timeout_ms <= 0) {
    return Error::invalid(fmt::format("--idle-timeout-ms {} must be > 0", c.idle_timeout_ms));
  }
  if (c.max_frame_bytes < 1024) {
    return Error::invalid(fmt::format("--max-frame-bytes {} must be >= 1024", c.max_frame_bytes));
  }
  if (c.max_inflight_requests < 1) return Error::invalid("--max-inflight-requests must be >= 1");
  if (c.max_queued_bytes < 1024 * 1024) {
    return Error::invalid(
        fmt::format("--max-queued-bytes {} must be >= 1048576", c.max_queued_bytes));
  }
  if (c.max_queued_response_bytes < 1024) {
    return Error::invalid(
        fmt::format("--max-queued-response-bytes {} must be >= 1024", c.max_queued_response_bytes));
  }
  if (c.write_timeout_ms <= 0) {
    return Error::invalid(fmt::format("--write-timeout-ms {} must be > 0", c.write_timeout_ms));
  }
  if (c.replica_lag_time_max_ms < 100) {
    return Error::invalid(
        fmt::format("--replica-lag-time-max-ms {} must be >= 100", c.replica_lag_time_max_ms));
  }
  if (c.leader_rebalance_interval_ms < 0) {
    return Error::invalid(fmt::format("--leader-rebalance-interval-ms {} must be >= 0",
                                      c.leader_rebalance_interval_ms));
  }
  // A heartbeat goes every second (ControllerConfig::broker_heartbeat).
  if (c.broker_session_timeout_ms < 2000 || c.broker_session_timeout_ms > 3'600'000) {
    return Error::invalid(fmt::format(
        "--broker-session-timeout-ms {} must be between 2000 and 3600000 (heartbeats go every "
        "second)",
        c.broker_session_timeout_ms));
  }
  if (c.shutdown_grace_ms < 0) {
    return Error::invalid(fmt::format("--shutdown-grace-ms {} must be >= 0", c.shutdown_grace_ms));
  }
  if (c.segment_bytes_max < c.max_message_bytes) {
    return Error::invalid(
        fmt::format("--segment-bytes-max {} is smaller than --max-message-bytes {}",
                    c.segment_bytes_max, c.max_message_bytes));
  }
  if (auto s = storage::validate(log_config(c)); !s) {
    return Error::invalid(fmt::format("storage settings: {}", s.error().detail()));
  }
  return {};
}

storage::LogConfig log_config(const DaemonConfig& c) {
  storage::LogConfig l;
  l.segment_bytes_max = c.segment_bytes_max;
  l.segment_age_max = std::chrono::milliseconds(std::min(c.segment_ms, cluster::kDurationMsMax));
  l.retention_ms = c.retention_ms;
  l.retention_bytes = c.retention_bytes;
  l.batch_bytes_max = c.max_message_bytes;
  l.index_interval_bytes = c.index_interval_bytes;
  auto policy = storage::parse_flush_policy(c.flush_policy);
  l.flush_policy = policy ? *policy : storage::FlushPolicy::always;
  l.flush_interval =
      std::chrono::milliseconds(std::min(c.flush_interval_ms, cluster::kDurationMsMax));
  l.producer_ids_max = c.max_producer_ids_per_partition;
  l.producer_id_expiration_ms = c.producer_id_expiration_ms;
  return l;
}

groups::CoordinatorConfig coordinator_config(const DaemonConfig& c) {
  groups::CoordinatorConfig g;
  g.offsets_partitions = c.offsets_topic_partitions;
  g.offsets_retention_ms =
      std::min<std::int64_t>(c.offsets_retention_minutes, cluster::kDurationMsMax / 60'000) *
      60'000;
  g.groups_max = c.max_groups;
  g.offsets_bytes_max = c.max_offsets_bytes;
  g.limits.session_timeout_min_ms = c.group_min_session_timeout_ms;
  g.limits.session_timeout_max_ms = c.group_max_session_timeout_ms;
  g.limits.members_max = c.group_max_size;
  return g;
}

}  // namespace spate::apps
