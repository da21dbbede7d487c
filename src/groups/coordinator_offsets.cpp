// SPDX-License-Identifier: Apache-2.0
//
// Coordinator, its committed offsets: records appended to __consumer_offsets
// and applied to the live map once durable (commit, deletion, expiry), and
// what OffsetFetch reads. The membership side is in coordinator.cpp.

#include <fmt/format.h>

#include "spate/common/log.h"
#include "spate/groups/coordinator.h"
#include "spate/protocol/record_batch.h"

#include "module_shared.h"

namespace spate::groups {
namespace {

// Commits are written in batches of at most about this many bytes, well
// under the offsets topic's max.message.bytes.
constexpr std::size_t kChunkBytes = 512U << 10U;

std::size_t record_bytes(const StoredRecord& r) {
  if (const auto* o = std::get_if<OffsetRecord>(&r)) {
    return 64 + o->group.size() + o->partition.topic.size() +
           (o->value ? o->value->metadata.size() : 0);
  }
  return 64 + std::get<GroupRecord>(r).group.size();
}

protocol::RecordSpec to_spec(const StoredRecord& r, std::int64_t wall_ms) {
  protocol::RecordSpec spec;
  spec.timestamp = wall_ms;
  if (const auto* o = std::get_if<OffsetRecord>(&r)) {
    spec.key = offset_key(o->group, o->partition);
    if (o->value) spec.value = offset_value(*o->value);
  } else {
    const auto& g = std::get<GroupRecord>(r);
    spec.key = group_key(g.group);
    if (g.value) spec.value = group_value(*g.value);
  }
  return spec;
}

// What a stored commit counts against offsets_bytes_max while pending.
std::size_t offset_bytes_of(const StoredRecord& r) {
  const auto* o = std::get_if<OffsetRecord>(&r);
  return o != nullptr && o->value ? OffsetMap::entry_bytes(o->partition, *o->value) : 0;
}

GroupError from_status(const Error& e) {
  switch (e.code()) {
    case Errc::timeout:
      return GroupError::request_timed_out;
    case Errc::not_leader:  // the leadership moved: the client finds the new coordinator
      return GroupError::not_coordinator;
    default:
      return GroupError::coordinator_not_available;
  }
}

}  // namespace

Result<Coordinator::Written> Coordinator::write(const std::string& group_id,
                                                std::vector<StoredRecord> records) {
  const auto p = partition_for(group_id);
  auto served_at = served_.find(p);
  auto part = served(p);
  if (!part || served_at->second.loading) {
    return Error(Errc::not_leader, fmt::format("{}-{} is not led here", kOffsetsTopic, p));
  }
  const auto wall = clock_.wall_ms();
  protocol::BatchBuilder builder(wall);
  for (const auto& r : records) builder.add(to_spec(r, wall));
  auto batch = builder.build();
  auto appended = part->append(batch);
  if (!appended) return appended.error();
  const Written at{appended->last_offset + 1, appended->term};
  for (const auto& r : records) pending_offset_bytes_ += offset_bytes_of(r);
  pending_[p].push_back(PendingApply{at, std::move(records)});
  return at;
}

void Coordinator::apply_durable(std::int32_t partition) {
  auto it = pending_.find(partition);
  if (it == pending_.end()) return;
  // Only while led in the term of the records: after a change of leader an
  // offset below the high watermark may hold another leader's entry (the
  // partition is then unloaded and replayed).
  auto part = served(partition);
  if (!part) return;
  const Offset hw = part->high_watermark();
  auto& queue = it->second;
  std::size_t done = 0;
  while (done < queue.size() && queue[done].at.end <= hw && queue[done].at.term == part->term()) {
    for (const auto& r : queue[done].records) {
      pending_offset_bytes_ -= offset_bytes_of(r);
      offsets_.apply(r);
    }
    ++done;
  }
  queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(done));
  if (queue.empty()) pending_.erase(it);
}

