// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog under log.preallocate (Kafka's `preallocate` topic config): a
// new segment file gets its segment.bytes reserved on disk at creation
// (File::preallocate: fallocate keeping the size, so size() stays the logical
// end and every size the log accounts with, for rolls and retention, is what
// was written). Sealing the segment (a roll) or closing the log gives back
// what it did not use, as Kafka trims on roll. A crash can leave zeros past
// the last batch (space the file system extended but never wrote): recovery
// cuts them quietly, since they are neither data nor damage.

#include <algorithm>
#include <atomic>

#include "spate/common/log.h"
#include "spate/storage/partition_log.h"

#include "segment.h"

namespace spate::storage {
namespace {

constexpr std::size_t kZeroCheckChunk = 64 * 1024;

// One warning per process when the file system has no fallocate.
std::atomic<bool> unsupported_warned{false};

}  // namespace

void PartitionLog::preallocate_active() {
  active_preallocated_ = false;
  if (!config_.preallocate) return;
  const auto& file = active().pinned();
  if (!file) return;
  auto reserved = file->preallocate(config_.segment_bytes_max);
  auto logger = log::get(log::Module::storage);
  if (!reserved) {
    // Not fatal: the segment grows as it is written, as without preallocate;
    // a full disk shows at the append itself.
    logger->warn("[{}] preallocating {} bytes for {} failed, the segment grows as written: {}",
                 name_, config_.segment_bytes_max, file->path().string(),
                 reserved.error().message());
    return;
  }
  if (!*reserved) {
    if (!unsupported_warned.exchange(true)) {
      logger->warn("[{}] the file system cannot preallocate ({}): preallocate is ignored", name_,
                   file->path().parent_path().string());
    }
    return;
  }
  active_preallocated_ = true;
}

Status PartitionLog::trim_active() {
  if (!active_preallocated_ && !config_.preallocate) return {};
  const auto& file = active().pinned();
  if (!file) return {};
  // Truncating to the size the log wrote frees the reservation past it.
  if (auto s = file->truncate(active().size_bytes()); !s) return s;
  active_preallocated_ = false;
  return {};
}

Result<bool> PartitionLog::cut_unwritten_tail(File& file, std::uint64_t valid_end) {
  const std::uint64_t size = file.size();
  if (!config_.preallocate || valid_end >= size) return false;
  std::vector<std::byte> chunk(
      static_cast<std::size_t>(std::min<std::uint64_t>(kZeroCheckChunk, size - valid_end)));
  // Bounded by the file's size: each pass reads at least one byte or stops.
  for (std::uint64_t at = valid_end; at < size;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), size - at));
    auto n = file.read_at(at, std::span<std::byte>(chunk).first(want));
    if (!n) return n.error();
    if (*n == 0) break;
    const auto read = std::span<const std::byte>(chunk).first(*n);
    if (std::any_of(read.begin(), read.end(), [](std::byte b) { return b != std::byte{0}; })) {
      return false;
    }
    at += *n;
  }
  if (auto s = file.truncate(valid_end); !s) return s.error();
  log::get(log::Module::storage)
      ->info("[{}] recovery: {} bytes of unwritten preallocated space after the last batch of {}",
             name_, size - valid_end, file.path().filename().string());
  return true;
}

}  // namespace spate::storage
