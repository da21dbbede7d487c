// SPDX-License-Identifier: Apache-2.0
//
// One member of a Raft group as a pure state machine (config.h describes the
// whole; ready.h what comes out). The code is split the way etcd splits
// raft.go: src/raft/replica.cpp (this class's life cycle, Ready and advance),
// step.cpp (checks and term rules common to every role), step_follower.cpp,
// step_candidate.cpp, step_leader.cpp (one step function per role),
// progress.h (followers' progress and flow control), unstable_log.h (the
// entries not yet durable over the durable log) and membership.h (the
// memberships in the log, and changes to them).

#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "spate/common/result.h"
#include "spate/common/rng.h"
#include "spate/common/types.h"
#include "spate/raft/config.h"
#include "spate/raft/log_view.h"
#include "spate/raft/messages.h"
#include "spate/raft/ready.h"

namespace spate::raft {

// Replica::leader_unreachable: the ticks between two voters' campaigns.
inline constexpr int kUnreachableStaggerTicks = 2;

enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };
[[nodiscard]] const char* role_name(Role role);

// What a leader knows of one member's log: for lag metrics, under-replicated
// partitions, and deciding when a learner is ready to promote.
struct FollowerStatus {
  NodeId id = kNoNode;
  bool voter = false;
  Index match = 0;       // known to hold the leader's log up to here (durably)
  Index next = 0;        // the next index to send
  bool probing = false;  // position not known yet (or lost): one append in flight
  std::size_t inflight = 0;
  bool active = false;  // heard from since the last quorum check
  bool operator==(const FollowerStatus&) const = default;
};

class UnstableLog;
class MembershipLog;
class ProgressTracker;

class Replica {
 public:
  // `log` is the durable log as of the last advance(); `state` the durable
  // hard state. The membership is the latest in the log (see LogView).
  Replica(Config config, const LogView& log, Rng& rng, HardState state);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  void tick();
  // Errors: invalid_argument (a message not for this node, malformed).
  // By value: a driver that moves the message in saves copying its entries.
  Status step(Message message);
  // Appends an entry covering `span` indexes (a batch's record count) if this
  // node is the leader. Returns its index: last_index() + span.
  // Errors: not_leader (with the known leader in the message), shutting_down
  // during a leadership transfer, invalid_argument (span < 1).
  Result<Index> propose(std::vector<std::byte> data, std::int32_t span = 1);
  // Hands leadership to `target` once its log is caught up.
  Status transfer_leadership(NodeId target);
  // The driver lost its connection to `node` (the node's process died, or
  // the link broke). A follower whose leader that is campaigns as soon as
  // the minimum election timeout (election_ticks without hearing from the
  // leader) has run out, instead of at a random point up to twice that; the
  // voters go in id order, kUnreachableStaggerTicks apart, so that they do
  // not split the vote. Only timing changes: a voter still hearing from the
  // leader refuses to vote (check_quorum), and a leader's read lease is
  // shorter than the minimum timeout. Hearing from the leader again restores
  // a random timeout. Anything else (another node, not a follower): no-op.
  // It touches only the election timer, so it may come between ready() and
  // advance().
  void leader_unreachable(NodeId node);
  // Appends a membership entry if this node is the leader; the new membership
  // is in effect as soon as it is appended, on every node. A leader that
  // removes itself leads (without counting itself) until the change commits,
  // then hands over. Returns the entry's index.
  // Errors: not_leader; shutting_down during a transfer; busy while an earlier
  // change is not committed or no entry of this term is (thesis §4.1, and
  // the known flaw of single-server changes otherwise); invalid_argument
  // (adding a member, promoting a non-learner or a learner too far behind,
  // removing a non-member or the last voter).
  Result<Index> propose_change(MembershipChange change);

  [[nodiscard]] bool has_ready() const;
  // REQUIRES: nothing steps, ticks or proposes between ready() and advance().
  Ready ready();
  void advance(const Ready& ready);

