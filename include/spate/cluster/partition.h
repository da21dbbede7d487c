// SPDX-License-Identifier: Apache-2.0
//
// Partition: one partition's log as the broker uses it, on its shard
// (design.md, Threading). Appends run on the shard thread; fsync runs on the
// disk thread as group commit: while one flush is in flight, every append
// made meanwhile waits for the next, which covers them all.
//
// Every partition is a Raft group (design.md, Replication; docs/cluster.md):
// its log is the Raft log (PartitionRaftLog), a produced batch is proposed by
// the leader and stored when the replica's Ready says so, and the high
// watermark is the Raft commit index. A Ready's entries are made durable on
// the disk thread (group commit: one Ready at a time; what arrives meanwhile
// is queued and proposed together after it) before its messages go and
// advance() is called; under flush.policy `interval`/`none` a Ready counts as
// durable once written, as the log end did before. Today every group has one
// voter (this node), which leads as soon as it opens.

#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "spate/cluster/disk_thread.h"
#include "spate/cluster/leader_epochs.h"
#include "spate/cluster/log_cleaner.h"
#include "spate/cluster/raft_log.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/common/rng.h"
#include "spate/net/signal.h"
#include "spate/raft/replica.h"
#include "spate/storage/data_dir.h"
#include "spate/storage/partition_log.h"
#include "spate/storage/producer_state.h"

namespace spate::cluster {

// What the broker reports about a partition (Metadata, /metrics).
struct PartitionStatus {
  Offset start;
  Offset end;
  Offset high_watermark;
  std::uint64_t size_bytes = 0;
  std::size_t segments = 0;
  bool fenced = false;   // a failed fsync or EIO: reads only, until a restart
  bool writable = true;  // false while writes are refused (full disk, no descriptors)
  Term leader_epoch{0};  // the Raft term
  NodeId leader{-1};     // the leader this replica knows (-1: none)
  // `leader` once this replica knows it serves: it has committed an entry of
  // its term (on a follower: the commit index it sent covers one). Between
  // an election and that commit the winner refuses produce and fetch with
  // NOT_LEADER_OR_FOLLOWER, so Metadata must not send clients to it yet.
  NodeId serving_leader{-1};
  Offset durable_end;  // flushed to disk on this replica
};

// What a Kafka client's Fetch gets of a partition (Partition::read_for_client):
// the batches as stored (a file region), or a copy of them in which Raft's
// membership entries are empty batches.
struct ClientRead {
  storage::FileSlice bytes;
  std::vector<std::byte> substitute;  // non-empty: send this instead of `bytes`
  Offset next_offset;
};

// Raft events of a broker's partitions, summed over them (for /metrics):
// shared by every Partition given it, so that a partition closed or deleted
// takes nothing back.
struct RaftCounters {
  // Elections this broker's replicas started (became candidates).
  std::atomic<std::uint64_t> elections{0};
  // A replica here learned of a new leader (another node or a new term).
  std::atomic<std::uint64_t> leader_changes{0};
};

// A partition's Raft group as this node sees it.
struct PartitionRaftConfig {
  NodeId self{0};
  // The membership the replica starts with when its own durable Raft state
  // holds none (no membership entry in its log, no start membership in
  // raft.state); otherwise raft takes the latest of those. A replica that
  // joins a group is opened as one of the learners.
  std::vector<NodeId> voters{NodeId(0)};
  std::vector<NodeId> learners{};
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  // A follower is in sync while it caught up with the leader's log end
  // within this long (Kafka's replica.lag.time.max.ms).
  std::chrono::milliseconds replica_lag_max{30'000};
  // A leader serves reads (and is named in Metadata) only while a majority of
  // its voters, itself included, was heard from within this long: a leader
  // that was stopped (SIGSTOP, a stall) or cut off and does not know yet
  // that others elected a successor would otherwise answer a consumer that
  // already read further there with OFFSET_OUT_OF_RANGE, and the client
  // resets to the beginning. Below the election timeout (followers refuse
  // votes that long after hearing from their leader). 0: no lease.
  std::chrono::milliseconds read_lease{0};
  RaftCounters* counters = nullptr;  // outlives the partition; null: not counted
};

// What a leader knows of one follower (Partition::followers_progress).
struct FollowerProgress {
  NodeId node{-1};
  bool voter = false;
  raft::Index match = 0;  // its log matches the leader's up to this offset (its end)
  std::int64_t lag = 0;   // the leader's log end minus match
  bool in_sync = false;   // caught up within replica_lag_max
  // Since the last message from it (0 before the first tick of a term).
  std::chrono::milliseconds silent{0};
  bool operator==(const FollowerProgress&) const = default;
};

// The only door to a partition's log: handlers and the partition manager go
// through it, never around it (the Raft driver will sit here).
class Partition : public std::enable_shared_from_this<Partition> {
 public:
  // Reads raft.state beside the log (blocking: call where opening files is
  // fine); a group of one voter elects itself here, before the first append.
  Partition(storage::TopicPartition id, std::unique_ptr<storage::PartitionLog> log,
            asio::any_io_executor shard, DiskThread& disk, PartitionRaftConfig raft = {});

