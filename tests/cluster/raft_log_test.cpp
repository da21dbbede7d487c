// SPDX-License-Identifier: Apache-2.0
//
// A partition's log as the Raft log (cluster/raft_log.h) and raft.state
// (cluster/raft_state.h): the index mapping, control batches, what survives a
// reopen, bad input from the disk, and three raft::Replicas replicating
// through their PartitionLogs on MemFs.

#include "spate/cluster/raft_log.h"

#include <deque>
#include <map>

#include <gtest/gtest.h>

#include "spate/cluster/raft_state.h"
#include "spate/raft/replica.h"
#include "spate/raft/wire.h"

#include "support/batches.h"
#include "support/log_rig.h"

namespace spate::cluster {
namespace {

using spate::testing::kLogDir;

// A stamped batch of `records` records at `base` with epoch `term`, as a
// leader's driver proposes it.
std::vector<std::byte> stamped(Rng& rng, int records, Offset base, Term term) {
  auto batch = spate::testing::make_varied_batch(rng, records, 100, 1'700'000'000'000);
  protocol::set_base_offset(batch, base);
  protocol::set_partition_leader_epoch(batch, static_cast<std::int32_t>(term.value()));
  return batch;
}

raft::Entry entry_of(std::vector<std::byte> batch) {
  auto h = protocol::decode_batch_header(batch, batch.size());
  EXPECT_TRUE(h);
  return raft::Entry{h->last_offset().value() + 1, Term(h->partition_leader_epoch),
                     std::move(batch), raft::EntryKind::normal, h->last_offset_delta + 1};
}

class RaftLogTest : public ::testing::Test, public spate::testing::LogRig {
 protected:
  RaftLogTest() { log_ = open_log(); }

  // Appends a data entry of `records` records and term `term` at the end.
  raft::Entry add(PartitionRaftLog& view, int records, Term term) {
    auto e = entry_of(stamped(rng_, records, log_->end_offset(), term));
    EXPECT_TRUE(view.append(e));
    return e;
  }
};

TEST(RaftStateTest, RoundTripsAndRefusesEveryTruncation) {
  RaftState s;
  s.hard = raft::HardState{Term(7), NodeId(2), 41};
  s.start_index = 10;
  s.start_term = Term(3);
  s.start_membership = raft::Membership{{NodeId(0), NodeId(1), NodeId(2)}, {NodeId(5)}};
  s.start_snapshot = to_bytes("snapshot");
  s.membership_indexes = {12, 30};
  auto bytes = encode_raft_state(s);
  auto back = decode_raft_state(bytes);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, s);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto cut = decode_raft_state(std::span<const std::byte>(bytes).first(n));
    ASSERT_FALSE(cut) << "decoded " << n << " of " << bytes.size() << " bytes";
    EXPECT_EQ(cut.error().code(), Errc::malformed);
  }
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(decode_raft_state(bytes));
  EXPECT_EQ(decode_raft_state(encode_raft_state(RaftState{})).value(), RaftState{});
}

TEST(RaftStateTest, RefusesHostileCountsAndOrder) {
  RaftState s;
  s.start_index = 5;
  s.membership_indexes = {6, 9};
  auto bytes = encode_raft_state(s);
  // The membership index count is the 4 bytes before the two indexes (and
  // the deleted memberships' count, 0, after them).
  const std::size_t count_at = bytes.size() - 4 - 16 - 4;
  store_be<std::uint32_t>(bytes.data() + count_at, 0xFFFFFFFFU);
  EXPECT_FALSE(decode_raft_state(bytes));
  store_be<std::uint32_t>(bytes.data() + count_at, 2);
  store_be<std::int64_t>(bytes.data() + count_at + 4, 9);  // 9 then 9: not ascending
  EXPECT_FALSE(decode_raft_state(bytes));
  store_be<std::int64_t>(bytes.data() + count_at + 4, 5);  // at the start: not above it
  EXPECT_FALSE(decode_raft_state(bytes));
  RaftStateLimits small;
  small.membership_indexes_max = 1;
  EXPECT_FALSE(decode_raft_state(encode_raft_state(s), small));
  // A snapshot size past what is left.
  RaftState big;
  big.start_snapshot.assign(100, std::byte{1});
  auto b = encode_raft_state(big);
  small.snapshot_bytes_max = 99;
  EXPECT_FALSE(decode_raft_state(b, small));
}

