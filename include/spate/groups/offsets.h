// SPDX-License-Identifier: Apache-2.0
//
// Committed offsets and group records as they are kept in the internal topic
// __consumer_offsets (issue 14), and the live map a replay of that topic
// builds. Pure: no I/O, no clock. The layouts follow Kafka's own records of
// that topic (a versioned key, a versioned value, a null value = tombstone),
// so a reader of one understands the other; docs/groups.md has the bytes.
//
//   offset key   (version 1): group STRING, topic STRING, partition INT32
//   offset value (version 3): offset INT64, leader epoch INT32,
//                             metadata STRING, commit time INT64 (ms)
//   group key    (version 2): group STRING
//   group value  (version 3): protocol type STRING, generation INT32,
//                             protocol NULLABLE_STRING, leader NULLABLE_STRING,
//                             state time INT64, members ARRAY (kept empty)
//
// STRING is an INT16 length then bytes (-1 = null for NULLABLE_STRING).

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "spate/common/result.h"
#include "spate/common/types.h"

namespace spate::groups {

struct PartitionKey {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const PartitionKey&) const = default;
};

struct CommittedOffset {
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  std::int64_t commit_ms = 0;
  bool operator==(const CommittedOffset&) const = default;
};

// What the group record keeps: enough for an empty group to be listed and
// described after a restart and for generations never to go back.
struct GroupSummary {
  std::string protocol_type;
  std::int32_t generation = 0;
  std::string protocol_name;
  std::string leader;
  std::int64_t state_ms = 0;
  bool operator==(const GroupSummary&) const = default;
};

// One decoded record of __consumer_offsets.
struct OffsetRecord {
  std::string group;
  PartitionKey partition;
  std::optional<CommittedOffset> value;  // nullopt: tombstone
};
struct GroupRecord {
  std::string group;
  std::optional<GroupSummary> value;  // nullopt: tombstone
};
using StoredRecord = std::variant<OffsetRecord, GroupRecord>;

[[nodiscard]] std::vector<std::byte> offset_key(std::string_view group, const PartitionKey& p);
[[nodiscard]] std::vector<std::byte> offset_value(const CommittedOffset& value);
[[nodiscard]] std::vector<std::byte> group_key(std::string_view group);
[[nodiscard]] std::vector<std::byte> group_value(const GroupSummary& value);

// Decodes one record (key and value as stored; a null value is a
// tombstone). Errors: malformed (unknown key version, short or trailing
// bytes); the caller logs and skips such a record.
[[nodiscard]] Result<StoredRecord> decode_stored(std::span<const std::byte> key,
                                                 std::optional<std::span<const std::byte>> value);

// The live state of committed offsets and group summaries: what a replay of
// __consumer_offsets from its start gives. The coordinator applies records
// in log order, once durable, so that live state and replay agree.
class OffsetMap {
 public:
  struct GroupEntry {
    std::map<PartitionKey, CommittedOffset> offsets;
    std::optional<GroupSummary> summary;
  };

  void apply(const StoredRecord& record);
  // Forgets a group (its partition is no longer coordinated here).
  void erase_group(const std::string& group);

  [[nodiscard]] const GroupEntry* group(const std::string& group) const;
  [[nodiscard]] const std::map<std::string, GroupEntry>& groups() const { return groups_; }
  // Committed offsets held in all, and the bytes they take (entry_bytes).
  [[nodiscard]] std::size_t size() const { return offsets_; }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  // What one committed offset costs in memory (an estimate: the strings it
  // holds plus the map node), the unit of the coordinator's offsets limit.
  [[nodiscard]] static std::size_t entry_bytes(const PartitionKey& p, const CommittedOffset& v) {
    return 128 + p.topic.size() + v.metadata.size();
  }
  bool operator==(const OffsetMap& other) const;

 private:
  std::map<std::string, GroupEntry> groups_;
  std::size_t offsets_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace spate::groups
