// SPDX-License-Identifier: Apache-2.0

#include "sim/raft_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "spate/common/bytes.h"
#include "spate/raft/wire.h"

namespace spate::raft::sim {
namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

}  // namespace

std::vector<std::byte> snapshot_of(std::uint64_t prefix_hash) {
  ByteWriter out(8);
  out.write<std::uint64_t>(prefix_hash);
  return out.release();
}

Cluster::Cluster(std::uint64_t seed, int voters, Faults faults, SimStats& stats, int spares)
    : seed_(seed), rng_(seed), faults_(faults), stats_(stats) {
  for (int i = 0; i < voters; ++i) initial_.voters.emplace_back(i);
  const int nodes = voters + spares;
  for (int i = 0; i < nodes; ++i) {
    Peer n;
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
  // SPATE_SIM_TRACE=1 prints every event as it happens (for a seed that
  // stops on an assertion inside raft, before the trail can be printed).
  static const bool verbose = std::getenv("SPATE_SIM_TRACE") != nullptr;
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
      "seed {} ({} nodes) at tick {}: {}\n  replay: SPATE_SIM_SEED={} "
      "build/bin/spate_raft_sim_tests --gtest_filter='*Random*'\n  last events:\n{}",
      seed_, nodes_.size(), now_, why, seed_, trace());
}

void Cluster::crash(int i) {
  Peer& n = nodes_[static_cast<std::size_t>(i)];
  if (!n.replica) return;
  n.members_at_crash = n.replica->membership();
  n.crash();  // loses everything not yet durable
  ++stats_.crashes;
  note(fmt::format("crash node {} (durable log {} entries, term {}, vote {}, commit {})", i,
                   n.log.last_index(), n.state.term, n.state.vote, n.state.commit));
}

void Cluster::restart(int i) {
  Peer& n = nodes_[static_cast<std::size_t>(i)];
  if (n.replica) return;
  n.start(config_for(n.id));
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
    Peer& to = nodes_[static_cast<std::size_t>(f.message.to.value())];
    if (!to.replica || blocked(f.message.from, f.message.to)) continue;
    static const bool verbose = std::getenv("SPATE_SIM_TRACE") != nullptr;
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
  // The driver's word that a node cannot be reached (a connection closed):
  // only the timing of elections may change.
  auto unreachable = [&](int lost, int told) {
    auto& node = nodes_[static_cast<std::size_t>(told)];
    if (told != lost && node.replica && chance(faults_.unreachable_percent * 10)) {
      node.replica->leader_unreachable(NodeId(lost));
    }
  };
  for (int i = 0; i < n; ++i) {
    if (nodes_[static_cast<std::size_t>(i)].replica) {
      if (chance(faults_.crash_per_mille)) {
        crash(i);
        for (int j = 0; j < n; ++j) unreachable(i, j);
      }
    } else if (chance(faults_.restart_percent * 10)) {
      restart(i);
    }
  }
  if (chance(faults_.spurious_unreachable_per_mille)) {
    const int told = static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(n)));
    const auto& node = nodes_[static_cast<std::size_t>(told)];
    if (node.replica && node.replica->leader() != kNoNode) {
      node.replica->leader_unreachable(node.replica->leader());
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
  for (const auto& [from, to] : cut_) unreachable(from, to);
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
  Peer& leader = nodes_[static_cast<std::size_t>(l)];
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
