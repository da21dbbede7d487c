// SPDX-License-Identifier: Apache-2.0
//
// The simulator's side of the driver (driver.h): where Readies tear, and the
// safety checks made while each step reaches the disk, and after.

#include <algorithm>
#include <span>

#include <fmt/format.h>

#include "spate/raft/wire.h"

#include "sim/raft_sim.h"

namespace spate::raft::sim {
namespace {

// The entries of `log` whose index is in [from, to].
std::span<const Entry> range(const MemLog& log, Index from, Index to) {
  const auto& all = log.all();
  auto cmp = [](const Entry& e, Index i) { return e.index < i; };
  auto begin = std::lower_bound(all.begin(), all.end(), from, cmp);
  auto end = std::lower_bound(begin, all.end(), to + 1, cmp);
  return {begin, end};
}

}  // namespace

void Cluster::process(Peer& n) {
  // Called after every call into a replica: its invariants first.
  if (n.replica) {
    if (auto s = n.replica->check_invariants(); !s) return fail(s.error().message());
  }
  // Bounded: each Ready is made durable and drained; a node produces more
  // only in answer to advance() (a commit to broadcast), which stops.
  if (drain(n, *this) < 0) return;
  if (n.replica && n.replica->has_ready()) {
    fail(fmt::format("node {} still has a Ready after 100 in a row (it never drains)", n.id));
  } else if (n.replica && n.state.commit != n.replica->commit()) {
    // Drained: the commit it handed out is durable, whatever comes next.
    fail(fmt::format("node {} is idle with commit {} but durable commit {}", n.id,
                     n.replica->commit(), n.state.commit));
  }
  check_roles();
}

std::uint64_t Cluster::tear_point(const Node& /*n*/, const Ready& ready) {
  // A torn Ready: the node crashes after step `tear` of making it durable
  // (0 hard state, 1 restart, 2 truncation, 3 + k after k entries).
  const bool replacing = ready.restart.has_value() || ready.truncate_from.has_value();
  if (replacing && rng_.uniform(100) < static_cast<std::uint64_t>(faults_.torn_replacing_percent)) {
    return rng_.uniform(3);  // before, between or after replacing the log
  }
  if (rng_.uniform(1000) < static_cast<std::uint64_t>(faults_.torn_per_mille)) {
    return rng_.uniform(3 + ready.entries.size());
  }
  return kNoTear;
}

void Cluster::crashed(Node& n, std::uint64_t step) {
  ++stats_.torn_readies;
  note(fmt::format("node {} crashes part way through a Ready (step {})", n.id, step));
  crash(n.id.value());
}

void Cluster::persisting(const Node& n, const HardState& state) {
  if (state.term < n.state.term) fail(fmt::format("node {} term went back", n.id));
  if (state.commit < n.state.commit) {
    fail(fmt::format("node {} durable commit went back", n.id));
  }
}

std::optional<std::uint64_t> Cluster::restarting(Node& n, const LogRestart& restart) {
  const Index index = restart.index;
  const auto hash = committed_hashes_.find(index);
  if (index > committed_last_ || hash == committed_hashes_.end()) {
    fail(fmt::format("node {} restarts its log after {}, which is not a committed entry", n.id,
                     index));
    return std::nullopt;
  }
  note(fmt::format("node {} restarts its log after {} (term {}, {})", n.id, index, restart.term,
                   restart.membership.describe()));
  ++stats_.restarts_from_leader;
  // The snapshot hook: the leader's snapshot must be the state at `index`.
  const auto want = hash->second;
  if (restart.snapshot != snapshot_of(want)) {
    fail(fmt::format("node {} got a snapshot that is not the state at {}", n.id, index));
    return std::nullopt;
  }
  Peer& p = peer(n);
  p.commit_seen = std::max(p.commit_seen, index);
  return want;
}

void Cluster::truncating(const Node& n, Index from) {
  // Truncating a committed entry is what Raft forbids outright.
  for (const Entry& e : range(n.log, from, committed_last_)) {
    const auto c = committed_.find(e.index);
    if (c != committed_.end() && c->second == e) {
      fail(fmt::format("node {} truncates committed entry {}", n.id, e.index));
      break;
    }
  }
  note(fmt::format("node {} truncates its log from {}", n.id, from));
}

void Cluster::apply(Node& node, Index commit) {
  Peer& n = peer(node);
  // Commit: never back, never past the durable log, never lost.
  if (commit < n.commit_seen) {
    fail(fmt::format("node {} commit went back {} -> {}", n.id, n.commit_seen, commit));
  }
  if (commit > n.log.last_index()) {
    fail(fmt::format("node {} commits {} past its durable log {}", n.id, commit,
                     n.log.last_index()));
  }
  if (commit > n.commit_seen && commit <= n.log.last_index() && !n.log.has(commit) &&
      commit != n.log.first_index() - 1) {
    fail(fmt::format("node {} commits {}, inside an entry", n.id, commit));
  }
  check_committed(n, n.commit_seen + 1, commit, n.replica->membership());
  if (commit > n.commit_seen) n.commit_seen = commit;
}

void Cluster::send(Node& /*n*/, std::vector<Message>& messages) {
  for (const auto& original : messages) {
    ++stats_.messages;
    // Through the wire codec, as between brokers.
    auto decoded = decode_message(encode_message(original));
    if (!decoded || !(*decoded == original)) {
      fail(fmt::format("{} does not survive the wire codec", original.describe()));
      continue;
    }
    Message& m = *decoded;
    if (blocked(m.from, m.to) ||
        rng_.uniform(100) < static_cast<std::uint64_t>(faults_.drop_percent)) {
      ++stats_.dropped;
      continue;
    }
    const int copies =
        rng_.uniform(100) < static_cast<std::uint64_t>(faults_.duplicate_percent) ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      const auto delay = rng_.uniform(static_cast<std::uint64_t>(faults_.max_delay_ticks) + 1);
      network_.push_back({now_ + delay, rng_.next(), m});
    }
  }
}

