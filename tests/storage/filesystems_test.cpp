// SPDX-License-Identifier: Apache-2.0
//
// The Filesystem contract on PosixFs and MemFs alike, MemFs's crash model,
// and FaultyFs's injected failures.

#include <thread>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/file.h"
#include "spate/storage/mem_fs.h"

#include "support/temp_dir.h"

namespace spate::storage {
namespace {

// Runs the same contract on both implementations.
class FilesystemContract : public ::testing::TestWithParam<bool> {
 protected:
  FilesystemContract() {
    if (GetParam()) {
      posix_ = make_posix_fs();
      root_ = tmp_.path();
    } else {
      root_ = "/root";
      EXPECT_TRUE(mem_.create_directories(root_));
    }
  }
  Filesystem& fs() { return GetParam() ? *posix_ : static_cast<Filesystem&>(mem_); }

  spate::testing::TempDir tmp_;
  std::unique_ptr<Filesystem> posix_;
  MemFs mem_;
  std::filesystem::path root_;
};

TEST_P(FilesystemContract, OpenModes) {
  auto missing = fs().open(root_ / "nope", OpenMode::read_only);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  ASSERT_TRUE(fs().open(root_ / "a", OpenMode::create));
  ASSERT_TRUE(fs().open(root_ / "a", OpenMode::create));  // kept
  auto again = fs().open(root_ / "a", OpenMode::create_exclusive);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::already_exists);
  EXPECT_TRUE(fs().open(root_ / "a", OpenMode::read_write));
  auto no_dir = fs().open(root_ / "missing-dir" / "f", OpenMode::create);
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().code(), Errc::not_found);
}

TEST_P(FilesystemContract, AppendReadTruncate) {
  auto f = fs().open(root_ / "f", OpenMode::create);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->append(to_bytes("hello ")));
  ASSERT_TRUE((*f)->append(to_bytes("world")));
  EXPECT_EQ((*f)->size(), 11U);
  std::vector<std::byte> out(20);
  auto n = (*f)->read_at(6, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 5U);  // short only at end of file
  EXPECT_EQ(to_hex(std::span(out).first(5)), to_hex(to_bytes("world")));
  n = (*f)->read_at(50, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0U);
  ASSERT_TRUE((*f)->truncate(5));
  EXPECT_EQ((*f)->size(), 5U);
  ASSERT_TRUE((*f)->truncate(8));  // extends with zeros
  auto all = FileSlice{*f, 0, 8}.read_all();
  ASSERT_TRUE(all);
  EXPECT_EQ(to_hex(*all), to_hex(to_bytes("hello")) + "000000");
  ASSERT_TRUE((*f)->sync());
  auto beyond = FileSlice{*f, 4, 10}.read_all();
  EXPECT_FALSE(beyond);
  EXPECT_EQ((*f)->native_handle() >= 0, GetParam());
}

TEST_P(FilesystemContract, DirectoriesRenameRemove) {
  ASSERT_TRUE(fs().create_directories(root_ / "x" / "y"));
  ASSERT_TRUE(fs().create_directories(root_ / "x" / "y"));  // fine if it exists
  ASSERT_TRUE(fs().open(root_ / "x" / "b", OpenMode::create));
  ASSERT_TRUE(fs().open(root_ / "x" / "a", OpenMode::create));
  auto names = fs().list_directory(root_ / "x");
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "y"}));
  EXPECT_EQ(*fs().entry_type(root_ / "x" / "y"), EntryType::directory);
  EXPECT_EQ(*fs().entry_type(root_ / "x" / "a"), EntryType::file);
  EXPECT_EQ(*fs().entry_type(root_ / "x" / "zz"), EntryType::none);
  ASSERT_TRUE(fs().rename(root_ / "x" / "a", root_ / "x" / "b"));  // replaces b
  names = fs().list_directory(root_ / "x");
  EXPECT_EQ(*names, (std::vector<std::string>{"b", "y"}));
  EXPECT_FALSE(fs().remove(root_ / "x"));  // not empty
  ASSERT_TRUE(fs().remove(root_ / "x" / "b"));
  ASSERT_TRUE(fs().remove(root_ / "x" / "y"));
  ASSERT_TRUE(fs().remove(root_ / "x"));
  ASSERT_TRUE(fs().sync_directory(root_));
  auto gone = fs().remove(root_ / "x");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Errc::not_found);
  EXPECT_FALSE(fs().list_directory(root_ / "x"));
}

TEST_P(FilesystemContract, AtomicReplaceAndBoundedRead) {
  ASSERT_TRUE(write_file_atomic(fs(), root_ / "state", to_bytes("one")));
  ASSERT_TRUE(write_file_atomic(fs(), root_ / "state", to_bytes("second")));
  auto back = read_file(fs(), root_ / "state", 100);
  ASSERT_TRUE(back);
  EXPECT_EQ(to_hex(*back), to_hex(to_bytes("second")));
  EXPECT_EQ(*fs().entry_type(root_ / "state.tmp"), EntryType::none);
  auto big = read_file(fs(), root_ / "state", 3);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), Errc::limit_exceeded);
}

INSTANTIATE_TEST_SUITE_P(PosixAndMem, FilesystemContract, ::testing::Values(true, false),
                         [](const auto& param_info) { return param_info.param ? "Posix" : "Mem"; });

class MemFsCrash : public ::testing::Test {
 protected:
  MemFsCrash() {
    EXPECT_TRUE(fs_.create_directories("/d"));
    EXPECT_TRUE(fs_.sync_directory("/"));
  }
  std::string read(const char* path) {
    auto c = fs_.contents(path);
    if (!c) return "<none>";
    return std::string(reinterpret_cast<const char*>(c->data()), c->size());
  }
  MemFs fs_;
};

