// SPDX-License-Identifier: Apache-2.0
//
// MemFs's durability model in detail: what a crash keeps of unsynced bytes,
// truncations, creations, removals and renames of files and directories,
// handles from before a crash, the damage helpers, syncs from another thread.

#include "spate/storage/mem_fs.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/storage/file.h"

#include "support/fs_testing.h"

namespace spate::storage {
namespace {

using spate::testing::text;

namespace fs = std::filesystem;

class MemFsModel : public ::testing::Test {
 protected:
  MemFsModel() {
    EXPECT_TRUE(fs_.create_directories("/d"));
    EXPECT_TRUE(fs_.sync_directory("/"));
  }
  std::string read(const fs::path& path) {
    auto c = fs_.contents(path);
    if (!c) return "<none>";
    return text(*c);
  }
  // A file whose name is durable, holding `durable` synced.
  std::shared_ptr<File> durable_file(const fs::path& path, std::string_view durable) {
    auto f = fs_.open(path, OpenMode::create);
    EXPECT_TRUE(f);
    EXPECT_TRUE(fs_.sync_directory(path.parent_path()));
    EXPECT_TRUE((*f)->append(to_bytes(durable)));
    EXPECT_TRUE((*f)->sync());
    return *f;
  }
  MemFs fs_;
};

TEST_F(MemFsModel, KeepUnsyncedIsClampedToTheUnsyncedBytes) {
  auto f = durable_file("/d/f", "abc");
  ASSERT_TRUE(f->append(to_bytes("de")));
  fs_.crash([](const fs::path&, std::uint64_t) { return 1000; });
  EXPECT_EQ(read("/d/f"), "abcde");
}

TEST_F(MemFsModel, KeepUnsyncedIsAskedOnlyAboutFilesWithUnsyncedBytes) {
  auto synced = durable_file("/d/synced", "abc");
  auto grown = durable_file("/d/grown", "abc");
  ASSERT_TRUE(grown->append(to_bytes("defg")));
  std::vector<std::pair<std::string, std::uint64_t>> asked;
  fs_.crash([&](const fs::path& path, std::uint64_t unsynced) {
    asked.emplace_back(path.string(), unsynced);
    return 0;
  });
  ASSERT_EQ(asked.size(), 1U);
  EXPECT_EQ(asked[0].first, "/d/grown");
  EXPECT_EQ(asked[0].second, 4U);
}

TEST_F(MemFsModel, EveryUnsyncedAppendSinceTheLastSyncCanTear) {
  auto f = durable_file("/d/f", "ab");
  ASSERT_TRUE(f->append(to_bytes("cd")));
  ASSERT_TRUE(f->sync());
  ASSERT_TRUE(f->append(to_bytes("ef")));
  ASSERT_TRUE(f->append(to_bytes("gh")));
  fs_.crash([](const fs::path&, std::uint64_t unsynced) { return unsynced - 1; });
  EXPECT_EQ(read("/d/f"), "abcdefg");
}

TEST_F(MemFsModel, AnUnsyncedExtensionIsDropped) {
  auto f = durable_file("/d/f", "abc");
  ASSERT_TRUE(f->truncate(10));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "abc");
}

TEST_F(MemFsModel, ASyncedTruncationIsDurable) {
  auto f = durable_file("/d/f", "0123456789");
  ASSERT_TRUE(f->truncate(3));
  ASSERT_TRUE(f->sync());
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "012");
}

// mem_fs.h: a file longer than its durable bytes keeps a prefix of its
// *current* data, even where an unsynced truncation rewrote durable bytes.
TEST_F(MemFsModel, AnUnsyncedTruncateAndAppendKeepsThePrefixOfTheCurrentData) {
  auto f = durable_file("/d/f", "0123456789");
  ASSERT_TRUE(f->truncate(3));
  ASSERT_TRUE(f->append(to_bytes("abcdefghijkl")));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "012abcdefg");
}

TEST_F(MemFsModel, AnUnsyncedTruncateAndShorterAppendBringsTheDurableBytesBack) {
  auto f = durable_file("/d/f", "0123456789");
  ASSERT_TRUE(f->truncate(3));
  ASSERT_TRUE(f->append(to_bytes("abc")));
  fs_.crash([](const fs::path&, std::uint64_t) { return 1000; });  // nothing unsynced to keep
  EXPECT_EQ(read("/d/f"), "0123456789");
}

