// SPDX-License-Identifier: Apache-2.0
//
// The Filesystem contract's edges on PosixFs and MemFs alike (errors, renames,
// read-only files), MemFs's durability model in detail, FaultyFs's plans, TempDir.
// The basic contract lives in filesystems_test.cpp.

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <limits>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/file.h"
#include "spate/storage/mem_fs.h"

#include "support/temp_dir.h"

namespace spate::storage {
namespace {

namespace fs = std::filesystem;

constexpr int kEio = 5;
constexpr int kEnospc = 28;

std::uint32_t ops(std::initializer_list<FaultOp> list) {
  std::uint32_t out = 0;
  for (auto op : list) out |= static_cast<std::uint32_t>(op);
  return out;
}

std::string text(std::span<const std::byte> bytes) {
  std::string out;
  for (auto b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// The whole file, through the File interface.
std::string read_all(Filesystem& filesystem, const fs::path& path) {
  auto bytes = read_file(filesystem, path, 1 << 20);
  if (!bytes) return "<" + std::string(errc_name(bytes.error().code())) + ">";
  return text(*bytes);
}

Status write_synced(Filesystem& filesystem, const fs::path& path, std::string_view contents) {
  auto file = filesystem.open(path, OpenMode::create);
  if (!file) return file.error();
  if (auto s = (*file)->append(to_bytes(contents)); !s) return s;
  return (*file)->sync();
}

// ---------------------------------------------------------------------------
// The same edge cases on both implementations.

class FilesystemEdges : public ::testing::TestWithParam<bool> {
 protected:
  FilesystemEdges() {
    if (GetParam()) {
      posix_ = make_posix_fs();
      root_ = tmp_.path();
    } else {
      root_ = "/root";
      EXPECT_TRUE(mem_.create_directories(root_));
    }
  }
  Filesystem& fs() { return GetParam() ? *posix_ : static_cast<Filesystem&>(mem_); }

  TempDir tmp_;
  std::unique_ptr<Filesystem> posix_;
  MemFs mem_;
  fs::path root_;
};

TEST_P(FilesystemEdges, AReadOnlyFileRefusesWritesAndKeepsItsSize) {
  ASSERT_TRUE(write_synced(fs(), root_ / "f", "abc"));
  auto f = fs().open(root_ / "f", OpenMode::read_only);
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->size(), 3U);
  auto appended = (*f)->append(to_bytes("d"));
  ASSERT_FALSE(appended);
  EXPECT_EQ(appended.error().code(), Errc::io_error);
  EXPECT_FALSE((*f)->truncate(1));
  EXPECT_EQ((*f)->size(), 3U);
  EXPECT_EQ(read_all(fs(), root_ / "f"), "abc");
}

TEST_P(FilesystemEdges, ReopeningAFileKeepsItsBytesAndAppendsAtTheEnd) {
  ASSERT_TRUE(write_synced(fs(), root_ / "f", "abc"));
  auto f = fs().open(root_ / "f", OpenMode::create);  // create keeps what is there
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->size(), 3U);
  ASSERT_TRUE((*f)->append(to_bytes("de")));
  ASSERT_TRUE((*f)->append({}));  // an empty append changes nothing
  EXPECT_EQ((*f)->size(), 5U);
  EXPECT_EQ(read_all(fs(), root_ / "f"), "abcde");
  auto fresh = fs().open(root_ / "g", OpenMode::create_exclusive);
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->size(), 0U);
  EXPECT_EQ((*fresh)->path(), root_ / "g");
}

TEST_P(FilesystemEdges, ReadsAtAndPastTheEndReturnNothing) {
  ASSERT_TRUE(write_synced(fs(), root_ / "f", "abc"));
  auto f = fs().open(root_ / "f", OpenMode::read_only);
  ASSERT_TRUE(f);
  std::vector<std::byte> out(4);
  EXPECT_EQ(*(*f)->read_at(3, out), 0U);
  EXPECT_EQ(*(*f)->read_at(1, std::span(out).first(0)), 0U);
  EXPECT_EQ(*(*f)->read_at(0, out), 3U);
  EXPECT_EQ(*(*f)->read_at(2, out), 1U);
  EXPECT_EQ(text(std::span(out).first(1)), "c");
}

TEST_P(FilesystemEdges, ADirectoryCannotBeOpenedAsAFile) {
  ASSERT_TRUE(fs().create_directories(root_ / "d"));
  for (auto mode : {OpenMode::read_only, OpenMode::read_write, OpenMode::create}) {
    auto f = fs().open(root_ / "d", mode);
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code(), Errc::io_error);
  }
  auto exclusive = fs().open(root_ / "d", OpenMode::create_exclusive);
  ASSERT_FALSE(exclusive);
  EXPECT_EQ(exclusive.error().code(), Errc::already_exists);
}

