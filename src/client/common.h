// SPDX-License-Identifier: Apache-2.0
//
// Private to client: helpers shared by the subcommands and the benchmark.

#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
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
// One topic's metadata. Errors: not_found naming the topic, or its error.
Result<protocol::MetadataResponseTopic> topic_metadata(Client& client, const std::string& topic,
                                                       bool auto_create);
// ListOffsets at `timestamp` (-1 latest, -2 earliest) for partitions 0..n-1.
// `only`: ask for these partitions alone (the others stay -1).
Result<std::vector<std::int64_t>> list_offsets(Client& client, const std::string& topic,
                                               std::int32_t partitions, std::int64_t timestamp,
                                               const std::vector<std::int32_t>* only = nullptr);

Result<std::int16_t> parse_acks(const std::string& text);
Result<protocol::Compression> parse_compression(const std::string& text);
std::int64_t wall_ms();

// Sends batches to one topic with up to `window` Produce requests in flight
// on one connection (answers come back in order), checking every answer.
class Producer {
 public:
  Producer(Client& client, std::string topic, std::int16_t acks, protocol::Compression codec,
           std::chrono::milliseconds timeout, std::size_t window = 8);
  Status send(std::int32_t partition, std::vector<std::byte> batch);
  Status finish();  // waits for every answer

 private:
  Status receive_one();
  Client& client_;
  std::string topic_;
  std::int16_t acks_;
  protocol::Compression codec_;
  std::chrono::milliseconds timeout_;
  std::size_t window_;
  std::int16_t version_ = 0;
  std::deque<std::pair<std::int32_t, std::int32_t>> in_flight_;  // correlation id, partition
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
