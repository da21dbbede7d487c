// SPDX-License-Identifier: Apache-2.0
//
// Raft's entries and the messages replicas exchange (config.h describes
// indexes and spans; wire.h encodes these for the inter-broker transport).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/common/types.h"
#include "spate/raft/config.h"

namespace spate::raft {

enum class EntryKind : std::uint8_t {
  normal,      // client data (a record batch); empty: the no-op a new leader appends
  membership,  // an encoded Membership (wire.h): the group's members from here on
};
inline constexpr EntryKind kLastEntryKind = EntryKind::membership;

struct Entry {
  Index index = 0;
  Term term{0};
  std::vector<std::byte> data;
  EntryKind kind = EntryKind::normal;
  std::int32_t span = 1;  // the entry covers [index - span + 1, index] (next to kind: 48 bytes)
  [[nodiscard]] Index first() const { return index - span + 1; }
  bool operator==(const Entry&) const = default;
};

// What a log keeps about the prefix it deleted, besides the last index and
// term: the membership in effect there and the state machine's snapshot.
struct LogStart {
  Membership membership;
  std::vector<std::byte> snapshot;
  bool operator==(const LogStart&) const = default;
};

enum class MessageType : std::uint8_t {
  pre_vote,
  pre_vote_reply,
  vote,
  vote_reply,
  append,
  append_reply,
  heartbeat,
  heartbeat_reply,
  timeout_now,  // leadership transfer: campaign now
  restart,      // the follower is behind the leader's log start: restart the log there
};
inline constexpr MessageType kLastMessageType = MessageType::restart;
[[nodiscard]] const char* message_type_name(MessageType type);

struct Message {
  MessageType type = MessageType::append;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term{0};
  Index log_index = 0;  // vote: last index; append: index before entries; reply: match or hint
  Term log_term{0};     // vote: last term; append: term at log_index; reject: conflicting term
  Index commit = 0;
  Index hint = 0;  // append reject: the index the leader should try next
  std::vector<Entry> entries;
  bool reject = false;
  bool force = false;  // a vote from a leadership transfer: ignores leader leases
  // Restart only, one element: what the leader keeps about its deleted prefix
  // (a vector, not a member struct, so that the other messages stay small).
  std::vector<LogStart> start;
  bool operator==(const Message&) const = default;
  [[nodiscard]] std::string describe() const;
};

}  // namespace spate::raft
