// SPDX-License-Identifier: Apache-2.0
//
// A single node's data directory as a cluster member (single_node_migration.h):
// raft.state rewritten only when it is exactly a single node's (already
// rewritten: unchanged; another membership or a damaged file: refused, the
// file untouched), the done-marker, and PartitionManager adopting a single
// node's topic with its data (and refusing another shape, changing nothing).

#include "spate/cluster/single_node_migration.h"

#include <array>

#include <gtest/gtest.h>

#include "spate/common/log.h"
#include "spate/storage/data_dir.h"
#include "spate/storage/mem_fs.h"

namespace spate::cluster {
namespace {

const NodeId kMigrating{3};

RaftState single_node_state() {
  RaftState s;
  s.hard = raft::HardState{Term(4), NodeId(0), 17};
  return s;
}

TEST(SingleNodeRaftState, TheVoteAndStartMembershipNameThisBroker) {
  auto s = single_node_state();
  s.start_membership = raft::Membership{{NodeId(0)}, {}};
  auto out = single_node_raft_state_for(s, kMigrating);
  ASSERT_TRUE(out) << out.error();
  ASSERT_TRUE(out->has_value());
  EXPECT_EQ((*out)->hard.vote, kMigrating);
  EXPECT_EQ((*out)->hard.term, Term(4));
  EXPECT_EQ((*out)->hard.commit, 17);
  EXPECT_EQ((*out)->start_membership, (raft::Membership{{kMigrating}, {}}));
  // Rewritten once: nothing more to change.
  auto again = single_node_raft_state_for(**out, kMigrating);
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(again->has_value());
}

TEST(SingleNodeRaftState, NothingNamingTheSingleNodeIsUnchanged) {
  auto no_vote = single_node_state();
  no_vote.hard.vote = raft::kNoNode;
  for (const auto& [state, self] :
       {std::pair{no_vote, kMigrating}, std::pair{RaftState{}, kMigrating},
        std::pair{single_node_state(), NodeId(0)}}) {
    auto out = single_node_raft_state_for(state, self);
    ASSERT_TRUE(out) << out.error();
    EXPECT_FALSE(out->has_value());
  }
}

TEST(SingleNodeRaftState, AnotherMembershipIsRefused) {
  auto other_vote = single_node_state();
  other_vote.hard.vote = NodeId(1);
  auto two_voters = single_node_state();
  two_voters.start_membership = raft::Membership{{NodeId(0), NodeId(1)}, {}};
  auto learner = single_node_state();
  learner.start_membership = raft::Membership{{NodeId(0)}, {NodeId(2)}};
  auto changes = single_node_state();
  changes.membership_indexes = {5};
  for (const auto& [name, state] :
       {std::pair{"a vote for node 1", other_vote}, std::pair{"two voters", two_voters},
        std::pair{"a learner", learner}, std::pair{"a membership change", changes}}) {
    auto out = single_node_raft_state_for(state, kMigrating);
    ASSERT_FALSE(out) << name;
    EXPECT_EQ(out.error().code(), Errc::invalid_argument) << name;
  }
}

class SingleNodeFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    log::set_level(spdlog::level::critical);
    ASSERT_TRUE(fs_.create_directories(dir_));
  }
  std::vector<std::byte> bytes() { return *fs_.contents(dir_ / kRaftStateFile); }

  storage::MemFs fs_;
  const std::filesystem::path dir_ = "/data/events-0";
};

TEST_F(SingleNodeFiles, RewritesAtomicallyOnlyWhenAskedAndOnlyOnce) {
  ASSERT_TRUE(write_raft_state(fs_, dir_, single_node_state()));
  const auto before = bytes();
  auto checked = adopt_single_node_raft_state(fs_, dir_, kMigrating, false);
  ASSERT_TRUE(checked) << checked.error();
  EXPECT_EQ(*checked, RaftStateAdoption::rewritten);
  EXPECT_EQ(bytes(), before);  // only checked
  auto written = adopt_single_node_raft_state(fs_, dir_, kMigrating, true);
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(*written, RaftStateAdoption::rewritten);
  auto now = read_raft_state(fs_, dir_);
  ASSERT_TRUE(now) << now.error();
  EXPECT_EQ(now->hard.vote, kMigrating);
  EXPECT_EQ(now->hard.term, Term(4));
  EXPECT_FALSE(fs_.contents(dir_ / "raft.state.tmp"));  // replaced, no leftover
  // Already migrated (a crash after this file, before topics.meta): unchanged.
  const auto migrated = bytes();
  auto again = adopt_single_node_raft_state(fs_, dir_, kMigrating, true);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(*again, RaftStateAdoption::unchanged);
  EXPECT_EQ(bytes(), migrated);
}

TEST_F(SingleNodeFiles, AMissingFileIsAFreshState) {
  auto r = adopt_single_node_raft_state(fs_, dir_, kMigrating, true);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, RaftStateAdoption::unchanged);
  EXPECT_FALSE(fs_.contents(dir_ / kRaftStateFile));
}