TEST(RaftStateTest, FileIsFreshWhenMissingAndCorruptWhenDamaged) {
  storage::MemFs fs;
  ASSERT_TRUE(fs.create_directories("/p"));
  auto fresh = read_raft_state(fs, "/p");
  ASSERT_TRUE(fresh) << fresh.error();
  EXPECT_EQ(*fresh, RaftState{});
  RaftState s;
  s.hard = raft::HardState{Term(2), NodeId(1), 9};
  ASSERT_TRUE(write_raft_state(fs, "/p", s));
  EXPECT_EQ(read_raft_state(fs, "/p").value(), s);
  auto raw = storage::read_file(fs, "/p/raft.state", 1 << 20);
  ASSERT_TRUE(raw);
  (*raw)[10] ^= std::byte{0x40};
  ASSERT_TRUE(storage::write_file_atomic(fs, "/p/raft.state", *raw));
  auto damaged = read_raft_state(fs, "/p");
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), Errc::corrupt_log);
}

TEST_F(RaftLogTest, MapsBatchesToEntries) {
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  EXPECT_EQ(view.first_index(), 1);
  EXPECT_EQ(view.last_index(), 0);
  EXPECT_EQ(view.term(0), Term(0));
  const auto a = add(view, 3, Term(1));  // offsets 0-2: index 3
  const auto b = add(view, 1, Term(1));  // offset 3: index 4
  const auto c = add(view, 5, Term(2));  // offsets 4-8: index 9
  EXPECT_EQ(a.index, 3);
  EXPECT_EQ(c.index, 9);
  EXPECT_EQ(view.last_index(), 9);
  EXPECT_EQ(log_->end_offset(), Offset(9));
  const std::map<raft::Index, Term> ends{{0, Term(0)}, {3, Term(1)}, {4, Term(1)}, {9, Term(2)}};
  // The same answers from the boundaries kept in memory and from the files.
  PartitionRaftLog cold(*log_, {});
  ASSERT_TRUE(cold.open());
  for (const PartitionRaftLog* v : {&view, &cold}) {
    for (raft::Index i = 0; i <= 11; ++i) {
      auto it = ends.find(i);
      EXPECT_EQ(v->term(i), it == ends.end() ? Term(-1) : it->second) << "index " << i;
    }
    EXPECT_EQ(v->previous_index(1), 0);
    EXPECT_EQ(v->previous_index(3), 0);
    EXPECT_EQ(v->previous_index(4), 3);
    EXPECT_EQ(v->previous_index(5), 4);
    EXPECT_EQ(v->previous_index(9), 4);
    auto all = v->entries(1, 9, 1 << 20);
    ASSERT_EQ(all.size(), 3U);
    EXPECT_EQ(all[0], a);
    EXPECT_EQ(all[1], b);
    EXPECT_EQ(all[2], c);
    // From inside an entry: the entry covering it first; max_bytes stops
    // after the first entry, never before it.
    auto some = v->entries(6, 9, 1);
    ASSERT_EQ(some.size(), 1U);
    EXPECT_EQ(some[0], c);
    auto two = v->entries(2, 4, 1 << 20);
    ASSERT_EQ(two.size(), 2U);
    EXPECT_EQ(two[1], b);
    EXPECT_TRUE(v->entries(10, 12, 100).empty());
  }
}

TEST_F(RaftLogTest, NoOpsAndMembershipsAreControlBatchesThatSurviveAReopen) {
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  add(view, 2, Term(1));
  const raft::Entry noop{3, Term(2), {}};
  ASSERT_TRUE(view.append(noop));
  const raft::Membership members{{NodeId(0), NodeId(1), NodeId(2)}, {}};
  const raft::Entry change{4, Term(2), raft::encode_membership(members),
                           raft::EntryKind::membership};
  ASSERT_TRUE(view.append(change));
  add(view, 3, Term(2));
  EXPECT_EQ(view.membership_indexes(), std::vector<raft::Index>{4});
  const raft::Entry stored_noop{3, Term(2), make_noop_batch(Offset(2), Term(2))};
  EXPECT_EQ(view.entries(3, 3, 0), std::vector<raft::Entry>{stored_noop});
  EXPECT_EQ(view.entries(4, 4, 0), std::vector<raft::Entry>{change});
  // The no-op is an empty batch, the membership a control batch: consumers skip both.
  auto noop_batch = log_->batch_at(Offset(2));
  ASSERT_TRUE(noop_batch);
  EXPECT_FALSE(noop_batch->control);
  EXPECT_EQ(noop_batch->term, Term(2));
  EXPECT_EQ(noop_batch->bytes, protocol::kBatchHeaderBytes);
  auto change_batch = log_->batch_at(Offset(3));
  ASSERT_TRUE(change_batch);
  EXPECT_TRUE(change_batch->control);

  RaftState state = view.state();
  state.membership_indexes.push_back(5);  // a crash left a stale index
  state.membership_indexes.insert(state.membership_indexes.begin(), 3);  // a no-op, not a change
  ASSERT_TRUE(log_->close());
  log_ = open_log();
  PartitionRaftLog reopened(*log_, state);
  ASSERT_TRUE(reopened.open());
  EXPECT_EQ(reopened.membership_indexes(), std::vector<raft::Index>{4});
  EXPECT_EQ(reopened.entries(4, 4, 0), std::vector<raft::Entry>{change});
  EXPECT_EQ(reopened.entries(3, 3, 0), std::vector<raft::Entry>{stored_noop});
  EXPECT_EQ(reopened.term(4), Term(2));
}

