// SPDX-License-Identifier: Apache-2.0
//
// Partition: its idempotent producers (storage/producer_state.h). The check
// and the record run in Partition::append on the shard, with the log's append
// between them and no suspension, so no other append to the partition can
// come between the check and the append. A retry of a batch appended but not
// yet durable finds it in the state and waits for those offsets
// (wait_committed) instead of appending again.

#include <limits>

#include "spate/cluster/partition.h"
#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"

namespace spate::cluster {
namespace {

// A snapshot at least this often while producers change, besides one per roll.
constexpr auto kSnapshotPeriod = std::chrono::minutes(1);
// A scan at open that read this much is worth a snapshot right away.
constexpr std::uint64_t kCostlyScanBytes = 64U << 20U;
// Expiry passes (each walks every producer of the partition).
constexpr auto kExpiryPeriod = std::chrono::minutes(1);

storage::ProducerStateLimits limits_of(const storage::LogConfig& config) {
  return {.producers_max = config.producer_ids_max,
          .expiration_ms = config.producer_id_expiration_ms};
}

// The header of a batch with a producer id whose sequence the state can
// judge; nullopt otherwise (no producer id, or a header the log refuses).
std::optional<protocol::BatchHeader> producer_header(std::span<const std::byte> batch) {
  if (batch.size() < protocol::kBatchHeaderBytes) return std::nullopt;
  auto header = protocol::decode_batch_header(batch, std::numeric_limits<std::int32_t>::max());
  if (!header || header->producer_id < 0 || header->producer_epoch < 0 ||
      header->base_sequence < 0 || header->is_control()) {
    return std::nullopt;
  }
  return *header;
}

}  // namespace

void Partition::load_producers() {
  producers_ = storage::ProducerState(limits_of(log_->config()));
  auto logger = log::get(log::Module::cluster);
  auto loaded =
      storage::load_producer_state(log_->filesystem(), *log_, producers_, log_->clock().wall_ms());
  if (!loaded) {
    // Only a log that cannot be read gets here; its producers start afresh
    // (each accepted at any sequence once), which is what expiry does too.
    logger->error("[{}] cannot rebuild the producer state, starting empty: {}", id_.dir_name(),
                  loaded.error().message());
    producers_ = storage::ProducerState(limits_of(log_->config()));
    producers_.set_end_offset(log_->end_offset());
    return;
  }
  if (loaded->snapshot_problem) {
    logger->warn("[{}] producer snapshot not used, rebuilt from the log: {}", id_.dir_name(),
                 *loaded->snapshot_problem);
  }
  if (loaded->batches_replayed > 0 || producers_.size() > 0) {
    logger->info("[{}] producer state: {} producers ({} snapshot, {} batches replayed)",
                 id_.dir_name(), producers_.size(), loaded->snapshot_used ? "from the" : "no",
                 loaded->batches_replayed);
  }
  // After a long scan the next tick writes a snapshot, so that the next start
  // after a crash does not scan all that again. (Not after every scan: at the
  // first start of many partitions that would queue an fsync for each.)
  const bool rescan_costly = !loaded->snapshot_used && loaded->bytes_read >= kCostlyScanBytes;
  snapshot_segments_ = rescan_costly ? 0 : log_->segment_count();
  snapshot_end_ = rescan_costly ? Offset(0) : log_->end_offset();
  snapshot_at_ = log_->clock().steady_now();
  expired_at_ = snapshot_at_;
}

Result<std::optional<storage::AppendResult>> Partition::check_producer(
    std::span<const std::byte> batch) const {
  auto header = producer_header(batch);
  if (!header) return std::optional<storage::AppendResult>{};
  const std::int32_t last_seq =
      storage::increment_sequence(header->base_sequence, header->last_offset_delta);
  auto verdict = producers_.check(header->producer_id, header->producer_epoch,
                                  header->base_sequence, last_seq);
  if (!verdict) {
    return Error(verdict.error().code(),
                 fmt::format("partition {}: {}", id_.dir_name(), verdict.error().detail()));
  }
  if (!*verdict) return std::optional<storage::AppendResult>{};
  // Answered as the original was: under LogAppendTime its maxTimestamp, as
  // recorded, is the time the log stamped it with. (The topic's type now
  // decides: a retry after message.timestamp.type changed follows the new one.)
  const std::int64_t append_time = log_->config().log_append_time ? (*verdict)->max_timestamp : -1;
  return std::optional(storage::AppendResult{.base_offset = (*verdict)->first_offset,
                                             .last_offset = (*verdict)->last_offset,
                                             .log_append_time_ms = append_time,
                                             .duplicate = true});
}

void Partition::record_producer(std::span<const std::byte> batch,
                                const storage::AppendResult& appended) {
  // The bytes as stored: the log may have corrected maxTimestamp.
  auto header = producer_header(batch);
  if (!header) return;
  const storage::ProducerBatch meta{
      .first_seq = header->base_sequence,
      .last_seq = storage::increment_sequence(header->base_sequence, header->last_offset_delta),
      .first_offset = appended.base_offset,
      .last_offset = appended.last_offset,
      .max_timestamp = header->max_timestamp};
  producers_.set_limits(limits_of(log_->config()));
  producers_.record(header->producer_id, header->producer_epoch, meta, log_->clock().wall_ms());
}

void Partition::producers_tick() {
  const auto now = log_->clock().steady_now();
  if (now - expired_at_ >= kExpiryPeriod) {
    expired_at_ = now;
    producers_.set_limits(limits_of(log_->config()));
    if (auto gone = producers_.expire(log_->clock().wall_ms()); gone > 0) {
      log::get(log::Module::cluster)
          ->info("[{}] {} producer ids expired, {} left", id_.dir_name(), gone, producers_.size());
    }
  }
  // After a roll or retention (also with no producer: it bounds what the
  // next start after a crash replays), or a while after producers changed.
  // Not while the state holds batches the log does not (yet, or any more).
  if (snapshot_in_flight_ || log_->end_offset() == snapshot_end_ || producers_stale_ || pending_ ||
      !queued_.empty()) {
    return;
  }
  const bool segments_changed = log_->segment_count() != snapshot_segments_;
  if (!segments_changed && (!producers_.dirty() || now - snapshot_at_ < kSnapshotPeriod)) return;
  snapshot_in_flight_ = true;
  snapshot_segments_ = log_->segment_count();
  snapshot_end_ = log_->end_offset();
  snapshot_at_ = now;
  producers_.set_end_offset(log_->end_offset());
  producers_.mark_clean();
  auto body = std::make_shared<std::vector<std::byte>>(producers_.encode());
  auto result = std::make_shared<Status>();
  auto self = shared_from_this();
  storage::Filesystem* fs = &log_->filesystem();
  disk_.submit([fs, dir = log_->dir(), body,
                result] { *result = storage::write_producer_snapshot(*fs, dir, *body); },
               shard_,
               [self, result] {
                 self->snapshot_in_flight_ = false;
                 if (!*result) {
                   // Not fatal: the next restart replays more of the log.
                   log::get(log::Module::cluster)
                       ->warn("[{}] producer snapshot not written: {}", self->id_.dir_name(),
                              result->error().message());
                 }
                 self->flush_idle_.notify_all();
               });
}

void Partition::snapshot_producers_now() {
  // Otherwise the next start rebuilds it from the log.
  if (producers_stale_ || !queued_.empty()) return;
  producers_.set_end_offset(log_->end_offset());
  if (auto s =
          storage::write_producer_snapshot(log_->filesystem(), log_->dir(), producers_.encode());
      !s) {
    log::get(log::Module::cluster)
        ->warn("[{}] producer snapshot not written at close (the next start replays the log): {}",
               id_.dir_name(), s.error().message());
  }
}

}  // namespace spate::cluster
