// SPDX-License-Identifier: Apache-2.0
//
// MetadataState::apply: every command applied, and refused for each reason
// with its error code, a refusal changing nothing but the applied index.

#include "spate/cluster/metadata.h"

#include <limits>

#include <gtest/gtest.h>

#include "cluster/metadata_samples.h"

namespace spate::cluster {
namespace {

using testing::broker_cmd;
using testing::ids;

class MetadataTest : public ::testing::Test {
 protected:
  ApplyOutcome apply(const Command& c) {
    auto out = state_.apply(c, ++index_);
    EXPECT_TRUE(out.has_value());
    return out ? *out : ApplyOutcome{};
  }
  void applies(const Command& c) {
    auto out = apply(c);
    EXPECT_TRUE(out.applied()) << command_name(c) << ": " << out.message;
  }
  // Refused with `code`, and the state is what a noop would have left.
  void refused(const Command& c, Errc code) {
    MetadataState expected = state_;
    ASSERT_TRUE(expected.apply(NoopCommand{}, index_ + 1));
    auto out = apply(c);
    EXPECT_EQ(out.error, code) << command_name(c) << ": " << out.message;
    EXPECT_FALSE(out.message.empty());
    EXPECT_TRUE(state_ == expected) << command_name(c);
  }
  void three_brokers() {
    for (int id : {1, 2, 3}) applies(broker_cmd(id));
  }
  TopicId create(std::string name, ReplicaAssignment a, ConfigMap configs = {}) {
    auto out = apply(CreateTopic{std::move(name), 0, std::move(a), std::move(configs)});
    EXPECT_TRUE(out.applied()) << out.message;
    return static_cast<TopicId>(out.value);
  }

  MetadataState state_;
  std::int64_t index_ = 0;
};

TEST_F(MetadataTest, NoopMovesOnlyTheAppliedIndex) {
  MetadataState empty;
  applies(NoopCommand{});
  EXPECT_EQ(state_.applied_index(), 1);
  EXPECT_EQ(state_.next_topic_id(), kFirstTopicId);
  EXPECT_FALSE(state_ == empty);
}

TEST_F(MetadataTest, AnIndexAppliedTwiceIsAnErrorAndChangesNothing) {
  applies(NoopCommand{});
  const MetadataState before = state_;
  auto out = state_.apply(broker_cmd(1), index_);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), Errc::invalid_argument);
  EXPECT_FALSE(state_.apply(broker_cmd(1), 0));
  EXPECT_TRUE(state_ == before);
}

TEST_F(MetadataTest, RegisterBroker) {
  auto out = apply(broker_cmd(1, "rack-a", 42));
  ASSERT_TRUE(out.applied());
  EXPECT_EQ(out.value, 1);  // the epoch is the registration's index
  const auto* b = state_.broker(NodeId(1));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->advertised.host, "broker1.example");
  EXPECT_EQ(b->cluster.port, 9093);
  EXPECT_EQ(b->rack, "rack-a");
  EXPECT_FALSE(b->fenced);
  // A retry keeps the epoch; a restart (new incarnation) gets a new one and is unfenced.
  applies(NoopCommand{});
  EXPECT_EQ(apply(broker_cmd(1, "rack-a", 42)).value, 1);
  applies(FenceBroker{NodeId(1), 1});
  EXPECT_TRUE(state_.broker(NodeId(1))->fenced);
  out = apply(broker_cmd(1, "rack-b", 43));
  EXPECT_EQ(out.value, index_);
  EXPECT_EQ(state_.broker(NodeId(1))->rack, "rack-b");
  EXPECT_FALSE(state_.broker(NodeId(1))->fenced);
}