// A membership change carries no timestamp, as a no-op: a log holding only
// those is aged by the wall time of its appends, so retention by age keeps it
// (stamped 0, it was 1970: the segment was rolled and deleted at once).
TEST_F(RaftLogTest, AMembershipChangeIsNotExpiredByRetention) {
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  ASSERT_TRUE(view.append(raft::Entry{1, Term(1), {}}));
  const raft::Entry change{2, Term(1),
                           raft::encode_membership({{NodeId(0), NodeId(1)}, {NodeId(2)}}),
                           raft::EntryKind::membership};
  ASSERT_TRUE(view.append(change));
  const auto bytes = make_control_batch(kControlMembership, change.data, Offset(1), Term(1));
  const auto header = protocol::decode_batch_header(bytes, bytes.size());
  ASSERT_TRUE(header);
  EXPECT_EQ(header->max_timestamp, -1);
  for (int round = 0; round < 2; ++round) {  // the second after a flush of any roll
    auto kept = log_->apply_retention(std::nullopt);
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->segments_deleted, 0u);
    ASSERT_TRUE(log_->flush());
  }
  EXPECT_EQ(log_->start_offset(), Offset(0));
  EXPECT_EQ(view.entries(2, 2, 0), std::vector<raft::Entry>{change});
  // Still kept a day short of retention_ms later.
  clock_.advance(std::chrono::milliseconds(config_.retention_ms - 24 * 3600 * 1000));
  ASSERT_TRUE(log_->apply_retention(std::nullopt));
  EXPECT_EQ(log_->start_offset(), Offset(0));
}

// A crash (no clean close) makes the next open scan the log: the no-op, a
// batch without records, is a valid batch there too, not where the log ends.
TEST_F(RaftLogTest, NoOpsSurviveACrashRecovery) {
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  add(view, 2, Term(1));
  ASSERT_TRUE(view.append(raft::Entry{3, Term(2), {}}));
  add(view, 3, Term(2));
  auto ticket = log_->begin_flush();
  ASSERT_TRUE(log_->finish_flush(ticket, ticket.sync()));
  ASSERT_EQ(log_->end_offset(), Offset(6));
  log_.reset();  // the process dies
  log_ = open_log();
  ASSERT_NE(log_, nullptr);
  EXPECT_EQ(log_->end_offset(), Offset(6));
  PartitionRaftLog reopened(*log_, view.state());
  ASSERT_TRUE(reopened.open());
  EXPECT_EQ(reopened.term(3), Term(2));
  EXPECT_EQ(reopened.term(6), Term(2));
}

TEST_F(RaftLogTest, TruncationDropsEntriesAndMemberships) {
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  add(view, 2, Term(1));  // index 2
  ASSERT_TRUE(
      view.append(raft::Entry{3, Term(1), raft::encode_membership({{NodeId(0), NodeId(1)}, {}}),
                              raft::EntryKind::membership}));
  add(view, 4, Term(1));  // index 7
  ASSERT_TRUE(view.truncate_from(3));
  EXPECT_EQ(view.last_index(), 2);
  EXPECT_TRUE(view.membership_indexes().empty());
  EXPECT_EQ(view.term(3), Term(-1));
  EXPECT_EQ(view.term(7), Term(-1));
  const auto again = add(view, 1, Term(3));  // index 3, a new term
  EXPECT_EQ(again.index, 3);
  EXPECT_EQ(view.term(3), Term(3));
  EXPECT_EQ(view.entries(3, 3, 0), std::vector<raft::Entry>{again});
  // A truncation inside an entry is refused, nothing changes.
  add(view, 3, Term(3));  // index 6
  EXPECT_FALSE(view.truncate_from(5));
  EXPECT_EQ(view.last_index(), 6);
}

