// SPDX-License-Identifier: Apache-2.0

#include "raft_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>

#include <fmt/format.h>

#include "spate/common/bytes.h"
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

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

// The entries of `log` whose index is in [from, to].
std::span<const Entry> range(const MemLog& log, Index from, Index to) {
  const auto& all = log.all();
  auto cmp = [](const Entry& e, Index i) { return e.index < i; };
  auto begin = std::lower_bound(all.begin(), all.end(), from, cmp);
  auto end = std::lower_bound(begin, all.end(), to + 1, cmp);
  return {begin, end};
}

}  // namespace

std::vector<std::byte> snapshot_of(std::uint64_t prefix_hash) {
  ByteWriter out(8);
  out.write<std::uint64_t>(prefix_hash);
  return out.release();
}

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

Cluster::Cluster(std::uint64_t seed, int voters, Faults faults, SimStats& stats, int spares)
    : seed_(seed), rng_(seed), faults_(faults), stats_(stats) {
  for (int i = 0; i < voters; ++i) initial_.voters.emplace_back(i);
  const int nodes = voters + spares;
  for (int i = 0; i < nodes; ++i) {
    Node n;
    n.id = NodeId(i);
    n.rng = std::make_unique<Rng>(seed * 1000 + static_cast<std::uint64_t>(i) + 1);
    nodes_.push_back(std::move(n));
  }
  for (int i = 0; i < nodes; ++i) restart(i);
}

Config Cluster::config_for(NodeId id) const {
  Config c;
  c.id = id;
  c.voters = initial_.voters;  // every node, spares too, starts from the group's initial members
  c.election_ticks = 10;
  c.heartbeat_ticks = 2;
  c.max_inflight = 8;
  c.max_append_bytes = 256;
  c.max_promote_lag = 20;
  return c;
}