awaitable<GroupError> Coordinator::wait_durable(const std::string& group_id, Written at,
                                                Clock::SteadyTime deadline) {
  const auto p = partition_for(group_id);
  auto part = served(p);
  if (!part) co_return GroupError::not_coordinator;
  // With the term: a batch a new leader's log replaced is an error, never
  // taken for committed.
  auto s = co_await part->wait_committed(at.end, deadline, at.term);
  apply_durable(p);
  co_return s ? GroupError::none : from_status(s.error());
}

awaitable<void> Coordinator::commit(std::string group_id, std::string member_id,
                                    std::int32_t generation, std::optional<std::string> instance_id,
                                    std::vector<CommitEntry>& entries, Clock::SteadyTime deadline) {
  auto fail_all = [&](GroupError e) {
    for (auto& en : entries) {
      if (en.error == GroupError::none) en.error = e;
    }
  };
  if (auto e = check_group_id(group_id, true); e != GroupError::none) {
    fail_all(e);
    co_return;
  }
  for (auto& en : entries) {
    if (en.value.metadata.size() > config_.metadata_bytes_max) {
      en.error = GroupError::offset_metadata_too_large;
    } else if (!topic_->exists(en.partition.topic, en.partition.partition)) {
      en.error = GroupError::unknown_topic_or_partition;
    }
  }
  GroupError allowed = GroupError::none;
  if (auto* group = find(group_id)) {
    allowed = group->commit_allowed(member_id, generation, instance_id, now_ms());
  } else if (generation >= 0) {
    allowed = GroupError::illegal_generation;  // as Kafka: no such group, no such generation
  } else if (offsets_.group(group_id) == nullptr &&
             groups_.size() + offsets_.groups().size() >= config_.groups_max) {
    allowed = GroupError::too_many_groups;
  }
  if (allowed != GroupError::none) {
    fail_all(allowed);
    co_return;
  }
  check_offsets_room(group_id, entries);
  // One batch per chunk of entries; the entries of a chunk share its fate.
  std::vector<std::pair<std::vector<std::size_t>, Written>> written;
  std::vector<StoredRecord> chunk;
  std::vector<std::size_t> members;
  std::size_t bytes = 0;
  auto flush = [&] {
    if (chunk.empty()) return;
    auto end = write(group_id, std::move(chunk));
    if (!end) {
      for (auto i : members) entries[i].error = from_status(end.error());
    } else {
      written.emplace_back(std::move(members), *end);
    }
    chunk.clear();
    members.clear();
    bytes = 0;
  };
  const auto wall = clock_.wall_ms();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].error != GroupError::none) continue;
    entries[i].value.commit_ms = wall;
    chunk.push_back(OffsetRecord{group_id, entries[i].partition, entries[i].value});
    members.push_back(i);
    bytes += record_bytes(chunk.back());
    if (bytes >= kChunkBytes) flush();
  }
  flush();
  for (auto& [indexes, end] : written) {
    const auto e = co_await wait_durable(group_id, end, deadline);
    if (e == GroupError::none) continue;
    for (auto i : indexes) entries[i].error = e;
  }
}

void Coordinator::check_offsets_room(const std::string& group_id,
                                     std::vector<CommitEntry>& entries) {
  std::size_t held = offset_bytes();
  const auto* stored = offsets_.group(group_id);
  std::size_t refused = 0;
  for (auto& en : entries) {
    if (en.error != GroupError::none) continue;
    // Replacing a held offset costs only its growth.
    std::size_t before = 0;
    if (stored != nullptr) {
      auto it = stored->offsets.find(en.partition);
      if (it != stored->offsets.end()) before = OffsetMap::entry_bytes(it->first, it->second);
    }
    const auto now = OffsetMap::entry_bytes(en.partition, en.value);
    const auto growth = now > before ? now - before : 0;
    if (held + growth > config_.offsets_bytes_max) {
      en.error = GroupError::offsets_full;
      ++refused;
      continue;
    }
    held += growth;
  }
  if (refused == 0) {
    if (held < config_.offsets_bytes_max / 2) offsets_full_logged_ = false;
    return;
  }
  if (!offsets_full_logged_) {
    offsets_full_logged_ = true;
    logger()->warn(
        "committed offsets take {} of the {} bytes allowed (--max-offsets-bytes): {} commit(s) "
        "of group {:.64} refused; delete unused groups or raise the limit",
        held, config_.offsets_bytes_max, refused, group_id);
  }
}