TEST_F(RaftLogTest, RefusesEntriesThatDoNotFitTheLog) {
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  add(view, 2, Term(2));
  // Not at the end, a batch that disagrees with its entry, a term going
  // back, a damaged batch, a wide no-op: each refused, the log unchanged.
  auto gap = entry_of(stamped(rng_, 1, Offset(5), Term(2)));
  EXPECT_FALSE(view.append(gap));
  auto lying = entry_of(stamped(rng_, 2, Offset(2), Term(2)));
  lying.index += 1;
  lying.span += 1;
  EXPECT_FALSE(view.append(lying));
  auto old = entry_of(stamped(rng_, 1, Offset(2), Term(1)));
  EXPECT_FALSE(view.append(old));
  auto torn = entry_of(stamped(rng_, 2, Offset(2), Term(2)));
  torn.data[torn.data.size() - 1] ^= std::byte{1};
  EXPECT_FALSE(view.append(torn));
  torn.data.resize(30);
  EXPECT_FALSE(view.append(torn));
  EXPECT_FALSE(view.append(raft::Entry{3, Term(2), {}, raft::EntryKind::normal, 2}));
  EXPECT_EQ(view.last_index(), 2);
  EXPECT_TRUE(log_->check_invariants());
}

TEST_F(RaftLogTest, StartAfterDeletedSegmentsTakesItsTermFromRaftState) {
  config_.segment_bytes_max = 600;
  log_ = open_log();
  PartitionRaftLog view(*log_, {});
  ASSERT_TRUE(view.open());
  for (int i = 0; i < 12; ++i) add(view, 2, Term(1 + i / 4));
  ASSERT_TRUE(log_->flush());
  ASSERT_GT(log_->segment_count(), 2U);
  const Offset cut = log_->end_offset() - 6;
  ASSERT_TRUE(log_->advance_start(cut));
  const raft::Index first = view.first_index();
  ASSERT_GT(first, 1);
  ASSERT_LE(first - 1, cut.value());
  // raft.state not yet told: the first kept batch's term stands in.
  auto first_batch = log_->batch_at(Offset(first - 1));
  ASSERT_TRUE(first_batch);
  EXPECT_EQ(view.term(first - 1), first_batch->term);
  view.state().start_index = first - 1;
  view.state().start_term = Term(1);
  EXPECT_EQ(view.term(first - 1), Term(1));
  EXPECT_EQ(view.term(first - 2), Term(-1));
  EXPECT_TRUE(view.entries(1, first - 1, 1000).empty());
  // DeleteRecords inside a batch: raft's start stays at that batch's first offset.
  ASSERT_TRUE(log_->advance_start(cut + 1));
  EXPECT_EQ(view.first_index(), cut.value() + 1);
  auto from_start = view.entries(view.first_index(), view.last_index(), 1 << 20);
  ASSERT_EQ(from_start.size(), 3U);
  EXPECT_EQ(from_start.front().first(), cut.value() + 1);
}