  [[nodiscard]] const storage::TopicPartition& id() const { return id_; }

  // Validates one batch and proposes it with this partition's term; it is
  // appended to the log with its Raft Ready (at once, or after the Ready in
  // flight). Errors: not_leader unless this replica is the confirmed leader
  // (it committed an entry of its term); the log's (malformed,
  // crc_mismatch, record_too_large, log_fenced, io_error, ...); busy while
  // the log refuses writes after a full disk or exhausted descriptors
  // (retriable: the batch was not appended, reads go on, and writes resume
  // by themselves). `budget`: see protocol::check_client_batch.
  // A batch with a producer id first passes the producer state (Kafka's
  // idempotence rules, storage/producer_state.h): a retry of one of the
  // producer's last 5 batches is not appended and answers the original
  // offsets with `duplicate` set (wait_committed on them as for an append);
  // out_of_order_sequence and invalid_producer_epoch refuse it.
  [[nodiscard]] Result<storage::AppendResult> append(std::span<std::byte> batch,
                                                     protocol::DecompressBudget* budget = nullptr);

  // Waits until every offset below `end` is committed (below the high
  // watermark) and, with `term` (AppendResult::term), still holds the batch
  // proposed in that term. Errors: timeout at the deadline; log_fenced if a
  // flush failed; not_leader if the batch was replaced (a new leader's log
  // won) or the partition lost its leadership before committing it.
  awaitable<Status> wait_committed(Offset end, Clock::SteadyTime deadline, Term term = Term(-1));

  // Whole batches from `from`, never past the high watermark, on the
  // confirmed leader only. Errors: not_leader; offset_out_of_range outside
  // [start, end]; the log's.
  [[nodiscard]] Result<storage::ReadResult> read(Offset from, std::uint64_t bytes_max);
  // The same on any replica, up to its own high watermark (for checks and
  // tools; clients read through read()).
  [[nodiscard]] Result<storage::ReadResult> read_local(Offset from, std::uint64_t bytes_max);

  // Kafka clients (partition_kafka.cpp; leader_epochs.h, docs/cluster.md).
  // read() as a Kafka consumer may see it: a Raft membership entry (a
  // control batch of type KRAFT_VOTERS, which kafka-python 2.0.2 would hand
  // to the application as a record) is never sent. A read holding one is
  // copied into `substitute` with each such batch replaced by an empty batch
  // of its offset and epoch (what a new leader's no-op is: every client
  // moves past it); any other read is the file region, for sendfile.
  // Errors: read()'s; corrupt_log if the read does not hold whole batches.
  // Reads stop at client_high_watermark().
  [[nodiscard]] Result<ClientRead> read_for_client(Offset from, std::uint64_t bytes_max);
  // The high watermark Kafka clients are told (Fetch, ListOffsets LATEST):
  // high_watermark(), less the trailing batches that hold nothing for them
  // (up to 16): a leader's no-op (a term whose committed part is one
  // record-less batch) and Raft's membership entries (read_for_client sends
  // them as empty batches). A consumer at the end then sits before them
  // with no lag and nothing to fetch, instead of fetching a batch with no
  // record: KafkaJS 2.2.4 fetched it again and again, kafka-python 2.0.2
  // failed with an IndexError or showed a lag it never consumed. Once
  // records follow, they are read with them and every client steps over.
  [[nodiscard]] Offset client_high_watermark() const;
  // OffsetForLeaderEpoch: `epoch_end_offset` (leader_epochs.h) over this
  // log, on the confirmed leader only. Errors: shutting_down; not_leader.
  [[nodiscard]] Result<EpochEnd> end_offset_for_epoch(std::int64_t epoch) const;
  // The epoch of the batch holding `offset` (ListOffsets' leader_epoch);
  // nullopt outside the log or where no term is known.
  [[nodiscard]] std::optional<Term> epoch_at(Offset offset) const;

