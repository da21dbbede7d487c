// SPDX-License-Identifier: Apache-2.0
//
// A broker outside the controller's voters (controller_rig.h's node 3, not
// among the --seeds) joins a running group: it registers through the voters,
// the leader makes it a Raft learner of the controller group, and it applies
// the same metadata as the voters, from the log or from the leader's
// snapshot when the log was cut before it came, across a leader change and a
// restart of everyone. It never campaigns and never counts in the quorum.
// Removed (unregister_broker) once it holds nothing, it leaves the group's
// learners, nobody connects to it, it finds out, and a restart joins again.

#include <algorithm>

#include <gtest/gtest.h>

#include "controller_rig.h"

namespace spate::cluster {
namespace {

using test::ControllerGroup;
using namespace std::chrono_literals;

const std::vector<NodeId> kVoterIds{NodeId(0), NodeId(1), NodeId(2)};
const std::vector<NodeId> kLearnerIds{NodeId(3)};

class ControllerLearner : public ControllerGroup {
 protected:
  void start_voters() {
    for (int id = 0; id < 3; ++id) start(id);
    connect_and_start({0, 1, 2});
    ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 3); }, 10'000ms));
  }

  // Node 3 registered and applied what the voters hold.
  bool joined() {
    return all_registered({0, 1, 2, 3}, 4) && snapshot(3) == snapshot(0) &&
           snapshot(0) == snapshot(1) && snapshot(1) == snapshot(2);
  }

  // Every running node's controller group: voters 0-2, learner 3.
  void expect_membership(std::initializer_list<int> ids) {
    for (int id : ids) {
      const auto m = controller(id).partition().membership();
      EXPECT_EQ(m.voters, kVoterIds) << "node " << id << ": " << m.describe();
      EXPECT_EQ(m.learners, kLearnerIds) << "node " << id << ": " << m.describe();
    }
  }

  // Every running voter's group has no learner and its state no node 3.
  bool three_gone(std::initializer_list<int> voters) {
    for (int id : voters) {
      auto& c = controller(id);
      if (!c.partition().membership().learners.empty() || c.state().broker(NodeId(3)) != nullptr ||
          !c.partition().membership_committed()) {
        return false;
      }
    }
    return true;
  }

  Proposed propose_ok(int via, Command command) {
    auto r = propose(via, std::move(command));
    EXPECT_TRUE(r) << r.error();
    return r ? *r : Proposed{};
  }

  bool learner_ever_led_ = false;
  // run_until, watching that node 3 never leads.
  bool run_watching(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    return run_until(
        [&] {
          if (nodes_[3].controller && controller(3).is_leader()) learner_ever_led_ = true;
          return done();
        },
        timeout);
  }
};

