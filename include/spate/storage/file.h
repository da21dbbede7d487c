// SPDX-License-Identifier: Apache-2.0
//
// Filesystem and File: the only way storage touches files (style.md §2.4).
// Implementations: PosixFs (real), MemFs (in memory, can simulate a crash),
// FaultyFs (wraps another and injects EIO/ENOSPC and torn writes).

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spate/common/result.h"

namespace spate::storage {

// An open file. Thread-safety: every member may be called from any thread;
// the storage module has one writer per file, and FlushTicket::sync() calls
// sync() on the disk thread while the owner keeps appending.
class File {
 public:
  virtual ~File() = default;

  // Reads up to out.size() bytes at `position`; returns how many were read,
  // fewer only at end of file.
  // Errors: io_error.
  [[nodiscard]] virtual Result<std::size_t> read_at(std::uint64_t position,
                                                    std::span<std::byte> out) const = 0;

  // Writes all of `data` at the end of the file. On error some prefix of
  // `data` may have been written (a torn write): the caller must treat the
  // file as damaged past its old size.
  // Errors: io_error, no_space.
  [[nodiscard]] virtual Status append(std::span<const std::byte> data) = 0;

  // Sets the size to `size_bytes` (shrinks or zero-extends).
  // Errors: io_error.
  [[nodiscard]] virtual Status truncate(std::uint64_t size_bytes) = 0;

  // Reserves disk space for the file up to `size_bytes` without changing
  // size() or what reads see (Linux fallocate with FALLOC_FL_KEEP_SIZE): a
  // preallocated segment (log.preallocate). truncate() gives back what lies
  // past the new size, also when that is the current size. Returns false,
  // reserving nothing, where the file system cannot (EOPNOTSUPP).
  // Errors: io_error, no_space.
  [[nodiscard]] virtual Result<bool> preallocate(std::uint64_t size_bytes) = 0;

  // Makes the data written so far durable (fdatasync).
  // Errors: io_error, no_space. After an error the durable contents are unknown.
  [[nodiscard]] virtual Status sync() = 0;

  // The current size, including bytes not yet durable.
  [[nodiscard]] virtual std::uint64_t size() const = 0;

  // A file descriptor usable with sendfile(2), or -1 when the file has none
  // (in-memory files). Valid while this File lives.
  [[nodiscard]] virtual int native_handle() const { return -1; }

  // When the file was last written, in wall-clock milliseconds since the
  // epoch, if the file system keeps it (in-memory files do not).
  [[nodiscard]] virtual std::optional<std::int64_t> modified_ms() const { return std::nullopt; }

  [[nodiscard]] virtual const std::filesystem::path& path() const = 0;
};

// A byte range of a file, kept alive by a shared reference: what reads return,
// ready to be handed to sendfile(2) or read with read_at().
struct FileSlice {
  std::shared_ptr<File> file;
  std::uint64_t position = 0;
  std::uint64_t size = 0;

  [[nodiscard]] bool empty() const { return size == 0; }
  // Reads the whole slice into memory.
  // Errors: io_error; malformed if the file is shorter than the slice.
  [[nodiscard]] Result<std::vector<std::byte>> read_all() const;
};

enum class OpenMode : std::uint8_t {
  read_only,        // must exist
  read_write,       // must exist
  create,           // read-write; created if missing, kept if present
  create_exclusive  // read-write; fails with already_exists if present
};

enum class EntryType : std::uint8_t { none, file, directory, other };

// Thread-safety: every member may be called from any thread.
class Filesystem {
 public:
  virtual ~Filesystem() = default;

  // Errors: not_found (read_only/read_write of a missing file), already_exists,
  // io_error.
  [[nodiscard]] virtual Result<std::shared_ptr<File>> open(const std::filesystem::path& path,
                                                           OpenMode mode) = 0;

  // Creates the directory and any missing parents; fine if it exists.
  [[nodiscard]] virtual Status create_directories(const std::filesystem::path& path) = 0;

  // Names (not paths) of the entries of a directory, sorted.
  // Errors: not_found, io_error.
  [[nodiscard]] virtual Result<std::vector<std::string>> list_directory(
      const std::filesystem::path& path) = 0;

  // What is at `path` (none if nothing).
  [[nodiscard]] virtual Result<EntryType> entry_type(const std::filesystem::path& path) = 0;

  // Removes a file or an empty directory. Errors: not_found, io_error.
  [[nodiscard]] virtual Status remove(const std::filesystem::path& path) = 0;

  // Atomically renames, replacing `target` if it exists.
  [[nodiscard]] virtual Status rename(const std::filesystem::path& source,
                                      const std::filesystem::path& target) = 0;

  // Makes the directory's entries (creations, renames, removals) durable.
  [[nodiscard]] virtual Status sync_directory(const std::filesystem::path& path) = 0;
};

// Replaces `path` with `contents` durably: writes `path`.tmp, syncs it,
// renames it over `path`, and syncs the parent directory. On failure the
// temporary file is removed (best effort) and `path` is the old file, unless
// only the directory sync failed: then `*replaced` (if given) is set, and
// `path` holds the new contents (durable or not).
[[nodiscard]] Status write_file_atomic(Filesystem& fs, const std::filesystem::path& path,
                                       std::span<const std::byte> contents,
                                       bool* replaced = nullptr);

// Reads a whole (small) file. Errors: not_found, io_error, limit_exceeded if
// it is larger than `bytes_max`.
[[nodiscard]] Result<std::vector<std::byte>> read_file(Filesystem& fs,
                                                       const std::filesystem::path& path,
                                                       std::size_t bytes_max);

// The real file system (POSIX calls: pread, pwrite, fdatasync, ftruncate,
// Linux fallocate).
[[nodiscard]] std::unique_ptr<Filesystem> make_posix_fs();

}  // namespace spate::storage
