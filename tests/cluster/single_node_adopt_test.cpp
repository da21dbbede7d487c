// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager::adopt_single_node_topic: a topic a single node wrote,
// reopened by a cluster member (kept on disk, not served), becomes the
// cluster topic the controller migrated it into with its records, its
// configs and raft.state naming this broker, and stays so after a restart;
// another shape or a raft.state that is not a single node's changes nothing.
// A damaged topics.meta stops the open with an error naming it.

#include <gtest/gtest.h>

#include "spate/cluster/partition_manager.h"
#include "spate/cluster/single_node_migration.h"
#include "spate/common/log.h"
#include "spate/storage/data_dir.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"
#include "support/io_testing.h"

namespace spate::cluster {
namespace {

const NodeId kSelf{3};
constexpr TopicId kId = 7;
const ConfigMap kConfigs{{"retention.ms", "100000"}};

class SingleNodeAdopt : public ::testing::Test {
 protected:
  void SetUp() override { log::set_level(spdlog::level::critical); }

  template <typename T>
  T run(awaitable<T> task) {
    return spate::testing::run_on(io_, std::move(task));
  }
  PartitionManager::Deadline deadline() {
    return std::chrono::steady_clock::now() + std::chrono::seconds(5);
  }

  // /data as a single node, or as broker kSelf of a cluster.
  void open(bool cluster) {
    auto dir = storage::DataDir::open(fs_, "/data", {3, "c"});
    ASSERT_TRUE(dir) << dir.error();
    dir_ = std::move(*dir);
    ReplicaContext rc;
    if (cluster) {
      rc.self = kSelf;
      rc.send = [](RaftGroupId, raft::Message) {};
    }
    auto m = PartitionManager::open(fs_, *dir_, storage::LogConfig{}, clock_, io_.get_executor(),
                                    disk_, {}, std::move(rc));
    ASSERT_TRUE(m) << m.error();
    m_ = std::move(*m);
  }
  void close() {
    EXPECT_EQ(run(m_->close_all()), 0U);
    m_.reset();
    dir_.reset();
  }
  // A single node's topic of two partitions holding 3 and 5 batches.
  void single_node_topic() {
    open(false);
    ASSERT_TRUE(run(m_->create_topic("events", 2, kConfigs, false, deadline())));
    for (int i = 0; i < 2; ++i) {
      auto p = m_->partition("events", i);
      ASSERT_NE(p, nullptr);
      for (int b = 0; b < 3 + 2 * i; ++b) {
        auto batch = spate::testing::make_varied_batch(rng_, 2, 50, 1'700'000'000'000);
        auto r = p->append(batch);
        ASSERT_TRUE(r) << r.error();
        ASSERT_TRUE(run(p->wait_committed(r->last_offset + 1,
                                          clock_.steady_now() + std::chrono::seconds(5), r->term)));
      }
      ends_.push_back(p->end_offset());
    }
    close();
  }
  std::vector<std::byte> file(const std::string& path) { return *fs_.contents(path); }
  HostedTopic spec(std::vector<std::vector<NodeId>> replicas) {
    return HostedTopic{"events", kId, kConfigs, std::move(replicas)};
  }

