// SPDX-License-Identifier: Apache-2.0
//
// The Prometheus text exposition of the broker's metrics.

#include <map>

#include <fmt/format.h>

#include "spate/broker/broker.h"
#include "spate/cluster/controller.h"

#include "metrics_groups.h"

namespace spate::broker {

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& v) {
  return v.load(std::memory_order_relaxed);
}

void line(std::string& out, std::string_view text) {
  out.append(text);
  out.push_back('\n');
}

// One unlabelled series with its HELP and TYPE.
void single(std::string& out, const char* name, const char* help, std::uint64_t v,
            const char* type) {
  line(out, fmt::format("# HELP {} {}", name, help));
  line(out, fmt::format("# TYPE {} {}", name, type));
  line(out, fmt::format("{} {}", name, v));
}

// Requests, errors and latency histograms by API.
void render_api_metrics(const Metrics& metrics, std::string& out) {
  line(out, "# HELP spate_requests_total Requests handled, by API.");
  line(out, "# TYPE spate_requests_total counter");
  for (const auto& api : served_apis()) {
    const auto& m = metrics.apis[static_cast<std::size_t>(api.key)];
    line(out, fmt::format("spate_requests_total{{api=\"{}\"}} {}", api.name, load(m.requests)));
  }
  line(out, "# HELP spate_request_errors_total Requests answered with an error code, by API.");
  line(out, "# TYPE spate_request_errors_total counter");
  for (const auto& api : served_apis()) {
    const auto& m = metrics.apis[static_cast<std::size_t>(api.key)];
    line(out, fmt::format("spate_request_errors_total{{api=\"{}\"}} {}", api.name, load(m.errors)));
  }
  line(out,
       "# HELP spate_request_latency_seconds Time from a whole request read to its response, by "
       "API.");
  line(out, "# TYPE spate_request_latency_seconds histogram");
  for (const auto& api : served_apis()) {
    const auto& m = metrics.apis[static_cast<std::size_t>(api.key)];
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kLatencyBucketsUs.size(); ++b) {
      cumulative += load(m.latency_buckets[b]);
      line(out, fmt::format("spate_request_latency_seconds_bucket{{api=\"{}\",le=\"{}\"}} {}",
                            api.name, static_cast<double>(kLatencyBucketsUs[b]) / 1e6, cumulative));
    }
    cumulative += load(m.latency_buckets[kLatencyBucketsUs.size()]);
    line(out, fmt::format("spate_request_latency_seconds_bucket{{api=\"{}\",le=\"+Inf\"}} {}",
                          api.name, cumulative));
    line(out, fmt::format("spate_request_latency_seconds_sum{{api=\"{}\"}} {}", api.name,
                          static_cast<double>(load(m.latency_sum_us)) / 1e6));
    line(out,
         fmt::format("spate_request_latency_seconds_count{{api=\"{}\"}} {}", api.name, cumulative));
  }
}

// The broker-wide counters and gauges, one row each.
void render_scalars(const Metrics& metrics, std::string& out) {
  struct Scalar {
    const char* name;
    const char* help;
    const char* type;
    std::atomic<std::uint64_t> Metrics::*value;
  };
  static constexpr Scalar kScalars[] = {
      {"spate_bytes_in_total", "Request bytes received.", "counter", &Metrics::bytes_in},
      {"spate_bytes_out_total", "Response bytes sent.", "counter", &Metrics::bytes_out},
      {"spate_connections", "Open client connections.", "gauge", &Metrics::connections_open},
      {"spate_connections_accepted_total", "Client connections accepted.", "counter",
       &Metrics::connections_total},
      {"spate_connections_rejected_total", "Connections refused at the connection limit.",
       "counter", &Metrics::connections_rejected},
      {"spate_malformed_requests_total",
       "Requests that closed their connection (unreadable frame, header or body).", "counter",
       &Metrics::malformed_requests},
      {"spate_memory_budget_bytes",
       "Broker-wide budget for request and response bytes in memory (--max-queued-bytes).", "gauge",
       &Metrics::memory_budget_bytes},
      {"spate_memory_used_bytes", "Request and response bytes held in memory now.", "gauge",
       &Metrics::memory_used_bytes},
      {"spate_memory_waiting_connections",
       "Connections whose reader waits for the memory budget now.", "gauge",
       &Metrics::memory_waiters},
      {"spate_memory_waits_total", "Times a connection's reader waited for the memory budget.",
       "counter", &Metrics::memory_waits},
      {"spate_queued_response_bytes", "Response bytes built and not yet sent (all connections).",
       "gauge", &Metrics::queued_response_bytes},
      {"spate_connections_closed_write_timeout_total",
       "Connections closed because the peer read nothing for --write-timeout-ms.", "counter",
       &Metrics::connections_closed_write_timeout},
      {"spate_connections_closed_request_timeout_total",
       "Connections closed because the peer stopped inside a request for --write-timeout-ms.",
       "counter", &Metrics::connections_closed_request_timeout},
      {"spate_connections_closed_idle_total",
       "Connections closed after --idle-timeout-ms without a request.", "counter",
       &Metrics::connections_closed_idle},
      {"spate_accept_errors_total",
       "Failed accepts on the client listener (e.g. out of descriptors).", "counter",
       &Metrics::accept_errors},
  };
  for (const auto& row : kScalars)
    single(out, row.name, row.help, load(metrics.*row.value), row.type);
}

