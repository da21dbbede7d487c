// SPDX-License-Identifier: Apache-2.0
//
// The classic group protocol: FindCoordinator (10, v0-v2), JoinGroup (11,
// v0-v5), SyncGroup (14, v0-v3), LeaveGroup (13, v0-v3); none flexible in
// range (kafka-protocol.md §4.8-4.12).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct FindCoordinatorRequest {
  std::string key;
  std::int8_t key_type = 0;  // v1+: 0 group, 1 transaction
  bool operator==(const FindCoordinatorRequest&) const = default;
};

template <class Io>
void fields(Io& io, FindCoordinatorRequest& m, std::int16_t version) {
  io.string(m.key, false, "key");
  if (version >= 1) io.i8(m.key_type, "key_type");
}

struct FindCoordinatorResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;  // v1+
  std::int32_t node_id = 0;
  std::string host;
  std::int32_t port = 0;
  bool operator==(const FindCoordinatorResponse&) const = default;
};

template <class Io>
void fields(Io& io, FindCoordinatorResponse& m, std::int16_t version) {
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  if (version >= 1) io.nullable_string(m.error_message, false, "error_message");
  io.i32(m.node_id, "node_id");
  io.string(m.host, false, "host");
  io.i32(m.port, "port");
}

struct JoinGroupProtocol {
  std::string name;
  std::vector<std::byte> metadata;
  bool operator==(const JoinGroupProtocol&) const = default;
};

struct JoinGroupRequest {
  std::string group_id;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = -1;  // v1+
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v5+
  std::string protocol_type;
  std::vector<JoinGroupProtocol> protocols;
  bool operator==(const JoinGroupRequest&) const = default;
};

template <class Io>
void fields(Io& io, JoinGroupRequest& m, std::int16_t version) {
  io.string(m.group_id, false, "group_id");
  io.i32(m.session_timeout_ms, "session_timeout_ms");
  if (version >= 1) io.i32(m.rebalance_timeout_ms, "rebalance_timeout_ms");
  io.string(m.member_id, false, "member_id");
  if (version >= 5) io.nullable_string(m.group_instance_id, false, "group_instance_id");
  io.string(m.protocol_type, false, "protocol_type");
  io.array(m.protocols, false, 6, "protocols", [&](JoinGroupProtocol& p) {
    io.string(p.name, false, "protocols[].name");
    io.bytes(p.metadata, false, "protocols[].metadata");
  });
}

struct JoinGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v5+
  std::vector<std::byte> metadata;
  bool operator==(const JoinGroupMember&) const = default;
};

struct JoinGroupResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::int16_t error_code = 0;
  std::int32_t generation_id = -1;
  std::string protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<JoinGroupMember> members;
  bool operator==(const JoinGroupResponse&) const = default;
};

template <class Io>
void fields(Io& io, JoinGroupResponse& m, std::int16_t version) {
  if (version >= 2) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.i32(m.generation_id, "generation_id");
  io.string(m.protocol_name, false, "protocol_name");
  io.string(m.leader, false, "leader");
  io.string(m.member_id, false, "member_id");
  io.array(m.members, false, 6, "members", [&](JoinGroupMember& mem) {
    io.string(mem.member_id, false, "members[].member_id");
    if (version >= 5) io.nullable_string(mem.group_instance_id, false, "group_instance_id");
    io.bytes(mem.metadata, false, "members[].metadata");
  });
}

struct SyncGroupAssignment {
  std::string member_id;
  std::vector<std::byte> assignment;
  bool operator==(const SyncGroupAssignment&) const = default;
};

struct SyncGroupRequest {
  std::string group_id;
  std::int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
  std::vector<SyncGroupAssignment> assignments;
  bool operator==(const SyncGroupRequest&) const = default;
};

template <class Io>
void fields(Io& io, SyncGroupRequest& m, std::int16_t version) {
  io.string(m.group_id, false, "group_id");
  io.i32(m.generation_id, "generation_id");
  io.string(m.member_id, false, "member_id");
  if (version >= 3) io.nullable_string(m.group_instance_id, false, "group_instance_id");
  io.array(m.assignments, false, 6, "assignments", [&](SyncGroupAssignment& a) {
    io.string(a.member_id, false, "assignments[].member_id");
    io.bytes(a.assignment, false, "assignments[].assignment");
  });
}

struct SyncGroupResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::vector<std::byte> assignment;
  bool operator==(const SyncGroupResponse&) const = default;
};

template <class Io>
void fields(Io& io, SyncGroupResponse& m, std::int16_t version) {
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.bytes(m.assignment, false, "assignment");
}

struct LeaveGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  bool operator==(const LeaveGroupMember&) const = default;
};

struct LeaveGroupRequest {
  std::string group_id;
  std::string member_id;                  // v0-v2
  std::vector<LeaveGroupMember> members;  // v3+
  bool operator==(const LeaveGroupRequest&) const = default;
};

template <class Io>
void fields(Io& io, LeaveGroupRequest& m, std::int16_t version) {
  io.string(m.group_id, false, "group_id");
  if (version <= 2) {
    io.string(m.member_id, false, "member_id");
    return;
  }
  io.array(m.members, false, 4, "members", [&](LeaveGroupMember& mem) {
    io.string(mem.member_id, false, "members[].member_id");
    io.nullable_string(mem.group_instance_id, false, "members[].group_instance_id");
  });
}

struct LeaveGroupMemberResponse {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::int16_t error_code = 0;
  bool operator==(const LeaveGroupMemberResponse&) const = default;
};

struct LeaveGroupResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::vector<LeaveGroupMemberResponse> members;  // v3+
  bool operator==(const LeaveGroupResponse&) const = default;
};

template <class Io>
void fields(Io& io, LeaveGroupResponse& m, std::int16_t version) {
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  if (version >= 3) {
    io.array(m.members, false, 6, "members", [&](LeaveGroupMemberResponse& mem) {
      io.string(mem.member_id, false, "members[].member_id");
      io.nullable_string(mem.group_instance_id, false, "members[].group_instance_id");
      io.i16(mem.error_code, "members[].error_code");
    });
  }
}

}  // namespace spate::protocol
