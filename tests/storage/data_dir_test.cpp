// SPDX-License-Identifier: Apache-2.0
//
// DataDir: node.meta, partition folder names, foreign directories, opening all
// partitions (serially and from several threads), deleting a partition.

#include "spate/storage/data_dir.h"

#include <thread>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/mem_fs.h"

#include "support/temp_dir.h"

namespace spate::storage {
namespace {

std::vector<std::byte> one_batch(std::string_view value) {
  protocol::BatchBuilder builder(1000);
  auto bytes = to_bytes(value);
  builder.add_value(bytes);
  return builder.build();
}

TEST(DataDir, PartitionDirectoryNamesRoundTrip) {
  TopicPartition tp{"orders.eu-west", 12};
  EXPECT_EQ(tp.dir_name(), "orders.eu-west-12");
  auto parsed = parse_partition_dir_name(tp.dir_name());
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(*parsed, tp);
}

TEST(DataDir, BadPartitionDirectoryNamesAreRejected) {
  for (std::string_view name : {"orders", "-1", "orders-", "orders-x", "orders-01", "orders-+1",
                                "or/ders-1", "..-1", "orders-99999999999"}) {
    EXPECT_FALSE(parse_partition_dir_name(name)) << name;
  }
}

TEST(DataDir, TopicNameRules) {
  EXPECT_TRUE(validate_topic_name("a_B-9.x"));
  EXPECT_FALSE(validate_topic_name(""));
  EXPECT_FALSE(validate_topic_name("."));
  EXPECT_FALSE(validate_topic_name(".."));
  EXPECT_FALSE(validate_topic_name("a b"));
  EXPECT_FALSE(validate_topic_name(std::string(250, 'a')));
  EXPECT_TRUE(validate_topic_name(std::string(249, 'a')));
}

TEST(DataDir, NodeMetaRoundTripsAndDetectsDamage) {
  NodeMeta meta{7, "cluster-abc"};
  auto bytes = encode_node_meta(meta);
  auto decoded = decode_node_meta(bytes);
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(*decoded, meta);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto damaged = bytes;
    damaged[i] ^= std::byte{0x40};
    EXPECT_FALSE(decode_node_meta(damaged)) << "flip at byte " << i;
  }
  EXPECT_FALSE(decode_node_meta(std::span<const std::byte>(bytes).first(10)));
}

// node.meta laid out by hand as the code before the envelope wrote it.
std::vector<std::byte> old_node_meta(std::uint16_t version, std::int32_t node_id,
                                     std::string_view cluster_id) {
  ByteWriter w;
  w.write<std::uint32_t>(0x53504E4D);  // "SPNM"
  w.write<std::uint16_t>(version);
  w.write<std::uint16_t>(0);  // reserved
  w.write<std::int32_t>(node_id);
  w.write<std::uint16_t>(static_cast<std::uint16_t>(cluster_id.size()));
  w.write_string(cluster_id);
  w.write<std::uint32_t>(crc32c::value(w.view()));
  return w.release();
}

TEST(DataDir, NodeMetaInTheOldLayoutOpensAndIsWhatIsWritten) {
  const auto old = old_node_meta(1, 42, "cluster-from-before");
  EXPECT_EQ(encode_node_meta({42, "cluster-from-before"}), old);
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/data"));
  ASSERT_TRUE(write_file_atomic(fs, "/data/node.meta", old));
  auto dir = DataDir::open(fs, "/data", {42, "ignored"});
  ASSERT_TRUE(dir) << dir.error();
  EXPECT_EQ((*dir)->meta(), (NodeMeta{42, "cluster-from-before"}));
  EXPECT_EQ(*fs.contents("/data/node.meta"), old);  // not rewritten
}

TEST(DataDir, NodeMetaErrorsKeepTheirCodes) {
  // A whole file of a newer version: unsupported_version, not damage.
  auto newer = decode_node_meta(old_node_meta(2, 1, "c"));
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().code(), Errc::unsupported_version);
  EXPECT_NE(newer.error().detail().find("node.meta"), std::string::npos);
  // Lengths that do not match the file, inside a valid envelope.
  auto lying = old_node_meta(1, 1, "abc");
  lying[12] = std::byte{0xFF};  // cluster id length 0xFF03
  lying.resize(lying.size() - 4);
  const auto crc = crc32c::value(lying);
  for (int k = 0; k < 4; ++k) lying.push_back(static_cast<std::byte>(crc >> (24 - 8 * k)));
  auto r = decode_node_meta(lying);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupt_log);
  EXPECT_NE(r.error().detail().find("length"), std::string::npos) << r.error();
  for (std::size_t n = 0; n < lying.size(); ++n) {
    EXPECT_FALSE(decode_node_meta(std::span<const std::byte>(lying).first(n)));
  }
}