TEST_F(MetadataTest, RegisterBrokerRefused) {
  refused(broker_cmd(-1), Errc::invalid_argument);
  auto c = broker_cmd(1);
  c.advertised.host = "";
  refused(c, Errc::invalid_argument);
  c = broker_cmd(1);
  c.cluster.port = 0;
  refused(c, Errc::invalid_argument);
  c.cluster.port = 65536;
  refused(c, Errc::invalid_argument);
  refused(broker_cmd(1, ""), Errc::invalid_argument);
  refused(broker_cmd(1, std::string(2000, 'r')), Errc::invalid_argument);
  MetadataLimits limits;
  limits.brokers_max = 2;
  state_ = MetadataState(limits);
  applies(broker_cmd(1));
  applies(broker_cmd(2));
  refused(broker_cmd(3), Errc::policy_violation);
  applies(broker_cmd(2, std::nullopt, 9));  // re-registering is not a new broker
}

TEST_F(MetadataTest, FenceAndUnfence) {
  three_brokers();
  applies(FenceBroker{NodeId(2), -1});
  EXPECT_FALSE(state_.alive(NodeId(2)));
  EXPECT_TRUE(state_.alive(NodeId(1)));
  applies(FenceBroker{NodeId(2), -1});  // idempotent
  refused(UnfenceBroker{NodeId(2), 99}, Errc::stale_broker_epoch);
  applies(UnfenceBroker{NodeId(2), state_.broker(NodeId(2))->epoch});
  EXPECT_TRUE(state_.alive(NodeId(2)));
  refused(FenceBroker{NodeId(7), -1}, Errc::not_found);
  refused(UnfenceBroker{NodeId(7), -1}, Errc::not_found);
  // A fence aimed at the run before a restart misses the new run.
  const auto old_epoch = state_.broker(NodeId(3))->epoch;
  applies(broker_cmd(3, std::nullopt, 2));
  refused(FenceBroker{NodeId(3), old_epoch}, Errc::stale_broker_epoch);
  EXPECT_TRUE(state_.alive(NodeId(3)));
}

TEST_F(MetadataTest, CreateTopic) {
  three_brokers();
  const auto id = create("orders", {ids({1, 2}), ids({2, 3}), ids({3, 1})}, {{"a", "1"}});
  EXPECT_EQ(id, kFirstTopicId);
  const auto* t = state_.topic("orders");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(state_.topic(id), t);
  EXPECT_EQ(t->partitions.size(), 3U);
  EXPECT_EQ(t->configs.at("a"), "1");
  const auto& p = t->partitions[1];
  EXPECT_EQ(p.replicas, ids({2, 3}));
  EXPECT_EQ(p.isr, ids({2, 3}));
  EXPECT_EQ(p.leader, kNoLeader);
  EXPECT_EQ(p.leader_epoch, kNoEpoch);
  EXPECT_EQ(state_.partition_count(), 3U);
  EXPECT_EQ(create("events", {ids({1})}), 2U);
  // An explicit id at or past the next one (the topics.meta migration).
  auto out = apply(CreateTopic{"legacy", 10, {ids({1})}, {}});
  EXPECT_EQ(out.value, 10);
  EXPECT_EQ(state_.next_topic_id(), 11U);
  EXPECT_EQ(create("later", {ids({3})}), 11U);
}

