// SPDX-License-Identifier: Apache-2.0

#include "spate/storage/file_cache.h"

#include <algorithm>
#include <cerrno>

namespace spate::storage {

bool is_transient_storage_error(const Error& error) {
  if (error.code() == Errc::no_space) return true;  // ENOSPC, EDQUOT
  const int err = error.system_errno();
  return err == EMFILE || err == ENFILE;
}

FileCache::FileCache(Filesystem& fs, std::size_t capacity)
    : fs_(fs), capacity_(std::max<std::size_t>(capacity, 1)) {}

std::uint64_t FileCache::new_owner() {
  std::lock_guard lock(mutex_);
  return next_owner_++;
}

void FileCache::evict_locked(std::size_t keep) {
  // Bounded by the entries kept.
  while (lru_.size() > keep) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

Result<std::shared_ptr<File>> FileCache::get(std::uint64_t owner, std::int64_t base,
                                             const std::filesystem::path& path) {
  const Key key{owner, base};
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->file;
  }
  evict_locked(capacity_ - 1);
  auto file = fs_.open(path, OpenMode::read_only);
  const int err = file ? 0 : file.error().system_errno();
  if ((err == EMFILE || err == ENFILE) && !lru_.empty()) {
    // Out of descriptors: give back half of ours and try once more (a full
    // disk is not helped by closing files: that error is the caller's).
    evict_locked(lru_.size() / 2);
    file = fs_.open(path, OpenMode::read_only);
  }
  if (!file) return file.error();
  ++opens_;
  lru_.push_front(Entry{key, *file});
  index_[key] = lru_.begin();
  return *file;
}

void FileCache::forget(std::uint64_t owner, std::int64_t base) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(Key{owner, base}); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
}

void FileCache::forget_owner(std::uint64_t owner) {
  std::lock_guard lock(mutex_);
  // Bounded by the entries kept.
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->key.owner == owner) {
      index_.erase(it->key);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t FileCache::open_count() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

std::uint64_t FileCache::opens() const {
  std::lock_guard lock(mutex_);
  return opens_;
}

}  // namespace spate::storage