TEST(DataDir, CreatesDirectoryAndNodeMetaOnFirstOpen) {
  MemFs fs;
  auto dir = DataDir::open(fs, "/data", {1, "c1"});
  ASSERT_TRUE(dir) << dir.error();
  EXPECT_EQ(*fs.entry_type("/data/node.meta"), EntryType::file);
  auto again = DataDir::open(fs, "/data", {1, "other"});
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ((*again)->meta().cluster_id, "c1");  // the stored cluster id wins
}

TEST(DataDir, AnotherNodesDirectoryIsRefused) {
  MemFs fs;
  ASSERT_TRUE(DataDir::open(fs, "/data", {1, "c1"}));
  auto other = DataDir::open(fs, "/data", {2, "c1"});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Errc::invalid_argument);
  EXPECT_NE(other.error().detail().find("belongs to node 1"), std::string::npos);
}

TEST(DataDir, NonEmptyDirectoryWithoutNodeMetaIsForeign) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/home/user/photos"));
  auto f = fs.open("/home/user/photos/cat.jpg", OpenMode::create);
  ASSERT_TRUE(f);
  auto dir = DataDir::open(fs, "/home/user/photos", {0, "c"});
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), Errc::foreign_directory);
  EXPECT_NE(dir.error().detail().find("cat.jpg"), std::string::npos);
}

TEST(DataDir, AFileWhereTheDirectoryShouldBeIsForeign) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/x"));
  ASSERT_TRUE(fs.open("/x/data", OpenMode::create));
  auto dir = DataDir::open(fs, "/x/data", {0, "c"});
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), Errc::foreign_directory);
}

TEST(DataDir, StrayEntryInsideADataDirectoryIsNamed) {
  MemFs fs;
  ASSERT_TRUE(DataDir::open(fs, "/data", {0, "c"}));
  ASSERT_TRUE(fs.open("/data/notes.txt", OpenMode::create));
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), Errc::foreign_directory);
  EXPECT_NE(dir.error().detail().find("notes.txt"), std::string::npos);
}

TEST(DataDir, DamagedNodeMetaIsAClearError) {
  MemFs fs;
  ASSERT_TRUE(DataDir::open(fs, "/data", {0, "c"}));
  ASSERT_TRUE(fs.corrupt("/data/node.meta", 5, to_bytes("zz")));
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), Errc::corrupt_log);
  EXPECT_NE(dir.error().detail().find("node.meta"), std::string::npos);
}

TEST(DataDir, OpenAllOpensEveryPartitionWithItsData) {
  MemFs fs;
  ManualClock clock;
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir);
  const std::vector<TopicPartition> ids = {{"a", 0}, {"a", 1}, {"b-c", 0}, {"d", 10}};
  for (const auto& id : ids) {
    auto log = (*dir)->open_partition(id, LogConfig{}, clock);
    ASSERT_TRUE(log) << log.error();
    auto batch = one_batch(id.dir_name());
    ASSERT_TRUE((*log)->append(batch, Term(1)));
    ASSERT_TRUE((*log)->close());
  }
  auto listed = (*dir)->list_partitions();
  ASSERT_TRUE(listed);
  EXPECT_EQ(*listed, ids);
  auto all = (*dir)->open_all([](const TopicPartition&) { return LogConfig{}; }, clock);
  ASSERT_TRUE(all) << all.error();
  ASSERT_EQ(all->size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ((*all)[i].id, ids[i]);
    EXPECT_EQ((*all)[i].log->end_offset(), Offset(1));
    EXPECT_TRUE((*all)[i].log->recovery().clean);
  }
}

TEST(DataDir, OpenAllRunsInParallelThroughTheRunner) {
  MemFs fs;
  ManualClock clock;
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir);
  for (int p = 0; p < 16; ++p) {
    auto log = (*dir)->open_partition({"t", p}, LogConfig{}, clock);
    ASSERT_TRUE(log);
    auto batch = one_batch("v");
    ASSERT_TRUE((*log)->append(batch, Term(0)));
    ASSERT_TRUE((*log)->flush());  // no close: every open has to recover
  }
  TaskRunner threads = [](std::vector<std::function<void()>>& tasks) {
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
      workers.emplace_back([&tasks, w] {
        for (std::size_t i = static_cast<std::size_t>(w); i < tasks.size(); i += 4) tasks[i]();
      });
    }
    for (auto& t : workers) t.join();
  };
  auto all = (*dir)->open_all([](const TopicPartition&) { return LogConfig{}; }, clock, threads);
  ASSERT_TRUE(all) << all.error();
  ASSERT_EQ(all->size(), 16U);
  for (const auto& p : *all) {
    EXPECT_EQ(p.log->end_offset(), Offset(1));
    EXPECT_FALSE(p.log->recovery().clean);
  }
}