  // Raises the start offset to `to` (DeleteRecords): in memory at once (reads
  // refuse what is below it), the start offset file on the disk thread, then
  // the segments below it are deleted. Returns once the new start is durable.
  // One at a time per partition: a second call waits for the first.
  // Errors: those of PartitionLog::advance_start; shutting_down.
  awaitable<Status> advance_start(Offset to);
  // A state machine's snapshot (the controller's) covering at least what
  // precedes the log's start: raft sends it with every restart of a follower
  // that lacks that prefix (Ready::restart), and raft.state keeps it. Set it
  // before advance_start moves the start past what the previous one covered.
  void set_start_snapshot(std::vector<std::byte> snapshot);
  [[nodiscard]] const std::vector<std::byte>& start_snapshot() const;

  // The first committed record whose timestamp is >= `timestamp` (ListOffsets
  // by time), or nullopt. Errors: the log's; shutting_down.
  [[nodiscard]] Result<std::optional<storage::TimestampHit>> find_offset_by_timestamp(
      std::int64_t timestamp);

  [[nodiscard]] Offset high_watermark() const;
  [[nodiscard]] Offset start_offset() const { return log_->start_offset(); }
  [[nodiscard]] Offset end_offset() const { return log_->end_offset(); }
  // REQUIRES: not closed (a closed partition's log belongs to whoever closes it).
  [[nodiscard]] PartitionStatus status() const;
  [[nodiscard]] bool fenced() const { return log_->fenced(); }

  [[nodiscard]] const storage::LogConfig& config() const { return log_->config(); }
  // Errors: invalid_argument (see PartitionLog::set_config).
  [[nodiscard]] Status set_config(const storage::LogConfig& config) {
    return log_->set_config(config);
  }

  // Where this replica's Raft messages go (the transport, or a test's
  // router); without one they are dropped (a group of one sends none).
  void set_sender(std::function<void(raft::Message)> sender) { sender_ = std::move(sender); }
  // A Raft message from a peer: stepped now, or after the Ready in flight.
  // A malformed one (not for this replica) is dropped and logged.
  void step(raft::Message message);
  // The transport lost a connection to `node`: if it is this replica's
  // leader, campaign at the minimum election timeout
  // (raft::Replica::leader_unreachable; docs/cluster.md, "Failover").
  void peer_unreachable(NodeId node);

  // The Raft term and whether this replica is the confirmed leader.
  // (The log's last term if replication failed before it started.)
  [[nodiscard]] Term term() const { return replica_ ? replica_->term() : log_->last_term(); }
  [[nodiscard]] bool leader() const { return confirmed_leader(); }
  // This replica's node, and whether it is its group's only voter.
  [[nodiscard]] NodeId node() const { return replica_->id(); }
  [[nodiscard]] bool sole_voter() const { return replica_->sole_voter(); }

  // Hands leadership to the voter `target` or, with kNoNode, to the voter
  // whose log is most caught up (one heard from recently first). Raft brings
  // the target's log up to date, then tells it to campaign at once; if that
  // does not happen within an election timeout, raft gives up and this
  // replica leads on. From this call until then, append() refuses with
  // not_leader (NOT_LEADER_OR_FOLLOWER, retriable): what was accepted before
  // is in the log the target receives, so nothing acknowledged is lost.
  // Returns the target, or kNoNode if there is none (a sole voter has
  // nothing to transfer). Errors: not_leader unless the confirmed leader;
  // invalid_argument if `target` is not another voter; shutting_down;
  // log_fenced after replication stopped.
  [[nodiscard]] Result<NodeId> transfer_leadership(NodeId target = raft::kNoNode);
  // A transfer started here is under way (produce is refused meanwhile).
  [[nodiscard]] bool transferring() const;
  // A broker that is stopping takes no leadership handed to it (TimeoutNow
  // is dropped): another broker's leader balancing may pick it as the
  // preferred replica while it hands its own partitions over. The transfer
  // then gives up and the leader leads on.
  void refuse_leadership() { refuse_leadership_ = true; }

