// SPDX-License-Identifier: Apache-2.0
//
// /metrics per consumer group (issue 14): members, state, generation, and per
// committed partition the offset and the lag; label values escaped; the
// group-partition series bounded.

#include "spate/groups/coordinator.h"
#include "spate/protocol/messages/offsets.h"

#include "broker/metrics_groups.h"
#include "broker_fixture.h"

namespace spate::broker {
namespace {

class GroupMetricsTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    coordinator_ =
        std::make_unique<groups::Coordinator>(groups::CoordinatorConfig{}, *manager_, clock_);
    auto started = run(coordinator_->start());
    ASSERT_TRUE(started) << started.error();
    broker_->set_coordinator(coordinator_.get());
  }
  void TearDown() override {
    if (coordinator_) coordinator_->stop();
    BrokerTest::TearDown();
  }

  // A simple group's commit (generation -1, no member id), as `spate group
  // reset-offsets` sends it.
  void commit(const std::string& group, const std::string& topic,
              std::vector<std::pair<std::int32_t, std::int64_t>> offsets) {
    protocol::OffsetCommitRequest r;
    r.group_id = group;
    r.generation_id_or_member_epoch = -1;
    protocol::OffsetCommitTopic t{topic, {}};
    for (auto [p, o] : offsets) {
      protocol::OffsetCommitPartition part;
      part.partition_index = p;
      part.committed_offset = o;
      t.partitions.push_back(part);
    }
    r.topics.push_back(std::move(t));
    auto resp = call<protocol::OffsetCommitResponse>(ApiKey::offset_commit, 2, r);
    for (const auto& p : resp.topics.at(0).partitions) ASSERT_EQ(p.error_code, 0);
    coordinator_->tick();
  }

  std::unique_ptr<groups::Coordinator> coordinator_;
};

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST_F(GroupMetricsTest, CommittedOffsetAndLagPerGroupPartition) {
  create("t", 2);
  ASSERT_EQ(produce("t", 0, batch(5)).error_code, 0);
  EXPECT_EQ(broker_->render_metrics().find("spate_group_lag{"), std::string::npos);
  commit("app\"1\\x", "t", {{0, 2}, {1, 0}});
  const auto text = broker_->render_metrics();
  EXPECT_GT(coordinator_->offset_bytes(), 256U);  // two offsets of 128+ bytes each
  const std::string g = "group=\"app\\\"1\\\\x\"";
  for (const auto& line : {
           "spate_group_members{" + g + "} 0",
           "spate_group_generation{" + g + "} 0",
           "spate_group_state{" + g + ",state=\"Empty\"} 1",
           "spate_group_state{" + g + ",state=\"Stable\"} 0",
           "spate_group_committed_offset{" + g + ",topic=\"t\",partition=\"0\"} 2",
           "spate_group_committed_offset{" + g + ",topic=\"t\",partition=\"1\"} 0",
           "spate_group_lag{" + g + ",topic=\"t\",partition=\"0\"} 3",
           "spate_group_lag{" + g + ",topic=\"t\",partition=\"1\"} 0",
           std::string("spate_group_series_dropped 0"),
           "spate_group_offsets_bytes " + std::to_string(coordinator_->offset_bytes()),
           std::string("spate_group_offsets_bytes_limit 268435456"),
       }) {
    EXPECT_TRUE(has(text, line)) << line << "\n" << text;
  }
  // More records: the lag grows; a new commit moves it.
  ASSERT_EQ(produce("t", 1, batch(4)).error_code, 0);
  EXPECT_TRUE(
      has(broker_->render_metrics(), "spate_group_lag{" + g + ",topic=\"t\",partition=\"1\"} 4"));
  commit("app\"1\\x", "t", {{1, 3}});
  EXPECT_TRUE(
      has(broker_->render_metrics(), "spate_group_lag{" + g + ",topic=\"t\",partition=\"1\"} 1"));
}

TEST_F(GroupMetricsTest, GroupPartitionSeriesAreBounded) {
  create("t", 3);
  commit("a", "t", {{0, 0}, {1, 0}});
  commit("b", "t", {{0, 0}, {1, 0}, {2, 0}});
  std::string out;
  render_group_metrics(*coordinator_, *manager_, out, 4);
  // Whole groups while they fit: "a" (2 series) does, "b" (3 more) does not.
  EXPECT_TRUE(has(out, "spate_group_committed_offset{group=\"a\",topic=\"t\",partition=\"1\"} 0"));
  EXPECT_EQ(out.find("spate_group_committed_offset{group=\"b\""), std::string::npos) << out;
  EXPECT_TRUE(has(out, "spate_group_series_dropped 3")) << out;
  EXPECT_TRUE(has(out, "spate_group_members{group=\"b\"} 0")) << out;
}

TEST(EscapeLabel, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_label("plain-group.1"), "plain-group.1");
}

}  // namespace
}  // namespace spate::broker