TEST_F(MetadataTest, CreateTopicRefused) {
  MetadataLimits limits;
  limits.topics_max = 3;
  limits.partitions_per_topic_max = 4;
  limits.partitions_max = 6;
  limits.replicas_max = 2;
  limits.configs_max = 2;
  limits.config_value_bytes_max = 8;
  state_ = MetadataState(limits);
  three_brokers();
  create("orders", {ids({1, 2})});
  refused(CreateTopic{"orders", 0, {ids({1})}, {}}, Errc::already_exists);
  refused(CreateTopic{"bad/name", 0, {ids({1})}, {}}, Errc::invalid_argument);
  refused(CreateTopic{"", 0, {ids({1})}, {}}, Errc::invalid_argument);
  refused(CreateTopic{std::string(250, 'x'), 0, {ids({1})}, {}}, Errc::invalid_argument);
  refused(CreateTopic{"t", 1, {ids({1})}, {}}, Errc::invalid_argument);  // id used before
  // The next id would wrap to 0, which no snapshot holds (metadata_fuzz).
  refused(CreateTopic{"t", std::numeric_limits<TopicId>::max(), {ids({1})}, {}},
          Errc::limit_exceeded);
  refused(CreateTopic{"t", 0, {}, {}}, Errc::invalid_partitions);
  refused(CreateTopic{"t", 0, ReplicaAssignment(5, ids({1})), {}}, Errc::invalid_partitions);
  refused(CreateTopic{"t", 0, {ids({1, 7})}, {}}, Errc::invalid_replica_assignment);
  refused(CreateTopic{"t", 0, {ids({1, 1})}, {}}, Errc::invalid_replica_assignment);
  refused(CreateTopic{"t", 0, {ids({})}, {}}, Errc::invalid_replica_assignment);
  refused(CreateTopic{"t", 0, {ids({1, 2, 3})}, {}}, Errc::invalid_replica_assignment);
  refused(CreateTopic{"t", 0, {ids({1, 2}), ids({3})}, {}}, Errc::invalid_replica_assignment);
  refused(CreateTopic{"t", 0, {ids({1})}, {{"a", "1"}, {"b", "2"}, {"c", "3"}}},
          Errc::invalid_config);
  refused(CreateTopic{"t", 0, {ids({1})}, {{"a", "123456789"}}}, Errc::invalid_config);
  refused(CreateTopic{"t", 0, {ids({1})}, {{"", "1"}}}, Errc::invalid_config);
  create("four", ReplicaAssignment(4, ids({1})));
  refused(CreateTopic{"t", 0, ReplicaAssignment(2, ids({1})), {}},
          Errc::policy_violation);  // 5 partitions exist, at most 6
  create("t", {ids({1})});
  refused(CreateTopic{"u", 0, {ids({1})}, {}}, Errc::policy_violation);  // topics_max
  applies(DeleteTopic{"four", 0});
  create("u", ReplicaAssignment(4, ids({2})));
}

TEST_F(MetadataTest, DeleteTopic) {
  three_brokers();
  const auto id = create("orders", {ids({1}), ids({2})});
  refused(DeleteTopic{"nope", 0}, Errc::not_found);
  refused(DeleteTopic{"orders", id + 1}, Errc::not_found);
  applies(DeleteTopic{"orders", id});
  EXPECT_EQ(state_.topic("orders"), nullptr);
  EXPECT_EQ(state_.topic(id), nullptr);
  EXPECT_EQ(state_.partition_count(), 0U);
  refused(DeleteTopic{"orders", 0}, Errc::not_found);
  // The name comes back with a new id: ids are never reused.
  EXPECT_EQ(create("orders", {ids({1})}), id + 1);
}