TEST_F(MemFsModel, SyncsAfterTruncationsTrackTheCurrentBytes) {
  auto f = durable_file("/d/f", "0123456789");
  ASSERT_TRUE(f->truncate(2));
  ASSERT_TRUE(f->append(to_bytes("ab")));
  ASSERT_TRUE(f->sync());
  ASSERT_TRUE(f->append(to_bytes("cd")));
  ASSERT_TRUE(f->sync());
  ASSERT_TRUE(f->append(to_bytes("unsynced")));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "01abcd");
}

TEST_F(MemFsModel, AFileInAnUnsyncedDirectoryIsLostWithIt) {
  ASSERT_TRUE(fs_.create_directories("/d/sub"));
  auto f = durable_file("/d/sub/f", "data");  // syncs /d/sub, not /d
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/sub"), EntryType::none);
  EXPECT_EQ(*fs_.entry_type("/d/sub/f"), EntryType::none);
  EXPECT_EQ(*fs_.entry_type("/d"), EntryType::directory);
}

TEST_F(MemFsModel, ANewDirectoryNeedsItsParentSynced) {
  ASSERT_TRUE(fs_.create_directories("/d/a/b"));
  ASSERT_TRUE(fs_.sync_directory("/d"));
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/a"), EntryType::directory);
  EXPECT_EQ(*fs_.entry_type("/d/a/b"), EntryType::none);
}

TEST_F(MemFsModel, ARemovalIsDurableAtOnce) {
  auto f = durable_file("/d/f", "x");
  ASSERT_TRUE(fs_.remove("/d/f"));
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/f"), EntryType::none);
}

TEST_F(MemFsModel, AnUnsyncedRenamePutsTheFileBackUnderItsOldName) {
  auto f = durable_file("/d/a", "data");
  ASSERT_TRUE(fs_.rename("/d/a", "/d/b"));
  EXPECT_EQ(*fs_.entry_type("/d/a"), EntryType::none);
  fs_.crash();
  EXPECT_EQ(read("/d/a"), "data");
  EXPECT_EQ(*fs_.entry_type("/d/b"), EntryType::none);
}

TEST_F(MemFsModel, ASyncedRenameIsDurable) {
  auto f = durable_file("/d/a", "data");
  auto old = durable_file("/d/b", "old");
  ASSERT_TRUE(fs_.rename("/d/a", "/d/b"));
  ASSERT_TRUE(fs_.sync_directory("/d"));
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/a"), EntryType::none);
  EXPECT_EQ(read("/d/b"), "data");
}

TEST_F(MemFsModel, ARenameDurableInTheTargetDirectoryDropsTheOldName) {
  ASSERT_TRUE(fs_.create_directories("/e"));
  ASSERT_TRUE(fs_.sync_directory("/"));
  auto f = durable_file("/d/a", "data");
  ASSERT_TRUE(fs_.rename("/d/a", "/e/a"));
  ASSERT_TRUE(fs_.sync_directory("/e"));
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/a"), EntryType::none);
  EXPECT_EQ(read("/e/a"), "data");
}

TEST_F(MemFsModel, AFileRenamedAndThenRemovedStaysRemoved) {
  auto f = durable_file("/d/a", "data");
  ASSERT_TRUE(fs_.rename("/d/a", "/d/b"));
  ASSERT_TRUE(fs_.remove("/d/b"));
  fs_.crash();
  EXPECT_EQ(*fs_.list_directory("/d"), std::vector<std::string>{});
}

TEST_F(MemFsModel, AnUnsyncedDirectoryRenameComesBackWhole) {
  ASSERT_TRUE(fs_.create_directories("/d/p/sub"));
  ASSERT_TRUE(fs_.sync_directory("/d"));
  ASSERT_TRUE(fs_.sync_directory("/d/p"));
  auto f = durable_file("/d/p/f", "one");
  auto g = durable_file("/d/p/sub/g", "two");
  ASSERT_TRUE(fs_.rename("/d/p", "/d/p.deleted"));
  fs_.crash();
  EXPECT_EQ(*fs_.list_directory("/d"), std::vector<std::string>{"p"});
  EXPECT_EQ(read("/d/p/f"), "one");
  EXPECT_EQ(read("/d/p/sub/g"), "two");
}

