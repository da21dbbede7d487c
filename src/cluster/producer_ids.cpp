// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/producer_ids.h"

#include <chrono>
#include <limits>

#include "spate/common/bytes.h"
#include "spate/common/log.h"
#include "spate/storage/data_dir.h"
#include "spate/storage/envelope.h"

namespace spate::cluster {
namespace {

constexpr std::uint32_t kMagic = 0x53505049;  // "SPPI"
constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kFileBytesMax = 64;
// Waits for another caller's block write, at most this long in all.
constexpr auto kPersistWaitMax = std::chrono::minutes(1);

}  // namespace

std::vector<std::byte> ProducerIds::encode(std::int64_t next_block) {
  ByteWriter out(10);
  out.write<std::uint16_t>(0);
  out.write<std::int64_t>(next_block);
  return out.release();
}

Result<std::int64_t> ProducerIds::decode(std::span<const std::byte> body) {
  ByteReader in(body);
  auto reserved = in.read<std::uint16_t>();
  auto next = in.read<std::int64_t>();
  if (!reserved || !next || *reserved != 0 || *next < 0 || !in.empty()) {
    return Error::corrupt("producer.ids: not a reserved u16 and a non-negative i64");
  }
  return *next;
}

Result<std::unique_ptr<ProducerIds>> ProducerIds::open(storage::Filesystem& fs,
                                                       const std::filesystem::path& data_dir,
                                                       DiskThread& disk,
                                                       asio::any_io_executor shard) {
  const auto path = data_dir / storage::kProducerIdsFile;
  std::int64_t next = 0;
  auto file = storage::read_envelope(fs, path, kMagic, kVersion, kFileBytesMax);
  if (file) {
    auto decoded = decode(file->body);
    if (!decoded)
      return Error::corrupt(fmt::format("{}: {}", path.string(), decoded.error().detail()));
    next = *decoded;
  } else if (file.error().code() != Errc::not_found) {
    return file.error();
  }
  log::get(log::Module::cluster)->info("producer ids continue from {}", next);
  return std::unique_ptr<ProducerIds>(new ProducerIds(fs, path, disk, std::move(shard), next));
}

awaitable<Status> ProducerIds::persist_block() {
  if (block_end_ > std::numeric_limits<std::int64_t>::max() - kProducerIdBlock) {
    co_return Error::limit("every producer id has been handed out");
  }
  persisting_ = true;
  const std::int64_t end = block_end_ + kProducerIdBlock;
  auto result = std::make_shared<Status>();
  std::function<void()> job = [this, end, result] {
    *result = storage::write_envelope(fs_, path_, kMagic, kVersion, encode(end));
  };
  co_await disk_.run(std::move(job), shard_);
  persisting_ = false;
  if (*result) block_end_ = end;
  persisted_.notify_all();
  co_return *result;
}

awaitable<Result<std::int64_t>> ProducerIds::allocate() {
  const auto give_up = std::chrono::steady_clock::now() + kPersistWaitMax;
  // Bounded by give_up: each pass hands out an id, fails, or waits for a
  // write that completes (the disk thread never drops work).
  while (next_ >= block_end_) {
    if (persisting_) {
      if (std::chrono::steady_clock::now() >= give_up) {
        co_return Error(Errc::timeout, "the producer id block is still being written");
      }
      co_await persisted_.wait_at_most(std::chrono::seconds(1));
      continue;
    }
    if (auto s = co_await persist_block(); !s) co_return s.error();
  }
  co_return next_++;
}

}  // namespace spate::cluster
