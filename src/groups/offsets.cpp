// SPDX-License-Identifier: Apache-2.0

#include "spate/groups/offsets.h"

#include <limits>

#include <fmt/format.h>

#include "spate/common/bytes.h"

namespace spate::groups {
namespace {

constexpr std::int16_t kOffsetKeyVersion = 1;
constexpr std::int16_t kGroupKeyVersion = 2;
constexpr std::int16_t kOffsetValueVersion = 3;
constexpr std::int16_t kGroupValueVersion = 3;

void put_string(ByteWriter& w, std::string_view s) {
  // Callers bound every string well below 32 KiB (group ids, topic names,
  // metadata: docs/limits.md); a longer one is cut rather than wrapped.
  const auto n = std::min<std::size_t>(s.size(), std::numeric_limits<std::int16_t>::max());
  w.write<std::int16_t>(static_cast<std::int16_t>(n));
  w.write_string(s.substr(0, n));
}

void put_nullable(ByteWriter& w, const std::string& s) {
  if (s.empty()) {
    w.write<std::int16_t>(-1);
  } else {
    put_string(w, s);
  }
}

Result<std::string> get_string(ByteReader& r, bool nullable) {
  auto n = r.read<std::int16_t>();
  if (!n) return n.error();
  if (*n < 0) {
    if (nullable && *n == -1) return std::string{};
    return Error::malformed(fmt::format("string length {}", *n));
  }
  auto bytes = r.read_bytes(static_cast<std::size_t>(*n));
  if (!bytes) return bytes.error();
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

Status expect_end(const ByteReader& r, const char* what) {
  if (!r.empty())
    return Error::malformed(fmt::format("{} bytes after the {}", r.remaining(), what));
  return {};
}

Result<CommittedOffset> decode_offset_value(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  auto version = r.read<std::int16_t>();
  if (!version) return version.error();
  if (*version != kOffsetValueVersion) {
    return Error::malformed(fmt::format("offset value version {}", *version));
  }
  CommittedOffset v;
  auto offset = r.read<std::int64_t>();
  auto epoch = offset ? r.read<std::int32_t>() : Result<std::int32_t>(offset.error());
  if (!epoch) return epoch.error();
  auto metadata = get_string(r, false);
  if (!metadata) return metadata.error();
  auto ms = r.read<std::int64_t>();
  if (!ms) return ms.error();
  v.offset = *offset;
  v.leader_epoch = *epoch;
  v.metadata = std::move(*metadata);
  v.commit_ms = *ms;
  if (auto s = expect_end(r, "offset value"); !s) return s.error();
  return v;
}

Result<GroupSummary> decode_group_value(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  auto version = r.read<std::int16_t>();
  if (!version) return version.error();
  if (*version != kGroupValueVersion) {
    return Error::malformed(fmt::format("group value version {}", *version));
  }
  GroupSummary g;
  auto type = get_string(r, false);
  if (!type) return type.error();
  auto generation = r.read<std::int32_t>();
  if (!generation) return generation.error();
  auto protocol = get_string(r, true);
  if (!protocol) return protocol.error();
  auto leader = get_string(r, true);
  if (!leader) return leader.error();
  auto ms = r.read<std::int64_t>();
  if (!ms) return ms.error();
  auto members = r.read<std::int32_t>();
  if (!members) return members.error();
  if (*members != 0) return Error::malformed(fmt::format("group value with {} members", *members));
  g.protocol_type = std::move(*type);
  g.generation = *generation;
  g.protocol_name = std::move(*protocol);
  g.leader = std::move(*leader);
  g.state_ms = *ms;
  if (auto s = expect_end(r, "group value"); !s) return s.error();
  return g;
}

}  // namespace

std::vector<std::byte> offset_key(std::string_view group, const PartitionKey& p) {
  ByteWriter w(16 + group.size() + p.topic.size());
  w.write<std::int16_t>(kOffsetKeyVersion);
  put_string(w, group);
  put_string(w, p.topic);
  w.write<std::int32_t>(p.partition);
  return w.release();
}

std::vector<std::byte> offset_value(const CommittedOffset& value) {
  ByteWriter w(32 + value.metadata.size());
  w.write<std::int16_t>(kOffsetValueVersion);
  w.write<std::int64_t>(value.offset);
  w.write<std::int32_t>(value.leader_epoch);
  put_string(w, value.metadata);
  w.write<std::int64_t>(value.commit_ms);
  return w.release();
}

std::vector<std::byte> group_key(std::string_view group) {
  ByteWriter w(8 + group.size());
  w.write<std::int16_t>(kGroupKeyVersion);
  put_string(w, group);
  return w.release();
}

std::vector<std::byte> group_value(const GroupSummary& value) {
  ByteWriter w(64);
  w.write<std::int16_t>(kGroupValueVersion);
  put_string(w, value.protocol_type);
  w.write<std::int32_t>(value.generation);
  put_nullable(w, value.protocol_name);
  put_nullable(w, value.leader);
  w.write<std::int64_t>(value.state_ms);
  w.write<std::int32_t>(0);
  return w.release();
}

Result<StoredRecord> decode_stored(std::span<const std::byte> key,
                                   std::optional<std::span<const std::byte>> value) {
  ByteReader r(key);
  auto version = r.read<std::int16_t>();
  if (!version) return version.error();
  auto group = get_string(r, false);
  if (!group) return group.error();
  if (*version == 0 || *version == kOffsetKeyVersion) {
    OffsetRecord rec;
    rec.group = std::move(*group);
    auto topic = get_string(r, false);
    if (!topic) return topic.error();
    auto partition = r.read<std::int32_t>();
    if (!partition) return partition.error();
    if (auto s = expect_end(r, "offset key"); !s) return s.error();
    rec.partition = {std::move(*topic), *partition};
    if (value) {
      auto v = decode_offset_value(*value);
      if (!v) return v.error();
      rec.value = std::move(*v);
    }
    return StoredRecord(std::move(rec));
  }
  if (*version == kGroupKeyVersion) {
    GroupRecord rec;
    rec.group = std::move(*group);
    if (auto s = expect_end(r, "group key"); !s) return s.error();
    if (value) {
      auto v = decode_group_value(*value);
      if (!v) return v.error();
      rec.value = std::move(*v);
    }
    return StoredRecord(std::move(rec));
  }
  return Error::malformed(fmt::format("record key version {}", *version));
}

void OffsetMap::apply(const StoredRecord& record) {
  if (const auto* o = std::get_if<OffsetRecord>(&record)) {
    auto it = groups_.find(o->group);
    if (o->value) {
      auto& entry = groups_[o->group];
      auto [pos, inserted] = entry.offsets.try_emplace(o->partition);
      if (inserted) {
        ++offsets_;
      } else {
        bytes_ -= entry_bytes(pos->first, pos->second);
      }
      pos->second = *o->value;
      bytes_ += entry_bytes(pos->first, pos->second);
      return;
    }
    if (it == groups_.end()) return;
    auto pos = it->second.offsets.find(o->partition);
    if (pos != it->second.offsets.end()) {
      bytes_ -= entry_bytes(pos->first, pos->second);
      it->second.offsets.erase(pos);
      --offsets_;
    }
    if (it->second.offsets.empty() && !it->second.summary) groups_.erase(it);
    return;
  }
  const auto& g = std::get<GroupRecord>(record);
  if (g.value) {
    groups_[g.group].summary = *g.value;
    return;
  }
  auto it = groups_.find(g.group);
  if (it == groups_.end()) return;
  it->second.summary.reset();
  if (it->second.offsets.empty()) groups_.erase(it);
}

void OffsetMap::erase_group(const std::string& group) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  for (const auto& [key, value] : it->second.offsets) bytes_ -= entry_bytes(key, value);
  offsets_ -= it->second.offsets.size();
  groups_.erase(it);
}

const OffsetMap::GroupEntry* OffsetMap::group(const std::string& group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

bool OffsetMap::operator==(const OffsetMap& other) const {
  if (offsets_ != other.offsets_ || bytes_ != other.bytes_ ||
      groups_.size() != other.groups_.size())
    return false;
  for (const auto& [id, g] : groups_) {
    const auto* o = other.group(id);
    if (o == nullptr || o->offsets != g.offsets || o->summary != g.summary) return false;
  }
  return true;
}

}  // namespace spate::groups