TEST_F(MemFsModel, ASyncedDirectoryRenameIsDurable) {
  ASSERT_TRUE(fs_.create_directories("/d/p"));
  ASSERT_TRUE(fs_.sync_directory("/d"));
  auto f = durable_file("/d/p/f", "one");
  ASSERT_TRUE(fs_.rename("/d/p", "/d/p.deleted"));
  ASSERT_TRUE(fs_.sync_directory("/d"));
  fs_.crash();
  EXPECT_EQ(*fs_.list_directory("/d"), std::vector<std::string>{"p.deleted"});
  EXPECT_EQ(read("/d/p.deleted/f"), "one");
}

TEST_F(MemFsModel, FileHandlesFromBeforeACrashFailEveryCall) {
  auto f = durable_file("/d/f", "abc");
  ASSERT_TRUE(f->append(to_bytes("-volatile")));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "abc");  // the unsynced bytes are gone
  EXPECT_EQ(f->append(to_bytes("x")).error().code(), Errc::io_error);
  std::vector<std::byte> out(3);
  auto r = f->read_at(0, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io_error);
  EXPECT_EQ(f->truncate(0).error().code(), Errc::io_error);
  EXPECT_EQ(f->sync().error().code(), Errc::io_error);
  EXPECT_EQ(f->native_handle(), -1);
  auto reopened = fs_.open("/d/f", OpenMode::read_write);
  ASSERT_TRUE(reopened);
  ASSERT_TRUE((*reopened)->append(to_bytes("d")));
  EXPECT_EQ(read("/d/f"), "abcd");
}

TEST_F(MemFsModel, CorruptWritesTheCurrentAndTheDurableBytes) {
  auto f = durable_file("/d/f", "abcdef");
  ASSERT_TRUE(f->append(to_bytes("gh")));
  ASSERT_TRUE(fs_.corrupt("/d/f", 1, to_bytes("XY")));
  EXPECT_EQ(read("/d/f"), "aXYdefgh");
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "aXYdef");
}

TEST_F(MemFsModel, CorruptPastTheEndExtendsWithZeros) {
  auto f = durable_file("/d/f", "ab");
  ASSERT_TRUE(fs_.corrupt("/d/f", 4, to_bytes("Z")));
  EXPECT_EQ(read("/d/f"), std::string("ab\0\0Z", 5));
  EXPECT_EQ(f->size(), 5U);
  fs_.crash();
  EXPECT_EQ(read("/d/f"), std::string("ab\0\0Z", 5));
}

TEST_F(MemFsModel, CorruptPastTheDurableEndMakesThatMuchDurable) {
  auto f = durable_file("/d/f", "ab");
  ASSERT_TRUE(f->append(to_bytes("cdef")));
  ASSERT_TRUE(fs_.corrupt("/d/f", 3, to_bytes("X")));
  EXPECT_EQ(read("/d/f"), "abcXef");
  fs_.crash();  // 4 bytes are durable now; the crash keeps that prefix of the current data
  EXPECT_EQ(read("/d/f"), "abcX");
}

TEST_F(MemFsModel, SetSizeDurableTruncatesOrExtendsBoth) {
  auto f = durable_file("/d/f", "abcdef");
  ASSERT_TRUE(f->append(to_bytes("gh")));
  ASSERT_TRUE(fs_.set_size_durable("/d/f", 3));
  EXPECT_EQ(f->size(), 3U);
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "abc");
  ASSERT_TRUE(fs_.set_size_durable("/d/f", 5));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), std::string("abc\0\0", 5));
}

TEST_F(MemFsModel, HelpersRefuseMissingFilesAndDirectories) {
  EXPECT_EQ(fs_.contents("/d/none").error().code(), Errc::not_found);
  EXPECT_EQ(fs_.corrupt("/d/none", 0, to_bytes("x")).error().code(), Errc::not_found);
  EXPECT_EQ(fs_.set_size_durable("/d/none", 0).error().code(), Errc::not_found);
  EXPECT_FALSE(fs_.contents("/d"));
  EXPECT_FALSE(fs_.set_size_durable("/d", 0));
}

