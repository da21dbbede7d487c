// SPDX-License-Identifier: Apache-2.0
//
// A partition's Raft driver (partition.h describes the whole): the replica
// over the partition's log, each Ready applied in raft's order (raft.state,
// a log restart, truncation, entries, durability, then messages and advance),
// one Ready at a time, with proposals queued behind the one in flight.

#include <algorithm>

#include "spate/cluster/partition.h"
#include "spate/common/log.h"
#include "spate/storage/log_cleaner.h"

namespace spate::cluster {
namespace {

std::uint64_t seed_of(const storage::TopicPartition& id, NodeId self) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name, then the node
  for (char c : id.dir_name()) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h ^ static_cast<std::uint64_t>(self.value());
}

}  // namespace

void Partition::start_raft(PartitionRaftConfig config) {
  auto logger = log::get(log::Module::cluster);
  replica_lag_max_ = config.replica_lag_max;
  read_lease_ = config.read_lease;
  counters_ = config.counters;
  auto state = read_raft_state(log_->filesystem(), log_->dir());
  if (!state) {
    // A damaged raft.state: the term and vote are unknown. A group of one
    // loses nothing by starting over from the log (its log is the truth);
    // a replicated group will need its peers (issue 15, later).
    logger->error("[{}] {}; starting from the log's last term", id_.dir_name(),
                  state.error().message());
    state = RaftState{};
  }
  // The log may hold a later term than raft.state (a log written before
  // raft.state existed, or a crash between them): a term never goes back.
  if (state->hard.term < log_->last_term()) {
    state->hard.term = log_->last_term();
    state->hard.vote = raft::kNoNode;
  }
  if (auto s = finish_restart(*state); !s) {
    fail_raft(s.error());
    return;
  }
  state->hard.commit = std::min<raft::Index>(state->hard.commit, log_->end_offset().value());
  persisted_ = state->hard;
  view_ = std::make_unique<PartitionRaftLog>(*log_, std::move(*state));
  if (auto s = view_->open(); !s) {
    fail_raft(s.error());
    return;
  }
  rng_ = std::make_unique<Rng>(seed_of(id_, config.self));
  raft::Config rc;
  rc.id = config.self;
  rc.voters = config.voters;
  rc.learners = config.learners;
  rc.election_ticks = config.election_ticks;
  rc.heartbeat_ticks = config.heartbeat_ticks;
  replica_ = std::make_unique<raft::Replica>(rc, *view_, *rng_, persisted_);
  hw_ = Offset(std::min(replica_->commit(), log_->end_offset().value()));
  // The membership in effect (the log's, else the configured one) says
  // whether this replica is a group of one.
  if (replica_->sole_voter()) {
    elect_sole_voter();
    return;
  }
  const auto& m = replica_->membership();
  const bool own = view_->start_membership() || !view_->membership_indexes().empty();
  logger->info("[{}] opens as {}: {} (from {})", id_.dir_name(),
               m.is_voter(config.self)     ? "a voter"
               : m.is_learner(config.self) ? "a learner"
                                           : "no member",
               m.describe(), own ? "its Raft state" : "its configuration");
}

void Partition::elect_sole_voter() {
  // Bounded: a sole voter campaigns within 2 x election_ticks and wins at once.
  for (int i = 0; i < 1000 && replica_->role() != raft::Role::leader && !raft_failed_; ++i) {
    replica_->tick();
    for (int round = 0; round < 100 && replica_->has_ready() && !raft_failed_; ++round) {
      if (auto s = apply_ready_now(); !s) fail_raft(s.error());
    }
  }
  // Treated as written (see apply_ready_now): only a later change of term or
  // vote writes raft.state before its messages; the close writes it too.
  persisted_ = view_->state().hard;
  note_commit();
  // Electing itself at open is no news for the counters.
  counted_leader_ = replica_->leader();
  counted_leader_term_ = replica_->term();
  if (!confirmed_leader() && !raft_failed_) {
    fail_raft(Error(Errc::not_leader, "a group of one did not elect itself"));
  }
}

Status Partition::write_state_now() {
  view_->state().hard.commit = std::max(view_->state().hard.commit,
                                        std::min(replica_->commit(), log_->end_offset().value()));
  if (auto s = write_raft_state(log_->filesystem(), log_->dir(), view_->state()); !s) return s;
  persisted_ = view_->state().hard;
  return {};
}

