// SPDX-License-Identifier: Apache-2.0

#include "sim/mem_log.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "spate/raft/wire.h"

namespace spate::raft::sim {
namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6U) + (h >> 2U);
  return h * 0xff51afd7ed558ccdULL;
}

std::uint64_t entry_hash(std::uint64_t prefix, const Entry& e) {
  std::uint64_t h = mix(prefix, static_cast<std::uint64_t>(e.term.value()));
  h = mix(h, static_cast<std::uint64_t>(e.span));
  h = mix(h, static_cast<std::uint64_t>(e.kind));
  for (auto b : e.data) h = mix(h, static_cast<std::uint64_t>(b));
  return mix(h, e.data.size());
}

}  // namespace

std::vector<Index> MemLog::membership_indexes() const {
  std::vector<Index> out;
  for (const auto& e : entries_) {
    if (e.kind == EntryKind::membership) out.push_back(e.index);
  }
  return out;
}

Membership MemLog::membership_before(Index index, const Membership& initial) const {
  for (std::size_t i = lower(index); i-- > 0;) {
    if (entries_[i].kind == EntryKind::membership) return *decode_membership(entries_[i].data);
  }
  return start_membership_.value_or(initial);
}

std::size_t MemLog::lower(Index index) const {
  // Each entry covers at least one index, so the answer is at or before
  // index - first_; with entries of one index each it is exactly there.
  const auto guess = static_cast<std::size_t>(std::max<Index>(index - first_, 0));
  if (guess < entries_.size() && entries_[guess].index >= index &&
      (guess == 0 || entries_[guess - 1].index < index)) {
    return guess;
  }
  const auto end =
      entries_.begin() + static_cast<std::ptrdiff_t>(std::min(guess + 1, entries_.size()));
  return static_cast<std::size_t>(
      std::lower_bound(entries_.begin(), end, index,
                       [](const Entry& e, Index i) { return e.index < i; }) -
      entries_.begin());
}

const Entry* MemLog::find(Index index) const {
  const std::size_t i = lower(index);
  return i < entries_.size() && entries_[i].index == index ? &entries_[i] : nullptr;
}

const Entry& MemLog::at(Index index) const {
  const Entry* e = find(index);
  if (e == nullptr) throw std::logic_error(fmt::format("no entry ends at {}", index));
  return *e;
}

Index MemLog::floor(Index index) const {
  const std::size_t i = lower(index + 1);  // entries ending at or before index: [0, i)
  return i == 0 ? first_ - 1 : entries_[i - 1].index;
}

std::uint64_t MemLog::prefix_hash(Index index) const {
  if (index == first_ - 1) return start_hash_;
  const std::size_t i = lower(index);
  if (i >= entries_.size() || entries_[i].index != index) {
    throw std::logic_error(fmt::format("no prefix hash at {}", index));
  }
  return hashes_[i];
}

Term MemLog::term(Index index) const {
  if (index == first_ - 1) return start_term_;
  const Entry* e = find(index);
  return e == nullptr ? Term(-1) : e->term;
}

Index MemLog::previous_index(Index index) const {
  const std::size_t i = lower(index);
  if (index < first_ || i >= entries_.size()) {
    throw std::logic_error(
        fmt::format("previous_index({}) outside [{}, {}]", index, first_, last_index()));
  }
  return entries_[i].first() - 1;
}

std::vector<Entry> MemLog::entries(Index from, Index to, std::size_t max_bytes) const {
  std::vector<Entry> out;
  std::size_t bytes = 0;
  for (std::size_t i = lower(from); i < entries_.size() && entries_[i].first() <= to; ++i) {
    const auto& e = entries_[i];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

void MemLog::truncate_from(Index index) {
  if (index < first_)
    throw std::logic_error(fmt::format("truncate at {} below the start {}", index, first_));
  if (index - 1 != floor(index - 1)) {
    throw std::logic_error(fmt::format("truncate at {} inside an entry", index));
  }
  const std::size_t keep = lower(index);
  entries_.resize(keep);
  hashes_.resize(keep);
}

void MemLog::append(const std::vector<Entry>& entries) {
  for (const auto& e : entries) {
    if (e.span < 1 || e.first() != last_index() + 1) {
      throw std::logic_error(
          fmt::format("append of {} (span {}) after {}", e.index, e.span, last_index()));
    }
    hashes_.push_back(entry_hash(hashes_.empty() ? start_hash_ : hashes_.back(), e));
    entries_.push_back(e);
  }
}

void MemLog::compact(Index index, Membership membership, std::vector<std::byte> snapshot) {
  const Entry* e = find(index);
  if (e == nullptr) return;
  start_term_ = e->term;
  start_hash_ = prefix_hash(index);
  start_membership_ = std::move(membership);
  start_snapshot_ = std::move(snapshot);
  const auto n = static_cast<std::ptrdiff_t>(lower(index) + 1);
  entries_.erase(entries_.begin(), entries_.begin() + n);
  hashes_.erase(hashes_.begin(), hashes_.begin() + n);
  first_ = index + 1;
}

void MemLog::restart(const LogRestart& restart, std::uint64_t prefix_hash) {
  entries_.clear();
  hashes_.clear();
  first_ = restart.index + 1;
  start_term_ = restart.term;
  start_hash_ = prefix_hash;
  start_membership_ = restart.membership;
  start_snapshot_ = restart.snapshot;
}

}  // namespace spate::raft::sim
