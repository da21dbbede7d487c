// SPDX-License-Identifier: Apache-2.0
//
// The Filesystem contract on PosixFs and MemFs alike (open modes, append, read
// and truncate, directories, renames, atomic replace, and their edges), what
// only PosixFs does (modes, symlinks, a real torn append), and TempDir.
// MemFs's durability model: mem_fs_test.cpp; FaultyFs: faulty_fs_test.cpp.

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/storage/file.h"
#include "spate/storage/mem_fs.h"

#include "support/fs_testing.h"
#include "support/temp_dir.h"

namespace spate::storage {
namespace {

using spate::testing::read_all;
using spate::testing::TempDir;
using spate::testing::text;
using spate::testing::write_synced;

namespace fs = std::filesystem;

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

  TempDir tmp_;
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

TEST_P(FilesystemContract, AReadOnlyFileRefusesWritesAndKeepsItsSize) {
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

TEST_P(FilesystemContract, ReopeningAFileKeepsItsBytesAndAppendsAtTheEnd) {
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

TEST_P(FilesystemContract, ReadsAtAndPastTheEndReturnNothing) {
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

TEST_P(FilesystemContract, ADirectoryCannotBeOpenedAsAFile) {
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

TEST_P(FilesystemContract, MissingThingsAreNotFound) {
  EXPECT_EQ(fs().open(root_ / "f", OpenMode::read_write).error().code(), Errc::not_found);
  EXPECT_EQ(read_file(fs(), root_ / "f", 10).error().code(), Errc::not_found);
  EXPECT_EQ(fs().list_directory(root_ / "d").error().code(), Errc::not_found);
  EXPECT_EQ(fs().remove(root_ / "f").error().code(), Errc::not_found);
  EXPECT_EQ(fs().rename(root_ / "f", root_ / "g").error().code(), Errc::not_found);
  EXPECT_EQ(fs().sync_directory(root_ / "d").error().code(), Errc::not_found);
  EXPECT_EQ(*fs().entry_type(root_ / "d" / "f"), EntryType::none);
}

TEST_P(FilesystemContract, AFileIsNotADirectory) {
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

TEST_P(FilesystemContract, ListingShowsDirectChildrenOnlyInByteOrder) {
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

TEST_P(FilesystemContract, PathsAreComparedAfterNormalizing) {
  ASSERT_TRUE(fs().create_directories(root_ / "a" / "." / "b" / ""));
  EXPECT_EQ(*fs().entry_type(root_ / "a" / "b"), EntryType::directory);
  ASSERT_TRUE(write_synced(fs(), root_ / "a" / "b" / "f", "x"));
  EXPECT_EQ(read_all(fs(), root_ / "a" / "." / "b" / "f"), "x");
  EXPECT_TRUE(fs().sync_directory(root_ / "a" / "b" / ""));
}

TEST_P(FilesystemContract, RenameMovesADirectoryWithEverythingInIt) {
  ASSERT_TRUE(fs().create_directories(root_ / "p" / "sub"));
  ASSERT_TRUE(write_synced(fs(), root_ / "p" / "f", "one"));
  ASSERT_TRUE(write_synced(fs(), root_ / "p" / "sub" / "g", "two"));
  ASSERT_TRUE(fs().rename(root_ / "p", root_ / "p.deleted"));
  EXPECT_EQ(*fs().entry_type(root_ / "p"), EntryType::none);
  EXPECT_EQ(*fs().list_directory(root_ / "p.deleted"), (std::vector<std::string>{"f", "sub"}));
  EXPECT_EQ(read_all(fs(), root_ / "p.deleted" / "sub" / "g"), "two");
  EXPECT_EQ(*fs().list_directory(root_), (std::vector<std::string>{"p.deleted"}));
}

TEST_P(FilesystemContract, RenameRefusesWhatPosixRefuses) {
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

TEST_P(FilesystemContract, AnOpenFileSurvivesItsRenameAndItsRemoval) {
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

TEST_P(FilesystemContract, WriteFileAtomicReplacesAndLeavesNoTemporary) {
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

TEST_P(FilesystemContract, TruncateBeyondTheEndReadsAsZeros) {
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

INSTANTIATE_TEST_SUITE_P(PosixAndMem, FilesystemContract, ::testing::Values(true, false),
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
