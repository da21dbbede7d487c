// SPDX-License-Identifier: Apache-2.0
//
// Private to client: one member of a consumer group over one connection
// (JoinGroup with the member id handshake, the leader's round-robin
// assignment of one topic's partitions, SyncGroup, Heartbeat, OffsetFetch,
// OffsetCommit, LeaveGroup), for `spate bench consume --group`.

#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spate/client/client.h"

namespace spate::client {

class GroupMember {
 public:
  GroupMember(Client& client, Connection& conn, std::string group, std::string topic,
              std::int32_t partitions);

  // Joins (or rejoins) and waits for this member's partitions. Retries while
  // the group rebalances, at most `attempts` times. Errors: the broker's.
  Status join(int attempts = 50);
  [[nodiscard]] const std::vector<std::int32_t>& assigned() const { return assigned_; }
  // true: the group rebalances, call join() again.
  Result<bool> heartbeat();
  Result<bool> commit(const std::map<std::int32_t, std::int64_t>& positions);
  // Committed offsets of the assigned partitions (-1: none).
  Result<std::map<std::int32_t, std::int64_t>> committed();
  void leave();

 private:
  Result<bool> join_once();
  Client& client_;
  Connection& conn_;
  std::string group_;
  std::string topic_;
  std::int32_t partitions_;
  std::string member_id_;
  std::int32_t generation_ = -1;
  std::vector<std::int32_t> assigned_;
};

// ConsumerProtocolAssignment v0 of one topic's partitions.
[[nodiscard]] std::vector<std::byte> encode_assignment(const std::string& topic,
                                                       const std::vector<std::int32_t>& partitions);
// The partitions of a ConsumerProtocolAssignment (v0-v3), or nullopt when the
// bytes are not one; empty bytes are an empty assignment.
[[nodiscard]] std::optional<std::vector<std::pair<std::string, std::int32_t>>> decode_assignment(
    std::span<const std::byte> bytes);

}  // namespace spate::client