TEST(DataDir, OpenAllNamesTheBrokenPartition) {
  MemFs fs;
  ManualClock clock;
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir);
  ASSERT_TRUE((*dir)->open_partition({"good", 0}, LogConfig{}, clock));
  ASSERT_TRUE((*dir)->open_partition({"bad", 0}, LogConfig{}, clock));
  ASSERT_TRUE(fs.open("/data/bad-0/junk.bin", OpenMode::create));
  auto all = (*dir)->open_all([](const TopicPartition&) { return LogConfig{}; }, clock);
  ASSERT_FALSE(all);
  EXPECT_NE(all.error().detail().find("bad-0"), std::string::npos);
  EXPECT_NE(all.error().detail().find("junk.bin"), std::string::npos);
}

TEST(DataDir, RemovePartitionDeletesItsFolder) {
  MemFs fs;
  ManualClock clock;
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir);
  {
    auto log = (*dir)->open_partition({"gone", 3}, LogConfig{}, clock);
    ASSERT_TRUE(log);
    auto batch = one_batch("x");
    ASSERT_TRUE((*log)->append(batch, Term(0)));
    ASSERT_TRUE((*log)->close());
  }
  ASSERT_TRUE((*dir)->remove_partition({"gone", 3}));
  EXPECT_EQ(*fs.entry_type("/data/gone-3"), EntryType::none);
  auto listed = (*dir)->list_partitions();
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST(DataDir, InterruptedDeleteIsFinishedOnOpen) {
  MemFs fs;
  auto dir = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(dir);
  ASSERT_TRUE(fs.create_directories("/data/old-0.deleted"));
  ASSERT_TRUE(fs.open("/data/old-0.deleted/00000000000000000000.log", OpenMode::create));
  auto again = DataDir::open(fs, "/data", {0, "c"});
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(*fs.entry_type("/data/old-0.deleted"), EntryType::none);
}

TEST(DataDir, RealFilesystemSmoke) {
  TempDir tmp;
  auto fs = make_posix_fs();
  ManualClock clock;
  auto root = tmp.path() / "spate-data";
  {
    auto dir = DataDir::open(*fs, root, {3, "real"});
    ASSERT_TRUE(dir) << dir.error();
    auto log = (*dir)->open_partition({"t", 0}, LogConfig{}, clock);
    ASSERT_TRUE(log) << log.error();
    auto batch = one_batch("on disk");
    ASSERT_TRUE((*log)->append(batch, Term(2)));
    ASSERT_TRUE((*log)->close());
  }
  auto dir = DataDir::open(*fs, root, {3, "ignored"});
  ASSERT_TRUE(dir) << dir.error();
  EXPECT_EQ((*dir)->meta().cluster_id, "real");
  auto all = (*dir)->open_all([](const TopicPartition&) { return LogConfig{}; }, clock);
  ASSERT_TRUE(all) << all.error();
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ((*all)[0].log->end_offset(), Offset(1));
  EXPECT_EQ((*all)[0].log->last_term(), Term(2));
}

TEST(DataDir, PartitionsWithTheLongestNamesCanBeRemovedOnARealFilesystem) {
  // <topic>-<partition> may take 255 bytes already: the ".deleted" mark must
  // not push the name past the file system's limit (it did for 246-249).
  TempDir tmp;
  auto fs = make_posix_fs();
  ManualClock clock;
  auto dir = DataDir::open(*fs, tmp.path() / "spate-data", {0, "real"});
  ASSERT_TRUE(dir) << dir.error();
  for (std::size_t length : {1U, 200U, 246U, 249U}) {
    const TopicPartition id{std::string(length, 'L'), 12345};
    EXPECT_LE(deleted_dir_name(id).size(), 255U);
    EXPECT_TRUE(deleted_dir_name(id).ends_with(".deleted"));
    auto log = (*dir)->open_partition(id, LogConfig{}, clock);
    ASSERT_TRUE(log) << log.error();
    ASSERT_TRUE((*log)->close());
    auto removed = (*dir)->remove_partition(id);
    ASSERT_TRUE(removed) << length << ": " << removed.error();
    EXPECT_EQ(*fs->entry_type(tmp.path() / "spate-data" / id.dir_name()), EntryType::none);
  }
  EXPECT_NE(deleted_dir_name({std::string(249, 'a'), 1}),
            deleted_dir_name({std::string(249, 'a'), 2}));
  // Removing a partition that has no folder is not an error.
  EXPECT_TRUE((*dir)->remove_partition({"never", 0}));
}

}  // namespace
}  // namespace spate::storage