TEST_F(MemFsModel, AbsurdSizesAreErrorsNotExceptions) {
  auto f = durable_file("/d/f", "abc");
  constexpr auto kHuge = std::numeric_limits<std::uint64_t>::max();
  auto truncated = f->truncate(kHuge);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code(), Errc::io_error);  // EFBIG
  EXPECT_EQ(f->size(), 3U);
  EXPECT_EQ(fs_.corrupt("/d/f", kHuge, to_bytes("x")).error().code(), Errc::invalid_argument);
  EXPECT_EQ(fs_.set_size_durable("/d/f", kHuge).error().code(), Errc::invalid_argument);
  EXPECT_EQ(read("/d/f"), "abc");
}

TEST_F(MemFsModel, RootEntriesNeedTheRootSynced) {
  auto f = fs_.open("/top", OpenMode::create);
  ASSERT_TRUE(f);
  ASSERT_TRUE(fs_.create_directories("/also"));
  fs_.crash();
  EXPECT_EQ(*fs_.list_directory("/"), std::vector<std::string>{"d"});
  ASSERT_TRUE(fs_.open("/top", OpenMode::create));
  ASSERT_TRUE(fs_.sync_directory("/"));
  fs_.crash();
  EXPECT_EQ(*fs_.list_directory("/"), (std::vector<std::string>{"d", "top"}));
}

// One thread appends while another syncs: after the crash the file is a prefix
// of what was appended, at least as long as the last size seen before a sync.
TEST_F(MemFsModel, SyncsFromAnotherThreadMakeAPrefixDurable) {
  auto f = durable_file("/d/f", "");
  constexpr int kAppends = 3000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> synced{0};
  std::thread syncer([&] {
    while (!done.load()) {
      const std::uint64_t seen = f->size();
      if (!f->sync()) return;
      synced.store(seen);
    }
  });
  std::string all;
  for (int i = 0; i < kAppends; ++i) {
    const std::string chunk(1 + static_cast<std::size_t>(i % 7), static_cast<char>('a' + i % 26));
    all += chunk;
    if (!f->append(to_bytes(chunk))) {
      ADD_FAILURE() << "append " << i << " failed";  // no ASSERT: the thread must be joined
      break;
    }
  }
  done = true;
  syncer.join();
  fs_.crash();
  const std::string after = read("/d/f");
  EXPECT_GE(after.size(), synced.load());
  EXPECT_EQ(after, all.substr(0, after.size()));
}

TEST_F(MemFsModel, ACreationIsLostUnlessItsDirectoryWasSynced) {
  auto f = fs_.open("/d/new", OpenMode::create);
  ASSERT_TRUE((*f)->append(to_bytes("data")));
  ASSERT_TRUE((*f)->sync());  // the data, but not the name
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/new"), EntryType::none);
  auto g = fs_.open("/d/kept", OpenMode::create);
  ASSERT_TRUE((*g)->sync());
  ASSERT_TRUE(fs_.sync_directory("/d"));
  fs_.crash();
  EXPECT_EQ(*fs_.entry_type("/d/kept"), EntryType::file);
}

TEST_F(MemFsModel, AnUnsyncedTruncateComesBack) {
  auto f = fs_.open("/d/f", OpenMode::create);
  ASSERT_TRUE(fs_.sync_directory("/d"));
  ASSERT_TRUE((*f)->append(to_bytes("0123456789")));
  ASSERT_TRUE((*f)->sync());
  ASSERT_TRUE((*f)->truncate(3));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "0123456789");
}

TEST_F(MemFsModel, AnUnsyncedRenameRevertsToTheOldFile) {
  ASSERT_TRUE(write_file_atomic(fs_, "/d/state", to_bytes("old")));
  auto tmp = fs_.open("/d/state.tmp", OpenMode::create);
  ASSERT_TRUE((*tmp)->append(to_bytes("new")));
  ASSERT_TRUE((*tmp)->sync());
  ASSERT_TRUE(fs_.rename("/d/state.tmp", "/d/state"));
  fs_.crash();  // no directory sync after the rename
  EXPECT_EQ(read("/d/state"), "old");
}

TEST(MemFs, FilesHaveNoNativeHandle) {
  MemFs mem;
  auto f = mem.open("f", OpenMode::create);  // relative names live under ""
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->native_handle(), -1);
  EXPECT_EQ(*mem.list_directory(""), std::vector<std::string>{"f"});
  EXPECT_EQ(*mem.entry_type(""), EntryType::directory);
}

}  // namespace
}  // namespace spate::storage