void Cluster::note(std::string event) {
  // SPATE_RAFT_VERBOSE=1 prints every event as it happens (for a seed that
  // stops on an assertion inside raft, before the trail can be printed).
  static const bool verbose = std::getenv("SPATE_RAFT_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "t=%llu %s\n", static_cast<unsigned long long>(now_), event.c_str());
  trail_.push_back(fmt::format("t={} {}", now_, event));
  if (trail_.size() > 400) trail_.pop_front();
}

std::string Cluster::trace() const {
  std::string out;
  for (const auto& line : trail_) out += "    " + line + "\n";
  return out;
}

void Cluster::fail(const std::string& why) {
  if (!failure_.empty()) return;
  failure_ = fmt::format(
      "seed {} ({} nodes) at tick {}: {}\n  replay: SPATE_RAFT_SEED={} "
      "build/bin/spate_raft_sim_tests --gtest_filter='*Random*'\n  last events:\n{}",
      seed_, nodes_.size(), now_, why, seed_, trace());
}

void Cluster::crash(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (!n.replica) return;
  n.members_at_crash = n.replica->membership();
  n.replica.reset();  // loses everything not yet durable
  ++stats_.crashes;
  note(fmt::format("crash node {} (durable log {} entries, term {}, vote {}, commit {})", i,
                   n.log.last_index(), n.state.term, n.state.vote, n.state.commit));
}

void Cluster::restart(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (n.replica) return;
  n.replica = std::make_unique<Replica>(config_for(n.id), n.log, *n.rng, n.state);
  // What survived a crash, torn Readies included: the durable commit names
  // only committed entries of the durable log (a leader may have persisted a
  // commit it crashed before announcing, counted against a membership entry
  // it crashed before making durable: single-server changes make a majority
  // of either membership safe).
  const Index commit = n.replica->commit();
  // The durable commit is inside the durable log, and the restarted node
  // starts from it: a restart never loses a commit that was made durable.
  const Index log_end = std::max(n.log.last_index(), n.log.first_index() - 1);
  if (n.state.commit > log_end) {
    fail(fmt::format("node {} has durable commit {} past its durable log {}", i, n.state.commit,
                     log_end));
  } else if (commit < n.state.commit) {
    fail(fmt::format("node {} restarts at commit {}, behind its durable commit {}", i, commit,
                     n.state.commit));
  }
  check_committed(n, n.log.first_index(), commit, n.members_at_crash);
  n.commit_seen = commit;
  n.role_seen = Role::follower;
  n.term_seen = n.replica->term();
  note(fmt::format("start node {}", i));
}

void Cluster::isolate(const std::set<int>& group) {
  for (const auto& a : nodes_) {
    for (const auto& b : nodes_) {
      const bool in_a = group.contains(a.id.value());
      const bool in_b = group.contains(b.id.value());
      if (in_a != in_b) cut_.insert({a.id.value(), b.id.value()});
    }
  }
  ++stats_.partitions;
  std::string members;
  for (int g : group) members += std::to_string(g) + " ";
  note(fmt::format("partition: [{}] cut off", members));
}

void Cluster::block(int from, int to) {
  cut_.insert({from, to});
  ++stats_.partitions;
  note(fmt::format("one-way cut {} -> {}", from, to));
}

void Cluster::heal() {
  if (!cut_.empty()) note("heal the network");
  cut_.clear();
}

bool Cluster::blocked(NodeId from, NodeId to) const {
  return cut_.contains({from.value(), to.value()});
}

int Cluster::leader() const {
  int found = -1;
  Term best{-1};
  for (const auto& n : nodes_) {
    if (n.replica && n.replica->role() == Role::leader && n.replica->term() > best) {
      best = n.replica->term();
      found = n.id.value();
    }
  }
  return found;
}

bool Cluster::propose_to_leader(const std::string& data) {
  const int l = leader();
  if (l < 0) return false;
  // Entries span 1 to 4 indexes, as batches of records do.
  const auto span = static_cast<std::int32_t>(1 + rng_.uniform(4));
  auto r = nodes_[static_cast<std::size_t>(l)].replica->propose(bytes_of(data), span);
  ++stats_.proposals;
  if (r) note(fmt::format("propose '{}' to {} at index {} (span {})", data, l, *r, span));
  process(nodes_[static_cast<std::size_t>(l)]);
  return r.has_value();
}

void Cluster::process(Node& n) {
  // Called after every call into a replica: its invariants first.
  if (n.replica) {
    if (auto s = n.replica->check_invariants(); !s) return fail(s.error().message());
  }
  // Bounded: each Ready is made durable and drained; a node produces more
  // only in answer to advance() (a commit to broadcast), which stops.
  for (int rounds = 0; n.replica && n.replica->has_ready() && rounds < 100; ++rounds) {
    Ready ready = n.replica->ready();
    // A torn Ready: the node crashes after step `tear` of making it durable
    // (0 hard state, 1 restart, 2 truncation, 3 + k after k entries).
    const bool replacing = ready.restart.has_value() || ready.truncate_from.has_value();
    std::uint64_t tear = ~std::uint64_t{0};
    if (replacing &&
        rng_.uniform(100) < static_cast<std::uint64_t>(faults_.torn_replacing_percent)) {
      tear = rng_.uniform(3);  // before, between or after replacing the log
    } else if (rng_.uniform(1000) < static_cast<std::uint64_t>(faults_.torn_per_mille)) {
      tear = rng_.uniform(3 + ready.entries.size());
    }
    auto torn = [&](std::uint64_t step) {
      if (tear != step) return false;
      ++stats_.torn_readies;
      note(fmt::format("node {} crashes part way through a Ready (step {})", n.id, step));
      crash(n.id.value());
      return true;
    };
    if (ready.hard_state) {
      if (ready.hard_state->term < n.state.term) fail(fmt::format("node {} term went back", n.id));
      if (ready.hard_state->commit < n.state.commit) {
        fail(fmt::format("node {} durable commit went back", n.id));
      }
      n.state = *ready.hard_state;
    }
    if (torn(0)) return;
    if (ready.restart) {
      const Index index = ready.restart->index;
      const auto hash = committed_hashes_.find(index);
      if (index > committed_last_ || hash == committed_hashes_.end()) {
        fail(fmt::format("node {} restarts its log after {}, which is not a committed entry", n.id,
                         index));
        return;
      }
      note(fmt::format("node {} restarts its log after {} (term {}, {})", n.id, index,
                       ready.restart->term, ready.restart->membership.describe()));
      ++stats_.restarts_from_leader;
      // The snapshot hook: the leader's snapshot must be the state at `index`.
      const auto want = hash->second;
      if (ready.restart->snapshot != snapshot_of(want)) {
        fail(fmt::format("node {} got a snapshot that is not the state at {}", n.id, index));
        return;
      }
      n.log.restart(*ready.restart, want);
      n.commit_seen = std::max(n.commit_seen, index);
    }
    if (torn(1)) return;
    if (ready.truncate_from) {
      // Truncating a committed entry is what Raft forbids outright.
      for (const Entry& e : range(n.log, *ready.truncate_from, committed_last_)) {
        const auto c = committed_.find(e.index);
        if (c != committed_.end() && c->second == e) {
          fail(fmt::format("node {} truncates committed entry {}", n.id, e.index));
          break;
        }
      }
      note(fmt::format("node {} truncates its log from {}", n.id, *ready.truncate_from));
      n.log.truncate_from(*ready.truncate_from);
    }
    if (torn(2)) return;
    if (tear >= 3 && tear < 3 + ready.entries.size()) {
      // Only the first entries reached the disk.
      ready.entries.resize(tear - 3);
      append_checked(n, ready.entries);
      torn(tear);
      return;
    }
    append_checked(n, ready.entries);
    // Commit: never back, never past the durable log, never lost.
    if (ready.commit < n.commit_seen) {
      fail(fmt::format("node {} commit went back {} -> {}", n.id, n.commit_seen, ready.commit));
    }
    if (ready.commit > n.log.last_index()) {
      fail(fmt::format("node {} commits {} past its durable log {}", n.id, ready.commit,
                       n.log.last_index()));
    }
    if (ready.commit > n.commit_seen && ready.commit <= n.log.last_index() &&
        !n.log.has(ready.commit) && ready.commit != n.log.first_index() - 1) {
      fail(fmt::format("node {} commits {}, inside an entry", n.id, ready.commit));
    }
    check_committed(n, n.commit_seen + 1, ready.commit, n.replica->membership());
    if (ready.commit > n.commit_seen) n.commit_seen = ready.commit;
    for (auto& original : ready.messages) {
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
    n.replica->advance(ready);
  }
  if (n.replica && n.replica->has_ready()) {
    fail(fmt::format("node {} still has a Ready after 100 in a row (it never drains)", n.id));
  } else if (n.replica && n.state.commit != n.replica->commit()) {
    // Drained: the commit it handed out is durable, whatever comes next.
    fail(fmt::format("node {} is idle with commit {} but durable commit {}", n.id,
                     n.replica->commit(), n.state.commit));
  }
  check_roles();
}

void Cluster::append_checked(Node& n, const std::vector<Entry>& entries) {
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

void Cluster::deliver_due() {
  // Everything due now, in an order fixed by the seed (delays reorder).
  std::vector<InFlight> due;
  std::vector<InFlight> later;
  for (auto& f : network_) (f.deliver_at <= now_ ? due : later).push_back(std::move(f));
  network_ = std::move(later);
  std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) {
    return a.deliver_at != b.deliver_at ? a.deliver_at < b.deliver_at : a.order < b.order;
  });
  for (auto& f : due) {
    Node& to = nodes_[static_cast<std::size_t>(f.message.to.value())];
    if (!to.replica || blocked(f.message.from, f.message.to)) continue;
    static const bool verbose = std::getenv("SPATE_RAFT_VERBOSE") != nullptr;
    if (verbose) note("deliver " + f.message.describe());
    if (auto s = to.replica->step(f.message); !s) {
      fail(fmt::format("step {} failed: {}", f.message.describe(), s.error().message()));
    }
    process(to);
  }
}

void Cluster::tick() {
  ++now_;
  ++stats_.ticks;
  for (auto& n : nodes_) {
    if (!n.replica) continue;
    n.replica->tick();
    process(n);
  }
  deliver_due();
}

void Cluster::random_faults() {
  const auto n = static_cast<int>(nodes_.size());
  auto chance = [&](int per_mille) {
    return rng_.uniform(1000) < static_cast<std::uint64_t>(per_mille);
  };
  for (int i = 0; i < n; ++i) {
    if (nodes_[static_cast<std::size_t>(i)].replica) {
      if (chance(faults_.crash_per_mille)) crash(i);
    } else if (chance(faults_.restart_percent * 10)) {
      restart(i);
    }
  }
  if (chance(faults_.partition_per_mille)) {
    switch (rng_.uniform(3)) {
      case 0: {  // symmetric split
        std::set<int> group;
        for (int i = 0; i < n; ++i) {
          if (rng_.uniform(2) == 0) group.insert(i);
        }
        isolate(group);
        break;
      }
      case 1:
        block(static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(n))),
              static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(n))));
        break;
      default: {  // bridge: one node talks to both halves
        const int bridge = static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(n)));
        for (int a = 0; a < n; ++a) {
          for (int b = 0; b < n; ++b) {
            if (a != bridge && b != bridge && (a < n / 2) != (b < n / 2)) cut_.insert({a, b});
          }
        }
        ++stats_.partitions;
        note(fmt::format("bridge partition through node {}", bridge));
      }
    }
  }
  if (!cut_.empty() && chance(faults_.heal_percent * 10)) heal();
  for (auto& node : nodes_) {
    if (node.replica && chance(faults_.compact_per_mille)) {
      // Retention: delete a committed prefix, keeping a few entries.
      const Index upto = node.log.floor(std::min(node.commit_seen, node.log.last_index()) -
                                        static_cast<Index>(rng_.uniform(5)));
      if (upto >= node.log.first_index()) {
        node.log.compact(upto, node.replica->membership_at(upto),
                         snapshot_of(node.log.prefix_hash(upto)));
        ++stats_.compactions;
        note(fmt::format("node {} deletes its log up to {} ({})", node.id, upto,
                         node.log.start_membership()->describe()));
      }
    }
  }
  if (chance(faults_.propose_percent * 10)) {
    propose_to_leader(fmt::format("s{}-{}", seed_, ++proposals_));
  }
  if (chance(faults_.membership_per_mille)) random_membership_change();
  if (chance(faults_.transfer_per_mille)) {
    const int l = leader();
    if (l >= 0) {
      const int target = static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(n)));
      if (target != l) {
        note(fmt::format("transfer leadership {} -> {}", l, target));
        (void)nodes_[static_cast<std::size_t>(l)].replica->transfer_leadership(NodeId(target));
        process(nodes_[static_cast<std::size_t>(l)]);
      }
    }
  }
}

