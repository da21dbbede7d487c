// SPDX-License-Identifier: Apache-2.0
//
// FaultyFs: wraps another Filesystem and makes chosen calls fail the way disks
// do: EIO or ENOSPC on the Nth call, an append that writes only a prefix
// before failing (a torn write). Crash simulation stays with MemFs.

#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "spate/storage/file.h"

namespace spate::storage {

// Which calls a fault may hit. Bits, combinable.
enum class FaultOp : std::uint32_t {
  open = 1U << 0U,
  read = 1U << 1U,
  append = 1U << 2U,
  truncate = 1U << 3U,
  sync = 1U << 4U,
  // create_directories, list, remove, rename, sync_directory. entry_type (a
  // stat) is never counted and never fails.
  directory = 1U << 5U,
  preallocate = 1U << 6U,
  all = 0xFFFFFFFFU,
};

struct FaultPlan {
  // The fault fires on the `countdown`-th matching call from now (1 = the next;
  // 0 acts as 1).
  std::uint64_t countdown = 1;
  std::uint32_t ops = static_cast<std::uint32_t>(FaultOp::all);
  int err = 5;  // errno: EIO (5) or ENOSPC (28)
  // For an append that fails: how many of its bytes reach the file first.
  std::uint64_t torn_append_bytes = 0;
  // Keep failing every matching call after the first fault (a dead disk).
  bool sticky = false;
};

// Thread-safe. Files opened through a FaultyFs are wrapped, and share its plan.
class FaultyFs final : public Filesystem {
 public:
  explicit FaultyFs(Filesystem& base);
  ~FaultyFs() override;

  void inject(const FaultPlan& plan);
  void clear();
  // How many faults fired since construction.
  [[nodiscard]] std::uint64_t faults_fired() const;
  // A fault that fired: the call, its path (a rename's source) and the path
  // of the call just before it (any kind, failed or not), so that a test can
  // tell which operation of a sequence it hit.
  struct Fired {
    FaultOp op = FaultOp::open;
    std::filesystem::path path;
    std::filesystem::path previous_path;
    int err = 0;
  };
  // The faults fired since the last call (the first 16 of them), oldest first.
  [[nodiscard]] std::vector<Fired> take_fired();
  // How many calls of the given kinds have been made (to choose a countdown).
  [[nodiscard]] std::uint64_t calls(std::uint32_t ops) const;

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

  // Used by the wrapped files: counts the call and says whether it fails
  // (and, for appends, how many bytes to let through first).
  struct Decision {
    bool fail = false;
    int err = 0;
    std::uint64_t torn_bytes = 0;
  };
  [[nodiscard]] Decision check(FaultOp op, const std::filesystem::path& path);

 private:
  Filesystem& base_;
  mutable std::mutex mutex_;
  std::optional<FaultPlan> plan_;
  bool dead_ = false;
  std::uint64_t fired_ = 0;
  std::vector<Fired> fired_log_;
  std::filesystem::path last_path_;
  std::uint64_t counts_[7] = {};  // one per FaultOp bit (kOpKinds in faulty_fs.cpp)
};

}  // namespace spate::storage