  // In-sync replicas and follower progress (partition_sync.cpp). On the
  // confirmed leader: this node and every voter that caught up with the
  // leader's log end (as of the previous tick) within replica_lag_max and
  // was heard from then, in id order; empty elsewhere. A follower counts as
  // caught up from the start of a term, so a new leader's followers get the
  // whole lag time to show themselves.
  [[nodiscard]] std::vector<NodeId> in_sync_replicas() const;
  // On the leader, every other member's progress; empty elsewhere.
  [[nodiscard]] std::vector<FollowerProgress> followers_progress() const;

  // Replica movement (partition_membership.cpp; docs/cluster.md,
  // "Reassignment"). Proposes one Raft membership change (add a learner,
  // promote a learner, remove a member) on the confirmed leader: now, or
  // after the Ready in flight, in order with the batches queued before it.
  // Returns the index the entry gets. Should raft refuse it by then (an
  // earlier change still uncommitted, a learner too far behind...), a no-op
  // entry takes that index instead, so the offsets promised to the batches
  // queued after it still hold; the caller sees the membership unchanged
  // and tries again. Errors: not_leader; shutting_down; log_fenced; busy
  // during a leadership transfer or while an earlier change is uncommitted.
  [[nodiscard]] Result<raft::Index> change_membership(raft::MembershipChange change);
  // The latest membership in the log (appended, perhaps not committed), and
  // whether it is committed.
  [[nodiscard]] raft::Membership membership() const;
  [[nodiscard]] bool membership_committed() const;
  // On the leader, every other member's replication progress (empty elsewhere).
  [[nodiscard]] std::vector<raft::FollowerStatus> followers() const;
  // The last index in the log (appended, perhaps not committed).
  [[nodiscard]] raft::Index last_index() const { return replica_ ? replica_->last_index() : 0; }

  // Notified whenever the high watermark moves (or the log fails).
  [[nodiscard]] net::Signal& committed() { return committed_; }

  // Starts a flush now if there is anything to flush and none is in flight.
  void flush_soon();
  // Periodic work: resuming writes refused after a full disk or exhausted
  // descriptors (with backoff), roll by age, retention, interval flushes.
  void tick();

  // Waits for an in-flight flush, flushes, and closes the log. After this
  // the partition refuses appends and reads.
  awaitable<Status> close();
  // close() in two steps, for closing many partitions at once: stop() (on
  // the shard) refuses appends and reads and waits for the flush in flight;
  // close_log() then flushes and closes the log, and may run on any one
  // thread, since nothing else touches a stopped partition's log.
  awaitable<void> stop();
  [[nodiscard]] Status close_log();

  // Compaction: with a cleaner, tick() starts a pass on it when one is due
  // (cleanup.policy=compact) and stop() cancels it and waits.
  void set_cleaner(LogCleaner* cleaner) { cleaner_ = cleaner; }
  // Wall-clock ms of the last finished pass (0: none since start); below this
  // offset the log is compacted.
  [[nodiscard]] std::int64_t last_clean_ms() const { return last_clean_ms_; }
  [[nodiscard]] Offset clean_point() const { return log_->clean_point(); }

  [[nodiscard]] std::uint64_t appended_bytes() const { return appended_bytes_; }
  [[nodiscard]] const storage::ProducerState& producers() const { return producers_; }
  // Stopped or closed: handlers must not read its log any more.
  [[nodiscard]] bool closed() const { return closed_; }

 private:
  void start_flush();
  // flush.messages under flush.policy=interval: flushes once that many
  // records were appended since the last flush began.
  void flush_if_many(const storage::AppendResult& appended);
  void flush_done(const storage::FlushTicket& ticket, const Status& result);
  void maybe_clean();
  void clean_done(storage::CleanTask& task, const Status& result);

  // Idempotent producers (partition_producers.cpp).
  void load_producers();
  // nullopt: append the batch; else the offsets of the batch it duplicates.
  [[nodiscard]] Result<std::optional<storage::AppendResult>> check_producer(
      std::span<const std::byte> batch) const;
  void record_producer(std::span<const std::byte> batch, const storage::AppendResult& appended);
  // Expiry, and a snapshot on the disk thread after a roll or a while.
  void producers_tick();
  // At a clean close, on the closing thread.
  void snapshot_producers_now();