TEST_F(ControllerLearner, AJoiningBrokerAppliesTheMetadataAndNeverVotes) {
  start_voters();
  create_topics(leader(), "before", 3);
  start(3);
  connect_and_start({3});
  EXPECT_FALSE(controller(3).voter());
  EXPECT_TRUE(controller(0).voter());
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  expect_membership({0, 1, 2, 3});
  EXPECT_EQ(controller(3).state().topics().size(), 3U);
  EXPECT_EQ(controller(3).leader(), NodeId(leader()));
  // Placement counts it: a topic over four brokers puts replicas on node 3.
  const auto placed = create_topic(3, "placed", 4, 3);
  int on_three = 0;
  for (const auto& replicas : placed.assignments) {
    on_three += static_cast<int>(std::count(replicas.begin(), replicas.end(), NodeId(3)));
  }
  EXPECT_GT(on_three, 0);

  // Through the learner: forwarded to the leader, applied here before the answer.
  auto created = propose(3, create_topic(3, "via-learner", 2));
  ASSERT_TRUE(created) << created.error();
  ASSERT_TRUE(created->outcome.applied()) << created->outcome.message;
  EXPECT_NE(controller(3).state().topic("via-learner"), nullptr);

  // The leader goes: a voter takes over (never the learner), keeps it as a
  // learner without adding it again, and it follows the new leader.
  const int old = leader();
  const Offset membership_end = controller(old).partition().end_offset();
  stop(old);
  ASSERT_TRUE(run_watching([&] { return leader() >= 0; }, 10'000ms));
  const int now = leader();
  ASSERT_NE(now, 3);
  auto after = propose(3, create_topic(3, "after-change", 1, 2));
  ASSERT_TRUE(after) << after.error();
  ASSERT_TRUE(after->outcome.applied()) << after->outcome.message;
  EXPECT_EQ(controller(3).leader(), NodeId(now));
  expect_membership({now, 3});
  EXPECT_GT(controller(now).partition().end_offset(), membership_end);

  // The learner and one more voter gone: two voters of three still commit,
  // so the learner was never part of the quorum.
  start(old);
  connect_and_start({old});
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  int gone = -1;
  for (int id = 0; id < 3; ++id) {
    if (id != leader()) gone = id;
  }
  stop(3);
  stop(gone);
  const int l = leader();
  ASSERT_GE(l, 0);
  auto without = propose(l, create_topic(l, "without-learner", 1, 2));
  ASSERT_TRUE(without) << without.error();
  EXPECT_TRUE(without->outcome.applied()) << without->outcome.message;
  EXPECT_FALSE(learner_ever_led_);
  EXPECT_EQ(counters_[3].elections.load(), 0U) << "the learner campaigned";
}

TEST_F(ControllerLearner, ALearnerJoiningAfterTheCutGetsTheSnapshotAndStaysOneAcrossRestarts) {
  snapshot_every_ = 8;
  start_voters();
  create_topics(leader(), "t", 30);
  ASSERT_TRUE(run_until(
      [&] {
        for (int id = 0; id < 3; ++id) {
          if (controller(id).partition().start_offset() < Offset(16)) return false;
        }
        return true;
      },
      10'000ms));
  // The leader no longer has the start of the log: the learner gets the snapshot.
  start(3);
  connect_and_start({3});
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  EXPECT_GT(controller(3).partition().start_offset(), Offset(0));
  EXPECT_EQ(controller(3).state().topics().size(), 30U);
  expect_membership({0, 1, 2, 3});
  create_topics(3, "u", 10);  // through the learner, past another cut
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));

  // Everyone restarts: the group's membership comes back from the logs (and
  // the snapshots' start memberships); node 3 is a learner still, not added
  // twice, registers again and follows.
  for (int id = 0; id < 4; ++id) stop(id);
  for (int id = 0; id < 4; ++id) start(id);
  EXPECT_EQ(controller(3).state().topics().size(), 40U);
  connect_and_start({0, 1, 2, 3});
  ASSERT_TRUE(run_watching([&] { return leader() >= 0 && joined(); }, 10'000ms));
  expect_membership({0, 1, 2, 3});
  create_topics(3, "v", 2);
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  EXPECT_EQ(controller(3).state().topics().size(), 42U);
  EXPECT_FALSE(learner_ever_led_);
  EXPECT_EQ(counters_[3].elections.load(), 0U) << "the learner campaigned";
}

TEST_F(ControllerLearner, ALearnerCannotChangeTheGroupAndItsCallsAreCheckedLikeAnyPeers) {
  start_voters();
  start(3);
  connect_and_start({3});
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  // Its own replica of the group leads nothing: no membership change from it.
  auto promote = controller(3).partition().change_membership(
      {raft::MembershipChange::Type::promote, NodeId(3)});
  ASSERT_FALSE(promote);
  EXPECT_EQ(promote.error().code(), Errc::not_leader);
  // Through the leader it speaks for itself only (check_forwarded).
  auto& l = controller(leader());
  std::optional<Result<std::vector<std::byte>>> out;
  const Command as_zero = RegisterBroker{NodeId(0), {"evil", 1}, {"evil", 2}, std::nullopt, 7};
  asio::co_spawn(
      io_,
      [](Controller& ctl, std::vector<std::byte> p,
         std::optional<Result<std::vector<std::byte>>>& slot) -> awaitable<void> {
        slot.emplace(co_await ctl.handle_call(NodeId(3), kProposeMethod, std::move(p)));
      }(l, encode_command(as_zero), out),
      asio::detached);
  ASSERT_TRUE(run_until([&] { return out.has_value(); }, 5'000ms));
  ASSERT_FALSE(*out);
  EXPECT_NE(out->error().message().find("node 3 may not propose"), std::string::npos)
      << out->error().message();
  expect_membership({0, 1, 2, 3});
}

TEST_F(ControllerLearner, ARemovedBrokerLeavesTheGroupFindsOutAndMayJoinAgain) {
  start_voters();
  start(3);
  connect_and_start({3});
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  const auto first_epoch = controller(3).broker_epoch();

  // Refused: a voter (by whoever proposes it, forwarded or not), an unknown
  // broker, a broker holding a replica.
  for (int via : {3, leader()}) {
    const auto voter = propose_ok(via, UnregisterBroker{NodeId(1)});
    EXPECT_EQ(voter.outcome.error, Errc::invalid_argument);
    EXPECT_NE(voter.outcome.message.find("controller voter"), std::string::npos)
        << voter.outcome.message;
  }
  std::optional<Result<std::vector<std::byte>>> out;
  const Command forwarded = UnregisterBroker{NodeId(2)};
  asio::co_spawn(
      io_,
      [](Controller& ctl, std::vector<std::byte> p,
         std::optional<Result<std::vector<std::byte>>>& slot) -> awaitable<void> {
        slot.emplace(co_await ctl.handle_call(NodeId(3), kProposeMethod, std::move(p)));
      }(controller(leader()), encode_command(forwarded), out),
      asio::detached);
  ASSERT_TRUE(run_until([&] { return out.has_value(); }, 5'000ms));
  ASSERT_TRUE(*out) << out->error();
  auto answer = decode_proposed(**out);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome.error, Errc::invalid_argument);
  EXPECT_EQ(propose_ok(0, UnregisterBroker{NodeId(9)}).outcome.error, Errc::not_found);
  auto topic = propose_ok(3, CreateTopic{"on-three", 0, {{NodeId(3), NodeId(0)}}, {}});
  ASSERT_TRUE(topic.outcome.applied()) << topic.outcome.message;
  const auto held = propose_ok(1, UnregisterBroker{NodeId(3)});
  EXPECT_EQ(held.outcome.error, Errc::policy_violation);
  EXPECT_NE(held.outcome.message.find("drain it first"), std::string::npos);
  expect_membership({0, 1, 2, 3});

  // Nothing on it: removed. The leader takes it out of the learners, the
  // voters stop connecting to it, and it stops registering: it stays gone.
  auto deleted = propose_ok(1, DeleteTopic{"on-three", 0});
  ASSERT_TRUE(deleted.outcome.applied()) << deleted.outcome.message;
  const auto removed = propose_ok(1, UnregisterBroker{NodeId(3)});
  ASSERT_TRUE(removed.outcome.applied()) << removed.outcome.message;
  EXPECT_EQ(removed.outcome.value, first_epoch);
  ASSERT_TRUE(run_watching(
      [&] {
        return three_gone({0, 1, 2}) && controller(3).removed();
      },
      10'000ms));
  for (int id = 0; id < 3; ++id) {
    EXPECT_EQ(controller(id).state().brokers().size(), 3U);
    EXPECT_EQ(controller(id).partition().membership().voters, kVoterIds);
  }
  ASSERT_TRUE(run_until(
      [&] {
        for (int id = 0; id < 3; ++id) {
          if (nodes_[static_cast<std::size_t>(id)].transport->connected(NodeId(3))) return false;
        }
        return true;
      },
      5'000ms));
  std::array<std::uint64_t, 3> connects{};
  for (int id = 0; id < 3; ++id) {
    connects[static_cast<std::size_t>(id)] =
        nodes_[static_cast<std::size_t>(id)].transport->peer_stats(NodeId(3)).connects;
  }
  run_until([] { return false; }, 500ms);  // ten heartbeats of node 3's
  EXPECT_TRUE(three_gone({0, 1, 2})) << "node 3 registered again";
  for (int id = 0; id < 3; ++id) {
    EXPECT_FALSE(nodes_[static_cast<std::size_t>(id)].transport->connected(NodeId(3)));
    EXPECT_EQ(nodes_[static_cast<std::size_t>(id)].transport->peer_stats(NodeId(3)).connects,
              connects[static_cast<std::size_t>(id)]);
  }
  EXPECT_EQ(propose_ok(0, UnregisterBroker{NodeId(3)}).outcome.error, Errc::not_found);

  // A new leader neither adds it back nor fails on it.
  const int old = leader();
  stop(old);
  ASSERT_TRUE(run_watching([&] { return leader() >= 0; }, 10'000ms));
  start(old);
  connect_and_start({old});
  ASSERT_TRUE(run_watching([&] { return all_registered({0, 1, 2}, 3); }, 10'000ms));
  EXPECT_TRUE(three_gone({0, 1, 2}));

  // Restarted (a new incarnation), it joins again as a new broker.
  stop(3);
  start(3);
  connect_and_start({3});
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  EXPECT_FALSE(controller(3).removed());
  EXPECT_GT(controller(3).broker_epoch(), first_epoch);
  expect_membership({0, 1, 2, 3});
  EXPECT_FALSE(learner_ever_led_);
}

TEST_F(ControllerLearner, AVoterStaysUnremovableAfterARestartWithOtherSeeds) {
  // A learner's addition puts the membership (voters 0-2) in the log; then
  // every voter restarts naming only 0 and 1 in its --seeds. The group in
  // force is the log's: broker 2 is still a voter, and no broker removes it.
  start_voters();
  start(3);
  connect_and_start({3});
  ASSERT_TRUE(run_watching([&] { return joined(); }, 10'000ms));
  for (int id = 0; id < 3; ++id) {
    stop(id);
    seeds_[id] = {NodeId(0), NodeId(1)};
  }
  for (int id = 0; id < 3; ++id) start(id);
  connect_and_start({0, 1, 2});
  ASSERT_TRUE(run_until([&] { return leader() >= 0 && all_registered({0, 1, 2}, 4); }, 10'000ms));
  expect_membership({0, 1, 2, 3});
  for (int via : {3, 0, leader()}) {
    const auto refused = propose_ok(via, UnregisterBroker{NodeId(2)});
    EXPECT_EQ(refused.outcome.error, Errc::invalid_argument) << "via " << via;
    EXPECT_NE(refused.outcome.message.find("the group's voters 0,1,2"), std::string::npos)
        << refused.outcome.message;
  }
  for (int id = 0; id < 4; ++id) EXPECT_NE(controller(id).state().broker(NodeId(2)), nullptr);
}

}  // namespace
}  // namespace spate::cluster