// Every step on this thread, the disk work included (opening only).
Status Partition::apply_ready_now() {
  raft::Ready r = replica_->ready();
  if (r.hard_state) view_->state().hard = *r.hard_state;
  if (r.restart) return Error::invalid("a log restart needs a replicated group");
  // A sole voter's election is not written here: no other voter can be
  // misled by a forgotten vote, and a restart after a crash takes its term
  // from the log's last batch if that is later, so opening many partitions
  // costs no fsync each. raft.state follows with the next change of term or
  // vote made through process_ready, and at close.
  if (r.truncate_from) {
    if (auto s = view_->truncate_from(*r.truncate_from); !s) return s;
  }
  for (const auto& e : r.entries) {
    if (auto s = view_->append(e); !s) return s;
  }
  if (!r.entries.empty()) {
    if (auto s = log_->flush(); !s) return s;
  }
  replica_->advance(r);
  return {};
}

raft::Index Partition::next_index() const { return replica_->last_index() + queued_span_; }

bool Partition::confirmed_leader() const {
  return replica_ && !raft_failed_ && replica_->role() == raft::Role::leader &&
         confirmed_term_ == replica_->term();
}

bool Partition::serving_reads() const { return confirmed_leader() && lease_held(); }

bool Partition::lease_held() const {
  // Not sampled in this term yet: it has just been elected and has just
  // committed (confirmed_leader), both with a majority's answers.
  if (read_lease_.count() <= 0 || sync_term_ != replica_->term()) return true;
  const auto now = log_->clock().steady_now();
  std::size_t voters = 1;  // itself
  std::size_t heard = 1;
  // sync_ holds the followers as of the last tick (sample_followers).
  for (const auto& [id, f] : sync_) {
    if (!f.voter) continue;
    ++voters;
    // Heard within the lease, and after the tick that followed a stall:
    // answers read before it may have waited out the stall in a socket.
    if (now - f.heard <= read_lease_ && f.heard_tick > stalled_tick_) ++heard;
  }
  return 2 * heard > voters;
}

void Partition::fail_raft(const Error& error) {
  if (raft_failed_) return;
  raft_failed_ = true;
  log::get(log::Module::cluster)
      ->error("[{}] replication stopped, the partition serves reads only until a restart: {}",
              id_.dir_name(), error.message());
  committed_.notify_all();
}

void Partition::note_commit() {
  const Offset commit(std::min(replica_->commit(), log_->end_offset().value()));
  if (replica_->role() == raft::Role::leader && confirmed_term_ != replica_->term() &&
      (replica_->sole_voter() || view_->term(commit.value()) == replica_->term())) {
    confirmed_term_ = replica_->term();
    if (producers_stale_) {
      load_producers();
      producers_stale_ = false;
    }
  }
  // An entry of the current term below the commit index: this term's leader
  // committed it, so it serves (status(); a follower learns it here from the
  // leader's commit index). The log's term starts make it a cheap test.
  if (serving_term_ != replica_->term()) {
    const auto terms = log_->term_starts();
    if (confirmed_term_ == replica_->term() ||
        (!terms.empty() && terms.back().term == replica_->term() && commit > terms.back().start)) {
      serving_term_ = replica_->term();
    }
  }
  if (commit > hw_) {
    hw_ = commit;
    committed_.notify_all();
  }
}

void Partition::propose_queued() {
  // Bounded by the queue.
  while (!queued_.empty()) {
    Proposal p = std::move(queued_.front());
    queued_.pop_front();
    queued_span_ -= p.span;
    auto index =
        p.change ? propose_change(*p.change) : replica_->propose(std::move(p.batch), p.span);
    if (!index || *index != p.index) {
      // Leadership ended (its waiters learn it from the term) or, if the
      // index differs, the promise made to the producer cannot be kept.
      if (index) {
        fail_raft(
            Error::invalid(fmt::format("proposal got index {}, promised {}", *index, p.index)));
      }
      queued_span_ = 0;
      queued_.clear();
      committed_.notify_all();
      return;
    }
  }
}

