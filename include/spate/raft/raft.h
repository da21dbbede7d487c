// SPDX-License-Identifier: Apache-2.0
//
// The Raft algorithm as a pure, deterministic state machine (design.md,
// Replication; etcd raft's shape). tick(), step() and propose() go in; a
// Ready comes out: what to make durable (hard state, truncation, entries)
// and the messages to send once it is durable. No I/O, no clock, no threads:
// the same inputs give the same outputs, which is what the simulator in
// tests/raft/sim relies on.
//
// An entry is opaque bytes (a record batch in a partition) with an index and
// a term. An entry covers `span` consecutive indexes and is known by the last
// (a batch covers its records' offsets and is known by its last offset), so
// the indexes of consecutive entries grow by the later one's span. Index 0 is
// "before the first entry".

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spate/common/result.h"
#include "spate/common/rng.h"
#include "spate/common/types.h"

namespace spate::raft {

using Index = std::int64_t;
inline constexpr NodeId kNoNode{-1};

// The members of a group: voters elect and count towards commits; learners
// only replicate. Both sorted, disjoint.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  bool operator==(const Membership&) const = default;
  [[nodiscard]] bool is_voter(NodeId id) const;
  [[nodiscard]] bool is_learner(NodeId id) const;
  [[nodiscard]] bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
  [[nodiscard]] std::size_t quorum() const { return voters.size() / 2 + 1; }
  [[nodiscard]] std::string describe() const;  // "voters [0 1 2] learners [3]"
};

enum class EntryKind : std::uint8_t {
  normal,      // client data (a record batch); empty: the no-op a new leader appends
  membership,  // an encoded Membership (wire.h): the group's members from here on
};
inline constexpr EntryKind kLastEntryKind = EntryKind::membership;

struct Entry {
  Index index = 0;
  Term term{0};
  std::vector<std::byte> data;
  EntryKind kind = EntryKind::normal;
  std::int32_t span = 1;  // the entry covers [index - span + 1, index] (next to kind: 48 bytes)
  [[nodiscard]] Index first() const { return index - span + 1; }
  bool operator==(const Entry&) const = default;
};

// The durable log, read-only to raft. first_index() is the first index the
// first kept entry covers; first_index() - 1 is the last index of the entry
// before it (its term is remembered by the log), or 0.
//
// A log that deletes a prefix (retention, or a restart after its leader's
// start) keeps three things about the last entry deleted: its term, the
// membership in effect there (Replica::membership_at), and, for a state
// machine that needs one (the controller), a snapshot of its state there.
// Partitions keep no snapshot: their entries are the state.
class LogView {
 public:
  virtual ~LogView() = default;
  [[nodiscard]] virtual Index first_index() const = 0;
  [[nodiscard]] virtual Index last_index() const = 0;
  // The term of the entry whose (last) index is `index`, or of first_index() - 1;
  // Term(-1) for an index inside an entry or outside the log.
  [[nodiscard]] virtual Term term(Index index) const = 0;
  // The index of the entry before the one that covers `index` (first_index()
  // - 1 for the first). REQUIRES: first_index() <= index <= last_index().
  [[nodiscard]] virtual Index previous_index(Index index) const = 0;
  // The entries covering [from, to] (the first may start before `from`),
  // stopping early after max_bytes of data (at least one).
  [[nodiscard]] virtual std::vector<Entry> entries(Index from, Index to,
                                                   std::size_t max_bytes) const = 0;
  // The indexes of the membership entries in [first_index(), last_index()],
  // ascending (a partition keeps them as control batches and indexes them).
  [[nodiscard]] virtual std::vector<Index> membership_indexes() const = 0;
  // The membership in effect at first_index() - 1, or nullopt if the log never
  // deleted a prefix (then Config's initial membership applies).
  [[nodiscard]] virtual std::optional<Membership> start_membership() const = 0;
  // The state machine's snapshot at first_index() - 1 (empty if none). It is
  // sent to a follower that restarts its log there (Ready::restart).
  [[nodiscard]] virtual std::vector<std::byte> start_snapshot() const = 0;
};

struct HardState {
  Term term{0};
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

// What a log keeps about the prefix it deleted, besides the last index and
// term: the membership in effect there and the state machine's snapshot.
struct LogStart {
  Membership membership;
  std::vector<std::byte> snapshot;
  bool operator==(const LogStart&) const = default;
};

enum class MessageType : std::uint8_t {
  pre_vote,
  pre_vote_reply,
  vote,
  vote_reply,
  append,
  append_reply,
  heartbeat,
  heartbeat_reply,
  timeout_now,  // leadership transfer: campaign now
  restart,      // the follower is behind the leader's log start: restart the log there
};
inline constexpr MessageType kLastMessageType = MessageType::restart;
[[nodiscard]] const char* message_type_name(MessageType type);

struct Message {
  MessageType type = MessageType::append;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term{0};
  Index log_index = 0;  // vote: last index; append: index before entries; reply: match or hint
  Term log_term{0};     // vote: last term; append: term at log_index; reject: conflicting term
  Index commit = 0;
  Index hint = 0;  // append reject: the index the leader should try next
  std::vector<Entry> entries;
  bool reject = false;
  bool force = false;  // a vote from a leadership transfer: ignores leader leases
  // Restart only, one element: what the leader keeps about its deleted prefix
  // (a vector, not a member struct, so that the other messages stay small).
  std::vector<LogStart> start;
  bool operator==(const Message&) const = default;
  [[nodiscard]] std::string describe() const;
};

struct Config {
  NodeId id = kNoNode;
  // The group's initial membership (in effect at index 0), the same on every
  // node that is ever a member: a node that joins later is given it too, and
  // learns the changes since from the log. A node outside the voters never
  // campaigns.
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  int election_ticks = 10;  // a follower campaigns after [n, 2n) ticks without a leader
  int heartbeat_ticks = 1;  // a leader heartbeats this often
  bool pre_vote = true;
  bool check_quorum = true;       // a leader steps down without a quorum of replies per election
  std::size_t max_inflight = 64;  // append messages in flight per follower
  std::size_t max_append_bytes = 1U << 20U;  // data per append message
  // A learner is promoted only when its log is at most this many indexes
  // behind the leader's (thesis §4.2.1: a slow new voter would stall commits).
  Index max_promote_lag = 10'000;
};

// One change of membership (thesis §4.1: one server at a time, so that any
// majority of the old voters and any majority of the new ones overlap).
struct MembershipChange {
  enum class Type : std::uint8_t { add_learner, promote, remove };
  Type type = Type::add_learner;
  NodeId node = kNoNode;
};

enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };
[[nodiscard]] const char* role_name(Role role);

