// SPDX-License-Identifier: Apache-2.0
//
// The membership at a partition log's start (cluster/raft_log.h,
// RaftState::deleted_memberships): a prefix deletion (retention,
// DeleteRecords) takes membership entries only after raft.state recorded
// them, and whatever part of the deletion a crash left done, a reopened log
// names the membership in effect at its start. Damaged membership entries
// and records on disk are errors, never assertions.

#include <gtest/gtest.h>

#include "spate/cluster/raft_log.h"
#include "spate/cluster/raft_state.h"
#include "spate/common/bytes.h"
#include "spate/common/rng.h"
#include "spate/raft/replica.h"
#include "spate/raft/wire.h"
#include "spate/storage/envelope.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"
#include "support/log_rig.h"

#include "metadata_samples.h"

namespace spate::cluster {
namespace {

using testing::ids;

class RaftLogMembership : public ::testing::Test, public spate::testing::LogRig {
 protected:
  RaftLogMembership() { log_ = open_log(); }

  void add_data(PartitionRaftLog& view, int records) {
    auto batch = spate::testing::make_varied_batch(rng_, records, 100, 1'700'000'000'000);
    protocol::set_base_offset(batch, log_->end_offset());
    protocol::set_partition_leader_epoch(batch, 1);
    auto h = protocol::decode_batch_header(batch, batch.size());
    ASSERT_TRUE(h);
    ASSERT_TRUE(view.append(raft::Entry{h->last_offset().value() + 1, Term(1), std::move(batch),
                                        raft::EntryKind::normal, h->last_offset_delta + 1}));
  }
  // A membership entry at the log's end; returns its index.
  raft::Index add_membership(PartitionRaftLog& view, const raft::Membership& m) {
    const raft::Index index = view.last_index() + 1;
    EXPECT_TRUE(view.append(
        raft::Entry{index, Term(1), raft::encode_membership(m), raft::EntryKind::membership, 1}));
    return index;
  }
  // The membership a replica opened over `view` starts with, given the
  // group's initial membership {0, 1, 2}.
  raft::Membership opened_membership(const PartitionRaftLog& view) {
    raft::Config config;
    config.id = NodeId(0);
    config.voters = ids({0, 1, 2});
    Rng rng(1);
    raft::Replica replica(config, view, rng, raft::HardState{Term(1), raft::kNoNode, 0});
    return replica.membership();
  }
  // Reopens the log and a view over it with `state`, as after a crash that
  // left `state` in raft.state.
  std::unique_ptr<PartitionRaftLog> reopen(const RaftState& state) {
    EXPECT_TRUE(log_->close());
    log_ = open_log();
    auto view = std::make_unique<PartitionRaftLog>(*log_, state);
    auto opened = view->open();
    EXPECT_TRUE(opened) << opened.error();
    return view;
  }
};

// Segments: [data, M1] [data, M2] [data] [data]: DeleteRecords moves the
// start past M1, then past M2.
TEST_F(RaftLogMembership, ADeletedPrefixKeepsTheMembershipAtTheStart) {
  const raft::Membership m1{ids({0, 1, 2}), ids({3})};
  const raft::Membership m2{ids({0, 1, 2, 3}), {}};
  auto view = std::make_unique<PartitionRaftLog>(*log_, RaftState{});
  ASSERT_TRUE(view->open());
  add_data(*view, 3);
  const raft::Index i1 = add_membership(*view, m1);
  ASSERT_TRUE(log_->roll());
  add_data(*view, 3);
  const raft::Index i2 = add_membership(*view, m2);
  ASSERT_TRUE(log_->roll());
  add_data(*view, 3);
  const Offset second_cut = log_->end_offset();
  ASSERT_TRUE(log_->roll());
  add_data(*view, 3);
  ASSERT_TRUE(log_->flush());
  EXPECT_EQ(view->first_unrecorded_membership(), i1);

  // Recorded before the deletion, as the driver does: raft.state then holds both.
  EXPECT_TRUE(view->record_memberships_through(second_cut.value()));
  EXPECT_FALSE(view->record_memberships_through(second_cut.value())) << "recorded twice";
  EXPECT_EQ(view->first_unrecorded_membership(), std::nullopt);
  const RaftState recorded = view->state();
  ASSERT_EQ(recorded.deleted_memberships.size(), 2U);
  EXPECT_EQ(recorded.deleted_memberships[0], std::make_pair(i1, m1));
  EXPECT_EQ(recorded.deleted_memberships[1], std::make_pair(i2, m2));
  // It survives the file's round trip.
  ASSERT_TRUE(write_raft_state(mem_, spate::testing::kLogDir, recorded));
  EXPECT_EQ(read_raft_state(mem_, spate::testing::kLogDir).value(), recorded);

  // A crash after only part of the deletion: the start is past M1, not M2.
  ASSERT_TRUE(log_->advance_start(Offset(i1)));
  view = reopen(recorded);
  EXPECT_EQ(view->start_membership(), m1);
  EXPECT_EQ(view->membership_indexes(), std::vector<raft::Index>{i2});
  EXPECT_EQ(opened_membership(*view), m2);
  view->forget_below_start();
  ASSERT_EQ(view->state().deleted_memberships.size(), 1U) << "M2 is still in the log";
  EXPECT_EQ(view->first_unrecorded_membership(), i2);

  // The rest of the deletion: past M2.
  ASSERT_TRUE(log_->advance_start(second_cut));
  view = reopen(recorded);
  EXPECT_EQ(view->start_membership(), m2);
  EXPECT_TRUE(view->membership_indexes().empty());
  EXPECT_EQ(opened_membership(*view), m2);
  view->forget_below_start();
  EXPECT_EQ(view->state().deleted_memberships,
            (std::vector<std::pair<raft::Index, raft::Membership>>{{i2, m2}}));
  EXPECT_EQ(view->start_membership(), m2);

  // Without the record (the code before it), the start falls back to the
  // initial membership: what the replica would wrongly use.
  RaftState forgotten = recorded;
  forgotten.deleted_memberships.clear();
  view = reopen(forgotten);
  EXPECT_EQ(view->start_membership(), std::nullopt);
  EXPECT_EQ(opened_membership(*view), (raft::Membership{ids({0, 1, 2}), {}}));
}

// A membership entry whose value does not decode (the batch itself is
// valid: damage written through, or a hostile file) is the partition's
// error when it opens: raft would otherwise assert on it.
TEST_F(RaftLogMembership, AnUndecodableMembershipEntryIsAnError) {
  auto view = std::make_unique<PartitionRaftLog>(*log_, RaftState{});
  ASSERT_TRUE(view->open());
  add_data(*view, 2);
  const raft::Index index = view->last_index() + 1;
  const std::vector<std::byte> garbage(7, std::byte{0xEE});
  ASSERT_TRUE(view->append(raft::Entry{index, Term(1), garbage, raft::EntryKind::membership, 1}));
  RaftState state = view->state();
  ASSERT_EQ(state.membership_indexes, std::vector<raft::Index>{index});
  ASSERT_TRUE(log_->close());
  log_ = open_log();
  PartitionRaftLog reopened(*log_, state);
  auto opened = reopened.open();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), Errc::corrupt_log);
  EXPECT_NE(opened.error().detail().find("membership entry"), std::string::npos) << opened.error();
}

