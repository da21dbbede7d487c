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
// a term. Index 0 is "before the first entry".

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

struct Entry {
  Index index = 0;
  Term term{0};
  std::vector<std::byte> data;  // empty: the no-op a new leader appends
  bool operator==(const Entry&) const = default;
};

// The durable log, read-only to raft. Valid indexes are
// [first_index() - 1, last_index()] for term(), where first_index() - 1 is the
// entry before the first one kept (its term is remembered by the log).
class LogView {
 public:
  virtual ~LogView() = default;
  [[nodiscard]] virtual Index first_index() const = 0;
  [[nodiscard]] virtual Index last_index() const = 0;
  [[nodiscard]] virtual Term term(Index index) const = 0;
  // Entries [from, to], stopping early after max_bytes of data (at least one).
  [[nodiscard]] virtual std::vector<Entry> entries(Index from, Index to,
                                                   std::size_t max_bytes) const = 0;
};

struct HardState {
  Term term{0};
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
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
  [[nodiscard]] std::string describe() const;
};

struct Config {
  NodeId id = kNoNode;
  std::vector<NodeId> voters;
  int election_ticks = 10;  // a follower campaigns after [n, 2n) ticks without a leader
  int heartbeat_ticks = 1;  // a leader heartbeats this often
  bool pre_vote = true;
  bool check_quorum = true;       // a leader steps down without a quorum of replies per election
  std::size_t max_inflight = 64;  // append messages in flight per follower
  std::size_t max_append_bytes = 1U << 20U;  // data per append message
};

enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };
[[nodiscard]] const char* role_name(Role role);

// What the driver must do, in order: persist `hard_state` (if set), truncate
// the log from `truncate_from` (if set), append `entries`, and only then send
// `messages`; then call advance(). Committed entries up to `commit` may be
// applied.
struct Ready {
  std::optional<HardState> hard_state;
  // Discard the whole log; it restarts empty after `restart->first` (whose
  // term is `restart->second`): the leader no longer has what came before.
  std::optional<std::pair<Index, Term>> restart;
  std::optional<Index> truncate_from;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  Index commit = 0;
  [[nodiscard]] bool empty() const {
    return !hard_state && !restart && !truncate_from && entries.empty() && messages.empty();
  }
};

class Replica {
 public:
  // `log` is the durable log as of the last advance(); `state` the durable
  // hard state. REQUIRES: config.id is one of config.voters.
  Replica(Config config, const LogView& log, Rng& rng, HardState state);

  void tick();
  // Errors: invalid_argument (a message not for this node, malformed).
  Status step(const Message& message);
  // Appends an entry if this node is the leader. Returns its index.
  // Errors: not_leader (with the known leader in the message), shutting_down
  // during a leadership transfer.
  Result<Index> propose(std::vector<std::byte> data);
  // Hands leadership to `target` once its log is caught up.
  Status transfer_leadership(NodeId target);

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

 private:
  struct Progress {
    Index match = 0;
    Index next = 1;
    bool probing = true;  // one append in flight until the follower's position is known
    std::size_t inflight = 0;
    bool active = false;  // replied since the last quorum check
  };

  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate(bool force);
  void become_leader();
  void reset_timers();
  void campaign(bool pre, bool force);
  void handle_vote_request(const Message& m);
  void handle_vote_reply(const Message& m);
  void handle_append(const Message& m);
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
  [[nodiscard]] std::size_t quorum() const { return config_.voters.size() / 2 + 1; }
  [[nodiscard]] bool is_voter(NodeId id) const;
  [[nodiscard]] std::vector<Entry> entries_from(Index from, std::size_t max_bytes) const;
  void append_local(std::vector<Entry> entries);
  [[nodiscard]] Index durable_last() const;

  Config config_;
  const LogView& log_;
  Rng& rng_;
  Term term_{0};
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::follower;
  Index commit_ = 0;
  HardState persisted_;  // what the driver last made durable
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
  std::optional<std::pair<Index, Term>> pending_restart_;
  std::vector<Message> outbox_;
};

}  // namespace spate::raft
