// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/partition.h"

#include "spate/common/log.h"
#include "spate/storage/log_cleaner.h"

namespace spate::cluster {

Partition::Partition(storage::TopicPartition id, std::unique_ptr<storage::PartitionLog> log,
                     asio::any_io_executor shard, DiskThread& disk, PartitionRaftConfig raft)
    : id_(std::move(id)), log_(std::move(log)), shard_(std::move(shard)), disk_(disk) {
  load_producers();
  start_raft(std::move(raft));
}

Result<storage::AppendResult> Partition::append(std::span<std::byte> batch,
                                                protocol::DecompressBudget* budget) {
  if (closed_)
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  if (!confirmed_leader()) {
    refused_produce_at_ = log_->clock().steady_now();
    return Error(Errc::not_leader,
                 fmt::format("partition {}: this replica is not its leader", id_.dir_name()));
  }
  if (transferring()) {
    // Handing over: what the old leader accepted now might not reach the
    // target before it campaigns. The producer retries at the new leader.
    refused_produce_at_ = log_->clock().steady_now();
    return Error(
        Errc::not_leader,
        fmt::format("partition {}: handing leadership to another replica", id_.dir_name()));
  }
  auto duplicate = check_producer(batch);
  if (!duplicate) {
    // A sequence gap right after this replica refused produce as not the
    // leader is most likely of its own making: a client's pipelined batch
    // refused just before it took over, and the next one arriving just
    // after. OUT_OF_ORDER_SEQUENCE_NUMBER there is fatal to librdkafka
    // 2.0.2 (fixed in 2.3.0); NOT_LEADER_OR_FOLLOWER makes it re-send both
    // in order. For a short while only: a real gap still gets its error.
    if (duplicate.error().code() == Errc::out_of_order_sequence && refused_produce_at_ &&
        log_->clock().steady_now() - *refused_produce_at_ < kGapAfterRefusal) {
      return Error(Errc::not_leader,
                   fmt::format("partition {}: a sequence gap just after this replica refused "
                               "produce as not the leader ({})",
                               id_.dir_name(), duplicate.error().message()));
    }
    return duplicate.error();
  }
  if (*duplicate) return **duplicate;
  const raft::Index next = next_index();
  std::vector<std::byte> rewritten;
  auto prepared = log_->prepare_append(batch, Offset(next), replica_->term(), rewritten, budget);
  if (!prepared) {
    if (log_->fenced()) committed_.notify_all();
    if (!log_->fenced() && !log_->writable() &&
        storage::is_transient_storage_error(prepared.error())) {
      // A full disk or no descriptors: the batch was not appended, and the
      // log takes writes again by itself. `busy` reaches producers as
      // REQUEST_TIMED_OUT, which every client retries (kafka-python 2.0.2
      // does not know KAFKA_STORAGE_ERROR and fails the send); docs/limits.md.
      // Waiters are not woken: what they wait for still becomes durable.
      return Error(Errc::busy,
                   fmt::format("partition {}: {}", id_.dir_name(), prepared.error().message()));
    }
    return prepared.error();
  }
  const auto& header = prepared->header;
  const auto span = static_cast<std::int32_t>(header.last_offset_delta + 1);
  storage::AppendResult result{header.base(), header.last_offset()};
  if (header.log_append_time()) result.log_append_time_ms = header.max_timestamp;
  result.term = replica_->term();
  Proposal proposal{std::vector<std::byte>(prepared->bytes.begin(), prepared->bytes.end()), span,
                    next + span};
  appended_bytes_ += proposal.batch.size();
  queued_.push_back(std::move(proposal));
  queued_span_ += span;
  if (!pending_) {
    propose_queued();
    process_ready();
  }
  if (raft_failed_ || log_->fenced()) {
    return Error::fenced(fmt::format("partition {}: the log failed", id_.dir_name()));
  }
  // Recorded as accepted even if the disk stalls the write below: it is
  // stored when the log recovers, and a retry must find it.
  record_producer(batch, result);
  if (pending_ && pending_->stalled) {
    // Proposed, but the disk refused the write: it is stored once the log
    // recovers (a producer that retries may store it twice, as after a
    // timeout; an idempotent one does not).
    return Error(Errc::busy, fmt::format("partition {}: {}", id_.dir_name(),
                                         log_->write_block() ? log_->write_block()->message()
                                                             : std::string("writes refused")));
  }
  flush_if_many(result);
  return result;
}

void Partition::flush_if_many(const storage::AppendResult& appended) {
  const auto& config = log_->config();
  if (config.flush_policy != storage::FlushPolicy::interval) return;
  unflushed_records_ += (appended.last_offset - appended.base_offset) + 1;
  if (unflushed_records_ >= config.flush_messages) flush_soon();
}

Offset Partition::high_watermark() const { return std::max(log_->start_offset(), hw_); }

awaitable<Status> Partition::wait_committed(Offset end, Clock::SteadyTime deadline, Term term) {
  auto self = shared_from_this();  // alive across the suspension
  // Bounded by the deadline: each pass either returns or waits until it.
  while (true) {
    if (closed_) {
      co_return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
    }
    if (log_->fenced() || raft_failed_) {
      co_return Error::fenced(fmt::format("partition {}: the log failed", id_.dir_name()));
    }
    if (term.value() >= 0 && replica_->term() != term && high_watermark() < end) {
      // A proposal of an earlier term that did not commit in it may still
      // commit under a later leader, or be replaced: never acknowledged here.
      co_return Error(Errc::not_leader,
                      fmt::format("partition {}: leadership changed (term {} -> {}) before "
                                  "offset {} committed",
                                  id_.dir_name(), term, replica_->term(), end - 1));
    }
    if (term.value() >= 0 && replica_->role() != raft::Role::leader && high_watermark() < end) {
      // The same within the term: a leader that lost its quorum steps down
      // (check_quorum) before any new term reaches it. Answered now, not at
      // the deadline: REQUEST_TIMED_OUT reads as "possibly persisted" to
      // librdkafka, which up to 2.2 then skips the batch's sequence
      // (docs/idempotence.md); NOT_LEADER_OR_FOLLOWER is retried as it was.
      co_return Error(Errc::not_leader,
                      fmt::format("partition {}: this replica stopped leading (term {}) before "
                                  "offset {} committed",
                                  id_.dir_name(), term, end - 1));
    }
    if (high_watermark() >= end) {
      if (term.value() >= 0 && end > log_->start_offset() && view_->term(end.value()) != term) {
        co_return Error(Errc::not_leader,
                        fmt::format("partition {}: the batch ending at offset {} was replaced "
                                    "by a new leader's log",
                                    id_.dir_name(), end - 1));
      }
      co_return Status{};
    }
    if (log_->end_offset() < end && !pending_ && queued_.empty()) {
      co_return Error(Errc::not_leader, fmt::format("partition {}: offset {} is no longer in the "
                                                    "log (truncated by a new leader)",
                                                    id_.dir_name(), end - 1));
    }
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
  // Bounded: a raft.state write in flight completes (the disk thread never
  // stops early); keep_start_membership refuses if it has not by then.
  for (int i = 0; i < 100 && state_write_in_flight() && !closed_; ++i) {
    co_await flush_idle_.wait_at_most(std::chrono::milliseconds(10));
  }
  if (closed_) {
    co_return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  }
  // The membership at the new start, recorded before the start moves.
  if (to > log_->start_offset() && to <= log_->end_offset()) {
    if (auto s = keep_start_membership(to); !s) co_return s;
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
  if (finished && view_) view_->forget_below_start();
  flush_idle_.notify_all();
  co_return finished;
}

void Partition::set_start_snapshot(std::vector<std::byte> snapshot) {
  view_->state().start_snapshot = std::move(snapshot);
}

const std::vector<std::byte>& Partition::start_snapshot() const {
  return view_->state().start_snapshot;
}

Result<std::optional<storage::TimestampHit>> Partition::find_offset_by_timestamp(
    std::int64_t timestamp) {
  if (closed_)
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  if (!serving_reads()) {
    return Error(Errc::not_leader,
                 fmt::format("partition {}: this replica is not its leader", id_.dir_name()));
  }
  auto hit = log_->find_offset_by_timestamp(timestamp);
  if (!hit) return hit.error();
  if (*hit && (*hit)->offset >= high_watermark()) return std::optional<storage::TimestampHit>{};
  return hit;
}

PartitionStatus Partition::status() const {
  const NodeId leader = replica_->leader();
  const bool serving = leader != raft::kNoNode && !raft_failed_ &&
                       serving_term_ == replica_->term() &&
                       (leader != replica_->id() || serving_reads());
  return PartitionStatus{.start = log_->start_offset(),
                         .end = log_->end_offset(),
                         .high_watermark = high_watermark(),
                         .size_bytes = log_->size_bytes(),
                         .segments = log_->segment_count(),
                         .fenced = log_->fenced() || raft_failed_,
                         .writable = log_->writable(),
                         .leader_epoch = replica_->term(),
                         .leader = leader,
                         .serving_leader = serving ? leader : NodeId(-1),
                         .durable_end = log_->flushed_end_offset()};
}

Result<storage::ReadResult> Partition::read(Offset from, std::uint64_t bytes_max) {
  if (closed_)
    return Error(Errc::shutting_down, fmt::format("partition {} is closing", id_.dir_name()));
  if (!serving_reads()) {
    // A follower's high watermark lags its leader's: serving it could show a
    // consumer less than it saw before (and a deposed leader, stale data).
    return Error(
        Errc::not_leader,
        fmt::format("partition {}: this replica is not its leader{}", id_.dir_name(),
                    confirmed_leader() ? " (no majority heard within its read lease)" : ""));
  }
  return read_local(from, bytes_max);
}

Result<storage::ReadResult> Partition::read_local(Offset from, std::uint64_t bytes_max) {
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
  if (ready_done()) {
    complete_ready();
    process_ready();
  }
  committed_.notify_all();
  if (!closed_ && !log_->fenced() && !flush_in_flight_ && (flush_again_ || log_->flush_due())) {
    start_flush();
  }
  if (!flush_in_flight_) flush_idle_.notify_all();
}

void Partition::tick() {
  if (closed_ || log_->fenced()) return;
  const auto now = log_->clock().steady_now();
  ++ticks_;
  if (read_lease_.count() > 0 && ticks_ > 1 && now - last_tick_ > read_lease_) {
    stalled_tick_ = ticks_;  // see lease_held
  }
  last_tick_ = now;
  // A leadership that ended without a new term (check_quorum) wakes its
  // acks=all waiters (wait_committed answers them).
  const bool leading = replica_->role() == raft::Role::leader;
  if (was_leading_ && !leading) committed_.notify_all();
  was_leading_ = leading;
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
  // Raft deletes only committed entries: a follower may still need the rest
  // from this replica if it leads next. The membership at the new start is
  // recorded first (retention_bound).
  auto retention = log_->apply_retention(retention_bound(high_watermark()));
  if (!retention) {
    logger->error("[{}] retention failed: {}", id_.dir_name(), retention.error().message());
  } else if (retention->segments_deleted > 0) {
    if (view_) view_->forget_below_start();
    logger->info("[{}] retention deleted {} segments ({} bytes), start offset now {}",
                 id_.dir_name(), retention->segments_deleted, retention->bytes_deleted,
                 log_->start_offset());
  }
  if (log_->flush_due()) flush_soon();
  if (pending_ && pending_->stalled && log_->writable()) {
    continue_ready();
    process_ready();
  }
  if (pending_ && !raft_failed_) {
    // Given to the replica after the Ready, in order (complete_ready).
    if (inbox_.size() >= kInboxMax) inbox_.pop_front();
    inbox_.emplace_back();
  } else if (!raft_failed_) {
    replica_->tick();
    count_raft_events();
    process_ready();
  }
  if (!raft_failed_) sample_followers();
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
  // The commit index, so that a restart starts from it (raft.state is
  // otherwise written only when the term or vote changes).
  if (!raft_failed_) {
    if (auto s = write_state_now(); !s) {
      log::get(log::Module::cluster)
          ->warn("[{}] raft.state not written at close: {}", id_.dir_name(), s.error().message());
    }
  }
  auto closed = log_->close();
  if (closed) snapshot_producers_now();
  return closed;
}

}  // namespace spate::cluster
