// SPDX-License-Identifier: Apache-2.0
//
// The table of every topic config Kafka 3.x defines (Kafka's LogConfig and
// TopicConfig: types, defaults, ranges, allowed values, broker synonyms),
// plus Spate's flush.policy, with what each does in Spate.

#include <algorithm>
#include <array>
#include <limits>

#include "spate/cluster/topic_config.h"

// GCC 12 warns of members left to their default initializers in designated
// initializers (GCC bug 96868); the table relies on those defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace spate::cluster {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kI32Max = std::numeric_limits<std::int32_t>::max();

constexpr std::array<std::string_view, 2> kCleanupPolicies = {"compact", "delete"};
constexpr std::array<std::string_view, 6> kCompressionTypes = {"uncompressed", "zstd", "lz4",
                                                               "snappy",       "gzip", "producer"};
constexpr std::array<std::string_view, 2> kTimestampTypes = {"CreateTime", "LogAppendTime"};
constexpr std::array<std::string_view, 3> kFlushPolicies = {"always", "interval", "none"};

using T = ConfigType;
using E = ConfigEffect;

constexpr std::string_view kThrottleDoc =
    "Replicas whose replication is throttled ('partition:broker' pairs, or '*'). Accepted and "
    "reported, no effect: Spate keeps one replica per partition until replication arrives.";
constexpr std::string_view kRemoteDoc =
    "Tiered storage setting. Accepted and reported, no effect: Spate has no remote storage.";

