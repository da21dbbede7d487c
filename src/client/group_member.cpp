// SPDX-License-Identifier: Apache-2.0

#include "group_member.h"

#include <algorithm>

#include "spate/common/bytes.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/messages/groups.h"
#include "spate/protocol/messages/heartbeat.h"
#include "spate/protocol/messages/offsets.h"

#include "common.h"

namespace spate::client {

using protocol::ApiKey;
using protocol::ErrorCode;

namespace {

constexpr std::int32_t kSessionTimeoutMs = 10'000;

// ConsumerProtocolSubscription v0: one topic, no user data.
std::vector<std::byte> subscription(const std::string& topic) {
  ByteWriter out(32);
  out.write<std::int16_t>(0);
  out.write<std::int32_t>(1);
  out.write<std::int16_t>(static_cast<std::int16_t>(topic.size()));
  out.write_string(topic);
  out.write<std::int32_t>(-1);
  return out.release();
}

bool rebalancing(std::int16_t code) {
  const auto e = static_cast<ErrorCode>(code);
  return e == ErrorCode::rebalance_in_progress || e == ErrorCode::illegal_generation ||
         e == ErrorCode::unknown_member_id;
}

}  // namespace

std::vector<std::byte> encode_assignment(const std::string& topic,
                                         const std::vector<std::int32_t>& partitions) {
  ByteWriter out(32);
  out.write<std::int16_t>(0);
  out.write<std::int32_t>(1);
  out.write<std::int16_t>(static_cast<std::int16_t>(topic.size()));
  out.write_string(topic);
  out.write<std::int32_t>(static_cast<std::int32_t>(partitions.size()));
  for (auto p : partitions) out.write<std::int32_t>(p);
  out.write<std::int32_t>(-1);
  return out.release();
}

std::optional<std::vector<std::pair<std::string, std::int32_t>>> decode_assignment(
    std::span<const std::byte> bytes) {
  std::vector<std::pair<std::string, std::int32_t>> out;
  if (bytes.empty()) return out;  // not assigned yet
  ByteReader in(bytes);
  auto version = in.read<std::int16_t>();
  auto topics = in.read<std::int32_t>();
  if (!version || *version < 0 || !topics || *topics < 0) return std::nullopt;
  for (std::int32_t t = 0; t < *topics; ++t) {
    auto len = in.read<std::int16_t>();
    if (!len || *len < 0) return std::nullopt;
    auto name = in.read_bytes(static_cast<std::size_t>(*len));
    auto count = in.read<std::int32_t>();
    if (!name || !count || *count < 0) return std::nullopt;
    const std::string topic(reinterpret_cast<const char*>(name->data()), name->size());
    for (std::int32_t p = 0; p < *count; ++p) {
      auto partition = in.read<std::int32_t>();
      if (!partition) return std::nullopt;
      out.emplace_back(topic, *partition);
    }
  }
  return out;
}

GroupMember::GroupMember(Client& client, Connection& conn, std::string group, std::string topic,
                         std::int32_t partitions)
    : client_(client),
      conn_(conn),
      group_(std::move(group)),
      topic_(std::move(topic)),
      partitions_(partitions) {}

template <typename Resp, typename Req>
static Result<Resp> call_on(Client& client, Connection& conn, ApiKey key, const Req& request) {
  auto v = client.version(key);
  if (!v) return v.error();
  return conn.call<Resp>(key, *v, request);
}

Result<bool> GroupMember::join_once() {
  protocol::JoinGroupRequest join;
  join.group_id = group_;
  join.session_timeout_ms = kSessionTimeoutMs;
  join.rebalance_timeout_ms = kSessionTimeoutMs;
  join.member_id = member_id_;
  join.protocol_type = "consumer";
  join.protocols.push_back({"roundrobin", subscription(topic_)});
  auto j = call_on<protocol::JoinGroupResponse>(client_, conn_, ApiKey::join_group, join);
  if (!j) return j.error();
  if (j->error_code == static_cast<std::int16_t>(ErrorCode::member_id_required)) {
    member_id_ = j->member_id;
    return false;
  }
  if (rebalancing(j->error_code)) {
    if (static_cast<ErrorCode>(j->error_code) == ErrorCode::unknown_member_id) member_id_.clear();
    return false;
  }
  if (j->error_code != 0) {
    return Error::invalid(fmt::format("JoinGroup {}: {}", group_, error_name(j->error_code)));
  }
  member_id_ = j->member_id;
  generation_ = j->generation_id;
  protocol::SyncGroupRequest sync;
  sync.group_id = group_;
  sync.generation_id = generation_;
  sync.member_id = member_id_;
  if (j->leader == member_id_) {
    // Round robin over the members in id order.
    std::vector<std::string> ids;
    for (const auto& m : j->members) ids.push_back(m.member_id);
    std::sort(ids.begin(), ids.end());
    std::vector<std::vector<std::int32_t>> parts(ids.size());
    for (std::int32_t p = 0; p < partitions_ && !ids.empty(); ++p) {
      parts[static_cast<std::size_t>(p) % ids.size()].push_back(p);
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      sync.assignments.push_back({ids[i], encode_assignment(topic_, parts[i])});
    }
  }
  auto s = call_on<protocol::SyncGroupResponse>(client_, conn_, ApiKey::sync_group, sync);
  if (!s) return s.error();
  if (rebalancing(s->error_code)) return false;
  if (s->error_code != 0) {
    return Error::invalid(fmt::format("SyncGroup {}: {}", group_, error_name(s->error_code)));
  }
  auto decoded = decode_assignment(s->assignment);
  if (!decoded) return Error::malformed("SyncGroup: an undecodable assignment");
  assigned_.clear();
  for (const auto& [t, p] : *decoded) {
    if (t == topic_) assigned_.push_back(p);
  }
  return true;
}

Status GroupMember::join(int attempts) {
  for (int i = 0; i < attempts; ++i) {
    auto done = join_once();
    if (!done) return done.error();
    if (*done) return {};
  }
  return Error::invalid(
      fmt::format("group {}: no stable assignment after {} joins", group_, attempts));
}

Result<bool> GroupMember::heartbeat() {
  protocol::HeartbeatRequest h{group_, generation_, member_id_, std::nullopt};
  auto r = call_on<protocol::HeartbeatResponse>(client_, conn_, ApiKey::heartbeat, h);
  if (!r) return r.error();
  if (rebalancing(r->error_code)) return true;
  if (r->error_code != 0) {
    return Error::invalid(fmt::format("Heartbeat {}: {}", group_, error_name(r->error_code)));
  }
  return false;
}

Result<bool> GroupMember::commit(const std::map<std::int32_t, std::int64_t>& positions) {
  protocol::OffsetCommitRequest request;
  request.group_id = group_;
  request.generation_id_or_member_epoch = generation_;
  request.member_id = member_id_;
  protocol::OffsetCommitTopic t{topic_, {}};
  for (const auto& [p, offset] : positions) {
    protocol::OffsetCommitPartition part;
    part.partition_index = p;
    part.committed_offset = offset;
    t.partitions.push_back(part);
  }
  if (t.partitions.empty()) return false;
  request.topics.push_back(std::move(t));
  auto r = call_on<protocol::OffsetCommitResponse>(client_, conn_, ApiKey::offset_commit, request);
  if (!r) return r.error();
  for (const auto& tr : r->topics) {
    for (const auto& pr : tr.partitions) {
      if (rebalancing(pr.error_code)) return true;
      if (pr.error_code != 0) {
        return Error::invalid(
            fmt::format("OffsetCommit {}: {}", group_, error_name(pr.error_code)));
      }
    }
  }
  return false;
}

Result<std::map<std::int32_t, std::int64_t>> GroupMember::committed() {
  protocol::OffsetFetchRequest request;
  request.group_id = group_;
  request.topics.emplace().push_back({topic_, assigned_});
  auto r = call_on<protocol::OffsetFetchResponse>(client_, conn_, ApiKey::offset_fetch, request);
  if (!r) return r.error();
  if (r->error_code != 0) {
    return Error::invalid(fmt::format("OffsetFetch {}: {}", group_, error_name(r->error_code)));
  }
  std::map<std::int32_t, std::int64_t> out;
  for (auto p : assigned_) out[p] = -1;
  for (const auto& t : r->topics) {
    for (const auto& p : t.partitions) {
      if (t.name == topic_ && p.error_code == 0) out[p.partition_index] = p.committed_offset;
    }
  }
  return out;
}

void GroupMember::leave() {
  protocol::LeaveGroupRequest request;
  request.group_id = group_;
  request.member_id = member_id_;
  request.members.push_back({member_id_, std::nullopt});
  (void)call_on<protocol::LeaveGroupResponse>(client_, conn_, ApiKey::leave_group, request);
}

}  // namespace spate::client
