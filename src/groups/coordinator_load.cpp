// SPDX-License-Identifier: Apache-2.0
//
// Coordinator, following the leaderships of __consumer_offsets: a partition
// this broker comes to lead is loaded (replayed up to its high watermark, a
// budget of bytes per tick), one it stops leading, or leads in a new term,
// is unloaded: its groups, offsets and pending records are dropped and its
// waiting calls answered not_coordinator, so that clients find the new
// coordinator, which replays what was committed.

#include <fmt/format.h>

#include "spate/common/limits.h"
#include "spate/common/log.h"
#include "spate/groups/coordinator.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

#include "module_shared.h"

namespace spate::groups {
namespace {

// What one read of a replay asks for at most.
constexpr std::uint64_t kReplayReadBytes = 1U << 20U;

}  // namespace

Status Coordinator::follow_leaders(std::uint64_t& budget) {
  const auto count = topic_->partition_count();
  if (count != partition_count_) {
    // A new count moves groups between partitions: start over.
    if (partition_count_ != 0) {
      logger()->warn("{} now has {} partitions (was {}): its groups are loaded again",
                     kOffsetsTopic, count, partition_count_);
    }
    while (!served_.empty()) unload(served_.begin()->first);
    failed_.clear();
    partition_count_ = count;
  }
  Status first;
  for (std::int32_t p = 0; p < partition_count_; ++p) {
    auto part = topic_->partition(p);
    const bool leads = part != nullptr && !part->closed() && part->leader();
    auto it = served_.find(p);
    if (it != served_.end() && (!leads || part->term() != it->second.term)) {
      unload(p);
      it = served_.end();
    }
    if (!leads) continue;
    if (it == served_.end()) {
      auto failed = failed_.find(p);
      if (failed != failed_.end() && failed->second == part->term()) continue;
      it = served_.emplace(p, Served{part->term(), true, part->start_offset()}).first;
      ++loading_;
    }
    if (!it->second.loading) continue;
    if (auto s = load_step(p, budget); !s) {
      logger()->error("{}-{}: cannot load its groups: {}", kOffsetsTopic, p, s.error().message());
      failed_[p] = part->term();
      unload(p);
      if (first) first = s;
    }
  }
  return first;
}

Status Coordinator::load_step(std::int32_t p, std::uint64_t& budget) {
  auto& state = served_.at(p);
  auto part = topic_->partition(p);
  if (part == nullptr) return Error(Errc::not_found, fmt::format("{}-{}", kOffsetsTopic, p));
  std::size_t skipped = 0;
  state.next = std::max(state.next, part->start_offset());
  // The high watermark of a confirmed leader covers everything committed
  // before its term; nothing is appended meanwhile (the groups are loading).
  while (state.next < part->high_watermark() && budget > 0) {
    const auto bytes = std::min(budget, kReplayReadBytes);
    auto next = replay_read(*part, state.next, bytes, skipped);
    if (!next) return next.error();
    if (*next <= state.next) break;
    budget -= bytes;
    state.next = *next;
  }
  if (skipped > 0) {
    logger()->warn("{}-{}: skipped {} records that are not group records", kOffsetsTopic, p,
                   skipped);
  }
  if (state.next < part->high_watermark()) return Status{};  // the budget ran out
  state.loading = false;
  --loading_;
  std::size_t held = 0;
  for (const auto& [id, entry] : offsets_.groups()) {
    if (partition_for(id) != p) continue;
    ++held;
    if (entry.summary) summary_generation_[id] = entry.summary->generation;
  }
  logger()->info("coordinating the groups of {}-{} (leader epoch {}): {} groups loaded",
                 kOffsetsTopic, p, state.term.value(), held);
  return Status{};
}

Result<Offset> Coordinator::replay_read(cluster::Partition& part, Offset from,
                                        std::uint64_t bytes_max, std::size_t& skipped) {
  auto read = part.read(from, bytes_max);
  if (!read) return read.error();
  if (read->bytes.empty()) return from;
  auto bytes = read->bytes.read_all();
  if (!bytes) return bytes.error();
  std::span<const std::byte> rest = *bytes;
  while (rest.size() >= protocol::kBatchHeaderBytes) {
    auto peek = protocol::decode_batch_header(rest, limits::kBatchBytesMax);
    if (!peek) return peek.error();
    if (peek->total_bytes() > rest.size()) break;  // read() gives whole batches
    if (peek->record_count == 0) {
      // A new Raft leader's no-op: an empty batch, no records.
      rest = rest.subspan(peek->total_bytes());
      continue;
    }
    auto header = protocol::validate_batch(rest.first(peek->total_bytes()), limits::kBatchBytesMax);
    if (!header) return header.error();
    const auto batch = rest.first(header->total_bytes());
    rest = rest.subspan(header->total_bytes());
    // Raft's membership entries (control batches) hold no group records.
    if (header->is_control()) continue;
    auto records = protocol::batch_records(batch, limits::kBatchBytesMax);
    if (!records) return records.error();
    auto views = protocol::decode_record_section(*header, *records);
    if (!views) return views.error();
    for (const auto& v : *views) {
      if (!v.key) continue;
      auto rec = decode_stored(*v.key, v.value);
      if (!rec) {
        ++skipped;
        continue;
      }
      offsets_.apply(*rec);
    }
  }
  return read->next_offset;
}

void Coordinator::unload(std::int32_t p) {
  auto it = served_.find(p);
  if (it == served_.end()) return;
  if (it->second.loading) --loading_;
  logger()->info("no longer coordinating the groups of {}-{} (leader epoch {})", kOffsetsTopic, p,
                 it->second.term.value());
  served_.erase(it);
  // Calls waiting in its groups: the client finds the new coordinator.
  std::vector<Reply> replies;
  for (const auto& [id, w] : waiters_) {
    if (w->partition != p) continue;
    Reply r;
    r.id = id;
    r.join = JoinResult{};
    r.join->error = GroupError::not_coordinator;
    r.sync = SyncResult{};
    r.sync->error = GroupError::not_coordinator;
    replies.push_back(std::move(r));
  }
  deliver(std::move(replies));
  std::vector<std::string> ids;
  for (const auto& [id, group] : groups_) {
    if (partition_for(id) == p) ids.push_back(id);
  }
  for (const auto& id : ids) {
    groups_.at(id)->mark_dead();
    forget(id);
  }
  ids.clear();
  for (const auto& [id, entry] : offsets_.groups()) {
    if (partition_for(id) == p) ids.push_back(id);
  }
  for (const auto& id : ids) offsets_.erase_group(id);
  for (auto s = summary_generation_.begin(); s != summary_generation_.end();) {
    s = partition_for(s->first) == p ? summary_generation_.erase(s) : std::next(s);
  }
  // Records written but not committed: a new leader's replay decides.
  if (auto pending = pending_.find(p); pending != pending_.end()) {
    for (const auto& batch : pending->second) {
      for (const auto& r : batch.records) {
        const auto* o = std::get_if<OffsetRecord>(&r);
        if (o != nullptr && o->value) {
          pending_offset_bytes_ -= OffsetMap::entry_bytes(o->partition, *o->value);
        }
      }
    }
    pending_.erase(pending);
  }
}

std::shared_ptr<cluster::Partition> Coordinator::served(std::int32_t partition) const {
  auto it = served_.find(partition);
  if (it == served_.end()) return nullptr;
  auto part = topic_->partition(partition);
  if (part == nullptr || part->closed() || !part->leader() || part->term() != it->second.term) {
    return nullptr;
  }
  return part;
}

}  // namespace spate::groups