void Partition::process_ready() {
  // Bounded: each round hands out a Ready; one that waits for the disk stops it.
  for (int round = 0;
       round < 1000 && !pending_ && !raft_failed_ && !closed_ && replica_->has_ready(); ++round) {
    raft::Ready r = replica_->ready();
    if (r.hard_state) view_->state().hard = *r.hard_state;
    // raft.state must name a membership entry before the log holds it
    // (note_memberships); that write, or a restart's, carries the hard state.
    const bool memberships =
        std::any_of(r.entries.begin(), r.entries.end(), PartitionRaftLog::is_membership);
    const bool term_or_vote =
        !r.restart && !memberships && r.hard_state &&
        (r.hard_state->term != persisted_.term || r.hard_state->vote != persisted_.vote);
    if (r.restart || r.truncate_from ||
        (!r.entries.empty() && replica_->role() != raft::Role::leader)) {
      producers_stale_ = true;
    }
    if (r.truncate_from) {
      if (auto s = view_->truncate_from(*r.truncate_from); !s) {
        fail_raft(s.error());
        return;
      }
    }
    pending_ = PendingReady{std::move(r), term_or_vote, std::nullopt};
    pending_->memberships = memberships;
    if (term_or_vote) {
      auto state = std::make_shared<RaftState>(view_->state());
      auto written = std::make_shared<Status>();
      auto self = shared_from_this();
      disk_.submit(
          [self, state, written] {
            *written = write_raft_state(self->log_->filesystem(), self->log_->dir(), *state);
          },
          shard_,
          [self, state, written] {
            if (!*written) {
              self->fail_raft(written->error());
              return;
            }
            self->persisted_ = state->hard;
            if (self->pending_) self->pending_->state_pending = false;
            if (self->ready_done()) {
              self->complete_ready();
              self->process_ready();
            }
          });
    }
    continue_ready();
  }
}

void Partition::continue_ready() {
  PendingReady& p = *pending_;
  if (p.ready.restart && !p.restarted) {
    if (auto s = restart_log(*p.ready.restart); !s) {
      if (s.error().code() == Errc::busy ||
          (!log_->fenced() && storage::is_transient_storage_error(s.error()))) {
        // Tried again from tick(); nothing is sent or appended meanwhile.
        p.stalled = true;
        return;
      }
      fail_raft(s.error());
      return;
    }
    p.restarted = true;
  }
  if (p.memberships) {
    if (auto s = note_memberships(p.ready.entries); !s) {
      if (!log_->fenced() && storage::is_transient_storage_error(s.error())) {
        p.stalled = true;  // tried again from tick()
        return;
      }
      fail_raft(s.error());
      return;
    }
    p.memberships = false;
  }
  const auto& entries = p.ready.entries;
  // Bounded by the Ready's entries.
  // Entries of this term on its leader are its own proposals, validated by
  // prepare_append (one leader per term): their CRC is not checked again.
  const bool leading = replica_->role() == raft::Role::leader;
  while (p.applied < entries.size()) {
    const raft::Entry& e = entries[p.applied];
    if (auto s = view_->append(e, leading && e.term == replica_->term()); !s) {
      if (!log_->fenced() && !log_->writable() && storage::is_transient_storage_error(s.error())) {
        // The entries stay in this Ready until the log takes writes again
        // (tick); appends are refused with `busy` meanwhile.
        p.stalled = true;
        return;
      }
      fail_raft(s.error());
      return;
    }
    ++p.applied;
  }
  p.stalled = false;
  if (leading && !p.state_pending && sender_) {
    // The leader's appends and heartbeats leave now, before its own write is
    // durable (Raft thesis §10.2.1), so that the followers' fsyncs run
    // alongside its own rather than after it. Safe: the leader counts itself
    // toward a commit only once advance() says its log is durable, and the
    // followers' answers wait in the inbox until then. Replies and votes
    // still wait for durability (complete_ready).
    auto& messages = p.ready.messages;
    const auto early = std::stable_partition(messages.begin(), messages.end(), [](const auto& m) {
      return m.type != raft::MessageType::append && m.type != raft::MessageType::heartbeat;
    });
    for (auto it = early; it != messages.end(); ++it) sender_(std::move(*it));
    messages.erase(early, messages.end());
  }
  if (!entries.empty() && log_->config().flush_policy == storage::FlushPolicy::always) {
    p.durable_end = Offset(entries.back().index);
    flush_soon();
  }
  if (ready_done()) complete_ready();
}

bool Partition::ready_done() const {
  return pending_ && !pending_->state_pending && !pending_->stalled && !raft_failed_ &&
         pending_->applied == pending_->ready.entries.size() &&
         (!pending_->durable_end || log_->flushed_end_offset() >= *pending_->durable_end);
}

