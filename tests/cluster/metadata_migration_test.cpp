// SPDX-License-Identifier: Apache-2.0
//
// migration_commands: a single node's topics.meta and producer.ids become
// controller state; proposing them twice changes no topic.

#include "spate/cluster/metadata_migration.h"

#include <gtest/gtest.h>

#include "cluster/metadata_samples.h"

namespace spate::cluster {
namespace {

TEST(MetadataMigration, TopicsAndProducerIdsArriveInTheState) {
  const std::vector<TopicRecord> records = {
      {"events", 3, {}},
      {"orders", 2, {{"cleanup.policy", "compact"}}},
  };
  MetadataState s;
  std::int64_t index = 0;
  ASSERT_TRUE(s.apply(testing::broker_cmd(7), ++index));
  const auto commands = migration_commands(records, NodeId(7), 2'500'000);
  ASSERT_EQ(commands.size(), 3U + 2U);  // three blocks of at most 1,000,000, two topics
  // The ids first: reserved before a client can see a migrated topic.
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::holds_alternative<AllocateProducerIds>(commands[i])) << i;
  }
  EXPECT_EQ(std::get<CreateTopic>(commands[3]).name, "events");
  for (const auto& c : commands) {
    auto out = s.apply(c, ++index);
    ASSERT_TRUE(out && out->applied()) << command_name(c) << ": " << out->message;
  }
  EXPECT_EQ(s.next_producer_id(), 2'500'000);
  const auto* orders = s.topic("orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->configs, records[1].overrides);
  ASSERT_EQ(orders->partitions.size(), 2U);
  EXPECT_EQ(orders->partitions[1].replicas, testing::ids({7}));
  EXPECT_EQ(s.topic("events")->partitions.size(), 3U);
  EXPECT_EQ(s.partition_count(), 5U);

  // Proposed again: no topic changes, only ids are skipped.
  const auto topics = s.topics();
  for (const auto& c : commands) {
    auto out = s.apply(c, ++index);
    ASSERT_TRUE(out);
    if (std::holds_alternative<CreateTopic>(c)) {
      EXPECT_EQ(out->error, Errc::already_exists);
    }
  }
  EXPECT_EQ(s.topics(), topics);
  EXPECT_EQ(s.next_producer_id(), 5'000'000);
}

TEST(MetadataMigration, NothingToMigrate) {
  EXPECT_TRUE(migration_commands({}, NodeId(1), 0).empty());
}

}  // namespace
}  // namespace spate::cluster