// The log restarts empty after `index`: the leader no longer has the entries
// this node lacks. Everything up to `index` is committed; the driver keeps
// `term`, `membership` and `snapshot` as its log's start (LogView), and a
// state machine installs `snapshot` as its state at `index`.
struct LogRestart {
  Index index = 0;
  Term term{0};
  Membership membership;
  std::vector<std::byte> snapshot;
};

// What the driver must do, in order: persist `hard_state` (if set), restart
// the log (if set), truncate the log from `truncate_from` (if set), append
// `entries`, and only then send `messages`; then call advance(). Committed
// entries up to `commit` may be applied once this Ready's entries are in the
// log. A crash may stop the driver between any two of these steps:
// `hard_state.commit` never covers an entry this Ready replaces or has not
// yet made durable: it lags `commit` until the log holds the entry, and then
// has_ready() asks for one more Ready to persist it (even on an idle node),
// so the durable commit always names entries of the durable log that are
// committed and catches up with `commit` once the log does.
struct Ready {
  std::optional<HardState> hard_state;
  std::optional<LogRestart> restart;
  std::optional<Index> truncate_from;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  Index commit = 0;
  [[nodiscard]] bool empty() const {
    return !hard_state && !restart && !truncate_from && entries.empty() && messages.empty();
  }
};

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

class Replica {
 public:
  // `log` is the durable log as of the last advance(); `state` the durable
  // hard state. The membership is the latest in the log (see LogView).
  Replica(Config config, const LogView& log, Rng& rng, HardState state);

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
  [[nodiscard]] Index commit() const { return commit_; }
  [[nodiscard]] Index last_index() const;
  [[nodiscard]] Term term_at(Index index) const;
  // The latest membership in the log (appended, not necessarily committed).
  [[nodiscard]] const Membership& membership() const { return members_; }
  // The membership in effect at `index` (the driver stores it as the log's
  // start membership when it deletes the prefix up to `index`).
  // REQUIRES: index >= first_index() - 1 of the log this replica started with.
  [[nodiscard]] Membership membership_at(Index index) const;
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
  struct Progress {
    Index match = 0;
    Index next = 1;
    bool probing = true;  // one append in flight until the follower's position is known
    std::size_t inflight = 0;
    bool active = false;       // replied since the last quorum check
    Index match_at_beat = -1;  // match at the previous heartbeat reply
  };

  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate(bool force);
  void become_leader();
  void reset_timers();
  void campaign(bool pre, bool force);
  void handle_vote_request(const Message& m);
  void handle_vote_reply(const Message& m);
  void handle_append(Message& m);  // takes the entries
  void handle_append_reply(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_heartbeat_reply(const Message& m);
  void handle_restart(const Message& m);
  void send_append(NodeId to, bool allow_empty);
  void broadcast_append();
  void broadcast_heartbeat();
  bool maybe_commit();
  void send(Message m);
  [[nodiscard]] bool log_up_to_date(Index last_index, Term last_term) const;
  [[nodiscard]] std::size_t quorum() const { return members_.quorum(); }
  [[nodiscard]] bool is_voter(NodeId id) const { return members_.is_voter(id); }
  // not_leader, or shutting_down during a leadership transfer.
  [[nodiscard]] Status check_accepting() const;
  void refresh_membership();
  void maybe_hand_over();  // a leader that removed itself, once that commits
  [[nodiscard]] std::vector<Entry> entries_from(Index from, std::size_t max_bytes) const;
  // The largest entry index (or log start) at or below `index`; -1 if that is
  // below the log's start (deleted).
  [[nodiscard]] Index floor_index(Index index) const;
  // The index of the entry before entry `index`. REQUIRES: `index` is an entry's.
  [[nodiscard]] Index previous_index(Index index) const;
  void append_local(std::vector<Entry> entries);
  [[nodiscard]] Index durable_last() const;
  // The commit a Ready may persist: never past an entry that is not yet
  // durable or that this Ready replaces.
  [[nodiscard]] Index persistable_commit() const;

  Config config_;
  const LogView& log_;
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
  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;
  NodeId transfer_target_ = kNoNode;
  int transfer_elapsed_ = 0;
  // Entries not yet durable: they start at unstable_first_ and replace the
  // durable log from there (a pending truncation when unstable_first_ is at or
  // below the durable last index).
  Index unstable_first_ = 1;
  std::vector<Entry> unstable_;
  std::optional<Index> pending_truncate_;
  std::optional<LogRestart> pending_restart_;
  // Membership: `base_` is in effect at `base_index_` (the log's start when
  // this replica started or last restarted its log); `changes_` holds every
  // membership entry after it, durable or not; `members_` is the latest.
  Index base_index_ = 0;
  Membership base_;
  std::map<Index, Membership> changes_;
  Membership members_;
  std::vector<Message> outbox_;
};

}  // namespace spate::raft