void Partition::complete_ready() {
  raft::Ready r = std::move(pending_->ready);
  pending_.reset();
  // Durable now: the messages may say so (a vote, an append acknowledged).
  if (sender_) {
    for (auto& m : r.messages) sender_(std::move(m));
  }
  r.messages.clear();
  replica_->advance(r);
  note_commit();
  propose_queued();
  if (transfer_to_ != raft::kNoNode) start_transfer();
  // Bounded by the inbox (what arrived while the Ready was in flight). The
  // ticks too: skipped, they would leave a busy leader without heartbeats,
  // and a follower whose append was lost (a restart, a dropped connection)
  // is found again only by a heartbeat's reply.
  while (!inbox_.empty() && !raft_failed_) {
    std::optional<raft::Message> m = std::move(inbox_.front());
    inbox_.pop_front();
    if (m) {
      step_now(std::move(*m));
    } else {
      replica_->tick();
      count_raft_events();
    }
  }
}

void Partition::step(raft::Message message) {
  if (closed_ || raft_failed_) return;
  if (refuse_leadership_ && message.type == raft::MessageType::timeout_now) return;
  note_heard(message);
  if (pending_) {
    // Raft tolerates loss: past the bound the oldest is dropped.
    if (inbox_.size() >= kInboxMax) inbox_.pop_front();
    inbox_.push_back(std::move(message));
    return;
  }
  step_now(std::move(message));
  process_ready();
}

void Partition::peer_unreachable(NodeId node) {
  // Only the election timer changes, so this may run while a Ready is
  // being persisted (pending_).
  if (closed_ || raft_failed_) return;
  replica_->leader_unreachable(node);
}

void Partition::step_now(raft::Message message) {
  const Term before = replica_->term();
  if (auto s = replica_->step(std::move(message)); !s) {
    log::get(log::Module::cluster)
        ->debug("[{}] raft message dropped: {}", id_.dir_name(), s.error());
  }
  if (replica_->term() != before) lost_leadership();
  count_raft_events();
}

void Partition::lost_leadership() {
  // Proposals queued for the old term will never get their promised index.
  queued_.clear();
  queued_span_ = 0;
  transfer_to_ = raft::kNoNode;
  committed_.notify_all();
}

Status Partition::restart_log(const raft::LogRestart& restart) {
  if (start_in_flight_ || clean_task_) {
    if (clean_task_) clean_task_->cancel();
    return Error(Errc::busy, "a start offset change or a compaction pass is in flight");
  }
  // raft.state first: once it names the new start, the restart is decided,
  // and an open after a crash finishes it (finish_restart). Before, the old
  // log is untouched. Written here, on the shard, like a truncation: rare.
  RaftState& state = view_->state();
  state.start_index = restart.index;
  state.start_term = restart.term;
  state.start_membership = restart.membership;
  state.start_snapshot = restart.snapshot;
  state.membership_indexes.clear();
  state.deleted_memberships.clear();  // the restart's membership replaces them
  if (auto s = write_raft_state(log_->filesystem(), log_->dir(), state); !s) return s;
  persisted_ = state.hard;
  log::get(log::Module::cluster)
      ->info(
          "[{}] the leader no longer has the log this replica lacks: restarting it empty at "
          "offset {} (term {})",
          id_.dir_name(), restart.index, restart.term);
  return view_->restart(restart.index);
}

Status Partition::note_memberships(const std::vector<raft::Entry>& entries) {
  // Otherwise a crash could leave the entry durable (a vote or an
  // acknowledgement may already count it) and raft.state without it: the
  // reopened replica would use an older membership. An index named here
  // whose entry never reaches the log is dropped when the partition opens.
  auto& indexes = view_->state().membership_indexes;
  for (const auto& e : entries) {
    if (PartitionRaftLog::is_membership(e) && (indexes.empty() || indexes.back() < e.index)) {
      indexes.push_back(e.index);
    }
  }
  // On the shard, like a truncation: membership changes are rare.
  if (auto s = write_raft_state(log_->filesystem(), log_->dir(), view_->state()); !s) return s;
  persisted_ = view_->state().hard;
  return {};
}

Status Partition::finish_restart(const RaftState& state) {
  // Only a restart moves raft.state's start (retention moves the log's start
  // past it, never the other way), so a log starting before it was cut
  // short by a crash in the middle of restart_log.
  if (state.start_index == 0 || log_->start_offset().value() >= state.start_index) return {};
  log::get(log::Module::cluster)
      ->warn("[{}] finishing a log restart at offset {} (the log starts at {})", id_.dir_name(),
             state.start_index, log_->start_offset());
  producers_stale_ = true;  // loaded from the log before it restarted
  return log_->restart_at(Offset(state.start_index));
}

}  // namespace spate::cluster
