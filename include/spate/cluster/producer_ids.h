// SPDX-License-Identifier: Apache-2.0
//
// ProducerIds: hands out idempotent producer ids (InitProducerId) that are
// never handed out twice by one data directory, across restarts and kill -9.
// Ids are taken in blocks: `<data_dir>/producer.ids` holds the first id of
// the next block, and is written durably (on the disk thread) before any id
// of a new block is given out. A restart starts at that block, skipping what
// was left of the last one (docs/idempotence.md).

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "spate/cluster/disk_thread.h"
#include "spate/common/asio.h"
#include "spate/common/result.h"
#include "spate/net/signal.h"
#include "spate/storage/file.h"

namespace spate::cluster {

inline constexpr std::int64_t kProducerIdBlock = 1000;

class ProducerIds {
 public:
  // Reads `<data_dir>/producer.ids` (none: a new directory, ids from 0).
  // Errors: corrupt_log for a damaged file (refusing to guess which ids were
  // used), io_error.
  [[nodiscard]] static Result<std::unique_ptr<ProducerIds>> open(
      storage::Filesystem& fs, const std::filesystem::path& data_dir, DiskThread& disk,
      asio::any_io_executor shard);

  // A new id. Persists the next block first when the current one is used
  // up; concurrent callers wait for that write. Errors: io_error or no_space
  // writing the file (nothing handed out), limit_exceeded when every id is
  // used, timeout if another caller's write did not finish within a minute.
  awaitable<Result<std::int64_t>> allocate();

  // Whether `id` may have been handed out (by this run or an earlier one):
  // an id at or past next() never was.
  [[nodiscard]] bool issued(std::int64_t id) const { return id >= 0 && id < next_; }
  [[nodiscard]] std::int64_t next() const { return next_; }

  // The body of producer.ids and back (docs/storage-format.md).
  [[nodiscard]] static std::vector<std::byte> encode(std::int64_t next_block);
  [[nodiscard]] static Result<std::int64_t> decode(std::span<const std::byte> body);

 private:
  ProducerIds(storage::Filesystem& fs, std::filesystem::path path, DiskThread& disk,
              asio::any_io_executor shard, std::int64_t next)
      : fs_(fs),
        path_(std::move(path)),
        disk_(disk),
        shard_(std::move(shard)),
        next_(next),
        block_end_(next) {}
  awaitable<Status> persist_block();

  storage::Filesystem& fs_;
  std::filesystem::path path_;
  DiskThread& disk_;
  asio::any_io_executor shard_;
  std::int64_t next_;       // the next id to hand out
  std::int64_t block_end_;  // ids below it are covered by the file
  bool persisting_ = false;
  net::Signal persisted_;
};

}  // namespace spate::cluster
