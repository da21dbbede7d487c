// SPDX-License-Identifier: Apache-2.0
//
// topics.meta laid out by hand as the code before the envelope wrote it (no
// reserved field after the version): it is what the code writes, byte for
// byte, and a broker opens a data directory holding it with the same topics.
// Lengths and counts inside a valid envelope that lie are refused.

#include <gtest/gtest.h>

#include "spate/cluster/partition_manager.h"
#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/common/log.h"
#include "spate/storage/mem_fs.h"

namespace spate::cluster {
namespace {

constexpr std::uint32_t kTopicsMagic = 0x53505450;  // "SPTP"

// The body after magic and version, by hand.
class Topics {
 public:
  Topics& count(std::uint32_t n) {
    w_.write<std::uint32_t>(n);
    return *this;
  }
  Topics& str(std::string_view s) {
    w_.write<std::uint16_t>(static_cast<std::uint16_t>(s.size()));
    w_.write_string(s);
    return *this;
  }
  Topics& i32(std::int32_t v) {
    w_.write<std::int32_t>(v);
    return *this;
  }
  // magic u32, version u16, this body, CRC-32C of everything before it.
  [[nodiscard]] std::vector<std::byte> file(std::uint16_t version = 1) const {
    ByteWriter out;
    out.write<std::uint32_t>(kTopicsMagic);
    out.write<std::uint16_t>(version);
    out.write_bytes(w_.view());
    out.write<std::uint32_t>(crc32c::value(out.view()));
    return out.release();
  }

