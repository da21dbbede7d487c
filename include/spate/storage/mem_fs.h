// SPDX-License-Identifier: Apache-2.0
//
// MemFs: an in-memory Filesystem that remembers what was made durable, so that
// a test can simulate a crash or power loss (style.md §2.4, reliability.md S2).
// Lives in storage (not tests/support) so that benchmarks and the simulator of
// later modules can use it too; it has no production caller.

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "spate/storage/file.h"

namespace spate::storage {

// Durability model:
//  - a file's bytes are durable up to its last sync(); truncation is durable
//    at the next sync() as well;
//  - a created or renamed name is durable once its parent directory is synced
//    (sync_directory); a removal is durable at once (pessimistic for
//    retention, harmless for recovery);
//  - a rename is atomic: until it is durable (either directory synced), a
//    crash puts the entry back under its old name, and a target it replaced
//    comes back too;
//  - entries in the root ("/", or "" for relative paths) need
//    sync_directory("/") (or "") like any other.
// crash() throws away everything not durable, keeping, per file, as many of
// the unsynced appended bytes as `keep_unsynced` says (0 = drop them all: the
// plain crash; k = a torn write that reached the disk up to byte k). Exactly:
// when the file is now longer than its durable bytes, it keeps the first
// durable size + min(k, difference) bytes of its *current* data (after an
// unsynced truncate-and-append that prefix holds the new bytes); otherwise
// its durable bytes come back.
//
// Paths are compared after lexically_normal(); there are no symlinks.
// Files hold references into their MemFs: use them only while it lives.
// A file is at most 16 GiB (EFBIG, io_error, beyond).
class MemFs final : public Filesystem {
 public:
  MemFs();
  ~MemFs() override;

  [[nodiscard]] Result<std::shared_ptr<File>> open(const std::filesystem::path& path,
                                                   OpenMode mode) override;
  [[nodiscard]] Status create_directories(const std::filesystem::path& path) override;
  [[nodiscard]] Result<std::vector<std::string>> list_directory(
      const std::filesystem::path& path) override;
  [[nodiscard]] Result<EntryType> entry_type(const std::filesystem::path& path) override;
  [[nodiscard]] Status remove(const std::filesystem::path& path) override;
  [[nodiscard]] Status rename(const std::filesystem::path& source,
                              const std::filesystem::path& target) override;
  [[nodiscard]] Status sync_directory(const std::filesystem::path& path) override;

  // Receives (path, unsynced byte count) and returns how many of those bytes
  // survive the crash (clamped to the count). Asked only about files with
  // unsynced bytes, once each, with the MemFs locked: it must not call it.
  using KeepUnsynced = std::function<std::uint64_t(const std::filesystem::path&, std::uint64_t)>;

  // Simulates power loss. Open File objects from before the crash must not be
  // used afterwards (they fail with io_error).
  void crash(const KeepUnsynced& keep_unsynced = {});

  // Test helpers: the current bytes of a file; overwriting bytes in place (to
  // corrupt data) in both the current and the durable bytes, extending either
  // with zeros if needed; and setting the size of both (truncate or zero-extend).
  // Errors: not_found, io_error for a directory.
  [[nodiscard]] Result<std::vector<std::byte>> contents(const std::filesystem::path& path);
  [[nodiscard]] Status corrupt(const std::filesystem::path& path, std::uint64_t position,
                               std::span<const std::byte> bytes);
  [[nodiscard]] Status set_size_durable(const std::filesystem::path& path, std::uint64_t size);

  // Preallocation (File::preallocate): the bytes a file holds on "disk", its
  // size or more where space was reserved past it (Errors: not_found); and
  // whether preallocate() works (true by default; false: as on a file system
  // without fallocate, it returns false).
  [[nodiscard]] Result<std::uint64_t> allocated_bytes(const std::filesystem::path& path);
  void set_preallocate_supported(bool supported);

  // Descriptor accounting, like RLIMIT_NOFILE: how many File handles are
  // alive, the most since set_open_files_max(), and a cap past which open()
  // fails with EMFILE (0 = none, the default).
  [[nodiscard]] std::size_t open_files() const;
  [[nodiscard]] std::size_t open_files_peak() const;
  void set_open_files_max(std::size_t max);

  struct Node;  // private: src/storage/mem_fs.cpp

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Node>> nodes_;  // by normalized path
  // Old names of renames not yet durable: where crash() puts them back.
  std::map<std::string, std::shared_ptr<Node>> ghosts_;
  std::uint64_t generation_ = 0;  // bumped by crash()
  std::size_t open_files_ = 0;    // live File handles
  std::size_t open_files_peak_ = 0;
  std::size_t open_files_max_ = 0;
  bool preallocate_supported_ = true;
};

}  // namespace spate::storage
