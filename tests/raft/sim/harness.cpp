// SPDX-License-Identifier: Apache-2.0

#include "sim/harness.h"

#include <gtest/gtest.h>

namespace spate::raft::sim {

std::vector<std::byte> bytes(const std::string& s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

Harness::Harness(int n, bool pre_vote, bool check_quorum, int voters)
    : nodes_(static_cast<std::size_t>(n)),
      voters_(voters < 0 ? n : voters),
      pre_vote_(pre_vote),
      check_quorum_(check_quorum) {
  for (int i = 0; i < n; ++i) {
    nodes_[u(i)].id = NodeId(i);
    nodes_[u(i)].rng = std::make_unique<Rng>(static_cast<std::uint64_t>(100 + i));
  }
  for (int i = 0; i < n; ++i) start(i);
}

Config Harness::config(int i) const {
  Config c;
  c.id = NodeId(i);
  for (int k = 0; k < voters_; ++k) c.voters.emplace_back(k);
  c.election_ticks = 10;
  c.max_promote_lag = 5;
  c.heartbeat_ticks = 1;
  c.pre_vote = pre_vote_;
  c.check_quorum = check_quorum_;
  return c;
}

void Harness::crash(int i) {
  nodes_[u(i)].crash();
  std::erase_if(queue, [&](const Message& m) { return m.to.value() == i || m.from.value() == i; });
}

Ready Harness::tear(int i) {
  Ready ready = r(i).ready();
  if (ready.hard_state) nodes_[u(i)].state = *ready.hard_state;
  crash(i);
  return ready;
}

void Harness::compact(int i, Index upto, const std::string& snapshot) {
  nodes_[u(i)].log.compact(upto, r(i).membership_at(upto), bytes(snapshot));
}

void Harness::flush() {
  for (auto& node : nodes_) {
    // What was called into the replica since the last flush kept its invariants.
    if (node.replica) {
      if (auto s = node.replica->check_invariants(); !s) ADD_FAILURE() << s.error().message();
    }
    drain(node, *this);
  }
}

std::optional<std::uint64_t> Harness::restarting(Node& /*node*/, const LogRestart& restart) {
  restarts.push_back(restart);
  return 0;
}

void Harness::apply(Node& node, Index commit) {
  for (const Entry& e : node.log.all()) {
    if (e.index > commit) break;
    auto [it, inserted] = committed.try_emplace(e.index, e);
    if (!inserted && !(it->second == e) && violation.empty()) {
      violation = "committed entry " + std::to_string(e.index) + " changed on node " +
                  std::to_string(node.id.value());
    }
  }
}

void Harness::deliver(const std::set<int>& alive, const std::function<bool(Message&)>& filter) {
  flush();
  for (int guard = 0; !queue.empty() && guard < 100000; ++guard) {
    Message m = std::move(queue.front());
    queue.pop_front();
    const int from = m.from.value();
    const int to = m.to.value();
    if (!alive.contains(from) || !alive.contains(to) || !nodes_[u(to)].replica || !filter(m)) {
      continue;
    }
    ASSERT_TRUE(r(to).step(m));
    flush();
  }
}

void Harness::campaign_now(int i, int from, const std::set<int>& alive) {
  Message m;
  m.type = MessageType::timeout_now;
  m.from = NodeId(from);
  m.to = NodeId(i);
  m.term = r(i).term();
  ASSERT_TRUE(r(i).step(m));
  deliver(alive);
}

void Harness::elect(int i, const std::set<int>& alive, bool replicate) {
  for (int attempt = 0; attempt < 3 && r(i).role() != Role::leader; ++attempt) {
    Message m;
    m.type = MessageType::timeout_now;
    m.from = NodeId(i == 0 ? 1 : 0);
    m.to = NodeId(i);
    m.term = r(i).term();
    ASSERT_TRUE(r(i).step(m));
    deliver(alive, [&](Message& msg) {
      return replicate || (msg.type != MessageType::append && msg.type != MessageType::heartbeat);
    });
  }
  ASSERT_EQ(r(i).role(), Role::leader) << "node " << i << " did not win";
}

void Harness::tick(const std::set<int>& alive) {
  for (int i : alive) {
    if (nodes_[u(i)].replica) r(i).tick();
  }
  deliver(alive);
}

}  // namespace spate::raft::sim
