// SPDX-License-Identifier: Apache-2.0
//
// Private to client: helpers shared by the subcommands and the benchmark.

#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "spate/client/client.h"
#include "spate/client/commands.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/record_batch.h"

namespace spate::client {

// Writes "spate: <message>" to err; returns 1.
int fail(Io io, const std::string& message);
// The same for a bad flag value (a usage error); returns 2.
int usage_error(Io io, const std::string& message);

// Connects, or reports why not and returns nullopt.
std::optional<std::unique_ptr<Client>> connect_or_report(const CommonOptions& c, Io io);

// The Kafka name of an error code ("UNKNOWN_TOPIC_OR_PARTITION"), or "error N".
std::string error_name(std::int16_t code);

Result<protocol::MetadataResponse> metadata(Client& client,
                                            std::optional<std::vector<std::string>> topics,
                                            bool auto_create = false);

// Whether a partition error means its leader moved or is being elected
// (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, FENCED_/UNKNOWN_LEADER_EPOCH):
// ask Metadata again and retry there.
bool leader_moved(std::int16_t error_code);

// The brokers that lead one topic's partitions, as Metadata names them, and
// a connection to each, opened when first needed (a cluster of one broker:
// the bootstrap connection itself). Requests for a partition go to its
// leader; after a leader moved, refresh() asks Metadata again.
class Leaders {
 public:
  // Errors: not_found naming the topic, invalid (its error), malformed.
  static Result<std::unique_ptr<Leaders>> open(Client& bootstrap, const std::string& topic,
                                               bool auto_create);
  [[nodiscard]] const std::string& topic() const { return topic_.name; }
  [[nodiscard]] const protocol::MetadataResponseTopic& topic_info() const { return topic_; }
  [[nodiscard]] std::int32_t partitions() const {
    return static_cast<std::int32_t>(topic_.partitions.size());
  }
  // The node id of the partition's leader; -1 while none is known.
  [[nodiscard]] std::int32_t leader(std::int32_t partition) const;
  // A connection to broker `node`. Errors: not_found (not a listed broker),
  // io_error, timeout.
  Result<Client*> broker(std::int32_t node);
  // Where broker `node` listens (the bootstrap's address in a cluster of
  // one). Errors: not_found, as broker().
  Result<Endpoint> endpoint(std::int32_t node) const;
  // Closes the connection to `node` (a call on it failed); the next
  // broker(node) connects again (in a cluster of one, to the bootstrap
  // address, whose own connection is no longer used).
  void drop(std::int32_t node);
  // Asks the bootstrap broker's Metadata again. A topic that lost or
  // gained partitions meanwhile is an error (invalid).
  Status refresh();
  [[nodiscard]] std::chrono::milliseconds timeout() const { return bootstrap_.options().timeout; }

 private:
  explicit Leaders(Client& bootstrap) : bootstrap_(bootstrap) {}
  // Errors: unavailable (the topic's leader is not available: ask again),
  // not_found, invalid, malformed.
  Status take(protocol::MetadataResponse md, bool from_bootstrap);

  Client& bootstrap_;
  protocol::MetadataResponseTopic topic_;
  std::map<std::int32_t, Endpoint> brokers_;
  std::map<std::int32_t, std::string> unusable_;  // listed without a usable address: why
  std::map<std::int32_t, std::unique_ptr<Client>> clients_;
  bool single_ = false;          // one broker listed: the bootstrap one
  std::int32_t single_id_ = -1;  // its id
  bool bootstrap_dropped_ = false;
};

// Where each partition's leader listens, once every partition has one
// (a topic just created is electing them), asking Metadata again within the
// timeout. Errors: timeout naming a leaderless partition, Metadata's.
Result<std::vector<Endpoint>> leader_endpoints(Leaders& leaders);

// Where the broker coordinating `group` listens (in a cluster, the leader of
// its __consumer_offsets partition; `client`'s own endpoint when the cluster
// has one broker), asking again within the timeout while one is being
// elected. Errors: invalid (the broker's error), malformed (no
// address), timeout, the call's.
Result<Endpoint> find_coordinator(Client& client, const std::string& group);

// Between two tries after a leader moved: 50, 100, ... up to 1,000 ms.
std::chrono::milliseconds retry_backoff(int attempt);

// Calls `attempt()` until it returns a value or an error other than
// `unavailable` (retry later), for up to `timeout` and 64 tries, sleeping
// retry_backoff between tries. Then the last result.
template <typename F>
auto retry_unavailable(std::chrono::milliseconds timeout, F&& attempt) -> decltype(attempt()) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Bounded by the deadline and 64 tries.
  for (int n = 0;; ++n) {
    auto r = attempt();
    if (r || r.error().code() != Errc::unavailable || n >= 63 ||
        std::chrono::steady_clock::now() + retry_backoff(n) >= deadline) {
      return r;
    }
    std::this_thread::sleep_for(retry_backoff(n));
  }
}

// ListOffsets at `timestamp` (-1 latest, -2 earliest) for every partition,
// each asked of its leader (after a leader moved: of the new one, within the
// timeout). `only`: these partitions alone (the others stay -1).
Result<std::vector<std::int64_t>> list_offsets(Leaders& leaders, std::int64_t timestamp,
                                               const std::vector<std::int32_t>* only = nullptr);

Result<std::int16_t> parse_acks(const std::string& text);
Result<protocol::Compression> parse_compression(const std::string& text);
std::int64_t wall_ms();

// Sends batches to one topic, each to its partition's leader, with up to
// `window` Produce requests in flight per leader (answers come back in
// order), checking every answer. A batch whose leader moved, whose
// connection failed or that timed out is sent again (to the new leader),
// within `timeout`: at least once, as a Kafka producer without idempotence.
class Producer {
 public:
  Producer(Leaders& leaders, std::int16_t acks, protocol::Compression codec,
           std::chrono::milliseconds timeout, std::size_t window = 8);
  Status send(std::int32_t partition, std::vector<std::byte> batch);
  Status finish();  // waits for every answer, sending again what must be

 private:
  struct Sent {
    std::int32_t correlation_id = 0;
    std::int32_t partition = 0;
    std::vector<std::byte> batch;  // kept to be sent again
  };
  struct Retry {
    std::int32_t partition = 0;
    std::vector<std::byte> batch;
    std::string why;
  };
  Status submit(std::int32_t partition, std::vector<std::byte> batch);
  Status receive_one(std::int32_t node);
  void fail_connection(std::int32_t node, const std::string& why);
  Leaders& leaders_;
  std::int16_t acks_;
  protocol::Compression codec_;
  std::chrono::milliseconds timeout_;
  std::size_t window_;
  std::map<std::int32_t, std::deque<Sent>> in_flight_;  // by leader node id
  std::deque<Retry> retry_;
};

// Calls on_record for every record of the batches in `records` (decompressing
// as needed), and on_batch_end with the offset after each batch (batches
// may hold fewer records than offsets, even none: compaction, Raft no-ops).
// A partial batch at the end (a broker may cut one) is ignored.
// Errors: malformed.
Status for_each_record(std::span<const std::byte> records,
                       const std::function<void(const protocol::RecordView&)>& on_record,
                       const std::function<void(std::int64_t)>& on_batch_end);

void print_record(std::ostream& out, const std::string& format, const std::string& topic,
                  std::int32_t partition, const protocol::RecordView& record);

}  // namespace spate::client
