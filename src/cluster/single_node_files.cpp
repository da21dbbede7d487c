// SPDX-License-Identifier: Apache-2.0
//
// single_node_migration.h: a single node's raft.state as a replica of this
// broker, the migration's done-marker, and the shape a migrated topic has.

#include <algorithm>

#include "spate/cluster/single_node_migration.h"
#include "spate/storage/data_dir.h"

namespace spate::cluster {
namespace {

// A single node's partitions are Raft groups of one voter, node 0
// (PartitionRaftConfig's default).
constexpr NodeId kSingleNode{0};

bool single_node_membership(const raft::Membership& m) {
  return m.voters == std::vector<NodeId>{kSingleNode} && m.learners.empty();
}

}  // namespace

Result<std::optional<RaftState>> single_node_raft_state_for(const RaftState& stored, NodeId self) {
  // A single node never changes a partition's membership: any entry of one
  // means this log belonged to a replicated group.
  if (!stored.membership_indexes.empty()) {
    return Error::invalid(fmt::format("its log holds {} membership change(s), at index {}",
                                      stored.membership_indexes.size(),
                                      stored.membership_indexes.front()));
  }
  RaftState out = stored;
  bool changed = false;
  if (stored.start_membership) {
    const auto& m = *stored.start_membership;
    const raft::Membership mine{{self}, {}};
    if (single_node_membership(m)) {
      changed = changed || self != kSingleNode;
      out.start_membership = mine;
    } else if (m != mine) {
      return Error::invalid(fmt::format("its start membership is {}", m.describe()));
    }
  }
  const NodeId vote = stored.hard.vote;
  if (vote == kSingleNode) {
    changed = changed || self != kSingleNode;
    out.hard.vote = self;
  } else if (vote != raft::kNoNode && vote != self) {
    return Error::invalid(fmt::format("it voted for node {} in term {}", vote, stored.hard.term));
  }
  if (!changed) return std::optional<RaftState>{};
  return std::optional(std::move(out));
}

Result<RaftStateAdoption> adopt_single_node_raft_state(storage::Filesystem& fs,
                                                       const std::filesystem::path& dir,
                                                       NodeId self, bool write) {
  auto stored = read_raft_state(fs, dir);
  if (!stored) return stored.error();
  auto next = single_node_raft_state_for(*stored, self);
  if (!next) {
    return Error::invalid(fmt::format("{}: not a single node's Raft state: {}",
                                      (dir / kRaftStateFile).string(), next.error().detail()));
  }
  if (!next->has_value()) return RaftStateAdoption::unchanged;
  if (write) {
    if (auto s = write_raft_state(fs, dir, **next); !s) return s.error();
  }
  return RaftStateAdoption::rewritten;
}

Result<bool> single_node_migrated(storage::Filesystem& fs, const std::filesystem::path& data_dir) {
  auto type = fs.entry_type(data_dir / storage::kTopicsMetaMigratedFile);
  if (!type) return type.error();
  return *type != storage::EntryType::none;
}

Status mark_single_node_migrated(storage::Filesystem& fs, const std::filesystem::path& data_dir,
                                 const std::vector<TopicRecord>& topics) {
  return storage::write_file_atomic(fs, data_dir / storage::kTopicsMetaMigratedFile,
                                    encode_topics_meta(topics));
}

bool migrated_shape(const TopicMeta& topic, std::int32_t partitions, NodeId self) {
  if (partitions < 0 || topic.partitions.size() != static_cast<std::size_t>(partitions)) {
    return false;
  }
  return std::all_of(topic.partitions.begin(), topic.partitions.end(), [&](const PartitionMeta& p) {
    return p.replicas == std::vector<NodeId>{self} && p.target.empty();
  });
}

}  // namespace spate::cluster
