// SPDX-License-Identifier: Apache-2.0
//
// raft.state: what a partition's Raft replica keeps beside its log
// (design.md, Storage layout; docs/cluster.md): the hard state (term, vote,
// commit), what the log keeps about the prefix it deleted (the last deleted
// index and its term, the membership in effect there and, for the
// controller, the state machine's snapshot), and the indexes of the
// membership entries in the log, so that opening a partition needs no scan.
// A checksummed envelope (storage/envelope.h), replaced atomically.

#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "spate/common/result.h"
#include "spate/raft/config.h"
#include "spate/raft/ready.h"
#include "spate/storage/file.h"

namespace spate::cluster {

inline constexpr const char* kRaftStateFile = "raft.state";

struct RaftState {
  raft::HardState hard;
  // The log starts after this index; 0: it never deleted a prefix.
  raft::Index start_index = 0;
  Term start_term{0};
  std::optional<raft::Membership> start_membership;  // nullopt: the initial one
  std::vector<std::byte> start_snapshot;
  // Ascending, every one above start_index; a crash may leave one that no
  // longer (or not yet) names a membership entry: the reader checks each.
  std::vector<raft::Index> membership_indexes;
  // The membership entries of a prefix that retention or DeleteRecords
  // deleted (or is about to: they are written here before the segments
  // holding them go, so that whatever part of the deletion a crash left
  // done, the membership at the log's start is known). The membership at
  // the log's start is the latest of them at or below it, else
  // start_membership. Ascending indexes above start_index; once a deletion
  // is done only the latest below the log's start is kept.
  std::vector<std::pair<raft::Index, raft::Membership>> deleted_memberships;
  bool operator==(const RaftState&) const = default;
};

struct RaftStateLimits {
  std::size_t membership_indexes_max = 100'000;  // also bounds deleted_memberships
  std::size_t snapshot_bytes_max = 256U << 20U;
};

[[nodiscard]] std::vector<std::byte> encode_raft_state(const RaftState& state);
// The format version encode_raft_state writes (2 adds deleted_memberships;
// version 1 bodies are still read).
inline constexpr std::uint16_t kRaftStateVersion = 2;
// Errors: malformed (truncated, trailing bytes, counts past the limits or the
// bytes left, negative or unsorted indexes, a vote without a term, a commit
// or a membership index at or below nothing sensible, a membership that does
// not decode); any input is safe.
[[nodiscard]] Result<RaftState> decode_raft_state(std::span<const std::byte> body,
                                                  const RaftStateLimits& limits = {},
                                                  std::uint16_t version = kRaftStateVersion);

// Replaces <dir>/raft.state atomically (written, synced, renamed, directory
// synced). Errors: the file system's.
[[nodiscard]] Status write_raft_state(storage::Filesystem& fs, const std::filesystem::path& dir,
                                      const RaftState& state);
// Reads <dir>/raft.state; a missing file is a fresh replica (RaftState{}).
// Errors: corrupt_log (damage, with the path), unsupported_version, io_error.
[[nodiscard]] Result<RaftState> read_raft_state(storage::Filesystem& fs,
                                                const std::filesystem::path& dir,
                                                const RaftStateLimits& limits = {});

}  // namespace spate::cluster
