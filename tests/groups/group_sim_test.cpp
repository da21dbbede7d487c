// SPDX-License-Identifier: Apache-2.0
//
// A seeded simulation of groups::Group: clients that follow the classic
// protocol (join, sync, heartbeat, rejoin when told) join, leave, stall and
// die at random while time moves. After every call the group's invariants
// hold and every reply answers a request that was waiting, exactly once.
// Then the faults stop: every live client must end up a member of one
// stable generation, and every request must have had its answer.
// SPATE_SIM_SEED=n replays one seed; SPATE_SIM_SEEDS=n runs n (default 1,000).

#include <algorithm>
#include <cstdlib>
#include <set>

#include <gtest/gtest.h>

#include "spate/common/rng.h"
#include "spate/groups/group.h"

namespace spate::groups {
namespace {

enum class Phase : std::uint8_t { out, joining, syncing, stable };

struct Client {
  std::string member_id;
  std::int32_t generation = -1;
  Phase phase = Phase::out;
  bool alive = true;     // a dead client never calls again
  bool stalled = false;  // a stalled client skips heartbeats for a while
  std::int64_t next_heartbeat = 0;
};

class Sim {
 public:
  explicit Sim(std::uint64_t seed) : rng_(seed), group_("sim", GroupLimits{}) {}

  // Returns the first failure, or empty.
  std::string run() {
    clients_.resize(6);
    for (int step = 0; step < 3000 && failure_.empty(); ++step) chaos_step();
    // Faults stop: stalls end, and about half the dead slots get a new process.
    for (auto& c : clients_) {
      c.stalled = false;
      if (!c.alive && rng_.uniform(2) == 0) c = Client{};
    }
    // Healing: bounded by 600 simulated seconds.
    for (int step = 0; step < 6000 && failure_.empty() && !settled(); ++step) {
      now_ += 100;
      for (std::size_t i = 0; i < clients_.size(); ++i) drive(i);
      apply(group_.tick(now_));
    }
    if (failure_.empty() && !settled()) {
      failure_ = "live clients did not settle into one stable generation: " + describe();
    }
    return failure_;
  }

 private:
  void chaos_step() {
    now_ += static_cast<std::int64_t>(rng_.uniform(1500));
    const std::size_t i = rng_.uniform(clients_.size());
    Client& c = clients_[i];
    switch (rng_.uniform(20)) {
      case 0:
        c.alive = false;  // dies: its session must expire
        break;
      case 1:
        c.stalled = !c.stalled;
        break;
      case 2:
        if (c.alive && !c.member_id.empty()) {
          auto [error, replies] = group_.leave(c.member_id, now_);
          apply(std::move(replies));
          c = Client{};
        }
        break;
      case 3:
        if (!c.alive) c = Client{};  // a new process in its place
        break;
      default:
        drive(i);
    }
    apply(group_.tick(now_));
  }

  // One client's next protocol step.
  void drive(std::size_t i) {
    Client& c = clients_[i];
    if (!c.alive || waiting_.count(i) != 0) return;
    if (c.phase == Phase::out) {
      JoinRequest r;
      r.id = request(i);
      r.member_id = c.member_id;
      // Even slots are static members: a new process there keeps the
      // instance id (and the assignment) of the one before it.
      if (i % 2 == 0) r.instance_id = "host-" + std::to_string(i);
      r.session_timeout_ms = 10'000;
      r.rebalance_timeout_ms = 20'000;
      r.protocol_type = "consumer";
      r.protocols = {{"range", {}}};
      r.require_known_member_id = true;
      c.phase = Phase::joining;
      apply(group_.join(r, "m" + std::to_string(next_member_++), now_));
    } else if (c.phase == Phase::syncing) {
      SyncRequest r{request(i), c.member_id, c.generation, {}};
      if (c.member_id == group_.leader()) {
        for (const auto& m : group_.members()) r.assignments[m.member_id] = {std::byte{1}};
      }
      apply(group_.sync(r, now_));
    } else if (c.phase == Phase::stable && !c.stalled && now_ >= c.next_heartbeat) {
      c.next_heartbeat = now_ + 3'000;
      const auto error = group_.heartbeat(c.member_id, c.generation, now_);
      check();
      if (error == GroupError::unknown_member_id) c = Client{};
      if (error == GroupError::rebalance_in_progress || error == GroupError::illegal_generation) {
        c.phase = Phase::out;
      }
    }
  }

