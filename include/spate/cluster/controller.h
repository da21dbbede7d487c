// SPDX-License-Identifier: Apache-2.0
//
// Controller: the cluster metadata's Raft group on this broker
// (docs/cluster.md, "A broker in a cluster"). The group's voters are the
// `--seeds` brokers; its log is an internal partition log kept in
// `<data_dir>/__cluster/metadata-0`, driven by a cluster::Partition like any
// other (RaftGroupId {0, 0}); each committed record holds one Command
// (metadata_codec.h), applied in log order to a MetadataState.
//
// Any broker proposes: the controller leader appends the command, waits for
// its commit and answers the outcome; a follower forwards the command to the
// leader over the transport (method kProposeMethod) and waits until it has
// applied the entry itself, so whatever it answers next already reflects it.
// Each broker registers itself at start and then heartbeats the leader; the
// leader fences a broker whose heartbeats stopped for `broker_session` and
// unfences it when they resume.
//
// A broker outside the voters (not among `--seeds`) joins as a learner of
// the group: until it hears from a leader it sends its registration to the
// voters in turn (a follower refuses it, naming no leader); once the
// registration is applied, the leader adds the broker as a Raft learner
// (add_learners), so that it receives the log (or the leader's snapshot, if
// the log was cut) and applies it like a voter, without ever campaigning or
// counting towards a commit. Nothing ever promotes a learner: the voters are
// the --seeds, on every broker. A broker whose registration is removed
// (unregister_broker; never a voter's) leaves the learners the same way, and
// if still running stops registering (removed()).
//
// One io_context (the shard's); every member is called on it.

#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "spate/cluster/disk_thread.h"
#include "spate/cluster/metadata.h"
#include "spate/cluster/partition.h"
#include "spate/cluster/producer_ids.h"
#include "spate/cluster/transport.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/result.h"
#include "spate/net/signal.h"
#include "spate/storage/data_dir.h"
#include "spate/storage/file.h"