GroupError Coordinator::fetch(const std::string& group_id,
                              const std::optional<std::vector<PartitionKey>>& partitions,
                              std::map<PartitionKey, CommittedOffset>& out) const {
  if (auto e = check_group_id(group_id, true); e != GroupError::none) return e;
  const auto* entry = offsets_.group(group_id);
  if (!partitions) {
    if (entry == nullptr) return GroupError::none;
    for (const auto& [key, value] : entry->offsets) {
      // Offsets of deleted topics are not shown (expiry removes them).
      if (topic_->exists(key.topic, key.partition)) out.emplace(key, value);
    }
    return GroupError::none;
  }
  for (const auto& key : *partitions) {
    CommittedOffset none;
    if (entry != nullptr) {
      auto it = entry->offsets.find(key);
      if (it != entry->offsets.end()) {
        out.insert_or_assign(key, it->second);
        continue;
      }
    }
    out.insert_or_assign(key, none);
  }
  return GroupError::none;
}

awaitable<std::vector<GroupError>> Coordinator::delete_groups(std::vector<std::string> group_ids,
                                                              Clock::SteadyTime deadline) {
  std::vector<GroupError> out(group_ids.size(), GroupError::none);
  std::vector<std::pair<std::size_t, Written>> written;
  for (std::size_t i = 0; i < group_ids.size(); ++i) {
    const auto& id = group_ids[i];
    if (auto e = check_group_id(id, true); e != GroupError::none) {
      out[i] = e;
      continue;
    }
    auto* group = find(id);
    const auto* stored = offsets_.group(id);
    if (group != nullptr && group->state() != GroupState::empty) {
      out[i] = GroupError::non_empty_group;
      continue;
    }
    if (group == nullptr && stored == nullptr) {
      out[i] = GroupError::group_id_not_found;
      continue;
    }
    std::vector<StoredRecord> tombstones;
    if (stored != nullptr) {
      for (const auto& [key, value] : stored->offsets) {
        tombstones.push_back(OffsetRecord{id, key, std::nullopt});
      }
    }
    tombstones.push_back(GroupRecord{id, std::nullopt});
    if (group != nullptr) group->mark_dead();
    forget(id);
    summary_generation_.erase(id);
    auto end = write(id, std::move(tombstones));
    if (!end) {
      out[i] = from_status(end.error());
      continue;
    }
    written.emplace_back(i, *end);
  }
  for (auto& [i, end] : written) {
    out[i] = co_await wait_durable(group_ids[i], end, deadline);
  }
  co_return out;
}

void Coordinator::expire_offsets() {
  const auto wall = clock_.wall_ms();
  std::size_t budget = 10'000;  // tombstones per run; the rest wait for the next
  for (const auto& [id, entry] : offsets_.groups()) {
    if (budget == 0) break;
    const auto* group = find(id);
    const bool active = group != nullptr && group->member_count() > 0;
    std::vector<StoredRecord> tombstones;
    for (const auto& [key, value] : entry.offsets) {
      const bool gone = !topic_->exists(key.topic, key.partition);
      const bool old = !active && wall - value.commit_ms > config_.offsets_retention_ms;
      if ((gone || old) && budget > 0) {
        tombstones.push_back(OffsetRecord{id, key, std::nullopt});
        --budget;
      }
    }
    if (tombstones.empty()) continue;
    logger()->info("group {}: {} committed offsets expired", id, tombstones.size());
    if (auto end = write(id, std::move(tombstones)); !end) {
      logger()->warn("group {}: expiry not written: {}", id, end.error().message());
    }
  }
}

}  // namespace spate::groups