// Partition counts and limits, fenced and refusing partitions, the cleaner.
void render_partition_counters(const cluster::PartitionManager& partitions, std::string& out) {
  single(out, "spate_partitions", "Partitions on this broker.", partitions.partition_count(),
         "gauge");
  single(out, "spate_partitions_limit", "Partitions this broker holds at most (--max-partitions).",
         partitions.limits().partitions_max, "gauge");
  single(out, "spate_topics", "Topics on this broker.", partitions.topics().size(), "gauge");
  single(out, "spate_topics_limit", "Topics this broker holds at most (--max-topics).",
         partitions.limits().topics_max, "gauge");
  single(out, "spate_open_segment_files", "Sealed segment files kept open (all partitions).",
         partitions.segment_files().open_count(), "gauge");
  single(out, "spate_open_segment_files_limit",
         "Sealed segment files kept open at most (--max-open-segment-files).",
         partitions.segment_files().capacity(), "gauge");
  std::size_t fenced = 0;
  std::size_t refusing = 0;
  if (!partitions.closing()) {
    for (const auto& [name, topic] : partitions.topics()) {
      for (const auto& p : topic.partitions) {
        if (!p) continue;  // a cluster partition held by other brokers
        const auto status = p->status();
        if (status.fenced) {
          ++fenced;
        } else if (!status.writable) {
          ++refusing;
        }
      }
    }
  }
  single(out, "spate_partitions_fenced",
         "Partitions fenced after a failed fsync or EIO (reads only, until a restart).", fenced,
         "gauge");
  single(out, "spate_partitions_refusing_writes",
         "Partitions refusing writes for now (full disk or no descriptors; they resume).", refusing,
         "gauge");
  const auto& cleaner = partitions.cleaner();
  single(out, "spate_log_cleaner_runs_total", "Compaction passes finished (all partitions).",
         cleaner.runs.load(), "counter");
  single(out, "spate_log_cleaner_failures_total",
         "Compaction passes that failed or were cancelled.", cleaner.failures.load(), "counter");
  single(out, "spate_log_cleaner_read_bytes_total", "Segment bytes read by compaction passes.",
         cleaner.bytes_read.load(), "counter");
  single(out, "spate_log_cleaner_written_bytes_total",
         "Segment bytes written by compaction passes.", cleaner.bytes_written.load(), "counter");
  single(out, "spate_log_cleaner_records_removed_total",
         "Records compaction removed (superseded keys and expired tombstones).",
         cleaner.records_removed.load(), "counter");
  single(out, "spate_topic_operations_queued",
         "Topic operations (create, delete, add partitions, alter configs) running or waiting.",
         partitions.admin_queue(), "gauge");
}

// Per-partition offsets, sizes and compaction progress.
void render_partition_gauges(const cluster::PartitionManager& partitions, std::string& out) {
  struct Gauge {
    const char* name;
    const char* help;
  };
  const Gauge gauges[] = {
      {"spate_log_start_offset", "First offset of the partition log."},
      {"spate_log_end_offset", "Offset after the last record of the partition log."},
      {"spate_high_watermark", "Offset below which records are committed and readable."},
      {"spate_log_size_bytes", "Bytes of the partition's segments."},
      {"spate_log_last_clean_timestamp_ms",
       "Wall-clock ms of the partition's last finished compaction pass (0: none since start)."},
      {"spate_log_clean_point", "Offset below which the partition's log is compacted."},
  };
  // Closed partitions' logs belong to the threads that closed them.
  for (std::size_t g = 0; g < std::size(gauges) && !partitions.closing(); ++g) {
    line(out, fmt::format("# HELP {} {}", gauges[g].name, gauges[g].help));
    line(out, fmt::format("# TYPE {} gauge", gauges[g].name));
    for (const auto& [name, topic] : partitions.topics()) {
      for (std::size_t i = 0; i < topic.partitions.size(); ++i) {
        if (!topic.partitions[i]) continue;
        const auto& p = *topic.partitions[i];
        std::int64_t v = 0;
        switch (g) {
          case 0:
            v = p.start_offset().value();
            break;
          case 1:
            v = p.end_offset().value();
            break;
          case 2:
            v = p.high_watermark().value();
            break;
          case 3:
            v = static_cast<std::int64_t>(p.status().size_bytes);
            break;
          case 4:
            v = p.last_clean_ms();
            break;
          default:
            v = p.clean_point().value();
        }
        line(out,
             fmt::format("{}{{topic=\"{}\",partition=\"{}\"}} {}", gauges[g].name, name, i, v));
      }
    }
  }
}

