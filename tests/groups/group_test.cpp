// SPDX-License-Identifier: Apache-2.0
//
// groups::Group: the classic consumer-group state machine, driven by calls
// with the time passed in; invariants checked after every call.

#include "spate/groups/group.h"

#include <gtest/gtest.h>

namespace spate::groups {
namespace {

std::vector<std::byte> bytes(const std::string& s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

class GroupTest : public ::testing::Test {
 protected:
  JoinRequest join_request(const std::string& member_id,
                           std::vector<std::string> protocols = {"range"}) {
    JoinRequest r;
    r.id = next_id_++;
    r.member_id = member_id;
    r.client_id = "client";
    r.client_host = "/127.0.0.1";
    r.session_timeout_ms = 10'000;
    r.rebalance_timeout_ms = 30'000;
    r.protocol_type = "consumer";
    for (const auto& p : protocols) r.protocols.push_back({p, bytes("meta-" + p)});
    return r;
  }

  std::vector<Reply> checked(std::vector<Reply> replies) {
    auto broken = group_.check_invariants();
    EXPECT_FALSE(broken) << *broken;
    return replies;
  }

  std::vector<Reply> join(const JoinRequest& r, const std::string& fresh = "m-new") {
    return checked(group_.join(r, fresh, now_));
  }
  std::vector<Reply> sync(const std::string& member, std::int32_t generation,
                          std::map<std::string, std::vector<std::byte>> assignments = {}) {
    return checked(group_.sync({next_id_++, member, generation, std::move(assignments)}, now_));
  }
  std::vector<Reply> tick() { return checked(group_.tick(now_)); }

  // A member that joins, is answered at once (alone) and syncs as leader.
  std::string stable_member(const std::string& fresh) {
    auto replies = join(join_request(""), fresh);
    EXPECT_EQ(replies.size(), 1U);
    const auto generation = replies.at(0).join->generation;
    sync(fresh, generation, {{fresh, bytes("all")}});
    EXPECT_EQ(group_.state(), GroupState::stable);
    return fresh;
  }

  Group group_{"g", GroupLimits{}};
  std::int64_t now_ = 1'000'000;
  RequestId next_id_ = 1;
};

TEST_F(GroupTest, JoinV4WithoutAMemberIdAnswersMemberIdRequiredWithTheId) {
  auto r = join_request("");
  r.require_known_member_id = true;
  auto replies = join(r, "client-1");
  ASSERT_EQ(replies.size(), 1U);
  EXPECT_EQ(replies[0].join->error, GroupError::member_id_required);
  EXPECT_EQ(replies[0].join->member_id, "client-1");
  EXPECT_EQ(group_.state(), GroupState::empty);
  EXPECT_EQ(group_.pending_members(), 1U);
  // Rejoining with that id joins at once (the only member).
  auto again = join(join_request("client-1"));
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].join->error, GroupError::none);
  EXPECT_EQ(again[0].join->leader, "client-1");
  EXPECT_EQ(again[0].join->generation, 1);
  EXPECT_EQ(group_.state(), GroupState::completing_rebalance);
}

TEST_F(GroupTest, PendingMemberIdsExpireSoADuplicatedHandshakeLeavesNothing) {
  auto r = join_request("");
  r.require_known_member_id = true;
  join(r, "first");
  join(r, "second");  // the client retried the handshake; "first" is never used
  EXPECT_EQ(group_.pending_members(), 2U);
  now_ += 10'001;
  tick();
  EXPECT_EQ(group_.pending_members(), 0U);
  // An expired id is unknown.
  auto late = join(join_request("first"));
  EXPECT_EQ(late.at(0).join->error, GroupError::unknown_member_id);
  EXPECT_EQ(group_.state(), GroupState::empty);
}

TEST_F(GroupTest, JoinV0UsesTheSessionTimeoutAsRebalanceTimeout) {
  const auto a = stable_member("a");
  auto r = join_request("");
  r.rebalance_timeout_ms = -1;        // v0
  EXPECT_TRUE(join(r, "b").empty());  // waits for "a" to rejoin
  EXPECT_EQ(group_.state(), GroupState::preparing_rebalance);
  EXPECT_EQ(group_.members().at(1).rebalance_timeout_ms, 10'000);
  // "a" heartbeats but never rejoins: the rebalance ends at the largest
  // rebalance timeout, a's 30 s, and "a" is out.
  for (int i = 0; i < 3; ++i) {
    now_ += 9'000;
    EXPECT_EQ(group_.heartbeat(a, group_.generation(), now_), GroupError::rebalance_in_progress);
    EXPECT_TRUE(tick().empty());
  }
  now_ += 3'000;
  auto done = tick();
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].join->member_id, "b");
  EXPECT_EQ(done[0].join->leader, "b");
  EXPECT_EQ(group_.members().size(), 1U);
}