bool Cluster::change_membership(MembershipChange change) {
  const int l = leader();
  if (l < 0) return false;
  Node& leader = nodes_[static_cast<std::size_t>(l)];
  const char* name = change.type == MembershipChange::Type::add_learner ? "add learner"
                     : change.type == MembershipChange::Type::promote   ? "promote"
                                                                        : "remove";
  auto r = leader.replica->propose_change(change);
  if (!r) {
    ++stats_.membership_refused;
    note(fmt::format("leader {} refuses to {} {}: {}", l, name, change.node, r.error().message()));
    return false;
  }
  note(fmt::format("leader {} will {} {} at index {}: {}", l, name, change.node, *r,
                   leader.replica->membership().describe()));
  switch (change.type) {
    case MembershipChange::Type::add_learner:
      ++stats_.learners_added;
      break;
    case MembershipChange::Type::promote:
      ++stats_.promotions;
      break;
    case MembershipChange::Type::remove:
      ++stats_.removals;
      if (change.node.value() == l) ++stats_.leaders_removing_themselves;
      break;
  }
  process(leader);
  return true;
}

void Cluster::random_membership_change() {
  const int l = leader();
  if (l < 0) return;
  const Membership members = nodes_[static_cast<std::size_t>(l)].replica->membership();
  std::vector<NodeId> outside;
  for (const auto& n : nodes_) {
    if (!members.contains(n.id)) outside.push_back(n.id);
  }
  auto pick = [&](const std::vector<NodeId>& from) {
    return from[static_cast<std::size_t>(rng_.uniform(from.size()))];
  };
  switch (rng_.uniform(3)) {
    case 0:
      if (!outside.empty()) change_membership({MembershipChange::Type::add_learner, pick(outside)});
      break;
    case 1:
      if (!members.learners.empty()) {
        change_membership({MembershipChange::Type::promote, pick(members.learners)});
      }
      break;
    default:
      // Keep at least two voters most of the time, so that elections still
      // happen; the leader itself may be removed.
      if (!members.learners.empty() && rng_.uniform(2) == 0) {
        change_membership({MembershipChange::Type::remove, pick(members.learners)});
      } else if (members.voters.size() > 2) {
        change_membership({MembershipChange::Type::remove, pick(members.voters)});
      }
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

std::string Cluster::run(int ticks) {
  ++stats_.seeds;
  for (int t = 0; t < ticks && failure_.empty(); ++t) {
    random_faults();
    tick();
  }
  if (!failure_.empty()) return failure_;
  // Liveness: heal, restart everyone, stop dropping; a leader must be elected
  // and a new proposal must commit on every node within a bounded time.
  heal();
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) restart(i);
  faults_ = Faults{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  note("liveness phase: no more faults");
  // A proposal to a leader that then loses its leadership may be dropped
  // (it was never committed): propose again to the new leader.
  int attempt = 0;
  int proposer = -1;
  Term proposer_term{0};
  Index target = 0;
  std::string data;
  for (int t = 0; t < 400 && failure_.empty(); ++t) {
    tick();
    const int l = leader();
    if (l >= 0 && (proposer < 0 || l != proposer ||
                   nodes_[static_cast<std::size_t>(l)].replica->term() != proposer_term)) {
      data = fmt::format("final-{}", ++attempt);
      auto r = nodes_[static_cast<std::size_t>(l)].replica->propose(bytes_of(data));
      if (r) {
        proposer = l;
        proposer_term = nodes_[static_cast<std::size_t>(l)].replica->term();
        target = *r;
        note(fmt::format("liveness proposal '{}' to {} at index {}", data, l, target));
        process(nodes_[static_cast<std::size_t>(l)]);
      }
    }
    if (target > 0 && l >= 0) {
      // Every member of the leader's (final) membership; removed nodes and
      // spares never added need not follow.
      const Membership& members = nodes_[static_cast<std::size_t>(l)].replica->membership();
      bool all = true;
      for (auto& n : nodes_) {
        if (!members.contains(n.id)) continue;
        all = all && n.commit_seen >= target && n.log.has(target) &&
              n.log.at(target).data == bytes_of(data);
      }
      if (all) return failure_;
    }
  }
  if (failure_.empty()) {
    fail(target > 0 ? fmt::format("proposal '{}' at index {} not committed everywhere within "
                                  "400 ticks of healing",
                                  data, target)
                    : "no leader within 400 ticks of healing");
  }
  return failure_;
}

}  // namespace spate::raft::sim