TEST_F(MemFsCrash, UnsyncedBytesAreDroppedAndSyncedOnesKept) {
  auto f = fs_.open("/d/f", OpenMode::create);
  ASSERT_TRUE(f);
  ASSERT_TRUE(fs_.sync_directory("/d"));
  ASSERT_TRUE((*f)->append(to_bytes("durable")));
  ASSERT_TRUE((*f)->sync());
  ASSERT_TRUE((*f)->append(to_bytes("-volatile")));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "durable");
  // Handles from before the crash are dead.
  auto stale = (*f)->append(to_bytes("x"));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), Errc::io_error);
}

TEST_F(MemFsCrash, ATornWriteKeepsAChosenPrefixOfTheUnsyncedBytes) {
  auto f = fs_.open("/d/f", OpenMode::create);
  ASSERT_TRUE(fs_.sync_directory("/d"));
  ASSERT_TRUE((*f)->append(to_bytes("abc")));
  ASSERT_TRUE((*f)->sync());
  ASSERT_TRUE((*f)->append(to_bytes("defgh")));
  fs_.crash([](const std::filesystem::path&, std::uint64_t unsynced) {
    EXPECT_EQ(unsynced, 5U);
    return 2;
  });
  EXPECT_EQ(read("/d/f"), "abcde");
}

TEST_F(MemFsCrash, ACreationIsLostUnlessItsDirectoryWasSynced) {
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

TEST_F(MemFsCrash, AnUnsyncedTruncateComesBack) {
  auto f = fs_.open("/d/f", OpenMode::create);
  ASSERT_TRUE(fs_.sync_directory("/d"));
  ASSERT_TRUE((*f)->append(to_bytes("0123456789")));
  ASSERT_TRUE((*f)->sync());
  ASSERT_TRUE((*f)->truncate(3));
  fs_.crash();
  EXPECT_EQ(read("/d/f"), "0123456789");
}

TEST_F(MemFsCrash, AnUnsyncedRenameRevertsToTheOldFile) {
  ASSERT_TRUE(write_file_atomic(fs_, "/d/state", to_bytes("old")));
  auto tmp = fs_.open("/d/state.tmp", OpenMode::create);
  ASSERT_TRUE((*tmp)->append(to_bytes("new")));
  ASSERT_TRUE((*tmp)->sync());
  ASSERT_TRUE(fs_.rename("/d/state.tmp", "/d/state"));
  fs_.crash();  // no directory sync after the rename
  EXPECT_EQ(read("/d/state"), "old");
}

TEST_F(MemFsCrash, SyncFromAnotherThreadWhileAppending) {
  auto f = fs_.open("/d/f", OpenMode::create);
  ASSERT_TRUE(fs_.sync_directory("/d"));
  std::atomic<bool> done{false};
  std::thread syncer([&] {
    for (int i = 0; i < 2000 && !done.load(); ++i) ASSERT_TRUE((*f)->sync());
  });
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE((*f)->append(to_bytes("x")));
  done = true;
  syncer.join();
  ASSERT_TRUE((*f)->sync());
  fs_.crash();
  EXPECT_EQ(read("/d/f").size(), 2000U);
}

TEST(FaultyFs, FailsTheNthMatchingCallThenRecovers) {
  MemFs mem;
  ASSERT_TRUE(mem.create_directories("/d"));
  FaultyFs fs(mem);
  auto f = fs.open("/d/f", OpenMode::create);
  ASSERT_TRUE(f);
  fs.inject({.countdown = 3, .ops = static_cast<std::uint32_t>(FaultOp::append), .err = 5});
  EXPECT_TRUE((*f)->append(to_bytes("a")));
  EXPECT_TRUE((*f)->sync());  // not an append: not counted
  EXPECT_TRUE((*f)->append(to_bytes("b")));
  auto third = (*f)->append(to_bytes("c"));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), Errc::io_error);
  EXPECT_TRUE((*f)->append(to_bytes("d")));  // one-shot
  EXPECT_EQ(fs.faults_fired(), 1U);
  EXPECT_EQ(fs.calls(static_cast<std::uint32_t>(FaultOp::append)), 4U);
  EXPECT_EQ(to_hex(*mem.contents("/d/f")), to_hex(to_bytes("abd")));
}

TEST(FaultyFs, EnospcTornAppendAndStickyFailures) {
  MemFs mem;
  ASSERT_TRUE(mem.create_directories("/d"));
  FaultyFs fs(mem);
  auto f = fs.open("/d/f", OpenMode::create);
  fs.inject({.countdown = 1,
             .ops = static_cast<std::uint32_t>(FaultOp::append),
             .err = 28,
             .torn_append_bytes = 3});
  auto r = (*f)->append(to_bytes("abcdef"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space);
  EXPECT_EQ(to_hex(*mem.contents("/d/f")), to_hex(to_bytes("abc")));
  fs.inject(
      {.countdown = 1, .ops = static_cast<std::uint32_t>(FaultOp::sync), .err = 5, .sticky = true});
  EXPECT_FALSE((*f)->sync());
  EXPECT_FALSE((*f)->sync());
  EXPECT_TRUE((*f)->append(to_bytes("x")));
  fs.clear();
  EXPECT_TRUE((*f)->sync());
  fs.inject({.countdown = 1, .ops = static_cast<std::uint32_t>(FaultOp::directory), .err = 5});
  EXPECT_FALSE(fs.sync_directory("/d"));
}

}  // namespace
}  // namespace spate::storage