  storage::MemFs fs_;
  ManualClock clock_;
  asio::io_context io_;
  DiskThread disk_;
  Rng rng_{11};
  std::vector<Offset> ends_;
  std::unique_ptr<storage::DataDir> dir_;
  std::unique_ptr<PartitionManager> m_;
};

TEST_F(SingleNodeAdopt, BecomesTheClusterTopicWithItsData) {
  single_node_topic();
  // What a single node leaves: raft.state naming voter 0.
  auto before = read_raft_state(fs_, "/data/events-0");
  ASSERT_TRUE(before) << before.error();
  EXPECT_EQ(before->hard.vote, NodeId(0));
  open(true);
  ASSERT_NE(m_->topic("events"), nullptr);
  EXPECT_EQ(m_->topic("events")->id, 0U);
  EXPECT_EQ(m_->partition("events", 0), nullptr);  // not served yet
  ASSERT_TRUE(run(m_->adopt_single_node_topic(spec({{kSelf}, {kSelf}}), deadline())));
  const auto* t = m_->topic("events");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->id, kId);
  EXPECT_EQ(t->overrides, kConfigs);
  for (int i = 0; i < 2; ++i) {
    auto p = m_->partition(RaftGroupId{kId, i});
    ASSERT_NE(p, nullptr) << i;
    EXPECT_TRUE(p->leader()) << i;  // the sole voter, this broker
    EXPECT_EQ(p->end_offset(), ends_[static_cast<std::size_t>(i)]) << i;
    auto read = p->read(Offset(0), 1U << 20U);
    ASSERT_TRUE(read) << read.error();
    auto state = read_raft_state(fs_, fmt::format("/data/events-{}", i));
    ASSERT_TRUE(state) << state.error();
    EXPECT_EQ(state->hard.vote, kSelf);
  }
  EXPECT_EQ(m_->partition_count(), 2U);
  // Once is enough: it is no single node's topic any more.
  auto again = run(m_->adopt_single_node_topic(spec({{kSelf}, {kSelf}}), deadline()));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::not_found);
  close();
  // topics.meta recorded it: reopened as the cluster topic.
  open(true);
  ASSERT_NE(m_->topic("events"), nullptr);
  EXPECT_EQ(m_->topic("events")->id, kId);
  for (int i = 0; i < 2; ++i) {
    auto p = m_->partition(RaftGroupId{kId, i});
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->end_offset(), ends_[static_cast<std::size_t>(i)]);
  }
  close();
}

TEST_F(SingleNodeAdopt, AnotherShapeChangesNothing) {
  single_node_topic();
  open(true);
  const auto meta = file("/data/topics.meta");
  const auto state = file("/data/events-0/raft.state");
  auto more = run(m_->adopt_single_node_topic(spec({{kSelf}, {kSelf}, {kSelf}}), deadline()));
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code(), Errc::invalid_partitions);
  auto elsewhere =
      run(m_->adopt_single_node_topic(spec({{kSelf, NodeId(4)}, {kSelf}}), deadline()));
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code(), Errc::invalid_replica_assignment);
  auto learner = spec({{kSelf}, {kSelf}});
  learner.voters = {{NodeId(4)}, {}};
  ASSERT_FALSE(run(m_->adopt_single_node_topic(std::move(learner), deadline())));
  EXPECT_EQ(m_->topic("events")->id, 0U);
  EXPECT_EQ(m_->partition("events", 0), nullptr);
  EXPECT_EQ(file("/data/topics.meta"), meta);
  EXPECT_EQ(file("/data/events-0/raft.state"), state);
  close();
}

TEST_F(SingleNodeAdopt, ARaftStateNotASingleNodesChangesNoPartition) {
  single_node_topic();
  auto foreign = read_raft_state(fs_, "/data/events-1");
  ASSERT_TRUE(foreign) << foreign.error();
  foreign->hard.vote = NodeId(5);
  ASSERT_TRUE(write_raft_state(fs_, "/data/events-1", *foreign));
  const auto first = file("/data/events-0/raft.state");
  open(true);
  auto r = run(m_->adopt_single_node_topic(spec({{kSelf}, {kSelf}}), deadline()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().detail().find("events-1"), std::string::npos) << r.error();
  // Partition 0 comes first, yet it was only checked.
  EXPECT_EQ(file("/data/events-0/raft.state"), first);
  EXPECT_EQ(m_->topic("events")->id, 0U);
  close();
}

TEST_F(SingleNodeAdopt, ADamagedTopicsMetaStopsTheOpenNamingIt) {
  single_node_topic();
  auto bytes = file("/data/topics.meta");
  bytes[bytes.size() / 2] ^= std::byte{0x01};
  ASSERT_TRUE(storage::write_file_atomic(fs_, "/data/topics.meta", bytes));
  auto dir = storage::DataDir::open(fs_, "/data", {3, "c"});
  ASSERT_TRUE(dir) << dir.error();
  ReplicaContext rc;
  rc.self = kSelf;
  rc.send = [](RaftGroupId, raft::Message) {};
  auto m = PartitionManager::open(fs_, **dir, storage::LogConfig{}, clock_, io_.get_executor(),
                                  disk_, {}, std::move(rc));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Errc::corrupt_log);
  EXPECT_NE(m.error().detail().find("topics.meta"), std::string::npos) << m.error();
}

}  // namespace
}  // namespace spate::cluster