TEST_P(FilesystemEdges, MissingThingsAreNotFound) {
  EXPECT_EQ(fs().open(root_ / "f", OpenMode::read_write).error().code(), Errc::not_found);
  EXPECT_EQ(read_file(fs(), root_ / "f", 10).error().code(), Errc::not_found);
  EXPECT_EQ(fs().list_directory(root_ / "d").error().code(), Errc::not_found);
  EXPECT_EQ(fs().remove(root_ / "f").error().code(), Errc::not_found);
  EXPECT_EQ(fs().rename(root_ / "f", root_ / "g").error().code(), Errc::not_found);
  EXPECT_EQ(fs().sync_directory(root_ / "d").error().code(), Errc::not_found);
  EXPECT_EQ(*fs().entry_type(root_ / "d" / "f"), EntryType::none);
}

TEST_P(FilesystemEdges, AFileIsNotADirectory) {
  ASSERT_TRUE(write_synced(fs(), root_ / "f", "x"));
  auto listed = fs().list_directory(root_ / "f");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code(), Errc::io_error);
  auto made = fs().create_directories(root_ / "f");
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().code(), Errc::already_exists);
  EXPECT_FALSE(fs().create_directories(root_ / "f" / "below"));
  EXPECT_FALSE(fs().open(root_ / "f" / "below", OpenMode::create));
  EXPECT_EQ(*fs().entry_type(root_ / "f" / "below"), EntryType::none);
}

TEST_P(FilesystemEdges, ListingShowsDirectChildrenOnlyInByteOrder) {
  ASSERT_TRUE(fs().create_directories(root_ / "d" / "sub" / "deeper"));
  for (const char* name : {"b", "B", "a.log", "a", "a-0"}) {
    ASSERT_TRUE(write_synced(fs(), root_ / "d" / name, name));
  }
  ASSERT_TRUE(write_synced(fs(), root_ / "d" / "sub" / "hidden", "x"));
  auto names = fs().list_directory(root_ / "d");
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"B", "a", "a-0", "a.log", "b", "sub"}));
  names = fs().list_directory(root_ / "d" / "sub" / "deeper");
  ASSERT_TRUE(names);
  EXPECT_TRUE(names->empty());
}

TEST_P(FilesystemEdges, PathsAreComparedAfterNormalizing) {
  ASSERT_TRUE(fs().create_directories(root_ / "a" / "." / "b" / ""));
  EXPECT_EQ(*fs().entry_type(root_ / "a" / "b"), EntryType::directory);
  ASSERT_TRUE(write_synced(fs(), root_ / "a" / "b" / "f", "x"));
  EXPECT_EQ(read_all(fs(), root_ / "a" / "." / "b" / "f"), "x");
  EXPECT_TRUE(fs().sync_directory(root_ / "a" / "b" / ""));
}

TEST_P(FilesystemEdges, RenameMovesADirectoryWithEverythingInIt) {
  ASSERT_TRUE(fs().create_directories(root_ / "p" / "sub"));
  ASSERT_TRUE(write_synced(fs(), root_ / "p" / "f", "one"));
  ASSERT_TRUE(write_synced(fs(), root_ / "p" / "sub" / "g", "two"));
  ASSERT_TRUE(fs().rename(root_ / "p", root_ / "p.deleted"));
  EXPECT_EQ(*fs().entry_type(root_ / "p"), EntryType::none);
  EXPECT_EQ(*fs().list_directory(root_ / "p.deleted"), (std::vector<std::string>{"f", "sub"}));
  EXPECT_EQ(read_all(fs(), root_ / "p.deleted" / "sub" / "g"), "two");
  EXPECT_EQ(*fs().list_directory(root_), (std::vector<std::string>{"p.deleted"}));
}