TEST_F(SingleNodeFiles, AForeignMembershipIsRefusedAndLeftAsItWas) {
  auto s = single_node_state();
  s.hard.vote = NodeId(2);
  ASSERT_TRUE(write_raft_state(fs_, dir_, s));
  const auto before = bytes();
  auto r = adopt_single_node_raft_state(fs_, dir_, kMigrating, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().detail().find("raft.state"), std::string::npos) << r.error();
  EXPECT_NE(r.error().detail().find("node 2"), std::string::npos) << r.error();
  EXPECT_EQ(bytes(), before);
}

TEST_F(SingleNodeFiles, ADamagedFileIsRefusedAndLeftAsItWas) {
  ASSERT_TRUE(write_raft_state(fs_, dir_, single_node_state()));
  const auto size = bytes().size();
  for (std::uint64_t at : {std::uint64_t{0}, std::uint64_t{9}, size - 1}) {
    storage::MemFs fs;
    ASSERT_TRUE(fs.create_directories(dir_));
    ASSERT_TRUE(write_raft_state(fs, dir_, single_node_state()));
    const std::array<std::byte, 1> flipped{(*fs.contents(dir_ / kRaftStateFile))[at] ^
                                           std::byte{0x40}};
    ASSERT_TRUE(fs.corrupt(dir_ / kRaftStateFile, at, flipped));
    const auto damaged = *fs.contents(dir_ / kRaftStateFile);
    auto r = adopt_single_node_raft_state(fs, dir_, kMigrating, true);
    ASSERT_FALSE(r) << "damage at byte " << at;
    EXPECT_EQ(*fs.contents(dir_ / kRaftStateFile), damaged);
  }
  // Truncated.
  auto cut = bytes();
  cut.resize(cut.size() / 2);
  ASSERT_TRUE(storage::write_file_atomic(fs_, dir_ / kRaftStateFile, cut));
  auto r = adopt_single_node_raft_state(fs_, dir_, kMigrating, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupt_log) << r.error();
  EXPECT_EQ(bytes(), cut);
}

TEST(SingleNodeMarker, IsDurableAndTheDataDirectoryStillOpens) {
  log::set_level(spdlog::level::critical);
  storage::MemFs fs;
  ASSERT_TRUE(fs.create_directories("/node"));
  ASSERT_TRUE(fs.sync_directory("/"));
  auto dir = storage::DataDir::open(fs, "/node", {3, "c"});
  ASSERT_TRUE(dir) << dir.error();
  auto before = single_node_migrated(fs, "/node");
  ASSERT_TRUE(before) << before.error();
  EXPECT_FALSE(*before);
  const std::vector<TopicRecord> topics = {{"events", 3, {{"retention.ms", "1000"}}}};
  ASSERT_TRUE(mark_single_node_migrated(fs, "/node", topics));
  auto after = single_node_migrated(fs, "/node");
  ASSERT_TRUE(after) << after.error();
  EXPECT_TRUE(*after);
  auto recorded = decode_topics_meta(*fs.contents("/node/topics.meta.migrated"));
  ASSERT_TRUE(recorded) << recorded.error();
  EXPECT_EQ(*recorded, topics);
  // Durable: it survives a crash (only synced bytes are kept).
  fs.crash();
  auto kept = single_node_migrated(fs, "/node");
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_TRUE(*kept);
  // The data directory's own check accepts it (and removes a leftover .tmp).
  ASSERT_TRUE(storage::write_file_atomic(fs, "/node/topics.meta.migrated.tmp", {}));
  auto reopened = storage::DataDir::open(fs, "/node", {3, "c"});
  ASSERT_TRUE(reopened) << reopened.error();
  auto listed = (*reopened)->list_partitions();
  ASSERT_TRUE(listed) << listed.error();
  EXPECT_TRUE(listed->empty());
  EXPECT_FALSE(fs.contents("/node/topics.meta.migrated.tmp"));
  EXPECT_TRUE(fs.contents("/node/topics.meta.migrated"));
}

TEST(MigratedShape, AllPartitionsOnThisBrokerAlone) {
  TopicMeta t;
  t.name = "events";
  t.id = 5;
  t.partitions.resize(2);
  for (auto& p : t.partitions) p.replicas = {kMigrating};
  EXPECT_TRUE(migrated_shape(t, 2, kMigrating));
  EXPECT_FALSE(migrated_shape(t, 3, kMigrating));
  EXPECT_FALSE(migrated_shape(t, 2, NodeId(4)));
  t.partitions[1].replicas = {kMigrating, NodeId(4)};
  EXPECT_FALSE(migrated_shape(t, 2, kMigrating));
  t.partitions[1].replicas = {kMigrating};
  t.partitions[1].target = {NodeId(4)};
  EXPECT_FALSE(migrated_shape(t, 2, kMigrating));
}

}  // namespace
}  // namespace spate::cluster