// A cluster broker: the cluster as its controller state says (every broker
// reports the same), and what this broker leads.
void render_cluster_metrics(const cluster::Controller& controller,
                            const cluster::PartitionManager& partitions, std::string& out) {
  const auto& state = controller.state();
  std::uint64_t alive = 0;
  for (const auto& [id, b] : state.brokers()) alive += b.fenced ? 0 : 1;
  std::uint64_t leaderless = 0;
  std::uint64_t under_replicated = 0;
  for (const auto& [id, t] : state.topics()) {
    for (const auto& p : t.partitions) {
      if (p.leader == cluster::kNoLeader || !state.alive(p.leader)) ++leaderless;
      if (!state.offline_replicas(p).empty() ||
          (!p.isr.empty() && p.isr.size() < p.replicas.size())) {
        ++under_replicated;
      }
    }
  }
  std::uint64_t led = 0;
  // Per peer over the partitions led here: the largest lag, and how many
  // partitions it is out of sync in (bounded by the brokers, not partitions).
  std::map<NodeId, std::pair<std::int64_t, std::uint64_t>> peers;
  if (!partitions.closing()) {
    for (const auto& [name, topic] : partitions.topics()) {
      for (const auto& p : topic.partitions) {
        if (!p || topic.id == 0 || p->closed() || !p->leader()) continue;
        ++led;
        for (const auto& f : p->followers_progress()) {
          auto& [lag, out_of_sync] = peers[f.node];
          lag = std::max(lag, f.lag);
          out_of_sync += f.in_sync ? 0 : 1;
        }
      }
    }
  }
  single(out, "spate_cluster_brokers", "Brokers registered with the controller.",
         state.brokers().size(), "gauge");
  single(out, "spate_cluster_brokers_alive", "Registered brokers not fenced (heartbeating).", alive,
         "gauge");
  single(out, "spate_cluster_partitions_leaderless",
         "Partitions of the cluster without a live leader.", leaderless, "gauge");
  single(out, "spate_cluster_partitions_under_replicated",
         "Partitions of the cluster with a replica offline or out of sync.", under_replicated,
         "gauge");
  single(out, "spate_partitions_led", "Cluster partitions this broker leads (confirmed).", led,
         "gauge");
  line(
      out,
      "# HELP spate_replica_lag_offsets Largest lag (leader log end minus the follower's match) of "
      "a peer over the partitions this broker leads.");
  line(out, "# TYPE spate_replica_lag_offsets gauge");
  for (const auto& [peer, v] : peers) {
    line(out, fmt::format("spate_replica_lag_offsets{{peer=\"{}\"}} {}", peer, v.first));
  }
  line(out,
       "# HELP spate_replica_out_of_sync_partitions Partitions this broker leads in which the peer "
       "is not in sync (replica.lag.time.max.ms).");
  line(out, "# TYPE spate_replica_out_of_sync_partitions gauge");
  for (const auto& [peer, v] : peers) {
    line(out,
         fmt::format("spate_replica_out_of_sync_partitions{{peer=\"{}\"}} {}", peer, v.second));
  }
  if (const auto* counters = partitions.replica_context().counters; counters != nullptr) {
    single(out, "spate_raft_elections_total",
           "Elections this broker's replicas started (became candidates).",
           counters->elections.load(std::memory_order_relaxed), "counter");
    single(out, "spate_raft_leader_changes_total",
           "Times a replica on this broker learned of a new leader (another node or term).",
           counters->leader_changes.load(std::memory_order_relaxed), "counter");
  }
  single(out, "spate_controller_leader", "1 if this broker leads the controller group.",
         controller.is_leader() ? 1 : 0, "gauge");
  single(out, "spate_controller_applied_index", "The controller log index this broker applied.",
         static_cast<std::uint64_t>(std::max<std::int64_t>(state.applied_index(), 0)), "gauge");
}

}  // namespace

std::string Broker::render_metrics() const {
  std::string out;
  render_api_metrics(metrics_, out);
  render_scalars(metrics_, out);
  render_partition_counters(partitions_, out);
  render_partition_gauges(partitions_, out);
  if (coordinator_ != nullptr) render_group_metrics(*coordinator_, partitions_, out);
  if (controller_ != nullptr) render_cluster_metrics(*controller_, partitions_, out);
  return out;
}

}  // namespace spate::broker