// raft.state's deleted memberships from a hostile file: every truncation,
// lying counts, unsorted indexes and undecodable memberships are malformed.
TEST(RaftStateDeletedMemberships, RoundTripAndHostileBytes) {
  RaftState s;
  s.start_index = 4;
  s.deleted_memberships = {{6, raft::Membership{ids({0, 1}), ids({2})}},
                           {9, raft::Membership{ids({0, 1, 2}), {}}}};
  auto bytes = encode_raft_state(s);
  ASSERT_EQ(decode_raft_state(bytes).value(), s);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto cut = decode_raft_state(std::span<const std::byte>(bytes).first(n));
    ASSERT_FALSE(cut) << n;
    EXPECT_EQ(cut.error().code(), Errc::malformed);
  }
  // Version 1 has no such field: its body (without the count) still reads.
  RaftState v1;
  v1.hard = raft::HardState{Term(3), NodeId(1), 7};
  auto v1_body = encode_raft_state(v1);
  v1_body.resize(v1_body.size() - 4);  // the empty list's count
  EXPECT_EQ(decode_raft_state(v1_body, {}, 1).value(), v1);
  EXPECT_FALSE(decode_raft_state(v1_body, {}, 2)) << "version 2 needs the count";

  // The count is right after the (empty) membership index list.
  RaftState one;
  one.deleted_memberships = {{6, raft::Membership{ids({0, 1}), {}}}};
  const auto good = encode_raft_state(one);
  const auto m = raft::encode_membership(one.deleted_memberships[0].second);
  const std::size_t count_at = good.size() - m.size() - 4 - 8 - 4;
  ASSERT_EQ(load_be<std::uint32_t>(good.data() + count_at), 1U);
  auto lying = good;
  store_be<std::uint32_t>(lying.data() + count_at, 0xFFFFFFFFU);
  EXPECT_FALSE(decode_raft_state(lying));
  RaftStateLimits small;
  small.membership_indexes_max = 0;
  EXPECT_FALSE(decode_raft_state(good, small));
  auto at_start = good;
  store_be<std::int64_t>(at_start.data() + count_at + 4, 0);  // not above the start
  EXPECT_FALSE(decode_raft_state(at_start));
  auto huge = good;
  store_be<std::uint32_t>(huge.data() + count_at + 12, 0x7FFFFFFFU);  // membership size
  EXPECT_FALSE(decode_raft_state(huge));
  auto undecodable = good;
  undecodable[good.size() - m.size()] = std::byte{0xFF};  // the membership's first byte
  auto bad = decode_raft_state(undecodable);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::malformed);
  // Read from disk, damage is corrupt_log naming the file.
  storage::MemFs fs;
  ASSERT_TRUE(fs.create_directories("/p"));
  ASSERT_TRUE(storage::write_envelope(fs, "/p/raft.state", 0x53505253, 2, undecodable));
  auto read = read_raft_state(fs, "/p");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), Errc::corrupt_log);
  EXPECT_NE(read.error().detail().find("raft.state"), std::string::npos);
}

}  // namespace
}  // namespace spate::cluster
