// SPDX-License-Identifier: Apache-2.0
//
// Broker: the Kafka API semantics (design.md, Modules). One handler per API:
// a decoded request in, a response struct out. handle() takes one request
// frame (without its size prefix) and returns the response frame to send, no
// frame (acks=0), or an error telling the transport to close the connection
// (a frame whose header or body cannot be decoded). It knows nothing of
// sockets (style.md §2.3 rule 6).

#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spate/broker/leader_epoch_floors.h"
#include "spate/broker/metrics.h"
#include "spate/cluster/partition_manager.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/protocol/api_key.h"
#include "spate/protocol/codec.h"
#include "spate/storage/file.h"

namespace spate::groups {
class Coordinator;
}  // namespace spate::groups

namespace spate::cluster {
class Controller;
}  // namespace spate::cluster

namespace spate::broker {

struct BrokerConfig {
  std::int32_t node_id = 0;
  std::string cluster_id;
  std::string advertised_host = "127.0.0.1";
  std::int32_t advertised_port = 9092;
  bool auto_create_topics = true;       // auto.create.topics.enable
  std::int32_t default_partitions = 1;  // num.partitions
  std::size_t frame_bytes_max = 100U << 20U;
  // fetch.max.bytes: the most record bytes one Fetch response carries (past
  // the one batch a consumer always gets). Kafka's default, 55 MiB.
  std::int64_t fetch_bytes_max = 57'671'680;
  // The longest a request waits (Fetch max_wait, Produce and admin timeouts);
  // at most 5 minutes.
  std::int32_t request_wait_max_ms = 5 * 60 * 1000;
  // The most bytes the compressed batches of one Produce request may
  // decompress to in all, past its first one, while the shard validates them
  // (protocol::DecompressBudget, docs/limits.md).
  std::size_t request_decompressed_bytes_max = 32U << 20U;
  // Bounds on decoding any request body; at most 20,000 entries (partitions,
  // topics, resources, names) in one request (docs/limits.md).
  protocol::DecodeLimits decode_limits{.items_total_max = 20'000};
  // The most bytes of group descriptions (members' ids, hosts, metadata,
  // assignments) one DescribeGroups response carries past its first group;
  // later groups get COORDINATOR_NOT_AVAILABLE (retriable: asked again alone,
  // a group is served). Bounds a request naming one big group 20,000 times.
  std::size_t describe_groups_bytes_max = 32U << 20U;
  // Read-only broker configs shown by DescribeConfigs (name, value).
  std::vector<std::pair<std::string, std::string>> broker_configs;
};

// A response frame (size prefix included) as parts sent in order: bytes, then
// optionally a file region spliced in after them (Fetch records, which the
// transport hands to sendfile when the file has a descriptor). The size
// prefix already counts the regions.
struct ResponseFrame {
  struct Part {
    std::vector<std::byte> bytes;
    std::optional<storage::FileSlice> file;
  };
  std::vector<Part> parts;

  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    for (const auto& p : parts) n += p.bytes.size() + (p.file ? p.file->size : 0);
    return n;
  }
  // Every byte in one buffer (reads the file regions). For tests and for
  // transports without sendfile. Errors: the file's.
  [[nodiscard]] Result<std::vector<std::byte>> flatten() const;
};

// The APIs this broker serves, with the version ranges it advertises.
[[nodiscard]] std::span<const protocol::ApiInfo> served_apis();

class Broker {
 public:
  Broker(BrokerConfig config, cluster::PartitionManager& partitions, Metrics& metrics,
         const Clock& clock);

  // Handles one request frame (the bytes after the 4-byte size). Errors mean
  // "close the connection" and say why (for the log).
  // `client_host` is the peer's address as DescribeGroups shows it
  // ("/127.0.0.1"; empty if unknown).
  awaitable<Result<std::optional<ResponseFrame>>> handle(std::vector<std::byte> frame,
                                                         std::string client_host);

  // Every metric in the Prometheus text format (version 0.0.4): request
  // counters and latency histograms by API, bytes, connections, and per
  // partition the log start/end offsets, high watermark and size.
  [[nodiscard]] std::string render_metrics() const;

  // The address Metadata gives clients (known once the listener is bound).
  void set_advertised(std::string host, std::int32_t port) {
    config_.advertised_host = std::move(host);
    config_.advertised_port = port;
  }

  // The group coordinator the group APIs use (none: they answer
  // COORDINATOR_NOT_AVAILABLE). Set before serving.
  void set_coordinator(groups::Coordinator* coordinator) { coordinator_ = coordinator; }
  [[nodiscard]] groups::Coordinator* coordinator() const { return coordinator_; }
  // The cluster's controller (none: a single node; see handlers.h).
  void set_controller(cluster::Controller* controller) { controller_ = controller; }
  [[nodiscard]] cluster::Controller* controller() const { return controller_; }
  [[nodiscard]] const BrokerConfig& config() const { return config_; }
  [[nodiscard]] cluster::PartitionManager& partitions() { return partitions_; }
  [[nodiscard]] Metrics& metrics() { return metrics_; }
  // The leader epochs Metadata named (handlers/cluster_metadata.cpp).
  [[nodiscard]] LeaderEpochFloors& leader_epoch_floors() { return leader_epoch_floors_; }

 private:
  BrokerConfig config_;
  cluster::PartitionManager& partitions_;
  Metrics& metrics_;
  const Clock& clock_;
  groups::Coordinator* coordinator_ = nullptr;
  cluster::Controller* controller_ = nullptr;
  LeaderEpochFloors leader_epoch_floors_;
};

}  // namespace spate::broker
