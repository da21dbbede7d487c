// SPDX-License-Identifier: Apache-2.0
//
// ListGroups (16, v0-v4, flexible from v3) and DescribeGroups (15, v0-v4, not
// flexible in range) (kafka-protocol.md §4.15-4.16).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spate/protocol/codec.h"

namespace spate::protocol {

struct ListGroupsRequest {
  std::vector<std::string> states_filter;  // v4+
  bool operator==(const ListGroupsRequest&) const = default;
};

template <class Io>
void fields(Io& io, ListGroupsRequest& m, std::int16_t version) {
  const bool flex = version >= 3;
  if (version >= 4) {
    io.array(m.states_filter, flex, 1, "states_filter",
             [&](std::string& s) { io.string(s, flex, "states_filter[]"); });
  }
  if (flex) io.tagged_fields();
}

struct ListGroupsGroup {
  std::string group_id;
  std::string protocol_type;
  std::string group_state;  // v4+
  bool operator==(const ListGroupsGroup&) const = default;
};

struct ListGroupsResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::vector<ListGroupsGroup> groups;
  bool operator==(const ListGroupsResponse&) const = default;
};

template <class Io>
void fields(Io& io, ListGroupsResponse& m, std::int16_t version) {
  const bool flex = version >= 3;
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  io.i16(m.error_code, "error_code");
  io.array(m.groups, flex, flex ? 3 : 4, "groups", [&](ListGroupsGroup& g) {
    io.string(g.group_id, flex, "groups[].group_id");
    io.string(g.protocol_type, flex, "groups[].protocol_type");
    if (version >= 4) io.string(g.group_state, flex, "groups[].group_state");
    if (flex) io.tagged_fields("groups[].tagged_fields");
  });
  if (flex) io.tagged_fields();
}

struct DescribeGroupsRequest {
  std::vector<std::string> groups;
  bool include_authorized_operations = false;  // v3+
  bool operator==(const DescribeGroupsRequest&) const = default;
};

template <class Io>
void fields(Io& io, DescribeGroupsRequest& m, std::int16_t version) {
  io.array(m.groups, false, kStringBytesMin, "groups",
           [&](std::string& g) { io.string(g, false, "groups[]"); });
  if (version >= 3) io.boolean(m.include_authorized_operations, "include_authorized_operations");
}

struct DescribeGroupsMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v4+
  std::string client_id;
  std::string client_host;
  std::vector<std::byte> member_metadata;
  std::vector<std::byte> member_assignment;
  bool operator==(const DescribeGroupsMember&) const = default;
};

struct DescribeGroupsGroup {
  std::int16_t error_code = 0;
  std::string group_id;
  std::string group_state;
  std::string protocol_type;
  std::string protocol_data;
  std::vector<DescribeGroupsMember> members;
  std::int32_t authorized_operations = -2147483647 - 1;  // v3+
  bool operator==(const DescribeGroupsGroup&) const = default;
};

struct DescribeGroupsResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::vector<DescribeGroupsGroup> groups;
  bool operator==(const DescribeGroupsResponse&) const = default;
};

template <class Io>
void fields(Io& io, DescribeGroupsResponse& m, std::int16_t version) {
  if (version >= 1) io.i32(m.throttle_time_ms, "throttle_time_ms");
  // Smallest group: 2 + 4 x 2 (strings) + 4 (members) = 14 bytes (v0-v2).
  io.array(m.groups, false, 14, "groups", [&](DescribeGroupsGroup& g) {
    io.i16(g.error_code, "groups[].error_code");
    io.string(g.group_id, false, "groups[].group_id");
    io.string(g.group_state, false, "groups[].group_state");
    io.string(g.protocol_type, false, "groups[].protocol_type");
    io.string(g.protocol_data, false, "groups[].protocol_data");
    // Smallest member: 3 x 2 (strings) + 2 x 4 (bytes) = 14 bytes (v0-v3).
    io.array(g.members, false, 14, "groups[].members", [&](DescribeGroupsMember& mem) {
      io.string(mem.member_id, false, "members[].member_id");
      if (version >= 4) io.nullable_string(mem.group_instance_id, false, "group_instance_id");
      io.string(mem.client_id, false, "members[].client_id");
      io.string(mem.client_host, false, "members[].client_host");
      io.bytes(mem.member_metadata, false, "members[].member_metadata");
      io.bytes(mem.member_assignment, false, "members[].member_assignment");
    });
    if (version >= 3) io.i32(g.authorized_operations, "groups[].authorized_operations");
  });
}

}  // namespace spate::protocol