// Three replicas, each over its own PartitionLog on MemFs, a synchronous
// driver that applies every Ready in order and delivers messages in memory.
class RaftOverPartitionLogs : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<spate::testing::LogRig> rig;
    std::unique_ptr<storage::PartitionLog> log;
    std::unique_ptr<PartitionRaftLog> view;
    std::unique_ptr<Rng> rng;
    std::unique_ptr<raft::Replica> replica;
  };

  void start(int id) {
    Node& n = nodes_[id];
    if (!n.rig) n.rig = std::make_unique<spate::testing::LogRig>(100 + id);
    auto log = n.rig->try_open();
    ASSERT_TRUE(log) << log.error();
    n.log = std::move(*log);
    auto state = read_raft_state(n.rig->faulty_, kLogDir);
    ASSERT_TRUE(state) << state.error();
    n.view = std::make_unique<PartitionRaftLog>(*n.log, *state);
    ASSERT_TRUE(n.view->open());
    n.rng = std::make_unique<Rng>(7 + id);
    raft::Config config;
    config.id = NodeId(id);
    config.voters = {NodeId(0), NodeId(1), NodeId(2)};
    n.replica = std::make_unique<raft::Replica>(config, *n.view, *n.rng, state->hard);
  }

  void drain(Node& n) {
    for (int round = 0; round < 100 && n.replica->has_ready(); ++round) {
      auto r = n.replica->ready();
      if (r.hard_state) n.view->state().hard = *r.hard_state;
      ASSERT_FALSE(r.restart);
      if (r.truncate_from) {
        ASSERT_TRUE(n.view->truncate_from(*r.truncate_from));
      }
      for (const auto& e : r.entries) ASSERT_TRUE(n.view->append(e)) << e.index;
      if (r.hard_state || !r.entries.empty() || r.truncate_from) {
        ASSERT_TRUE(n.log->flush());
        ASSERT_TRUE(write_raft_state(n.rig->faulty_, kLogDir, n.view->state()));
      }
      for (auto& m : r.messages) {
        // Through the wire codec, as the transport will carry it.
        auto back = raft::decode_message(raft::encode_message(m));
        ASSERT_TRUE(back);
        mail_.push_back(std::move(*back));
      }
      n.replica->advance(r);
    }
  }

  // Ticks and delivers until `done` or `rounds` pass.
  template <typename Done>
  bool run(int rounds, Done done) {
    for (int round = 0; round < rounds; ++round) {
      for (auto& [id, n] : nodes_) {
        if (n.replica) n.replica->tick();
      }
      for (int hop = 0; hop < 50; ++hop) {
        for (auto& [id, n] : nodes_) {
          if (n.replica) drain(n);
        }
        if (mail_.empty()) break;
        std::deque<raft::Message> batch;
        batch.swap(mail_);
        for (auto& m : batch) {
          Node& to = nodes_[m.to.value()];
          if (to.replica) {
            EXPECT_TRUE(to.replica->step(std::move(m)));
          }
        }
      }
      if (done()) return true;
    }
    return false;
  }

  Node* leader() {
    for (auto& [id, n] : nodes_) {
      if (n.replica && n.replica->role() == raft::Role::leader) return &n;
    }
    return nullptr;
  }

  // The leader's driver: stamp a batch at its log's end with its term.
  raft::Index propose(Node& n, int records) {
    auto batch = stamped(rng_, records, Offset(n.replica->last_index()), n.replica->term());
    auto index = n.replica->propose(std::move(batch), records);
    EXPECT_TRUE(index) << index.error();
    return index ? *index : -1;
  }

  std::map<int, Node> nodes_;
  std::deque<raft::Message> mail_;
  Rng rng_{99};
};

TEST_F(RaftOverPartitionLogs, ReplicatesCommitsAndSurvivesALeaderRestart) {
  for (int id = 0; id < 3; ++id) start(id);
  ASSERT_TRUE(run(200, [&] { return leader() != nullptr; }));
  raft::Index last = 0;
  for (int i = 0; i < 20; ++i) {
    Node* l = leader();
    ASSERT_NE(l, nullptr);
    last = propose(*l, 1 + i % 4);
    ASSERT_TRUE(run(5, [&] { return l->replica->commit() >= last; }));
  }
  ASSERT_TRUE(run(20, [&] {
    for (auto& [id, n] : nodes_) {
      if (n.replica->commit() < last) return false;
    }
    return true;
  }));
  // Every replica's log holds the same bytes.
  auto read_all = [](storage::PartitionLog& log) {
    std::vector<std::byte> out;
    Offset at = log.start_offset();
    while (at < log.end_offset()) {
      auto r = log.read(at, 1 << 20);
      EXPECT_TRUE(r);
      auto bytes = r->bytes.read_all();
      out.insert(out.end(), bytes->begin(), bytes->end());
      at = r->next_offset;
    }
    return out;
  };
  const auto reference = read_all(*nodes_[0].log);
  EXPECT_GT(reference.size(), 1000U);
  for (int id = 1; id < 3; ++id) EXPECT_EQ(read_all(*nodes_[id].log), reference) << id;

  // The leader restarts (a clean close): a new leader, the log kept, and
  // the old leader catches up with what it missed.
  Node* l = leader();
  const int old = l->replica->id().value();
  l->replica.reset();
  ASSERT_TRUE(l->log->close());
  l->view.reset();
  l->log.reset();
  ASSERT_TRUE(run(300, [&] { return leader() != nullptr; }));
  last = propose(*leader(), 3);
  ASSERT_TRUE(run(10, [&] { return leader()->replica->commit() >= last; }));
  start(old);
  EXPECT_GE(nodes_[old].replica->term(), Term(1));
  ASSERT_TRUE(run(50, [&] { return nodes_[old].replica->commit() >= last; }));
  EXPECT_EQ(read_all(*nodes_[old].log), read_all(*leader()->log));
}

}  // namespace
}  // namespace spate::cluster