  // Raft (partition_raft.cpp).
  struct Proposal {
    std::vector<std::byte> batch;
    std::int32_t span = 1;
    raft::Index index = 0;  // what it was promised
    // A membership change instead of a batch (span 1).
    std::optional<raft::MembershipChange> change{};
  };
  struct PendingReady {
    raft::Ready ready;
    bool state_pending = false;         // raft.state being written
    std::optional<Offset> durable_end;  // the log must be flushed up to here
    std::size_t applied = 0;            // entries written to the log so far
    bool stalled = false;    // a full disk or no descriptors: the rest waits for the log to recover
    bool restarted = false;  // ready.restart done (raft.state written, the log restarted)
    bool memberships = false;  // raft.state must name its membership entries first
  };
  void start_raft(PartitionRaftConfig config);
  // A group of one voter: ticks until it leads, each Ready applied on this thread.
  void elect_sole_voter();
  [[nodiscard]] Status apply_ready_now();
  // Applies Readies until one waits for the disk.
  void process_ready();
  // Writes the pending Ready's entries (from where a stall left off), then
  // waits for durability or completes it.
  void continue_ready();
  [[nodiscard]] bool ready_done() const;
  void complete_ready();
  void propose_queued();
  // Proposes a queued membership change (a no-op entry in its place if raft
  // refuses it). Returns the index raft gave.
  [[nodiscard]] Result<raft::Index> propose_change(const raft::MembershipChange& change);
  void step_now(raft::Message message);
  void lost_leadership();
  // Starts the transfer asked for while a Ready was in flight, once what was
  // queued before it is proposed.
  void start_transfer();
  [[nodiscard]] NodeId most_caught_up_voter() const;
  // partition_sync.cpp: a message from `from` arrived; after a tick or a
  // step, the followers' catch-up times and the election counters move.
  void note_heard(const raft::Message& message);
  void sample_followers();
  void count_raft_events();
  void note_commit();
  // The next index a proposal gets: the replica's last plus what is queued.
  [[nodiscard]] raft::Index next_index() const;
  [[nodiscard]] bool confirmed_leader() const;
  // confirmed_leader() within its read lease (PartitionRaftConfig::read_lease).
  [[nodiscard]] bool serving_reads() const;
  [[nodiscard]] bool lease_held() const;
  bool was_leading_ = false;  // at the last tick (tick())
  void fail_raft(const Error& error);
  [[nodiscard]] Status write_state_now();
  // Ready::restart: raft.state names the new start (the commit point), then
  // the log restarts empty there. Errors: busy while a start ticket or a
  // compaction pass is in flight (tried again from tick()); the storage's.
  [[nodiscard]] Status restart_log(const raft::LogRestart& restart);
  // Writes raft.state naming the membership entries among `entries` (before
  // they are appended). Errors: the file system's.
  [[nodiscard]] Status note_memberships(const std::vector<raft::Entry>& entries);
  // At open: finishes a restart a crash interrupted (raft.state names a
  // start past the log's).
  [[nodiscard]] Status finish_restart(const RaftState& state);
  // A deletion of the log's prefix keeps the membership at its new start
  // (partition_membership.cpp; raft_log.h): raft.state records the
  // membership entries a deletion takes before it is made.
  // Retention: the offset it may delete up to now (`keep` at most), after
  // recording the entries it would take (a failed write deletes none).
  [[nodiscard]] Offset retention_bound(Offset keep);
  // DeleteRecords up to `to`: records the entries it takes. Errors: busy
  // while a raft.state write is in flight; the file system's.
  [[nodiscard]] Status keep_start_membership(Offset to);
  // Records the membership entries up to `through` and writes raft.state
  // (nothing recorded if the write fails). Errors: the file system's.
  [[nodiscard]] Status record_deleted_memberships(raft::Index through);
  [[nodiscard]] bool state_write_in_flight() const { return pending_ && pending_->state_pending; }