TEST_P(FilesystemEdges, RenameRefusesWhatPosixRefuses) {
  ASSERT_TRUE(fs().create_directories(root_ / "d" / "inner"));
  ASSERT_TRUE(fs().create_directories(root_ / "empty"));
  ASSERT_TRUE(write_synced(fs(), root_ / "f", "x"));
  EXPECT_EQ(fs().rename(root_ / "f", root_ / "d").error().code(), Errc::io_error);  // EISDIR
  EXPECT_EQ(fs().rename(root_ / "d", root_ / "f").error().code(), Errc::io_error);  // ENOTDIR
  EXPECT_EQ(fs().rename(root_ / "d", root_ / "d" / "inner" / "x").error().code(),
            Errc::io_error);  // EINVAL: into itself
  EXPECT_EQ(fs().rename(root_ / "f", root_ / "nodir" / "f").error().code(), Errc::not_found);
  EXPECT_FALSE(fs().rename(root_ / "empty", root_ / "d"));  // ENOTEMPTY (or EEXIST)
  EXPECT_EQ(read_all(fs(), root_ / "f"), "x");
  EXPECT_EQ(*fs().entry_type(root_ / "d" / "inner"), EntryType::directory);
  // What POSIX allows: onto itself, and a directory over an empty one.
  ASSERT_TRUE(fs().rename(root_ / "f", root_ / "f"));
  EXPECT_EQ(read_all(fs(), root_ / "f"), "x");
  ASSERT_TRUE(fs().rename(root_ / "d", root_ / "empty"));
  EXPECT_EQ(*fs().entry_type(root_ / "empty" / "inner"), EntryType::directory);
  EXPECT_EQ(*fs().entry_type(root_ / "d"), EntryType::none);
}

TEST_P(FilesystemEdges, AnOpenFileSurvivesItsRenameAndItsRemoval) {
  ASSERT_TRUE(write_synced(fs(), root_ / "a", "abc"));
  auto f = fs().open(root_ / "a", OpenMode::read_write);
  ASSERT_TRUE(f);
  ASSERT_TRUE(fs().rename(root_ / "a", root_ / "b"));
  ASSERT_TRUE((*f)->append(to_bytes("d")));
  EXPECT_EQ(read_all(fs(), root_ / "b"), "abcd");
  ASSERT_TRUE(fs().remove(root_ / "b"));
  std::vector<std::byte> out(4);
  EXPECT_EQ(*(*f)->read_at(0, out), 4U);  // like an unlinked inode
  EXPECT_EQ(*fs().entry_type(root_ / "b"), EntryType::none);
}

TEST_P(FilesystemEdges, WriteFileAtomicReplacesAndLeavesNoTemporary) {
  ASSERT_TRUE(write_file_atomic(fs(), root_ / "state", to_bytes("a longer first version")));
  ASSERT_TRUE(write_file_atomic(fs(), root_ / "state", to_bytes("short")));
  EXPECT_EQ(read_all(fs(), root_ / "state"), "short");  // the old tail is gone
  ASSERT_TRUE(write_file_atomic(fs(), root_ / "empty", {}));
  EXPECT_EQ(read_all(fs(), root_ / "empty"), "");
  EXPECT_EQ(*fs().list_directory(root_), (std::vector<std::string>{"empty", "state"}));
  auto exact = read_file(fs(), root_ / "state", 5);  // the limit is inclusive
  ASSERT_TRUE(exact);
  EXPECT_EQ(text(*exact), "short");
  EXPECT_EQ(read_file(fs(), root_ / "state", 4).error().code(), Errc::limit_exceeded);
  EXPECT_EQ(write_file_atomic(fs(), root_ / "nodir" / "state", to_bytes("x")).error().code(),
            Errc::not_found);
}

TEST_P(FilesystemEdges, TruncateBeyondTheEndReadsAsZeros) {
  auto f = fs().open(root_ / "f", OpenMode::create);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->truncate(4));
  ASSERT_TRUE((*f)->append(to_bytes("x")));  // appends after the zeros
  EXPECT_EQ((*f)->size(), 5U);
  EXPECT_EQ(read_all(fs(), root_ / "f"), std::string(4, '\0') + "x");
  ASSERT_TRUE((*f)->truncate(0));
  EXPECT_EQ((*f)->size(), 0U);
  EXPECT_EQ(read_all(fs(), root_ / "f"), "");
}

INSTANTIATE_TEST_SUITE_P(PosixAndMem, FilesystemEdges, ::testing::Values(true, false),
                         [](const auto& param_info) { return param_info.param ? "Posix" : "Mem"; });

// ---------------------------------------------------------------------------
// PosixFs only.

