// SPDX-License-Identifier: Apache-2.0
//
// What each `spate` subcommand does (src/apps/spate only parses flags and
// calls these). Each returns the process exit code: 0 on success, 1 when the
// broker cannot be reached or refuses (the message says why, on `err`).
// Tables for people on `out`; `--format json` prints one JSON document (or
// JSON lines for consume).

#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace spate::client {

enum class Format : std::uint8_t { table, json };

struct CommonOptions {
  std::string brokers = "localhost:9092";
  Format format = Format::table;
  std::chrono::milliseconds timeout{10'000};
};

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

int topic_create(const CommonOptions& c, const std::string& name, std::int32_t partitions,
                 std::int16_t replication, const std::vector<std::string>& configs,
                 bool validate_only, Io io);
int topic_list(const CommonOptions& c, Io io);
int topic_describe(const CommonOptions& c, const std::string& name, Io io);
int topic_alter(const CommonOptions& c, const std::string& name,
                const std::vector<std::string>& set, const std::vector<std::string>& remove, Io io);
int topic_delete(const CommonOptions& c, const std::string& name, Io io);
int topic_add_partitions(const CommonOptions& c, const std::string& name, std::int32_t total,
                         Io io);
// Deletes the records of a partition below `before` (DeleteRecords); -1: all.
int topic_delete_records(const CommonOptions& c, const std::string& name, std::int32_t partition,
                         std::int64_t before, Io io);
int cluster_info(const CommonOptions& c, Io io);

// Replica movement (reassign.cpp; AlterPartitionReassignments and
// ListPartitionReassignments). Moves a partition to `replicas` (the first
// is the preferred leader), or with `cancel` cancels its pending move.
int topic_reassign(const CommonOptions& c, const std::string& name, std::int32_t partition,
                   const std::vector<std::int32_t>& replicas, bool cancel, Io io);
// The pending reassignments.
int topic_reassignments(const CommonOptions& c, Io io);
// Moves every replica off broker `id`, each to the other live broker with
// the fewest replicas (the preferred leader's place kept), and waits until
// no partition lists it, printing progress. Exit 1 if `wait` passes first.
int cluster_drain(const CommonOptions& c, std::int32_t id, std::chrono::seconds wait, Io io);
// Removes broker `id` from the cluster (cluster_remove.cpp; UnregisterBroker):
// refused (exit 1, the broker's reason printed) while it holds a replica, if
// it is a controller voter (a --seeds broker), or if it is not registered.
int cluster_remove(const CommonOptions& c, std::int32_t id, Io io);

struct ProduceOptions {
  std::string topic;
  std::optional<std::int32_t> partition;  // else murmur2 of the key, else round robin
  std::string file;                       // empty: stdin
  std::string key_separator;              // empty: lines are values only
  std::vector<std::string> headers;       // NAME=VALUE, on every record
  std::string acks = "all";               // 0, 1, all (-1)
  std::string compression = "none";       // none, gzip, snappy, lz4, zstd
  std::size_t batch_bytes = 256 * 1024;
};
int produce(const CommonOptions& c, const ProduceOptions& p, Io io);

struct ConsumeOptions {
  std::string topic;
  std::optional<std::int32_t> partition;  // else every partition
  std::string from = "beginning";         // beginning, end, N, -N, @MS
  std::optional<std::int64_t> count;      // stop after this many records
  bool follow = false;                    // keep waiting for new records
  std::string output = "text";            // text (values), kv (key<TAB>value), json
};
int consume(const CommonOptions& c, const ConsumeOptions& o, Io io);

struct BenchOptions {
  std::string topic = "spate-bench";
  std::size_t record_size = 1024;
  std::int64_t records = 0;  // 0: run for `seconds`
  double seconds = 10;
  std::size_t batch_bytes = 256 * 1024;
  std::string acks = "all";
  int connections = 1;
  int partitions = 0;  // create the topic with this many (0: one per connection)
  double rate = 0;     // records/s in all, one record per request (latency mode)
  int inflight = 4;    // requests in flight per connection
  std::string group;   // consume: through this consumer group (one member per connection)
};
// Consumer groups (issue 14).
int group_list(const CommonOptions& c, Io io);
// State, protocol, members and their assignments, and per partition the
// committed offset, log end offset and lag.
int group_describe(const CommonOptions& c, const std::string& group, Io io);
struct ResetOptions {
  // offset: an offset; time: the first offset at or after a time (ms since
  // the epoch); shift: the committed offset plus a signed amount.
  enum class To : std::uint8_t { earliest, latest, offset, time, shift };
  std::string topic;
  To to = To::latest;
  std::int64_t offset = 0;                // the offset, time or shift
  std::optional<std::int32_t> partition;  // else every partition of the topic
  bool dry_run = false;
};
// Refused (exit 1) while the group has members.
int group_reset_offsets(const CommonOptions& c, const std::string& group, const ResetOptions& o,
                        Io io);
int group_delete(const CommonOptions& c, const std::vector<std::string>& groups, Io io);

int bench_produce(const CommonOptions& c, const BenchOptions& b, Io io);
int bench_consume(const CommonOptions& c, const BenchOptions& b, Io io);

}  // namespace spate::client
