// SPDX-License-Identifier: Apache-2.0
//
// Kafka's leader epochs over a Raft partition (KIP-101, KIP-320;
// docs/cluster.md, Leader epochs). A batch's partitionLeaderEpoch is the Raft
// term it was proposed in, and a partition's leader epoch is its replica's
// current term. The epoch -> start offset cache Kafka keeps in
// leader-epoch-checkpoint is the log's own list of term starts
// (storage::PartitionLog::term_starts), which the log keeps with every
// append, truncation and deletion of a front segment.
//
// Pure functions: the partition (partition_kafka.cpp) and the handlers call
// them; the tests call them directly.

#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "spate/common/types.h"
#include "spate/storage/partition_log.h"

namespace spate::cluster {

// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
inline constexpr std::int64_t kUndefinedEpoch = -1;
inline constexpr std::int64_t kUndefinedEpochOffset = -1;

// An OffsetForLeaderEpoch answer: an epoch and the offset where it ends.
struct EpochEnd {
  std::int64_t epoch = kUndefinedEpoch;
  std::int64_t end_offset = kUndefinedEpochOffset;
  bool operator==(const EpochEnd&) const = default;
};

// Kafka's LeaderEpochFileCache.endOffsetFor over the epochs a leader of term
// `current` holds: the log's term starts less what lies below `log_start`
// (the entry in effect there starts at `log_start`, as Kafka's
// truncateFromStart leaves it), plus `current` from `log_end` if no batch of
// it is stored yet (a Kafka leader assigns its epoch when it takes over; a
// Raft group of one writes no no-op). For `requested`:
//   - -1: undefined (-1, -1);
//   - the latest epoch: (requested, log_end);
//   - above every epoch: undefined;
//   - below every epoch: (requested, the first epoch's start) (the data
//     before it is gone; Kafka answers so);
//   - else (the largest epoch <= requested, the start of the next epoch).
// O(log n) in the number of terms.
[[nodiscard]] EpochEnd epoch_end_offset(std::span<const storage::PartitionLog::TermStart> starts,
                                        Offset log_start, Offset log_end, Term current,
                                        std::int64_t requested);

// How a request's current leader epoch compares with the partition's.
enum class EpochFence : std::uint8_t {
  ok,       // absent or equal
  fenced,   // older than the partition's: FENCED_LEADER_EPOCH (74)
  unknown,  // newer than the partition's: UNKNOWN_LEADER_EPOCH (75)
};
// `requested`: nullopt when the request carries none. Which wire values mean
// none differs by API, as in Kafka: Fetch any negative value
// (FetchRequest.optionalEpoch), ListOffsets and OffsetForLeaderEpoch -1 only
// (another negative value is older than every epoch: fenced).
[[nodiscard]] EpochFence check_current_epoch(Term current, std::optional<std::int64_t> requested);

}  // namespace spate::cluster