  RequestId request(std::size_t client) {
    const RequestId id = next_request_++;
    waiting_[client] = id;
    owner_[id] = client;
    return id;
  }

  void apply(std::vector<Reply> replies) {
    check();
    for (auto& reply : replies) {
      auto it = owner_.find(reply.id);
      if (it == owner_.end()) {
        failure_ = "a reply for a request that was not waiting (or a second reply): " +
                   std::to_string(reply.id);
        return;
      }
      const std::size_t i = it->second;
      owner_.erase(it);
      waiting_.erase(i);
      Client& c = clients_[i];
      if (reply.join) on_join(c, *reply.join);
      if (reply.sync) on_sync(c, *reply.sync);
    }
  }

  void on_join(Client& c, const JoinResult& r) {
    if (r.error == GroupError::member_id_required) {
      c.member_id = r.member_id;
      c.phase = Phase::out;
    } else if (r.error == GroupError::none) {
      c.member_id = r.member_id;
      c.generation = r.generation;
      c.phase = Phase::syncing;
    } else {
      reset(c);
    }
  }

  // Forgets its membership; a dead client stays dead.
  static void reset(Client& c) {
    const bool alive = c.alive;
    c = Client{};
    c.alive = alive;
  }

  static void on_sync(Client& c, const SyncResult& r) {
    if (r.error == GroupError::none) {
      c.phase = Phase::stable;
    } else if (r.error == GroupError::unknown_member_id) {
      reset(c);
    } else {
      c.phase = Phase::out;
    }
  }

  void check() {
    if (auto broken = group_.check_invariants(); broken && failure_.empty()) failure_ = *broken;
  }

  std::string describe() const {
    std::string out = std::string(state_name(group_.state())) + " generation " +
                      std::to_string(group_.generation()) + " leader " + group_.leader() +
                      " members";
    for (const auto& m : group_.members()) out += " " + m.member_id;
    out += "; clients";
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      const auto& c = clients_[i];
      out += " [" + c.member_id + " g" + std::to_string(c.generation) + " phase " +
             std::to_string(static_cast<int>(c.phase)) + (c.alive ? "" : " dead") +
             (waiting_.count(i) != 0 ? " waiting" : "") + "]";
    }
    return out;
  }

  bool settled() const {
    const bool anyone =
        std::any_of(clients_.begin(), clients_.end(), [](const Client& c) { return c.alive; });
    if (!anyone) return group_.state() == GroupState::empty && waiting_.empty();
    if (group_.state() != GroupState::stable || !waiting_.empty()) return false;
    std::set<std::string> live;
    for (const auto& c : clients_) {
      if (!c.alive) continue;
      if (c.phase != Phase::stable || c.generation != group_.generation()) return false;
      live.insert(c.member_id);
    }
    std::set<std::string> members;
    for (const auto& m : group_.members()) members.insert(m.member_id);
    return live == members;
  }

  Rng rng_;
  Group group_;
  std::vector<Client> clients_;
  std::map<std::size_t, RequestId> waiting_;  // client -> its request in flight
  std::map<RequestId, std::size_t> owner_;
  std::int64_t now_ = 1'000'000;
  RequestId next_request_ = 1;
  std::uint64_t next_member_ = 1;
  std::string failure_;
};

std::vector<std::uint64_t> seeds() {
  if (const char* one = std::getenv("SPATE_SIM_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t count = 1000;
  if (const char* many = std::getenv("SPATE_SIM_SEEDS")) count = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1; s <= count; ++s) out.push_back(s);
  return out;
}

TEST(GroupSim, RandomJoinsLeavesStallsAndDeathsKeepInvariantsAndSettle) {
  int failures = 0;
  for (auto seed : seeds()) {
    auto failure = Sim(seed).run();
    if (failure.empty()) continue;
    if (++failures <= 3) ADD_FAILURE() << "seed " << seed << ": " << failure;
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace spate::groups