  storage::TopicPartition id_;
  std::unique_ptr<storage::PartitionLog> log_;
  asio::any_io_executor shard_;
  DiskThread& disk_;
  std::unique_ptr<PartitionRaftLog> view_;
  std::unique_ptr<Rng> rng_;
  std::unique_ptr<raft::Replica> replica_;
  raft::HardState persisted_;  // what raft.state holds on disk
  std::optional<PendingReady> pending_;
  std::deque<Proposal> queued_;
  // What came while a Ready was in flight, stepped after it in arrival
  // order: messages, and ticks (empty), so that a leader whose disk is never
  // idle at a tick still sends heartbeats and checks its quorum, and a
  // follower's election timer counts from the leader's last message.
  std::deque<std::optional<raft::Message>> inbox_;
  static constexpr std::size_t kInboxMax = 10'000;
  std::function<void(raft::Message)> sender_;
  // client_high_watermark's looks at terms' first batches, so that a Fetch
  // reads none of them again: the last kNoopChecks, replaced in turn.
  struct NoopCheck {
    Term term{-1};
    Offset start{-1};
    bool record_less = false;
  };
  static constexpr std::size_t kNoopChecks = 16;
  mutable std::array<NoopCheck, kNoopChecks> noop_checks_{};
  mutable std::size_t noop_checks_next_ = 0;
  [[nodiscard]] bool record_less_term_start(Term term, Offset start, Offset limit) const;
  std::int32_t queued_span_ = 0;
  NodeId transfer_to_ = raft::kNoNode;  // asked for, not yet handed to the replica
  Offset hw_;
  Term confirmed_term_{-1};  // the term in which this replica committed an entry as leader
  Term serving_term_{-1};    // the term of which this replica saw an entry committed
  bool raft_failed_ = false;
  // The producer state missed batches (appended as a follower) or holds
  // truncated ones: rebuilt from the log when this replica next leads, and
  // never snapshotted meanwhile.
  bool producers_stale_ = false;
  bool flush_in_flight_ = false;
  bool flush_again_ = false;
  bool start_in_flight_ = false;  // a start ticket is on the disk thread
  bool closed_ = false;
  net::Signal committed_;
  net::Signal flush_idle_;  // a flush or a start ticket finished
  std::uint64_t appended_bytes_ = 0;
  std::int64_t unflushed_records_ = 0;  // appended since the last flush began
  storage::ProducerState producers_;
  bool snapshot_in_flight_ = false;
  std::size_t snapshot_segments_ = 0;  // the segment count at the last snapshot
  Offset snapshot_end_;                // the log end the last snapshot covers
  Clock::SteadyTime snapshot_at_{};
  Clock::SteadyTime expired_at_{};
  LogCleaner* cleaner_ = nullptr;
  std::shared_ptr<storage::CleanTask> clean_task_;  // the pass in flight
  std::int64_t last_clean_ms_ = 0;
  // In-sync tracking on a leader (partition_sync.cpp).
  struct FollowerSync {
    Clock::SteadyTime heard{};      // the last message from it
    Clock::SteadyTime caught_up{};  // when it last held the leader's log end
    bool voter = false;             // as of the last sample
    std::uint64_t heard_tick = 0;   // ticks_ when `heard` was set
  };
  std::chrono::milliseconds replica_lag_max_{30'000};
  std::chrono::milliseconds read_lease_{0};
  Clock::SteadyTime last_tick_{};  // when tick() last ran
  // When append() last refused a batch as not the leader (see append).
  std::optional<Clock::SteadyTime> refused_produce_at_;
  static constexpr std::chrono::milliseconds kGapAfterRefusal{1'000};
  std::uint64_t ticks_ = 0;  // tick() calls
  // The tick that came after a gap longer than the read lease (the process
  // was stopped or stalled): answers heard up to it do not hold the lease.
  std::uint64_t stalled_tick_ = 0;
  std::map<NodeId, FollowerSync> sync_;
  Term sync_term_{-1};        // the term sync_ is about (-1: not leading)
  raft::Index sync_end_ = 0;  // the leader's log end at the previous sample
  RaftCounters* counters_ = nullptr;
  bool refuse_leadership_ = false;
  Term counted_candidate_{-1};  // the last term in which an election was counted
  NodeId counted_leader_ = raft::kNoNode;
  Term counted_leader_term_{-1};
};

}  // namespace spate::cluster
