// SPDX-License-Identifier: Apache-2.0
//
// FaultyFs: injected failures never reach the file system below (but a torn
// append's prefix), a plan counts down only the calls of its kinds, sticky
// faults, clearing, and the call counts.

#include "spate/storage/faulty_fs.h"

#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/storage/file.h"
#include "spate/storage/mem_fs.h"

#include "support/faults.h"
#include "support/fs_testing.h"
#include "support/temp_dir.h"

namespace spate::storage {
namespace {

using spate::testing::kEio;
using spate::testing::kEnospc;
using spate::testing::ops;
using spate::testing::read_all;
using spate::testing::TempDir;
using spate::testing::text;

namespace fs = std::filesystem;

class FaultyFsOverMem : public ::testing::Test {
 protected:
  FaultyFsOverMem() : faulty_(mem_) { EXPECT_TRUE(mem_.create_directories("/d")); }
  std::shared_ptr<File> open(const fs::path& path) {
    auto f = faulty_.open(path, OpenMode::create);
    EXPECT_TRUE(f);
    return f ? *f : nullptr;
  }
  MemFs mem_;
  FaultyFs faulty_;
};

TEST_F(FaultyFsOverMem, AFailedOpenDoesNotReachTheBase) {
  faulty_.inject({.ops = ops({FaultOp::open}), .err = kEnospc});
  auto f = faulty_.open("/d/f", OpenMode::create);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Errc::no_space);
  EXPECT_EQ(*mem_.entry_type("/d/f"), EntryType::none);
  EXPECT_TRUE(faulty_.open("/d/f", OpenMode::create));  // one-shot
}

TEST_F(FaultyFsOverMem, FailedDirectoryCallsDoNotReachTheBase) {
  auto f = open("/d/a");
  const auto directory = ops({FaultOp::directory});
  faulty_.inject({.ops = directory});
  EXPECT_EQ(faulty_.rename("/d/a", "/d/b").error().code(), Errc::io_error);
  faulty_.inject({.ops = directory});
  EXPECT_FALSE(faulty_.remove("/d/a"));
  faulty_.inject({.ops = directory});
  EXPECT_FALSE(faulty_.create_directories("/d/e"));
  faulty_.inject({.ops = directory});
  EXPECT_FALSE(faulty_.list_directory("/d"));
  EXPECT_EQ(*mem_.list_directory("/d"), std::vector<std::string>{"a"});
  EXPECT_EQ(faulty_.faults_fired(), 4U);
  EXPECT_EQ(faulty_.calls(directory), 4U);
  faulty_.inject({.ops = directory});
  EXPECT_FALSE(faulty_.sync_directory("/d"));
}

TEST_F(FaultyFsOverMem, ReadAndTruncateFaultsLeaveTheFileAlone) {
  auto f = open("/d/f");
  ASSERT_TRUE(f->append(to_bytes("abc")));
  faulty_.inject({.ops = ops({FaultOp::read})});
  std::vector<std::byte> out(3);
  auto r = f->read_at(0, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io_error);
  faulty_.inject({.ops = ops({FaultOp::truncate})});
  EXPECT_FALSE(f->truncate(0));
  EXPECT_EQ(f->size(), 3U);
  EXPECT_EQ(*f->read_at(0, out), 3U);
}

TEST_F(FaultyFsOverMem, ATornAppendIsClampedToItsData) {
  auto f = open("/d/f");
  faulty_.inject({.ops = ops({FaultOp::append}), .torn_append_bytes = 100});
  EXPECT_FALSE(f->append(to_bytes("abcd")));
  EXPECT_EQ(text(*mem_.contents("/d/f")), "abcd");
  faulty_.inject({.ops = ops({FaultOp::append}), .torn_append_bytes = 0});
  EXPECT_FALSE(f->append(to_bytes("efgh")));  // nothing reaches the file
  EXPECT_EQ(text(*mem_.contents("/d/f")), "abcd");
}

TEST_F(FaultyFsOverMem, AMaskOfKindsCountsDownOnlyTheMatchingCalls) {
  auto f = open("/d/f");
  faulty_.inject({.countdown = 3, .ops = ops({FaultOp::append, FaultOp::sync})});
  std::vector<std::byte> out(1);
  EXPECT_TRUE(f->append(to_bytes("a")));  // 1
  EXPECT_TRUE(f->read_at(0, out));        // not in the mask
  EXPECT_TRUE(f->truncate(1));            // not in the mask
  EXPECT_TRUE(f->sync());                 // 2
  EXPECT_FALSE(f->sync());                // 3: fires
  EXPECT_TRUE(f->append(to_bytes("b")));  // one-shot
  EXPECT_EQ(faulty_.faults_fired(), 1U);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::append})), 2U);
  EXPECT_EQ(text(*mem_.contents("/d/f")), "ab");
}

