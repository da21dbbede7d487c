// SPDX-License-Identifier: Apache-2.0
//
// The metadata state machine under random command sequences (fixed seeds):
// every command survives its codec, two replicas fed the same log stay
// equal, a replica restored from a snapshot at any point equals the one that
// applied everything, and the state's invariants hold after every command.
// SPATE_METADATA_SEEDS=n runs more seeds.

#include <cstdlib>

#include <gtest/gtest.h>

#include "spate/cluster/metadata_codec.h"

#include "cluster/metadata_samples.h"

namespace spate::cluster {
namespace {

std::uint64_t seed_count() {
  const char* env = std::getenv("SPATE_METADATA_SEEDS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 100;
}

// What apply() keeps true, checked from the outside.
void check_invariants(const MetadataState& s) {
  std::size_t partitions = 0;
  for (const auto& [id, t] : s.topics()) {
    ASSERT_EQ(id, t.id);
    ASSERT_GE(id, kFirstTopicId);
    ASSERT_LT(id, s.next_topic_id());
    ASSERT_EQ(s.topic(t.name), &t);
    ASSERT_FALSE(t.partitions.empty());
    partitions += t.partitions.size();
    for (const auto& p : t.partitions) {
      ASSERT_FALSE(p.replicas.empty());
      for (auto r : p.replicas) ASSERT_NE(s.broker(r), nullptr);
      for (auto r : p.target) ASSERT_NE(s.broker(r), nullptr);
      auto member = [&](NodeId node) {
        return std::find(p.replicas.begin(), p.replicas.end(), node) != p.replicas.end() ||
               std::find(p.target.begin(), p.target.end(), node) != p.target.end();
      };
      for (auto r : p.isr) ASSERT_TRUE(member(r)) << "in-sync replica " << r;
      if (p.leader != kNoLeader) {
        ASSERT_TRUE(member(p.leader)) << "leader " << p.leader;
        ASSERT_NE(std::find(p.isr.begin(), p.isr.end(), p.leader), p.isr.end());
      }
    }
  }
  ASSERT_EQ(partitions, s.partition_count());
}

void run_seed(std::uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  MetadataLimits limits;
  limits.topics_max = 5;  // small, so that the limits are reached too
  limits.partitions_per_topic_max = 6;
  limits.partitions_max = 16;
  testing::CommandGen gen(seed);
  MetadataState a(limits);
  MetadataState b(limits);
  std::optional<MetadataState> restored;
  std::int64_t index = 0;
  int applied = 0;
  const int steps = 300;
  for (int step = 0; step < steps; ++step) {
    const auto command = gen.next(a);
    const auto bytes = encode_command(command);
    auto decoded = decode_command(bytes, limits);
    ASSERT_TRUE(decoded) << command_name(command) << ": " << decoded.error();
    ASSERT_TRUE(*decoded == command) << command_name(command);
    // Raft indexes grow by an entry's span, not always by one.
    index += gen.rng().chance(20) ? 3 : 1;
    auto out_a = a.apply(command, index);
    auto out_b = b.apply(*decoded, index);
    ASSERT_TRUE(out_a && out_b);
    ASSERT_EQ(out_a->error, out_b->error);
    ASSERT_EQ(out_a->message, out_b->message);
    ASSERT_EQ(out_a->value, out_b->value);
    if (out_a->applied()) ++applied;
    ASSERT_TRUE(a == b) << command_name(command);
    ASSERT_NO_FATAL_FAILURE(check_invariants(a));
    if (restored) {
      auto out = restored->apply(command, index);
      ASSERT_TRUE(out);
      ASSERT_EQ(out->error, out_a->error);
      ASSERT_TRUE(*restored == a);
    }
    if (gen.rng().chance(5)) {
      auto snap = decode_snapshot(encode_snapshot(a), limits);
      ASSERT_TRUE(snap) << snap.error();
      ASSERT_TRUE(*snap == a);
      restored = std::move(*snap);
    }
  }
  // Enough of the commands did something for the test to mean anything.
  EXPECT_GT(applied, steps / 10);
}

TEST(MetadataRandom, ReplicasAndSnapshotsStayEqual) {
  for (std::uint64_t seed = 1; seed <= seed_count(); ++seed) {
    ASSERT_NO_FATAL_FAILURE(run_seed(seed));
  }
}

// Every kind of command is applied, and refused, somewhere in the seeds.
// (200 seeds: with 50, the clang build's draws, which differ from GCC's,
// applied no cancel_reassignment once unregister_broker joined the mix.)
TEST(MetadataRandom, EveryCommandIsAppliedAndRefused) {
  std::vector<int> applied(std::variant_size_v<Command>);
  std::vector<int> refused(std::variant_size_v<Command>);
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    testing::CommandGen gen(seed);
    MetadataState s;
    for (std::int64_t index = 1; index <= 300; ++index) {
      const auto command = gen.next(s);
      auto out = s.apply(command, index);
      ASSERT_TRUE(out);
      ++(out->applied() ? applied : refused)[command.index()];
    }
  }
  for (std::size_t i = 0; i < applied.size(); ++i) {
    const auto name = command_name(testing::sample_commands()[i]);
    EXPECT_GT(applied[i], 0) << name;
    if (i != 0) {
      EXPECT_GT(refused[i], 0) << name;  // a noop is never refused
    }
  }
}

}  // namespace
}  // namespace spate::cluster