 private:
  ByteWriter w_;
};

std::vector<std::byte> old_two_topics() {
  return Topics()
      .count(2)
      .str("events")
      .i32(3)
      .count(0)
      .str("orders")
      .i32(2)
      .count(1)
      .str("retention.ms")
      .str("1000")
      .file();
}

TEST(TopicsMeta, TheOldLayoutDecodesAndIsWhatIsEncoded) {
  const std::vector<TopicRecord> records = {{"events", 3, {}},
                                            {"orders", 2, {{"retention.ms", "1000"}}}};
  EXPECT_EQ(encode_topics_meta(records), old_two_topics());
  auto decoded = decode_topics_meta(old_two_topics());
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(*decoded, records);
}

TEST(TopicsMeta, ADataDirectoryWithTheOldFileOpensWithItsTopics) {
  log::set_level(spdlog::level::critical);
  storage::MemFs fs;
  ManualClock clock;
  asio::io_context io;
  DiskThread disk;
  auto dir = storage::DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir) << dir.error();
  ASSERT_TRUE(storage::write_file_atomic(fs, "/data/topics.meta", old_two_topics()));
  auto m = PartitionManager::open(fs, **dir, storage::LogConfig{}, clock, io.get_executor(), disk);
  ASSERT_TRUE(m) << m.error();
  ASSERT_EQ((*m)->topics().size(), 2U);
  ASSERT_NE((*m)->topic("events"), nullptr);
  EXPECT_EQ((*m)->topic("events")->partitions.size(), 3U);
  ASSERT_NE((*m)->topic("orders"), nullptr);
  EXPECT_EQ((*m)->topic("orders")->partitions.size(), 2U);
  EXPECT_EQ((*m)->topic("orders")->overrides, (ConfigMap{{"retention.ms", "1000"}}));
  EXPECT_EQ((*m)->partition_count(), 5U);
  // Nothing to change: the file stays as it was.
  EXPECT_EQ(*fs.contents("/data/topics.meta"), old_two_topics());
}

TEST(TopicsMeta, LyingCountsAndNewerVersionsAreCorrupt) {
  const std::vector<std::pair<const char*, std::vector<std::byte>>> cases = {
      {"empty body", Topics().file()},
      {"huge topic count", Topics().count(0xFFFFFFFF).file()},
      {"topic count past the end", Topics().count(2).str("a").i32(1).count(0).file()},
      {"huge name length", Topics().count(1).i32(0x7FFF0000).file()},
      {"huge config count", Topics().count(1).str("a").i32(1).count(0xFFFFFFFF).file()},
      {"config value missing", Topics().count(1).str("a").i32(1).count(1).str("k").file()},
      {"zero partitions", Topics().count(1).str("a").i32(0).count(0).file()},
      {"trailing bytes", Topics().count(0).i32(0).file()},
      {"version 4", Topics().count(0).file(4)},
      // Version 2: a topic's cluster id (u64) and per partition its replicas.
      {"v2 replica lists for other partitions",
       Topics().count(1).str("a").i32(2).count(0).i32(0).i32(5).count(1).count(1).i32(0).file(2)},
      {"v2 huge replica count",
       Topics().count(1).str("a").i32(1).count(0).i32(0).i32(5).count(1).count(0xFFFFFFFF).file(2)},
      {"v2 negative replica",
       Topics().count(1).str("a").i32(1).count(0).i32(0).i32(5).count(1).count(1).i32(-1).file(2)},
      {"v2 replicas without an id",
       Topics().count(1).str("a").i32(1).count(0).i32(0).i32(0).count(1).count(1).i32(1).file(2)},
      {"v2 truncated id", Topics().count(1).str("a").i32(1).count(0).i32(0).file(2)},
      {"version 0", Topics().count(0).file(0)},
      // Version 3: per partition its learners, each one of its replicas.
      {"v3 learner lists for other partitions", Topics()
                                                    .count(1)
                                                    .str("a")
                                                    .i32(1)
                                                    .count(0)
                                                    .i32(0)
                                                    .i32(5)
                                                    .count(1)
                                                    .count(1)
                                                    .i32(0)
                                                    .count(2)
                                                    .file(3)},
      {"v3 learner not a replica", Topics()
                                       .count(1)
                                       .str("a")
                                       .i32(1)
                                       .count(0)
                                       .i32(0)
                                       .i32(5)
                                       .count(1)
                                       .count(1)
                                       .i32(0)
                                       .count(1)
                                       .count(1)
                                       .i32(4)
                                       .file(3)},
      {"v3 more learners than replicas", Topics()
                                             .count(1)
                                             .str("a")
                                             .i32(1)
                                             .count(0)
                                             .i32(0)
                                             .i32(5)
                                             .count(1)
                                             .count(1)
                                             .i32(0)
                                             .count(1)
                                             .count(0xFFFFFFFF)
                                             .file(3)},
      {"v3 every replica a learner", Topics()
                                         .count(1)
                                         .str("a")
                                         .i32(1)
                                         .count(0)
                                         .i32(0)
                                         .i32(5)
                                         .count(1)
                                         .count(1)
                                         .i32(0)
                                         .count(1)
                                         .count(1)
                                         .i32(0)
                                         .file(3)},
      {"v3 truncated learners",
       Topics().count(1).str("a").i32(1).count(0).i32(0).i32(5).count(1).count(1).i32(0).file(3)},
  };
  for (const auto& [name, bytes] : cases) {
    auto r = decode_topics_meta(bytes);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code(), Errc::corrupt_log) << name << ": " << r.error();
    EXPECT_NE(r.error().detail().find("topics.meta"), std::string::npos) << name;
  }
}

// Cluster topics (an id, replicas per partition) make the file version 2; a
// single node's topics alone still write version 1, which stays readable.
TEST(TopicsMeta, ClusterTopicsRoundTripAsVersion2) {
  const std::vector<TopicRecord> single = {{"a", 2, {}, 0, {}}};
  const std::vector<TopicRecord> mixed = {
      {"a", 2, {}, 0, {}},
      {"orders",
       3,
       {{"retention.ms", "1000"}},
       7,
       {{NodeId(0), NodeId(1), NodeId(2)}, {NodeId(1), NodeId(2), NodeId(0)}, {NodeId(2)}}}};
  auto v1 = encode_topics_meta(single);
  EXPECT_EQ(v1[5], std::byte{1});  // the envelope's u16 version, after the u32 magic
  auto v2 = encode_topics_meta(mixed);
  EXPECT_EQ(v2[5], std::byte{2});
  auto back = decode_topics_meta(v2);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, mixed);
  auto back1 = decode_topics_meta(v1);
  ASSERT_TRUE(back1) << back1.error();
  EXPECT_EQ(*back1, single);
  for (std::size_t n = 0; n < v2.size(); ++n) {
    EXPECT_FALSE(decode_topics_meta(std::span(v2).first(n))) << n;
  }
}