TEST_F(FaultyFsOverMem, CallsAreCountedPerKindWithOrWithoutAPlan) {
  auto f = open("/d/f");  // open 1
  std::vector<std::byte> out(1);
  ASSERT_TRUE(f->append(to_bytes("a")));
  ASSERT_TRUE(f->append(to_bytes("b")));
  ASSERT_TRUE(f->read_at(0, out));
  ASSERT_TRUE(f->truncate(1));
  ASSERT_TRUE(f->sync());
  ASSERT_TRUE(faulty_.sync_directory("/d"));
  ASSERT_TRUE(faulty_.list_directory("/d"));
  EXPECT_EQ(faulty_.calls(ops({FaultOp::open})), 1U);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::append})), 2U);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::read})), 1U);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::truncate})), 1U);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::sync})), 1U);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::directory})), 2U);
  EXPECT_EQ(faulty_.calls(static_cast<std::uint32_t>(FaultOp::all)), 8U);
  EXPECT_EQ(faulty_.faults_fired(), 0U);
}

TEST_F(FaultyFsOverMem, EntryTypeIsNeitherCountedNorFailed) {
  faulty_.inject({.ops = static_cast<std::uint32_t>(FaultOp::all), .sticky = true});
  auto type = faulty_.entry_type("/d");
  ASSERT_TRUE(type);
  EXPECT_EQ(*type, EntryType::directory);
  EXPECT_EQ(faulty_.calls(static_cast<std::uint32_t>(FaultOp::all)), 0U);
  EXPECT_EQ(faulty_.faults_fired(), 0U);
  EXPECT_FALSE(faulty_.sync_directory("/d"));  // the plan is still armed
}

TEST_F(FaultyFsOverMem, AStickyFaultFailsEveryMatchingCallUntilReplaced) {
  auto f = open("/d/f");
  faulty_.inject({.countdown = 2, .ops = ops({FaultOp::append}), .err = kEio, .sticky = true});
  EXPECT_TRUE(f->append(to_bytes("a")));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(f->append(to_bytes("b")));
  EXPECT_TRUE(f->sync());  // other kinds still work
  EXPECT_EQ(faulty_.faults_fired(), 3U);
  faulty_.inject({.countdown = 2, .ops = ops({FaultOp::append})});  // a new plan revives
  EXPECT_TRUE(f->append(to_bytes("c")));
  EXPECT_FALSE(f->append(to_bytes("d")));
  EXPECT_TRUE(f->append(to_bytes("e")));
  EXPECT_EQ(text(*mem_.contents("/d/f")), "ace");
}

TEST_F(FaultyFsOverMem, ClearDisarmsAPendingPlan) {
  auto f = open("/d/f");
  faulty_.inject({.countdown = 2, .ops = ops({FaultOp::append})});
  EXPECT_TRUE(f->append(to_bytes("a")));
  faulty_.clear();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(f->append(to_bytes("b")));
  EXPECT_EQ(faulty_.faults_fired(), 0U);
  // A sticky fault too.
  faulty_.inject({.ops = ops({FaultOp::sync}), .sticky = true});
  EXPECT_FALSE(f->sync());
  EXPECT_FALSE(f->sync());
  faulty_.clear();
  EXPECT_TRUE(f->sync());
}

TEST(FaultyFs, OverPosixATornAppendLeavesThePrefixAndTheSizeAgrees) {
  TempDir dir;
  auto posix = make_posix_fs();
  FaultyFs faulty(*posix);
  auto f = faulty.open(dir.path() / "f", OpenMode::create);
  ASSERT_TRUE(f);
  EXPECT_GE((*f)->native_handle(), 0);
  EXPECT_EQ((*f)->path(), dir.path() / "f");
  faulty.inject({.ops = ops({FaultOp::append}), .err = kEnospc, .torn_append_bytes = 2});
  auto r = (*f)->append(to_bytes("abcdef"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space);
  EXPECT_EQ((*f)->size(), 2U);
  EXPECT_EQ(read_all(*posix, dir.path() / "f"), "ab");
}

}  // namespace
}  // namespace spate::storage