TEST_F(GroupTest, TheBarrierAnswersEveryJoinOnceAllRejoinedAndFollowersWaitForTheLeader) {
  const auto a = stable_member("a");
  EXPECT_TRUE(join(join_request(""), "b").empty());
  auto replies = join(join_request(a));
  ASSERT_EQ(replies.size(), 2U);
  const auto generation = group_.generation();
  EXPECT_EQ(generation, 2);
  for (const auto& r : replies) {
    EXPECT_EQ(r.join->error, GroupError::none);
    EXPECT_EQ(r.join->generation, generation);
    EXPECT_EQ(r.join->protocol_name, "range");
    EXPECT_EQ(r.join->leader, "a");
    EXPECT_EQ(r.join->members.size(), r.join->member_id == "a" ? 2U : 0U);
  }
  // The follower's SyncGroup waits; the heartbeat of a member that has its
  // join answer is fine while the group completes the rebalance.
  EXPECT_TRUE(sync("b", generation).empty());
  EXPECT_EQ(group_.heartbeat("b", generation, now_), GroupError::none);
  auto assigned = sync(a, generation, {{"a", bytes("p0")}, {"b", bytes("p1")}});
  ASSERT_EQ(assigned.size(), 2U);
  for (const auto& r : assigned) {
    EXPECT_EQ(r.sync->error, GroupError::none);
    EXPECT_FALSE(r.sync->assignment.empty());
  }
  EXPECT_EQ(group_.state(), GroupState::stable);
  EXPECT_EQ(group_.members().at(1).assignment, bytes("p1"));
}

TEST_F(GroupTest, HeartbeatAsksForARejoinDuringARebalanceAndRefusesStaleGenerations) {
  const auto a = stable_member("a");
  const auto generation = group_.generation();
  EXPECT_EQ(group_.heartbeat(a, generation, now_), GroupError::none);
  EXPECT_EQ(group_.heartbeat(a, generation - 1, now_), GroupError::illegal_generation);
  EXPECT_EQ(group_.heartbeat("nobody", generation, now_), GroupError::unknown_member_id);
  join(join_request(""), "b");
  EXPECT_EQ(group_.heartbeat(a, generation, now_), GroupError::rebalance_in_progress);
  EXPECT_EQ(sync(a, generation).at(0).sync->error, GroupError::rebalance_in_progress);
  EXPECT_EQ(sync(a, generation + 5).at(0).sync->error, GroupError::illegal_generation);
}

TEST_F(GroupTest, AJoinDuringCompletingRebalanceStartsANewGenerationAndFailsWaitingSyncs) {
  const auto a = stable_member("a");
  join(join_request(""), "b");
  join(join_request(a));
  const auto generation = group_.generation();
  ASSERT_EQ(group_.state(), GroupState::completing_rebalance);
  EXPECT_TRUE(sync("b", generation).empty());
  auto replies = join(join_request(""), "c");
  // b's waiting SyncGroup is told to rejoin.
  ASSERT_EQ(replies.size(), 1U);
  EXPECT_EQ(replies[0].sync->error, GroupError::rebalance_in_progress);
  EXPECT_EQ(group_.state(), GroupState::preparing_rebalance);
  join(join_request(a));
  auto done = join(join_request("b"));
  EXPECT_EQ(done.size(), 3U);
  EXPECT_EQ(group_.generation(), generation + 1);
}

TEST_F(GroupTest, ASilentMemberExpiresAndTheRestRebalance) {
  const auto a = stable_member("a");
  join(join_request(""), "b");
  join(join_request(a));
  const auto generation = group_.generation();
  sync(a, generation, {{"a", bytes("x")}, {"b", bytes("y")}});
  ASSERT_EQ(group_.state(), GroupState::stable);
  // Only "a" heartbeats.
  for (int i = 0; i < 4; ++i) {
    now_ += 3'000;
    EXPECT_EQ(group_.heartbeat(a, generation, now_), GroupError::none);
    tick();
  }
  EXPECT_EQ(group_.members().size(), 1U);
  EXPECT_EQ(group_.state(), GroupState::preparing_rebalance);
  EXPECT_EQ(group_.heartbeat(a, generation, now_), GroupError::rebalance_in_progress);
  auto rejoined = join(join_request(a));
  ASSERT_EQ(rejoined.size(), 1U);
  EXPECT_EQ(rejoined[0].join->generation, generation + 1);
}

TEST_F(GroupTest, TheLastMemberLeavingEmptiesTheGroup) {
  const auto a = stable_member("a");
  auto [error, replies] = group_.leave(a, now_);
  EXPECT_EQ(error, GroupError::none);
  EXPECT_EQ(group_.state(), GroupState::empty);
  EXPECT_TRUE(group_.members().empty());
  EXPECT_EQ(group_.leave(a, now_).first, GroupError::unknown_member_id);
  EXPECT_FALSE(group_.check_invariants());
}