namespace spate::cluster {

// Transport call methods of the controller (rpc.h: request frames).
inline constexpr std::uint16_t kProposeMethod = 16;    // payload: a command; answer: the outcome
inline constexpr std::uint16_t kHeartbeatMethod = 17;  // payload: broker id + epoch; answer: empty

// The controller's folder inside the data directory, its log's name, and
// the file holding its latest snapshot (controller_snapshot.cpp).
inline constexpr const char* kControllerDir = storage::kClusterDir;
inline constexpr const char* kControllerLogName = "__cluster_metadata";
inline constexpr const char* kControllerSnapshotFile = "metadata.snapshot";

struct ControllerConfig {
  NodeId self{0};
  std::vector<NodeId> voters{NodeId(0)};  // the --seeds brokers
  // What this broker registers (its incarnation is drawn at open).
  RegisterBroker registration;
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  std::chrono::milliseconds broker_heartbeat{1'000};
  std::chrono::milliseconds broker_session{9'000};  // Kafka's broker.session.timeout.ms
  std::chrono::milliseconds call_timeout{3'000};    // a forwarded proposal or heartbeat
  std::chrono::milliseconds retry_backoff{100};     // while there is no leader
  // A snapshot of the state is written, and the log cut at it, once this
  // many offsets were applied since the last one (0: never).
  std::int64_t snapshot_every = 10'000;
  MetadataLimits limits;
  RaftCounters* counters = nullptr;  // the controller group's elections count too
};

// What a proposal came to: the outcome and the Raft index it was applied at.
struct Proposed {
  ApplyOutcome outcome;
  std::int64_t index = -1;
};

// The bytes of a forwarded proposal's answer.
[[nodiscard]] std::vector<std::byte> encode_proposed(const Proposed& p);
// Errors: malformed (truncated, trailing bytes, an unknown error code, a
// message past 64 KiB).
[[nodiscard]] Result<Proposed> decode_proposed(std::span<const std::byte> bytes);

class Controller {
 public:
  // Opens (creating) the controller log under `data_dir`/kControllerDir and
  // applies what it has committed. `transport` may be null when the only
  // voter is this broker. Errors: the storage's; corrupt_log if a committed
  // record is not a command.
  [[nodiscard]] static Result<std::unique_ptr<Controller>> open(
      storage::Filesystem& fs, const std::filesystem::path& data_dir, const Clock& clock,
      asio::any_io_executor shard, DiskThread& disk, Transport* transport, ControllerConfig config);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // The address clients reach this broker at, for its registration (known
  // once the client listener is bound). Before start().
  void set_advertised(HostPort advertised) {
    config_.registration.advertised = std::move(advertised);
  }
  // Starts registering this broker and heartbeating.
  void start();
  // This broker is one of the group's voters (a --seeds broker); otherwise
  // it joins as a learner.
  [[nodiscard]] bool voter() const;
  [[nodiscard]] bool is_voter(NodeId id) const;

  // Commits `command` through the controller leader and returns once this
  // broker has applied it. Pass a named Command (std::move'd), never a
  // command struct converted in the call: GCC 12 destroys such a temporary
  // twice when it becomes a coroutine's parameter. A command the state refuses is not an error (see
  // ApplyOutcome). Errors: timeout at the deadline (it may still commit);
  // not_leader / unavailable when no leader could take it in time;
  // shutting_down.
  awaitable<Result<Proposed>> propose(Command command, Clock::SteadyTime deadline);

  // An idempotent producer id unique in the cluster (InitProducerId): from
  // a block of kProducerIdBlock ids (producer_ids.h) the controller allocated to this broker
  // (allocate_producer_ids), a new block when it runs out. Errors: propose's,
  // or the refusal (limit_exceeded when every id is used).
  awaitable<Result<std::int64_t>> allocate_producer_id(Clock::SteadyTime deadline);
  // Whether `id` came from a block allocated to this broker in this run.
  [[nodiscard]] bool issued_producer_id(std::int64_t id) const;

  // A raft message for the controller group (from the transport).
  void step(raft::Message message) { partition_->step(std::move(message)); }
  void peer_unreachable(NodeId node) { partition_->peer_unreachable(node); }
  // A transport call (kProposeMethod, kHeartbeatMethod). Errors:
  // invalid_argument for another method or a bad payload; propose's.
  awaitable<Result<std::vector<std::byte>>> handle_call(NodeId from, std::uint16_t method,
                                                        std::vector<std::byte> payload);

  // Raft ticks, and the leader's fencing of silent brokers.
  void tick();
  // Stops the loops and closes the log.
  awaitable<void> close();

  [[nodiscard]] const MetadataState& state() const { return state_; }
  // The controller leader this broker knows (kNoLeader: none).
  [[nodiscard]] NodeId leader() const;
  [[nodiscard]] bool is_leader() const { return partition_->leader(); }
  // Notified after every applied entry (and on close).
  [[nodiscard]] net::Signal& changed() { return changed_; }
  // This broker's registration epoch once its registration applied (-1 before).
  [[nodiscard]] std::int64_t broker_epoch() const { return broker_epoch_; }
  // This run's registration was applied and then removed
  // (unregister_broker): the broker no longer registers nor heartbeats; a
  // restart (a new incarnation) joins again.
  [[nodiscard]] bool removed() const { return removed_; }
  // This run's registration is applied here, so the state holds at least
  // everything committed before it: what a broker that just (re)started
  // needs before it takes a topic missing from its state as missing from
  // the cluster (and auto-creates it).
  [[nodiscard]] bool caught_up() const { return broker_epoch_ >= 0; }
  [[nodiscard]] const ControllerConfig& config() const { return config_; }
  [[nodiscard]] Partition& partition() { return *partition_; }

 private:
  Controller(const Clock& clock, asio::any_io_executor shard, Transport* transport,
             ControllerConfig config, std::shared_ptr<Partition> partition);
  // Snapshots (controller_snapshot.cpp). At open: the newest snapshot of
  // the file and raft.state's start snapshot becomes the state; one is
  // needed when the log no longer starts at 0. Errors: corrupt_log.
  [[nodiscard]] Status load_snapshot();
  // The log restarted past what was applied (the leader sent its snapshot
  // instead of the entries): installs that snapshot. Errors: corrupt_log.
  [[nodiscard]] Status install_start_snapshot();
  // Writes the state to the snapshot file, then cuts the log there.
  awaitable<void> take_snapshot();
  // Writes `bytes` (a snapshot at `at`) to the file on the disk thread.
  awaitable<Status> write_snapshot(std::shared_ptr<const std::vector<std::byte>> bytes, Offset at);
  // Applies every committed record not applied yet. Errors: a record that
  // is not a command, or a read error (the controller stops applying).
  [[nodiscard]] Status apply_committed();
  awaitable<void> apply_loop();
  awaitable<void> register_loop();
  // On the leader: append, wait for commit and apply.
  awaitable<Result<Proposed>> propose_here(const Command& command, Clock::SteadyTime deadline);
  awaitable<Result<Proposed>> forward(NodeId to, const Command& command,
                                      Clock::SteadyTime deadline);
  awaitable<Status> heartbeat(Clock::SteadyTime deadline);
  void note_heartbeat(NodeId broker, std::int64_t epoch);
  // Where a proposal or heartbeat goes: the known leader; else, on a broker
  // outside the voters (which hears of no leader before it is a learner), the
  // next voter in turn; kNoLeader when there is nobody to ask.
  [[nodiscard]] NodeId call_target();
  // On the leader (controller_learners.cpp): proposes the next registered
  // broker outside the group's membership as a learner, or else the removal
  // of the next learner no longer registered, one change at a time.
  void add_learners();
  // What every broker refuses before proposing: unregistering a voter (of
  // its --seeds or of the controller group's membership). nullopt: nothing
  // to refuse here.
  [[nodiscard]] std::optional<ApplyOutcome> refusal(const Command& command) const;
  // This run was registered and its registration is gone: logs it once.
  [[nodiscard]] bool check_removed();
  void fence_silent();
  // Proposes a fence or unfence (one at a time: fencing_).
  awaitable<void> propose_verdict(Command command);
  void spawn(awaitable<void> task);

  const Clock& clock_;
  asio::any_io_executor shard_;
  storage::Filesystem* fs_ = nullptr;
  std::filesystem::path folder_;  // <data_dir>/kControllerDir
  DiskThread* disk_ = nullptr;
  Transport* transport_;
  ControllerConfig config_;
  std::shared_ptr<Partition> partition_;
  MetadataState state_;
  Offset applied_end_{0};  // records below this offset are applied
  Offset snapshot_at_{0};  // the snapshot file holds the state there
  bool snapshotting_ = false;
  // This leader's proposals waiting for their outcome, by offset: an entry
  // of another term at that offset (a truncation replaced it) is not theirs.
  struct Awaited {
    Term term;
    std::optional<ApplyOutcome> outcome;
  };
  std::map<Offset, Awaited> awaited_;
  std::int64_t broker_epoch_ = -1;
  // Producer-id blocks [first, end) allocated to this broker in this run;
  // ids are handed out from the last one.
  std::vector<std::pair<std::int64_t, std::int64_t>> id_blocks_;
  std::int64_t next_producer_id_ = 0;
  // On the leader: when each broker was last heard from (steady clock).
  std::map<NodeId, Clock::SteadyTime> last_heard_;
  bool leading_ = false;
  std::size_t next_voter_ = 0;  // call_target's turn among the voters
  bool fencing_ = false;        // a fence/unfence proposal is in flight
  bool removed_ = false;        // check_removed()
  // The leader answered this broker's heartbeat that its registration is gone.
  bool removed_by_leader_ = false;
  bool stopping_ = false;
  std::size_t running_ = 0;
  Status failed_;  // set when applying failed: the controller stops applying
  net::Signal changed_;
  net::Signal done_;  // running_ fell
  net::Signal wake_;  // close() began
};

}  // namespace spate::cluster