void Cluster::append(Node& n, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  check_membership_entries(n, entries);
  n.log.append(entries);
  // Log matching: any node holding an entry with the same index and term
  // must hold the same prefix.
  for (const auto& e : entries) {
    for (const auto& other : nodes_) {
      if (other.id == n.id || !other.log.has(e.index)) continue;
      if (other.log.at(e.index).term == e.term &&
          other.log.prefix_hash(e.index) != n.log.prefix_hash(e.index)) {
        fail(fmt::format("log matching broken at index {} term {} between {} and {}", e.index,
                         e.term, n.id, other.id));
      }
    }
  }
}

void Cluster::check_committed(const Node& n, Index from, Index to, const Membership& members) {
  for (const Entry& e : range(n.log, from, to)) {
    const Index i = e.index;
    if (i <= committed_last_) {
      const auto c = committed_.find(i);
      if (c == committed_.end() || !(c->second == e)) {
        fail(fmt::format("node {} committed a different entry at {} (term {}, span {})", n.id, i,
                         e.term, e.span));
      }
      continue;
    }
    // Newly committed anywhere (always first by a leader, which counts
    // against its latest membership): a majority of those voters must hold
    // it durably.
    std::size_t holders = 0;
    for (auto id : members.voters) {
      const Node& other = nodes_[static_cast<std::size_t>(id.value())];
      if ((other.log.has(i) && other.log.prefix_hash(i) == n.log.prefix_hash(i)) ||
          other.log.first_index() > i) {
        ++holders;  // a node that deleted i deleted only what it had committed
      }
    }
    if (holders < members.quorum()) {
      std::string logs;
      for (auto id : members.voters) {
        const Node& other = nodes_[static_cast<std::size_t>(id.value())];
        logs += fmt::format(" {}:[{}, {}]", id, other.log.first_index(), other.log.last_index());
      }
      fail(fmt::format("entry {} committed by node {} is durable on only {} of {} (logs{})", i,
                       n.id, holders, members.describe(), logs));
    }
    if (e.kind == EntryKind::membership) {
      ++stats_.membership_changes;
      note(fmt::format("membership {} committed at {}", decode_membership(e.data)->describe(), i));
    }
    committed_[i] = e;
    committed_hashes_[i] = n.log.prefix_hash(i);
    committed_last_ = i;
    ++stats_.committed;
  }
}

void Cluster::check_roles() {
  for (auto& n : nodes_) {
    if (!n.replica) continue;
    const Role role = n.replica->role();
    const Term term = n.replica->term();
    if (role == Role::leader && (n.role_seen != Role::leader || n.term_seen != term)) {
      ++stats_.elections;
      note(fmt::format("node {} is leader of term {}", n.id, term));
      auto [it, inserted] = leaders_.try_emplace(term.value(), n.id.value());
      if (!inserted && it->second != n.id.value()) {
        fail(fmt::format("two leaders in term {}: {} and {}", term, it->second, n.id));
      }
      // Leader completeness: every committed entry is in the new leader's log.
      for (auto c = committed_.lower_bound(n.log.first_index()); c != committed_.end(); ++c) {
        if (n.replica->term_at(c->first) != c->second.term) {
          fail(fmt::format("leader {} of term {} lacks committed entry {}", n.id, term, c->first));
          break;
        }
      }
    }
    n.role_seen = role;
    n.term_seen = term;
  }
}

void Cluster::check_membership_entries(const Node& node, const std::vector<Entry>& entries) {
  // One voter at a time: consecutive memberships in any log differ by at most
  // one voter, so their majorities overlap.
  Membership before;
  bool known = false;
  for (const auto& e : entries) {
    if (e.kind != EntryKind::membership) continue;
    if (!known) {
      // The entries before it in this batch are not membership entries.
      before = node.log.membership_before(e.index, initial_);
      known = true;
    }
    auto after = decode_membership(e.data);
    if (!after) {
      fail(fmt::format("node {} appends a membership entry {} that does not decode", node.id,
                       e.index));
      return;
    }
    std::size_t differ = 0;
    for (auto id : before.voters) differ += after->is_voter(id) ? 0U : 1U;
    for (auto id : after->voters) differ += before.is_voter(id) ? 0U : 1U;
    if (differ > 1) {
      fail(
          fmt::format("node {}: membership entry {} changes {} voters at once ({} -> {}; log "
                      "[{}, {}])",
                      node.id, e.index, differ, before.describe(), after->describe(),
                      node.log.first_index(), node.log.last_index()));
    }
    before = std::move(*after);
  }
}

}  // namespace spate::raft::sim
