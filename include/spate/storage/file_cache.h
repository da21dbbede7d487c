// SPDX-License-Identifier: Apache-2.0
//
// FileCache: the descriptor budget of sealed segments. A sealed segment holds
// no open file; reads borrow one from this cache, which keeps at most
// `capacity` files open across every log that shares it (least recently used
// first out), so that 10,000 segments need not hold 10,000 descriptors
// (docs/limits.md, --max-open-segment-files).

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "spate/common/result.h"
#include "spate/storage/file.h"

namespace spate::storage {

// Thread-safety: every member may be called from any thread (logs opened in
// parallel at start share one cache). A file handed out stays usable after it
// is evicted: the descriptor closes when its last holder (a FileSlice being
// sent, a flush ticket) lets go, so the cap bounds what the cache keeps, not
// what readers hold for a moment.
class FileCache {
 public:
  FileCache(Filesystem& fs, std::size_t capacity);

  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;

  // A new owner id (one per PartitionLog): entries are keyed by owner and
  // segment base, never by path alone, so a log that replaced a deleted one in
  // the same folder never gets the old log's file.
  [[nodiscard]] std::uint64_t new_owner();

  // The file of (owner, base) at `path`, opened read-only on a miss. On
  // EMFILE/ENFILE it closes half of what it keeps and tries once more.
  // Errors: the file system's (not_found, io_error).
  [[nodiscard]] Result<std::shared_ptr<File>> get(std::uint64_t owner, std::int64_t base,
                                                  const std::filesystem::path& path);

  // Drops one entry (the segment was deleted, truncated into or became active)
  // or every entry of an owner (the log was closed or dropped).
  void forget(std::uint64_t owner, std::int64_t base);
  void forget_owner(std::uint64_t owner);

  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  // Files the cache keeps open now.
  [[nodiscard]] std::size_t open_count() const;
  // Opens since construction (misses), for tests and metrics.
  [[nodiscard]] std::uint64_t opens() const;

 private:
  struct Key {
    std::uint64_t owner = 0;
    std::int64_t base = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return std::hash<std::uint64_t>()(k.owner * 0x9E3779B97F4A7C15ULL ^
                                        static_cast<std::uint64_t>(k.base));
    }
  };
  struct Entry {
    Key key;
    std::shared_ptr<File> file;
  };
  void evict_locked(std::size_t keep);

  Filesystem& fs_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first; guarded by mutex_
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index_;  // guarded by mutex_
  std::uint64_t next_owner_ = 1;                                        // guarded by mutex_
  std::uint64_t opens_ = 0;                                             // guarded by mutex_
};

// Whether a failed write, open or truncate may succeed later without a
// restart: the disk or quota was full (ENOSPC, EDQUOT) or descriptors ran out
// (EMFILE, ENFILE). Never true for EIO, and never consulted for a failed
// fsync: after one the page cache state is unknown (PostgreSQL's "fsyncgate"),
// so that always fences.
[[nodiscard]] bool is_transient_storage_error(const Error& error);

}  // namespace spate::storage