  [[nodiscard]] Role role() const { return role_; }
  [[nodiscard]] Term term() const { return term_; }
  [[nodiscard]] NodeId leader() const { return leader_; }
  [[nodiscard]] NodeId id() const { return config_.id; }
  // On a leader handing over (transfer_leadership), the target; else kNoNode.
  // Proposals are refused meanwhile; it clears when the transfer gives up.
  [[nodiscard]] NodeId transfer_target() const {
    return role_ == Role::leader ? transfer_target_ : kNoNode;
  }
  [[nodiscard]] Index commit() const { return commit_; }
  [[nodiscard]] Index last_index() const;
  [[nodiscard]] Term term_at(Index index) const;
  // The latest membership in the log (appended, not necessarily committed).
  [[nodiscard]] const Membership& membership() const;
  // The membership in effect at `index` (the driver stores it as the log's
  // start membership when it deletes the prefix up to `index`).
  // REQUIRES: index >= first_index() - 1 of the log this replica started with.
  [[nodiscard]] Membership membership_at(Index index) const;
  // This node is the only voter of its latest membership.
  [[nodiscard]] bool sole_voter() const {
    return membership().voters.size() == 1 && membership().voters.front() == config_.id;
  }
  // The index of the latest membership entry (0 if the log has none).
  [[nodiscard]] Index membership_index() const;
  // On a leader, every other member of the latest membership, by id; empty
  // on other nodes.
  [[nodiscard]] std::vector<FollowerStatus> followers() const;

  // Checks what must hold between any two calls: the commit within the log,
  // the leader role and leader id agreeing, the unstable entries contiguous
  // with non-decreasing terms no later than the current term, nothing handed
  // out (persisted or in a Ready) past the commit or the current term, a
  // leader's followers' progress within its log. The simulator calls it after
  // every call. Errors: invalid_argument naming the broken rule.
  [[nodiscard]] Status check_invariants() const;

 private:
  // replica.cpp: common to every role.
  void become_follower(Term term, NodeId leader);
  void reset_timers();
  void randomize_timeout();
  void send(Message m) {
    m.from = config_.id;
    outbox_.push_back(std::move(m));
  }
  void append_local(std::vector<Entry> entries);
  void refresh_membership();
  [[nodiscard]] bool log_up_to_date(Index last_index, Term last_term) const;
  [[nodiscard]] std::size_t quorum() const;
  [[nodiscard]] bool is_voter(NodeId id) const;
  // The commit a Ready may persist: never past an entry that is not yet
  // durable or that this Ready replaces.
  [[nodiscard]] Index persistable_commit() const;

  // step.cpp: what every role does with a message before its own step.
  // Applies the term rules (§5.1, §6, §9.6); false if the message is spent.
  bool step_term(const Message& m);
  void handle_vote_request(const Message& m);

  // step_follower.cpp
  void step_follower(Message& m);
  // Follows the leader `m` comes from; returns the reply to fill in.
  Message follow(const Message& m, MessageType reply);
  void handle_append(Message& m);  // takes the entries
  void reject_append(const Message& m, Message r);
  void handle_heartbeat(const Message& m);
  void handle_restart(const Message& m);

  // step_candidate.cpp
  void step_candidate(Message& m);
  void tick_election();
  void become_pre_candidate();
  void become_candidate();
  void campaign(bool pre, bool force);
  void handle_vote_reply(const Message& m);

  // step_leader.cpp
  void step_leader(Message& m);
  void tick_leader();
  void become_leader();
  void handle_append_reply(const Message& m);
  void handle_heartbeat_reply(const Message& m);
  void send_append(NodeId to, bool allow_empty);
  void send_timeout_now(NodeId to);
  void broadcast_append();
  void broadcast_heartbeat();
  bool maybe_commit();
  void maybe_hand_over();  // a leader that removed itself, once that commits
  // not_leader, or shutting_down during a leadership transfer.
  [[nodiscard]] Status check_accepting() const;

  Config config_;
  Rng& rng_;
  Term term_{0};
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::follower;
  Index commit_ = 0;
  HardState persisted_;     // what the driver last made durable
  Index ready_commit_ = 0;  // the commit the last Ready handed out
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;
  bool expedited_ = false;  // leader_unreachable shortened randomized_timeout_
  std::map<NodeId, bool> votes_;
  NodeId transfer_target_ = kNoNode;
  int transfer_elapsed_ = 0;
  std::unique_ptr<UnstableLog> log_;           // the durable log and what is not durable yet
  std::unique_ptr<MembershipLog> members_;     // every membership in the log
  std::unique_ptr<ProgressTracker> progress_;  // a leader's view of its followers
  std::vector<Message> outbox_;
};

}  // namespace spate::raft
