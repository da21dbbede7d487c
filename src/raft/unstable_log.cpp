// SPDX-License-Identifier: Apache-2.0

#include "unstable_log.h"

#include <algorithm>

#include <fmt/format.h>

#include "spate/common/assert.h"

namespace spate::raft {
namespace {

// The first entry of `entries` (which cover the indexes from `first` on)
// whose index is at least `index`. Every entry covers at least one index, so
// it is at or before position index - first: with entries of one index each
// (the common case) that guess is the answer.
std::vector<Entry>::const_iterator lower(const std::vector<Entry>& entries, Index first,
                                         Index index) {
  const auto guess = static_cast<std::size_t>(std::max<Index>(index - first, 0));
  if (guess < entries.size() && entries[guess].index >= index &&
      (guess == 0 || entries[guess - 1].index < index)) {
    return entries.begin() + static_cast<std::ptrdiff_t>(guess);
  }
  const auto end =
      entries.begin() + static_cast<std::ptrdiff_t>(std::min(guess + 1, entries.size()));
  return std::lower_bound(entries.begin(), end, index,
                          [](const Entry& e, Index i) { return e.index < i; });
}

}  // namespace

UnstableLog::UnstableLog(const LogView& durable, NodeId id)
    : durable_(durable), id_(id), first_(durable.last_index() + 1) {}

Term UnstableLog::term_at(Index index) const {
  if (index == 0 && durable_.first_index() <= 1 && !pending_restart_) return Term(0);
  if (pending_restart_ && index < first_) {
    return index == pending_restart_->index ? pending_restart_->term : Term(-1);
  }
  if (index >= first_) {
    const auto it = lower(entries_, first_, index);
    return it != entries_.end() && it->index == index ? it->term : Term(-1);
  }
  if (index < durable_.first_index() - 1 || index > durable_.last_index()) return Term(-1);
  return durable_.term(index);
}

Index UnstableLog::previous_index(Index index) const {
  if (index >= first_) {
    const auto it = lower(entries_, first_, index);
    SPATE_ASSERT(it != entries_.end() && it->index == index, "node {}: no entry at {}", id_, index);
    return it->first() - 1;
  }
  return durable_.previous_index(index);
}

Index UnstableLog::floor_index(Index index) const {
  index = std::min(index, last_index());
  if (term_at(index) >= Term(0)) return index;
  if (index >= first_) {
    // Inside an unstable entry: the one before it ends where this one starts.
    return lower(entries_, first_, index)->first() - 1;
  }
  if (pending_restart_ || index < durable_.first_index()) return -1;
  return durable_.previous_index(index);
}

std::vector<Entry> UnstableLog::entries_from(Index from, std::size_t max_bytes) const {
  std::vector<Entry> out;
  std::size_t bytes = 0;
  const Index durable_end = std::min(first_ - 1, durable_.last_index());
  if (!pending_restart_ && from <= durable_end) {
    out = durable_.entries(from, durable_end, max_bytes);
    for (const auto& e : out) bytes += e.data.size();
    if (out.empty() || out.back().index < durable_end) return out;
  }
  for (auto it = lower(entries_, first_, from); it != entries_.end(); ++it) {
    const Entry& e = *it;
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

void UnstableLog::append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const Index first = entries.front().first();
  SPATE_ASSERT(first >= 1 && first <= last_index() + 1 &&
                   (first - 1 == last_index() || term_at(first - 1) >= Term(0)),
               "node {}: append at {} is not after an entry (log ends at {})", id_, first,
               last_index());
  if (first <= last_index()) {
    if (first >= first_) {
      entries_.erase(lower(entries_, first_, first), entries_.end());
    } else {
      // Replaces durable entries: the driver truncates before appending.
      pending_truncate_ = std::min(pending_truncate_.value_or(first), first);
      entries_.clear();
      first_ = first;
    }
  }
  for (auto& e : entries) entries_.push_back(std::move(e));
}

void UnstableLog::restart(LogRestart restart) {
  first_ = restart.index + 1;
  pending_restart_ = std::move(restart);
  pending_truncate_.reset();
  entries_.clear();
}

void UnstableLog::fill(Ready& ready) const {
  ready.restart = pending_restart_;
  ready.truncate_from = pending_truncate_;
  ready.entries = entries_;
}

void UnstableLog::advance(const Ready& ready) {
  entries_.clear();
  pending_truncate_.reset();
  pending_restart_.reset();
  first_ = durable_.last_index() + 1;
  SPATE_ASSERT(ready.entries.empty() || durable_.last_index() == ready.entries.back().index,
               "node {}: the driver did not append the ready entries (log ends at {}, want {})",
               id_, durable_.last_index(), ready.entries.back().index);
}

std::string UnstableLog::check(Term term) const {
  Index next = first_;
  Term previous{0};
  for (const auto& e : entries_) {
    if (e.span < 1 || e.first() != next) {
      return fmt::format("unstable entry {} (span {}) does not start at {}", e.index, e.span, next);
    }
    if (e.term < previous || e.term > term) {
      return fmt::format("unstable entry {} has term {} (previous {}, current {})", e.index, e.term,
                         previous, term);
    }
    previous = e.term;
    next = e.index + 1;
  }
  return "";
}

}  // namespace spate::raft
