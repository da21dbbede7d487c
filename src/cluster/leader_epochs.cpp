// SPDX-License-Identifier: Apache-2.0
//
// Kafka's leader-epoch rules over the log's term starts (leader_epochs.h).

#include "spate/cluster/leader_epochs.h"

#include <algorithm>

namespace spate::cluster {
namespace {

// The epochs as a Kafka leader's cache would hold them, without copying the
// log's list: starts[first..] with the first start raised to the log start,
// then `current` from the log end if the log holds no batch of it.
class EpochView {
 public:
  EpochView(std::span<const storage::PartitionLog::TermStart> starts, Offset log_start,
            Offset log_end, Term current)
      : log_start_(log_start), log_end_(log_end), current_(current) {
    // The last entry starting at or below the log start is in effect there;
    // those before it hold nothing any more.
    auto after = std::upper_bound(
        starts.begin(), starts.end(), log_start,
        [](Offset o, const storage::PartitionLog::TermStart& t) { return o < t.start; });
    if (after != starts.begin()) {
      raised_ = true;
      --after;
    }
    stored_ = starts.subspan(static_cast<std::size_t>(after - starts.begin()));
    virtual_current_ = stored_.empty() || stored_.back().term < current;
  }

  [[nodiscard]] std::size_t size() const { return stored_.size() + (virtual_current_ ? 1 : 0); }
  [[nodiscard]] Term term(std::size_t i) const {
    return i < stored_.size() ? stored_[i].term : current_;
  }
  [[nodiscard]] Offset start(std::size_t i) const {
    if (i >= stored_.size()) return log_end_;
    if (i == 0 && raised_) return log_start_;
    return stored_[i].start;
  }
  // The first entry whose term is above `epoch` (size() if none).
  [[nodiscard]] std::size_t first_above(std::int64_t epoch) const {
    std::size_t lo = 0;
    std::size_t hi = size();
    // Bounded: halves [lo, hi) each pass.
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (term(mid).value() <= epoch) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

 private:
  std::span<const storage::PartitionLog::TermStart> stored_;
  Offset log_start_;
  Offset log_end_;
  Term current_;
  bool raised_ = false;
  bool virtual_current_ = false;
};

}  // namespace

EpochEnd epoch_end_offset(std::span<const storage::PartitionLog::TermStart> starts,
                          Offset log_start, Offset log_end, Term current, std::int64_t requested) {
  if (requested == kUndefinedEpoch) return {};
  const EpochView view(starts, log_start, log_end, current);
  const std::size_t n = view.size();
  if (n == 0) return {};
  if (view.term(n - 1).value() == requested) return {requested, log_end.value()};
  const std::size_t higher = view.first_above(requested);
  if (higher == n) return {};  // above every epoch
  if (higher == 0) return {requested, view.start(0).value()};
  return {view.term(higher - 1).value(), view.start(higher).value()};
}

EpochFence check_current_epoch(Term current, std::optional<std::int64_t> requested) {
  if (!requested) return EpochFence::ok;
  if (*requested < current.value()) return EpochFence::fenced;
  if (*requested > current.value()) return EpochFence::unknown;
  return EpochFence::ok;
}

}  // namespace spate::cluster
