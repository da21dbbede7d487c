// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/partition.h"

#include "spate/common/log.h"
#include "spate/storage/log_cleaner.h"

namespace spate::cluster {

Partition::Partition(storage::TopicPartition id, std::unique_ptr<storage::PartitionLog> log,
                     asio::any_io_executor shard, DiskThread& disk)
    : id_(std::move(id)), log_(std::move(log)), shard_(std::move(shard)), disk_(disk) {
  // Keep the term of the log: a restarted single node continues in the same
  // term (Raft will own this number later).
  term_ = std::max(Term(1), log_->last_term());
  load_producers();
}

Result<storage::AppendResult> Partition::append(std::span<std::byte> batch,
                                                protocol::DecompressBudget* budget) {
  if (closed_)
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  auto duplicate = check_producer(batch);
  if (!duplicate) return duplicate.error();
  if (*duplicate) return **duplicate;
  auto result = log_->append(batch, term_, budget);
  if (!result) {
    if (log_->fenced()) committed_.notify_all();
    if (!log_->fenced() && !log_->writable() &&
        storage::is_transient_storage_error(result.error())) {
      // A full disk or no descriptors: the batch was not appended, and the
      // log takes writes again by itself. `busy` reaches producers as
      // REQUEST_TIMED_OUT, which every client retries (kafka-python 2.0.2
      // does not know KAFKA_STORAGE_ERROR and fails the send); docs/limits.md.
      // Waiters are not woken: what they wait for still becomes durable.
      return Error(Errc::busy,
                   fmt::format("partition {}: {}", id_.dir_name(), result.error().message()));
    }
    return result.error();
  }
  appended_bytes_ += batch.size();
  record_producer(batch, *result);
  if (log_->config().flush_policy == storage::FlushPolicy::always) {
    flush_soon();
  } else {
    committed_.notify_all();  // the high watermark is the log end
    flush_if_many(*result);
  }
  return result;
}

void Partition::flush_if_many(const storage::AppendResult& appended) {
  const auto& config = log_->config();
  if (config.flush_policy != storage::FlushPolicy::interval) return;
  unflushed_records_ += (appended.last_offset - appended.base_offset) + 1;
  if (unflushed_records_ >= config.flush_messages) flush_soon();
}

Offset Partition::high_watermark() const {
  if (log_->config().flush_policy == storage::FlushPolicy::always) {
    return std::max(log_->start_offset(), log_->flushed_end_offset());
  }
  return log_->end_offset();
}

awaitable<Status> Partition::wait_committed(Offset end, Clock::SteadyTime deadline) {
  auto self = shared_from_this();  // alive across the suspension
  // Bounded by the deadline: each pass either returns or waits until it.
  while (true) {
    if (closed_) {
      co_return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
    }
    if (log_->fenced()) {
      co_return Error::fenced(fmt::format("partition {}: the log failed", id_.dir_name()));
    }
    if (high_watermark() >= end || log_->end_offset() < end) co_return Status{};
    const auto now = log_->clock().steady_now();
    if (now >= deadline) {
      co_return Error(Errc::timeout,
                      fmt::format("partition {}: not durable before the deadline", id_.dir_name()));
    }
    co_await committed_.wait_at_most(deadline - now);
  }
}

awaitable<Status> Partition::advance_start(Offset to) {
  auto self = shared_from_this();  // alive across the suspensions
  // Bounded: a start ticket in flight completes (the disk thread never stops early).
  while (start_in_flight_ && !closed_) {
    co_await flush_idle_.wait_at_most(std::chrono::seconds(1));
  }
  if (closed_) {
    co_return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  }
  auto begun = log_->begin_advance_start(to);
  if (!begun) co_return begun.error();
  if (begun->empty()) co_return Status{};
  start_in_flight_ = true;
  auto ticket = std::make_shared<storage::StartTicket>(std::move(*begun));
  auto persisted = std::make_shared<Status>();
  // A named job, not a temporary in the co_await (see DiskThread::run).
  std::function<void()> job = [ticket, persisted] { *persisted = ticket->persist(); };
  co_await disk_.run(std::move(job), shard_);
  start_in_flight_ = false;
  auto finished = log_->finish_advance_start(*ticket, *persisted);
  flush_idle_.notify_all();
  co_return finished;
}

Result<std::optional<storage::TimestampHit>> Partition::find_offset_by_timestamp(
    std::int64_t timestamp) {
  if (closed_)
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  auto hit = log_->find_offset_by_timestamp(timestamp);
  if (!hit) return hit.error();
  if (*hit && (*hit)->offset >= high_watermark()) return std::optional<storage::TimestampHit>{};
  return hit;
}

PartitionStatus Partition::status() const {
  return PartitionStatus{.start = log_->start_offset(),
                         .end = log_->end_offset(),
                         .high_watermark = high_watermark(),
                         .size_bytes = log_->size_bytes(),
                         .segments = log_->segment_count(),
                         .fenced = log_->fenced(),
                         .writable = log_->writable()};
}

Result<storage::ReadResult> Partition::read(Offset from, std::uint64_t bytes_max) {
  if (closed_)
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  if (from < log_->start_offset() || from > log_->end_offset()) {
    return Error::out_of_range(fmt::format("offset {} outside [{}, {}] of {}", from,
                                           log_->start_offset(), log_->end_offset(),
                                           id_.dir_name()));
  }
  const Offset hw = high_watermark();
  if (from >= hw) return storage::ReadResult{{}, from};
  return log_->read(from, bytes_max, hw);
}

void Partition::flush_soon() {
  if (closed_ || log_->fenced()) return;
  if (flush_in_flight_) {
    flush_again_ = true;  // group commit: the next flush covers this too
    return;
  }
  start_flush();
}

void Partition::start_flush() {
  unflushed_records_ = 0;
  auto ticket = std::make_shared<storage::FlushTicket>(log_->begin_flush());
  if (ticket->empty()) {
    // Nothing to sync: finish at once so the log's bookkeeping advances.
    (void)log_->finish_flush(*ticket, Status{});
    committed_.notify_all();
    return;
  }
  flush_in_flight_ = true;
  flush_again_ = false;
  auto result = std::make_shared<Status>();
  auto self = shared_from_this();
  disk_.submit([ticket, result] { *result = ticket->sync(); }, shard_,
               [self, ticket, result] { self->flush_done(*ticket, *result); });
}

void Partition::flush_done(const storage::FlushTicket& ticket, const Status& result) {
  flush_in_flight_ = false;
  if (auto s = log_->finish_flush(ticket, result); !s && !closed_) {
    log::get(log::Module::cluster)
        ->error("[{}] flush failed, partition fenced: {}", id_.dir_name(), s.error().message());
  }
  committed_.notify_all();
  if (!closed_ && !log_->fenced() && (flush_again_ || log_->flush_due())) start_flush();
  if (!flush_in_flight_) flush_idle_.notify_all();
}

void Partition::tick() {
  if (closed_ || log_->fenced()) return;
  auto logger = log::get(log::Module::cluster);
  // After a full disk or exhausted descriptors the log refuses writes; it
  // retries, with backoff, from here (and from the next append).
  (void)log_->resume_writes();  // the log logs the refusal and the resumption
  if (log_->writable()) {
    if (auto s = log_->maybe_roll(); !s) {  // the log says when it rolls
      logger->error("[{}] roll failed: {}", id_.dir_name(), s.error().message());
      return;
    }
  }
  auto retention = log_->apply_retention();
  if (!retention) {
    logger->error("[{}] retention failed: {}", id_.dir_name(), retention.error().message());
  } else if (retention->segments_deleted > 0) {
    logger->info("[{}] retention deleted {} segments ({} bytes), start offset now {}",
                 id_.dir_name(), retention->segments_deleted, retention->bytes_deleted,
                 log_->start_offset());
  }
  if (log_->flush_due()) flush_soon();
  producers_tick();
  maybe_clean();
}

awaitable<Status> Partition::close() {
  co_await stop();
  co_return close_log();
}

awaitable<void> Partition::stop() {
  auto self = shared_from_this();
  closed_ = true;
  // Bounded: a flush or start ticket in flight completes (the disk thread
  // never stops early); a compaction pass stops at its next group.
  if (clean_task_) clean_task_->cancel();
  while (flush_in_flight_ || start_in_flight_ || snapshot_in_flight_ || clean_task_) {
    co_await flush_idle_.wait_at_most(std::chrono::seconds(1));
  }
  committed_.notify_all();
}

Status Partition::close_log() {
  if (log_->fenced()) {
    return Error::fenced(
        fmt::format("partition {}: log fenced, not closed cleanly", id_.dir_name()));
  }
  auto closed = log_->close();
  if (closed) snapshot_producers_now();
  return closed;
}

}  // namespace spate::cluster