TEST_F(GroupTest, ProtocolsMustOverlapAndTheMostVotedCommonOneWins) {
  stable_member("a");  // range only
  auto other = join_request("", {"roundrobin"});
  EXPECT_EQ(join(other, "x").at(0).join->error, GroupError::inconsistent_group_protocol);
  auto type = join_request("");
  type.protocol_type = "connect";
  EXPECT_EQ(join(type, "y").at(0).join->error, GroupError::inconsistent_group_protocol);
  auto bad_timeout = join_request("");
  bad_timeout.session_timeout_ms = 10;
  EXPECT_EQ(join(bad_timeout, "z").at(0).join->error, GroupError::invalid_session_timeout);
  EXPECT_EQ(group_.state(), GroupState::stable);

  Group g("votes", GroupLimits{});
  auto r1 = join_request("", {"sticky", "range"});
  auto r2 = join_request("", {"range", "sticky"});
  auto r3 = join_request("", {"range", "sticky"});
  g.join(r1, "m1", now_);
  g.join(r2, "m2", now_);  // preparing: m1 waits
  g.join(r3, "m3", now_);
  auto r1b = r1;
  r1b.member_id = "m1";
  r1b.id = next_id_++;
  // m1 was answered alone at generation 1; rejoining as leader rebalances.
  ASSERT_EQ(g.state(), GroupState::preparing_rebalance);
  auto replies = g.join(r1b, "unused", now_);
  ASSERT_FALSE(replies.empty());
  EXPECT_EQ(g.protocol_name(), "range");  // two votes against one
}

TEST_F(GroupTest, TheGroupSizeIsBounded) {
  Group small("small", GroupLimits{6'000, 1'800'000, 2});
  auto r = join_request("");
  r.require_known_member_id = true;
  EXPECT_EQ(small.join(r, "a", now_).at(0).join->error, GroupError::member_id_required);
  EXPECT_EQ(small.join(r, "b", now_).at(0).join->error, GroupError::member_id_required);
  EXPECT_EQ(small.join(r, "c", now_).at(0).join->error, GroupError::group_max_size_reached);
}

TEST_F(GroupTest, ARestartedStaticMemberGetsItsAssignmentWithoutARebalance) {
  auto a = join_request("");
  a.instance_id = "host-a";
  auto b = join_request("");
  b.instance_id = "host-b";
  join(a, "a1");  // alone: answered at once
  join(b, "b1");  // a new member: a rebalance, waiting for a1
  auto a_again = join_request("a1");
  a_again.instance_id = "host-a";
  ASSERT_EQ(join(a_again).size(), 2U);
  const auto generation = group_.generation();
  sync("a1", generation, {{"a1", bytes("p0")}, {"b1", bytes("p1")}});
  sync("b1", generation);
  ASSERT_EQ(group_.state(), GroupState::stable);
  // host-b restarts: no member id, the same instance id.
  auto restarted = join(b, "b2");
  ASSERT_EQ(restarted.size(), 1U);
  EXPECT_EQ(restarted[0].join->error, GroupError::none);
  EXPECT_EQ(restarted[0].join->member_id, "b2");
  EXPECT_EQ(restarted[0].join->generation, generation);
  EXPECT_EQ(group_.state(), GroupState::stable);  // no rebalance
  auto assignment = sync("b2", generation);
  ASSERT_EQ(assignment.size(), 1U);
  EXPECT_EQ(assignment[0].sync->assignment, bytes("p1"));
  // The old process is fenced.
  auto old = join_request("b1");
  old.instance_id = "host-b";
  EXPECT_EQ(join(old).at(0).join->error, GroupError::fenced_instance_id);
  EXPECT_EQ(group_.heartbeat("b1", generation, now_), GroupError::unknown_member_id);
  EXPECT_EQ(group_.heartbeat("b2", generation, now_), GroupError::none);
}

TEST_F(GroupTest, AStaticLeaderRestartingKeepsLeadingAndAnExpiredOneFreesItsInstanceId) {
  auto a = join_request("");
  a.instance_id = "host-a";
  join(a, "a1");
  sync("a1", group_.generation(), {{"a1", bytes("all")}});
  join(a, "a2");
  EXPECT_EQ(group_.leader(), "a2");
  EXPECT_EQ(group_.state(), GroupState::stable);
  // Silent past its session timeout: removed, the instance id is free.
  now_ += 10'001;
  tick();
  EXPECT_TRUE(group_.members().empty());
  auto fresh = join(a, "a3");
  ASSERT_EQ(fresh.size(), 1U);
  EXPECT_EQ(fresh[0].join->member_id, "a3");
  EXPECT_EQ(fresh[0].join->error, GroupError::none);
}

}  // namespace
}  // namespace spate::groups