// A reassignment's joining brokers are kept as learners (version 3), and
// only while there are any: the file goes back to version 2 after the move.
TEST(TopicsMeta, LearnersRoundTripAsVersion3) {
  std::vector<TopicRecord> moving = {
      {"a", 1, {}, 0, {}},
      {"orders",
       2,
       {},
       7,
       {{NodeId(0), NodeId(1), NodeId(2), NodeId(3)}, {NodeId(1), NodeId(2)}},
       {{NodeId(3)}, {}}}};
  auto v3 = encode_topics_meta(moving);
  EXPECT_EQ(v3[5], std::byte{3});
  auto back = decode_topics_meta(v3);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, moving);
  for (std::size_t n = 0; n < v3.size(); ++n) {
    EXPECT_FALSE(decode_topics_meta(std::span(v3).first(n))) << n;
  }
  moving[1].learners.clear();
  EXPECT_EQ(encode_topics_meta(moving)[5], std::byte{2});
}

// What the broker stores about a partition it joins as a learner brings it
// back a learner after a restart, before its own log holds any membership:
// opened from topics.meta, its Raft group's initial membership has the
// replicas as voters and the joining brokers as learners.
TEST(TopicsMeta, AJoiningReplicaReopensAsALearner) {
  log::set_level(spdlog::level::critical);
  storage::MemFs fs;
  ManualClock clock;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  DiskThread disk;
  auto dir = storage::DataDir::open(fs, "/data", {3, "c"});
  ASSERT_TRUE(dir) << dir.error();
  ReplicaContext replica;
  replica.self = NodeId(3);
  replica.send = [](RaftGroupId, raft::Message) {};  // a cluster broker; nothing delivered
  const std::vector<NodeId> replicas{NodeId(0), NodeId(1), NodeId(2)};
  const std::vector<NodeId> members{NodeId(0), NodeId(1), NodeId(2), NodeId(3)};
  const raft::Membership joining{replicas, {NodeId(3)}};
  auto run = [&](awaitable<Status> task) {
    std::optional<Status> out;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { out = co_await std::move(task); }, asio::detached);
    for (int i = 0; i < 2000 && !out; ++i) io.run_for(std::chrono::milliseconds(1));
    return out.value_or(Status(Error(Errc::timeout, "test: not done")));
  };
  auto close = [&](PartitionManager& m) {
    std::optional<std::size_t> failed;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { failed = co_await m.close_all(); }, asio::detached);
    for (int i = 0; i < 2000 && !failed; ++i) io.run_for(std::chrono::milliseconds(1));
    EXPECT_EQ(failed, std::optional<std::size_t>(0));
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  {
    auto m = PartitionManager::open(fs, **dir, storage::LogConfig{}, clock, io.get_executor(), disk,
                                    {}, replica);
    ASSERT_TRUE(m) << m.error();
    // The applier's spec during a move of {0,1,2} to {1,2,3}.
    HostedTopic spec{"moved", 9, {}, {members}, {replicas}};
    auto hosted = run((*m)->host_topic(spec, deadline));
    ASSERT_TRUE(hosted) << hosted.error();
    ASSERT_NE((*m)->partition("moved", 0), nullptr);
    EXPECT_EQ((*m)->partition("moved", 0)->membership(), joining);
    close(**m);
  }
  {
    // Restarted: nothing in its log yet, so the stored membership stands.
    auto m = PartitionManager::open(fs, **dir, storage::LogConfig{}, clock, io.get_executor(), disk,
                                    {}, replica);
    ASSERT_TRUE(m) << m.error();
    auto p = (*m)->partition("moved", 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->membership(), joining) << p->membership().describe();
    EXPECT_FALSE(p->membership().is_voter(NodeId(3)));
    // The move completed: the replicas are the target, all voters, and
    // topics.meta keeps no learners any more.
    HostedTopic done{"moved", 9, {}, {{NodeId(1), NodeId(2), NodeId(3)}}, {}};
    auto hosted = run((*m)->host_topic(done, deadline));
    ASSERT_TRUE(hosted) << hosted.error();
    EXPECT_TRUE((*m)->topic("moved")->learners.empty());
    close(**m);
  }
  auto meta = decode_topics_meta(*fs.contents("/data/topics.meta"));
  ASSERT_TRUE(meta) << meta.error();
  ASSERT_EQ(meta->size(), 1U);
  EXPECT_TRUE(meta->front().learners.empty());
}

}  // namespace
}  // namespace spate::cluster