TEST_F(MetadataTest, CreatePartitions) {
  three_brokers();
  const auto id = create("orders", {ids({1, 2})});
  auto out = apply(CreatePartitions{"orders", {ids({2, 3}), ids({3, 1})}});
  ASSERT_TRUE(out.applied()) << out.message;
  EXPECT_EQ(out.value, 3);
  EXPECT_EQ(state_.partition(id, 2)->replicas, ids({3, 1}));
  EXPECT_EQ(state_.partition_count(), 3U);
  refused(CreatePartitions{"nope", {ids({1, 2})}}, Errc::not_found);
  refused(CreatePartitions{"orders", {}}, Errc::invalid_partitions);
  refused(CreatePartitions{"orders", {ids({1})}}, Errc::invalid_replica_assignment);  // RF 2
  refused(CreatePartitions{"orders", {ids({1, 9})}}, Errc::invalid_replica_assignment);
  refused(CreatePartitions{"orders", ReplicaAssignment(10'000, ids({1, 2}))},
          Errc::invalid_partitions);
}

TEST_F(MetadataTest, AlterTopicConfigsReplacesTheOverrides) {
  three_brokers();
  const auto id = create("orders", {ids({1})}, {{"a", "1"}, {"b", "2"}});
  applies(AlterTopicConfigs{"orders", {{"c", "3"}}});
  EXPECT_EQ(state_.topic(id)->configs, (ConfigMap{{"c", "3"}}));
  refused(AlterTopicConfigs{"nope", {}}, Errc::not_found);
  ConfigMap many;
  for (int i = 0; i < 300; ++i) many[std::to_string(i)] = "v";
  refused(AlterTopicConfigs{"orders", many}, Errc::invalid_config);
}

TEST_F(MetadataTest, AllocateProducerIdsHandsOutDisjointBlocks) {
  three_brokers();
  EXPECT_EQ(apply(AllocateProducerIds{NodeId(1), 1000}).value, 0);
  EXPECT_EQ(apply(AllocateProducerIds{NodeId(2), 10}).value, 1000);
  EXPECT_EQ(state_.next_producer_id(), 1010);
  refused(AllocateProducerIds{NodeId(9), 10}, Errc::not_found);
  refused(AllocateProducerIds{NodeId(1), 0}, Errc::invalid_argument);
  refused(AllocateProducerIds{NodeId(1), 1'000'001}, Errc::invalid_argument);
  auto near_end = MetadataState::restore({state_.brokers().at(NodeId(1))}, {}, kFirstTopicId,
                                         std::numeric_limits<std::int64_t>::max() - 5, index_);
  ASSERT_TRUE(near_end) << near_end.error();
  state_ = *near_end;
  refused(AllocateProducerIds{NodeId(1), 6}, Errc::limit_exceeded);
  applies(AllocateProducerIds{NodeId(1), 5});
}

TEST_F(MetadataTest, SetPartitionLeader) {
  three_brokers();
  const auto id = create("orders", {ids({1, 2, 3})});
  applies(SetPartitionLeader{id, 0, NodeId(2), Term(1), ids({2, 3})});
  const auto* p = state_.partition(id, 0);
  EXPECT_EQ(p->leader, NodeId(2));
  EXPECT_EQ(p->leader_epoch, Term(1));
  EXPECT_EQ(p->isr, ids({2, 3}));
  // The same leader in the same epoch updates its in-sync replicas.
  applies(SetPartitionLeader{id, 0, NodeId(2), Term(1), ids({2, 3, 1})});
  EXPECT_EQ(p->isr, ids({2, 3, 1}));
  refused(SetPartitionLeader{id, 0, NodeId(3), Term(1), ids({3})}, Errc::fenced_leader_epoch);
  refused(SetPartitionLeader{id, 0, NodeId(2), Term(0), ids({2})}, Errc::fenced_leader_epoch);
  refused(SetPartitionLeader{id, 1, NodeId(2), Term(2), ids({2})}, Errc::not_found);
  refused(SetPartitionLeader{id + 1, 0, NodeId(2), Term(2), ids({2})}, Errc::not_found);
  refused(SetPartitionLeader{id, -1, NodeId(2), Term(2), ids({2})}, Errc::not_found);
  applies(NoopCommand{});
  refused(SetPartitionLeader{id, 0, NodeId(4), Term(2), ids({4})},
          Errc::invalid_replica_assignment);
  refused(SetPartitionLeader{id, 0, NodeId(3), Term(2), ids({1})}, Errc::invalid_argument);
  refused(SetPartitionLeader{id, 0, NodeId(3), Term(2), ids({3, 3})}, Errc::invalid_argument);
  refused(SetPartitionLeader{id, 0, NodeId(3), Term(2), ids({3, 5})}, Errc::invalid_argument);
  applies(SetPartitionLeader{id, 0, NodeId(3), Term(5), ids({3})});
  EXPECT_EQ(p->leader_epoch, Term(5));
}

TEST_F(MetadataTest, SetPartitionLeaderRefusesANegativeEpoch) {
  three_brokers();
  const auto id = create("orders", {ids({1})});
  refused(SetPartitionLeader{id, 0, NodeId(1), Term(-1), ids({1})}, Errc::invalid_argument);
  refused(SetPartitionLeader{id, 0, NodeId(1), Term(-2), ids({1})}, Errc::invalid_argument);
}

TEST_F(MetadataTest, ReassignmentCompleted) {
  for (int id : {1, 2, 3, 4, 5}) applies(broker_cmd(id));
  const auto id = create("orders", {ids({1, 2, 3})});
  applies(SetPartitionLeader{id, 0, NodeId(1), Term(1), ids({1, 2, 3})});
  applies(BeginReassignment{id, 0, ids({4, 5, 3})});
  const auto* p = state_.partition(id, 0);
  EXPECT_EQ(p->target, ids({4, 5, 3}));
  // A joining replica may lead and be in sync during the move.
  applies(SetPartitionLeader{id, 0, NodeId(1), Term(1), ids({1, 2, 3, 4})});
  refused(CompleteReassignment{id, 0, ids({4, 5})}, Errc::not_found);
  refused(CompleteReassignment{id, 1, ids({4, 5, 3})}, Errc::not_found);
  applies(CompleteReassignment{id, 0, ids({4, 5, 3})});
  EXPECT_EQ(p->replicas, ids({4, 5, 3}));
  EXPECT_TRUE(p->target.empty());
  EXPECT_EQ(p->isr, ids({3, 4}));
  EXPECT_EQ(p->leader, kNoLeader);  // the leader left; its successor reports epoch 2
  EXPECT_EQ(p->leader_epoch, Term(1));
  refused(CompleteReassignment{id, 0, ids({4, 5, 3})}, Errc::not_found);
  applies(SetPartitionLeader{id, 0, NodeId(4), Term(2), ids({4, 3})});
}

TEST_F(MetadataTest, ReassignmentReplacedAndCancelled) {
  for (int id : {1, 2, 3, 4}) applies(broker_cmd(id));
  const auto id = create("orders", {ids({1, 2})});
  refused(BeginReassignment{id, 0, ids({1, 9})}, Errc::invalid_replica_assignment);
  refused(BeginReassignment{id, 0, ids({})}, Errc::invalid_replica_assignment);
  refused(BeginReassignment{id, 3, ids({3})}, Errc::not_found);
  refused(CancelReassignment{id, 0}, Errc::not_found);
  applies(BeginReassignment{id, 0, ids({3, 4})});
  const auto* p = state_.partition(id, 0);
  applies(SetPartitionLeader{id, 0, NodeId(4), Term(3), ids({4, 1})});
  applies(BeginReassignment{id, 0, ids({2, 3})});  // replaces the first: 4 leaves
  EXPECT_EQ(p->leader, kNoLeader);
  EXPECT_EQ(p->isr, ids({1}));
  refused(CompleteReassignment{id, 0, ids({3, 4})}, Errc::not_found);
  applies(SetPartitionLeader{id, 0, NodeId(3), Term(4), ids({3, 1, 2})});
  applies(CancelReassignment{id, 0});
  EXPECT_TRUE(p->target.empty());
  EXPECT_EQ(p->replicas, ids({1, 2}));
  EXPECT_EQ(p->isr, ids({1, 2}));
  EXPECT_EQ(p->leader, kNoLeader);
  refused(CancelReassignment{id, 0}, Errc::not_found);
  refused(CancelReassignment{id + 5, 0}, Errc::not_found);
  // Moving to where it already is ends the move.
  applies(BeginReassignment{id, 0, ids({2, 3})});
  applies(BeginReassignment{id, 0, ids({1, 2})});
  EXPECT_TRUE(p->target.empty());
}

TEST_F(MetadataTest, UnregisterBroker) {
  for (int id : {1, 2, 3, 4}) applies(broker_cmd(id));
  const auto epoch = state_.broker(NodeId(4))->epoch;
  applies(FenceBroker{NodeId(4), -1});  // a fenced broker may go too
  auto out = apply(UnregisterBroker{NodeId(4)});
  ASSERT_TRUE(out.applied()) << out.message;
  EXPECT_EQ(out.value, epoch);
  EXPECT_EQ(state_.broker(NodeId(4)), nullptr);
  EXPECT_EQ(state_.brokers().size(), 3U);
  EXPECT_FALSE(state_.alive(NodeId(4)));
  // Gone: a second removal, a fence or producer ids for it are refused;
  // it may register again (a new join) and gets a new epoch.
  refused(UnregisterBroker{NodeId(4)}, Errc::not_found);
  refused(FenceBroker{NodeId(4), -1}, Errc::not_found);
  refused(AllocateProducerIds{NodeId(4), 10}, Errc::not_found);
  out = apply(broker_cmd(4));
  ASSERT_TRUE(out.applied());
  EXPECT_EQ(out.value, index_);
  EXPECT_GT(out.value, epoch);
  // Placement and hand-named replicas no longer see a removed broker.
  applies(UnregisterBroker{NodeId(4)});
  refused(CreateTopic{"t", 0, {ids({1, 4})}, {}}, Errc::invalid_replica_assignment);
  EXPECT_FALSE(broker_slots(state_).empty());
  for (const auto& slot : broker_slots(state_)) EXPECT_NE(slot.id, NodeId(4));
}

TEST_F(MetadataTest, UnregisterBrokerRefused) {
  for (int id : {1, 2, 3, 4}) applies(broker_cmd(id));
  refused(UnregisterBroker{NodeId(9)}, Errc::not_found);
  refused(UnregisterBroker{NodeId(-1)}, Errc::not_found);
  // An assigned replica.
  const auto id = create("orders", {ids({1, 2}), ids({2, 4})});
  refused(UnregisterBroker{NodeId(4)}, Errc::policy_violation);
  EXPECT_NE(apply(UnregisterBroker{NodeId(4)}).message.find("drain it first"), std::string::npos);
  // Moving off it: still a replica until the move completes.
  applies(BeginReassignment{id, 1, ids({2, 3})});
  refused(UnregisterBroker{NodeId(4)}, Errc::policy_violation);
  applies(CompleteReassignment{id, 1, ids({2, 3})});
  // Moving onto it: in the pending target only.
  applies(BeginReassignment{id, 0, ids({1, 4})});
  EXPECT_EQ(state_.partitions_on(NodeId(4)), 1U);
  refused(UnregisterBroker{NodeId(4)}, Errc::policy_violation);
  applies(CancelReassignment{id, 0});
  EXPECT_EQ(state_.partitions_on(NodeId(4)), 0U);
  applies(UnregisterBroker{NodeId(4)});
  // Once the topic is deleted, its replicas no longer hold a broker.
  refused(UnregisterBroker{NodeId(3)}, Errc::policy_violation);
  applies(DeleteTopic{"orders", id});
  applies(UnregisterBroker{NodeId(3)});
}

TEST_F(MetadataTest, OfflineReplicasAndPreferredLeaderMoves) {
  three_brokers();
  const auto id = create("orders", {ids({1, 2}), ids({2, 3}), ids({3, 1})});
  applies(SetPartitionLeader{id, 0, NodeId(2), Term(1), ids({2, 1})});  // 1 preferred, in sync
  applies(SetPartitionLeader{id, 1, NodeId(2), Term(1), ids({2, 3})});  // leader is preferred
  applies(SetPartitionLeader{id, 2, NodeId(1), Term(1), ids({1})});     // 3 not in sync
  EXPECT_EQ(state_.preferred_leader_moves(), (std::vector<LeaderMove>{{id, 0, NodeId(1)}}));
  applies(FenceBroker{NodeId(1), -1});
  EXPECT_TRUE(state_.preferred_leader_moves().empty());
  EXPECT_EQ(state_.offline_replicas(*state_.partition(id, 2)), ids({1}));
  EXPECT_TRUE(state_.offline_replicas(*state_.partition(id, 1)).empty());
  // A partition without a leader wants its preferred one too.
  const auto other = create("events", {ids({2})});
  EXPECT_EQ(state_.preferred_leader_moves(), (std::vector<LeaderMove>{{other, 0, NodeId(2)}}));
}

}  // namespace
}  // namespace spate::cluster