// Sorted by name (find_topic_config searches it).
constexpr std::array kDefs = std::to_array<TopicConfigDef>({
    {.name = "cleanup.policy",
     .type = T::list,
     .kafka_default = "delete",
     .broker_name = "log.cleanup.policy",
     .choices = kCleanupPolicies,
     .doc = "A list of 'delete' (retention by time and size) and 'compact' (keep the last "
            "record of each key)."},
    {.name = "compression.gzip.level",
     .type = T::int32,
     .kafka_default = "-1",
     .broker_name = "compression.gzip.level",
     .min = -1,
     .max = 9,
     .doc = "gzip level for broker-side recompression (-1 or 1-9) when compression.type is "
            "gzip."},
    {.name = "compression.lz4.level",
     .type = T::int32,
     .kafka_default = "9",
     .broker_name = "compression.lz4.level",
     .min = 1,
     .max = 17,
     .doc = "lz4 level for broker-side recompression when compression.type is lz4 (9: lz4's "
            "fast mode, as in Kafka; others its high-compression mode)."},
    {.name = "compression.type",
     .type = T::string,
     .kafka_default = "producer",
     .broker_name = "compression.type",
     .choices = kCompressionTypes,
     .doc = "The codec batches are stored with: 'producer' keeps the producer's; any other "
            "makes the broker recompress each batch in another codec into this one."},
    {.name = "compression.zstd.level",
     .type = T::int32,
     .kafka_default = "3",
     .broker_name = "compression.zstd.level",
     .min = -131072,
     .max = 22,
     .doc = "zstd level for broker-side recompression when compression.type is zstd."},
    {.name = "delete.retention.ms",
     .type = T::int64,
     .kafka_default = "86400000",
     .broker_name = "log.cleaner.delete.retention.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "How long tombstones stay in a compacted log."},
    {.name = "file.delete.delay.ms",
     .type = T::int64,
     .kafka_default = "60000",
     .broker_name = "log.segment.delete.delay.ms",
     .min = 0,
     .max = kInt64Max,
     .effect = E::inert,
     .doc = "Delay before a deleted segment's files are removed. Accepted, no effect: Spate "
            "removes them at once (open readers keep their descriptors)."},
    {.name = "flush.messages",
     .type = T::int64,
     .kafka_default = "9223372036854775807",
     .broker_name = "log.flush.interval.messages",
     .min = 1,
     .max = kInt64Max,
     .doc = "Under flush.policy=interval, also fsync after this many records."},
    {.name = "flush.ms",
     .type = T::int64,
     .kafka_default = "9223372036854775807",
     .broker_name = "log.flush.interval.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "Under flush.policy=interval, the fsync period (0 is taken as 1 ms)."},
    {.name = "flush.policy",
     .type = T::string,
     .kafka_default = "always",
     .broker_name = "spate.flush.policy",
     .choices = kFlushPolicies,
     .doc = "Spate's own: 'always' (acknowledge after fsync, group commit), 'interval' "
            "(flush.ms, flush.messages) or 'none'."},
    {.name = "follower.replication.throttled.replicas",
     .type = T::list,
     .effect = E::inert,
     .doc = kThrottleDoc},
    {.name = "index.interval.bytes",
     .type = T::int32,
     .kafka_default = "4096",
     .broker_name = "log.index.interval.bytes",
     .min = 0,
     .max = kI32Max,
     .doc = "One offset-index entry per this many log bytes."},
    {.name = "leader.replication.throttled.replicas",
     .type = T::list,
     .effect = E::inert,
     .doc = kThrottleDoc},
    {.name = "local.retention.bytes",
     .type = T::int64,
     .kafka_default = "-2",
     .broker_name = "log.local.retention.bytes",
     .min = -2,
     .max = kInt64Max,
     .effect = E::inert,
     .doc = kRemoteDoc},
    {.name = "local.retention.ms",
     .type = T::int64,
     .kafka_default = "-2",
     .broker_name = "log.local.retention.ms",
     .min = -2,
     .max = kInt64Max,
     .effect = E::inert,
     .doc = kRemoteDoc},
    {.name = "max.compaction.lag.ms",
     .type = T::int64,
     .kafka_default = "9223372036854775807",
     .broker_name = "log.cleaner.max.compaction.lag.ms",
     .min = 1,
     .max = kInt64Max,
     .doc = "A dirty compacted log is cleaned at the latest after this."},
    {.name = "max.message.bytes",
     .type = T::int32,
     .kafka_default = "1048588",
     .broker_name = "message.max.bytes",
     .min = 0,
     .max = kI32Max,
     .doc = "The largest batch accepted (MESSAGE_TOO_LARGE above)."},
    {.name = "message.downconversion.enable",
     .type = T::boolean,
     .kafka_default = "true",
     .broker_name = "log.message.downconversion.enable",
     .effect = E::inert,
     .doc = "Accepted, no effect: Spate serves Fetch v4 and later only, which carry the "
            "stored v2 batches as they are; nothing is down-converted."},
    {.name = "message.format.version",
     .type = T::string,
     .kafka_default = "3.0-IV1",
     .broker_name = "log.message.format.version",
     .effect = E::inert,
     .doc = "Any Kafka version (0.10.0, 2.8-IV1, 3.0). Accepted, no effect: Spate stores "
            "RecordBatch v2 only (Kafka 3 ignores it too)."},
    {.name = "message.timestamp.after.max.ms",
     .type = T::int64,
     .kafka_default = "9223372036854775807",
     .broker_name = "log.message.timestamp.after.max.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "CreateTime records later than now plus this are refused (INVALID_TIMESTAMP)."},
    {.name = "message.timestamp.before.max.ms",
     .type = T::int64,
     .kafka_default = "9223372036854775807",
     .broker_name = "log.message.timestamp.before.max.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "CreateTime records earlier than now minus this are refused (INVALID_TIMESTAMP)."},
    {.name = "message.timestamp.difference.max.ms",
     .type = T::int64,
     .kafka_default = "9223372036854775807",
     .broker_name = "log.message.timestamp.difference.max.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "CreateTime records further than this from now are refused (INVALID_TIMESTAMP); "
            "the before/after limits take precedence where set."},
    {.name = "message.timestamp.type",
     .type = T::string,
     .kafka_default = "CreateTime",
     .broker_name = "log.message.timestamp.type",
     .choices = kTimestampTypes,
     .doc = "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with "
            "the broker's time."},
    {.name = "min.cleanable.dirty.ratio",
     .type = T::float64,
     .kafka_default = "0.5",
     .broker_name = "log.cleaner.min.cleanable.ratio",
     .doc = "The cleaner runs when at least this share of a compacted log is dirty (0 to 1)."},
    {.name = "min.compaction.lag.ms",
     .type = T::int64,
     .kafka_default = "0",
     .broker_name = "log.cleaner.min.compaction.lag.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "A record stays uncompacted at least this long."},
    {.name = "min.insync.replicas",
     .type = T::int32,
     .kafka_default = "1",
     .broker_name = "min.insync.replicas",
     .min = 1,
     .max = kI32Max,
     .effect = E::inert,
     .doc = "Accepted, no effect until replication: every partition has one replica, and "
            "acks=all waits for its fsync."},
    {.name = "preallocate",
     .type = T::boolean,
     .kafka_default = "false",
     .broker_name = "log.preallocate",
     .doc = "Reserve segment.bytes on disk for each new segment file (fallocate); a roll or "
            "a close gives back what was not used."},
    {.name = "remote.log.copy.disable",
     .type = T::boolean,
     .kafka_default = "false",
     .effect = E::inert,
     .doc = kRemoteDoc},
    {.name = "remote.log.delete.on.disable",
     .type = T::boolean,
     .kafka_default = "false",
     .effect = E::inert,
     .doc = kRemoteDoc},
    {.name = "remote.storage.enable",
     .type = T::boolean,
     .kafka_default = "false",
     .effect = E::inert,
     .doc = "Tiered storage. Only false is accepted: Spate has no remote storage (Kafka "
            "refuses true likewise when its broker has tiered storage off)."},
    {.name = "retention.bytes",
     .type = T::int64,
     .kafka_default = "-1",
     .broker_name = "log.retention.bytes",
     .min = kI64Min,
     .max = kInt64Max,
     .doc = "Delete the oldest segments while a partition is larger; negative: no limit."},
    {.name = "retention.ms",
     .type = T::int64,
     .kafka_default = "604800000",
     .broker_name = "log.retention.ms",
     .min = -1,
     .max = kInt64Max,
     .doc = "Delete segments whose newest record is older; -1 keeps them."},
    {.name = "segment.bytes",
     .type = T::int32,
     .kafka_default = "1073741824",
     .broker_name = "log.segment.bytes",
     .min = 14,
     .max = kI32Max,
     .doc = "Roll the active segment at this size."},
    {.name = "segment.index.bytes",
     .type = T::int32,
     .kafka_default = "10485760",
     .broker_name = "log.index.size.max.bytes",
     .min = 4,
     .max = kI32Max,
     .effect = E::inert,
     .doc = "Accepted, no effect: Spate's index files grow with their segment and are not "
            "preallocated to a fixed size."},
    {.name = "segment.jitter.ms",
     .type = T::int64,
     .kafka_default = "0",
     .broker_name = "log.roll.jitter.ms",
     .min = 0,
     .max = kInt64Max,
     .doc = "Up to this much is taken off segment.ms per segment, so partitions do not roll "
            "at once."},
    {.name = "segment.ms",
     .type = T::int64,
     .kafka_default = "604800000",
     .broker_name = "log.roll.ms",
     .min = 1,
     .max = kInt64Max,
     .doc = "Roll the active segment at this age."},
    {.name = "unclean.leader.election.enable",
     .type = T::boolean,
     .kafka_default = "false",
     .broker_name = "unclean.leader.election.enable",
     .effect = E::inert,
     .doc = "Accepted, no effect: with one replica per partition there is no other replica "
            "to elect."},
});

static_assert(std::is_sorted(kDefs.begin(), kDefs.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));

}  // namespace

std::span<const TopicConfigDef> topic_config_defs() { return kDefs; }

const TopicConfigDef* find_topic_config(std::string_view name) {
  auto it =
      std::lower_bound(kDefs.begin(), kDefs.end(), name,
                       [](const TopicConfigDef& d, std::string_view n) { return d.name < n; });
  if (it == kDefs.end() || it->name != name) return nullptr;
  return &*it;
}

const std::vector<std::string>& topic_config_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& d : kDefs) out.emplace_back(d.name);
    return out;
  }();
  return names;
}

}  // namespace spate::cluster