TEST(PosixFs, FilesAreCloseOnExecAndCreatedWithModes0644And0755) {
  TempDir dir;
  auto posix = make_posix_fs();
  const mode_t mask = ::umask(0);
  ::umask(mask);
  auto f = posix->open(dir.path() / "f", OpenMode::create_exclusive);
  ASSERT_TRUE(f);
  ASSERT_GE((*f)->native_handle(), 0);
  EXPECT_NE(::fcntl((*f)->native_handle(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_TRUE(posix->create_directories(dir.path() / "a" / "b"));
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0644U & ~mask);
  ASSERT_EQ(::stat((dir.path() / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0755U & ~mask);
}

TEST(PosixFs, ASymlinkIsAnotherKindOfEntryAndRemovingItKeepsItsTarget) {
  TempDir dir;
  auto posix = make_posix_fs();
  ASSERT_TRUE(write_synced(*posix, dir.path() / "target", "x"));
  ASSERT_EQ(::symlink("target", (dir.path() / "link").c_str()), 0);
  EXPECT_EQ(*posix->entry_type(dir.path() / "link"), EntryType::other);
  ASSERT_TRUE(posix->remove(dir.path() / "link"));
  EXPECT_EQ(*posix->entry_type(dir.path() / "link"), EntryType::none);
  EXPECT_EQ(read_all(*posix, dir.path() / "target"), "x");
}

void ignore_signal(int /*signal*/) {}

// RLIMIT_FSIZE makes the kernel write a prefix, then fail with EFBIG: a real
// torn append, after which size() must be what reached the file.
TEST(PosixFs, AfterATornAppendTheSizeIsWhatReachedTheFile) {
  TempDir dir;
  auto posix = make_posix_fs();
  auto f = posix->open(dir.path() / "f", OpenMode::create);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->append(std::vector<std::byte>(1000, std::byte{'a'})));
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  if (old_limit.rlim_cur != RLIM_INFINITY && old_limit.rlim_cur < 4096) {
    GTEST_SKIP() << "file size limit already below 4096";
  }
  struct sigaction quiet {};
  quiet.sa_handler = ignore_signal;  // SIGXFSZ would kill the test
  struct sigaction old_action {};
  ASSERT_EQ(::sigaction(SIGXFSZ, &quiet, &old_action), 0);
  rlimit small = old_limit;
  small.rlim_cur = 1500;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto torn = (*f)->append(std::vector<std::byte>(1000, std::byte{'b'}));
  const std::uint64_t size_after = (*f)->size();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &old_action, nullptr), 0);
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().code(), Errc::io_error);  // EFBIG
  EXPECT_EQ(size_after, 1500U);
  ASSERT_TRUE((*f)->append(to_bytes("c")));  // right after the torn prefix
  const std::string all = read_all(*posix, dir.path() / "f");
  EXPECT_EQ(all, std::string(1000, 'a') + std::string(500, 'b') + "c");
}

TEST(PosixFs, SyncingTheEmptyDirectoryNameSyncsTheWorkingDirectory) {
  auto posix = make_posix_fs();
  EXPECT_TRUE(posix->sync_directory(""));
}

// ---------------------------------------------------------------------------
// MemFs: the durability model.

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
  fs_.crash();
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

TEST(MemFs, FilesHaveNoNativeHandle) {
  MemFs mem;
  auto f = mem.open("f", OpenMode::create);  // relative names live under ""
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->native_handle(), -1);
  EXPECT_EQ(*mem.list_directory(""), std::vector<std::string>{"f"});
  EXPECT_EQ(*mem.entry_type(""), EntryType::directory);
}

// ---------------------------------------------------------------------------
// FaultyFs.

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
  EXPECT_TRUE(f->append(to_bytes("b")));
  EXPECT_EQ(faulty_.faults_fired(), 1U);
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

// ---------------------------------------------------------------------------
// TempDir.

TEST(TempDir, MakesAFreshDirectoryAndRemovesItWithItsContents) {
  fs::path made;
  {
    TempDir a;
    TempDir b;
    made = a.path();
    EXPECT_NE(a.path(), b.path());
    EXPECT_TRUE(fs::is_directory(a.path()));
    EXPECT_TRUE(a.path().filename().string().starts_with("spate-test-"));
    auto posix = make_posix_fs();
    ASSERT_TRUE(posix->create_directories(a.path() / "x" / "y"));
    ASSERT_TRUE(write_synced(*posix, a.path() / "x" / "y" / "f", "data"));
  }
  std::error_code ec;
  EXPECT_FALSE(fs::exists(made, ec));
}

TEST(TempDir, AKeptDirectoryStays) {
  fs::path made;
  {
    TempDir kept;
    kept.keep();
    made = kept.path();
  }
  std::error_code ec;
  EXPECT_TRUE(fs::is_directory(made, ec));
  fs::remove_all(made, ec);
}

TEST(TempDir, LivesUnderTmpdir) {
  TempDir outer;
  const char* old = std::getenv("TMPDIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ASSERT_EQ(::setenv("TMPDIR", outer.path().c_str(), 1), 0);
  fs::path inner_path;
  {
    TempDir inner;
    inner_path = inner.path();
  }
  if (saved) {
    ::setenv("TMPDIR", saved->c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  EXPECT_EQ(inner_path.parent_path(), outer.path());
}

}  // namespace
}  // namespace spate::storage
