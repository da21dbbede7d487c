// SPDX-License-Identifier: Apache-2.0
//
// Controller: opening the controller log, applying what it commits, the
// registration and heartbeat loop, fencing, closing (controller.h).

#include "spate/cluster/controller.h"

#include "spate/cluster/metadata_codec.h"
#include "spate/common/limits.h"
#include "spate/common/log.h"
#include "spate/common/rng.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

#include "module_shared.h"
#include "transport_link.h"

namespace spate::cluster {
namespace {

constexpr std::uint64_t kControllerReadBytes = 1U << 20U;

storage::LogConfig controller_log_config() {
  storage::LogConfig c;
  c.segment_bytes_max = 64U << 20U;
  // Only the controller cuts its log, at a snapshot (take_snapshot).
  c.retention_ms = -1;
  c.retention_bytes = -1;
  return c;
}

}  // namespace

Controller::Controller(const Clock& clock, asio::any_io_executor shard, Transport* transport,
                       ControllerConfig config, std::shared_ptr<Partition> partition)
    : clock_(clock),
      shard_(std::move(shard)),
      transport_(transport),
      config_(std::move(config)),
      partition_(std::move(partition)),
      state_(config_.limits) {}

Controller::~Controller() = default;

Result<std::unique_ptr<Controller>> Controller::open(
    storage::Filesystem& fs, const std::filesystem::path& data_dir, const Clock& clock,
    asio::any_io_executor shard, DiskThread& disk, Transport* transport, ControllerConfig config) {
  const auto folder = data_dir / kControllerDir;
  if (auto s = fs.create_directories(folder); !s) return s.error();
  if (auto s = fs.sync_directory(data_dir); !s) return s.error();
  auto log = storage::PartitionLog::open(fs, folder / "metadata-0", controller_log_config(), clock,
                                         kControllerLogName);
  if (!log) return log.error();
  if (config.registration.incarnation == 0) {
    config.registration.incarnation = Rng::from_os().next() | 1U;  // 0 means "unset"
  }
  config.registration.id = config.self;
  PartitionRaftConfig raft;
  raft.self = config.self;
  raft.voters = config.voters;
  raft.election_ticks = config.election_ticks;
  raft.heartbeat_ticks = config.heartbeat_ticks;
  raft.counters = config.counters;
  auto partition = std::make_shared<Partition>(storage::TopicPartition{kControllerLogName, 0},
                                               std::move(*log), shard, disk, raft);
  if (transport != nullptr) {
    partition->set_sender([transport](raft::Message m) {
      const NodeId to = m.to;
      (void)transport->send(to, kControllerGroup, m);
    });
  }
  std::unique_ptr<Controller> c(
      new Controller(clock, std::move(shard), transport, std::move(config), std::move(partition)));
  c->fs_ = &fs;
  c->folder_ = folder;
  c->disk_ = &disk;
  if (auto s = c->load_snapshot(); !s) {
    (void)c->partition_->close_log();
    return s.error();
  }
  if (auto s = c->apply_committed(); !s) {
    (void)c->partition_->close_log();
    return s.error();
  }
  logger()->info("controller: voters {}, {} brokers and {} topics applied up to index {}",
                 fmt::join(c->config_.voters, ","), c->state_.brokers().size(),
                 c->state_.topics().size(), c->state_.applied_index());
  return c;
}

void Controller::spawn(awaitable<void> task) {
  ++running_;
  asio::co_spawn(shard_, std::move(task), [this](std::exception_ptr e) {
    log_exception(e, "controller");
    --running_;
    done_.notify_all();
  });
}

void Controller::start() {
  spawn(apply_loop());
  spawn(register_loop());
}

NodeId Controller::leader() const {
  if (partition_->closed()) return kNoLeader;
  return partition_->status().leader;
}

Status Controller::apply_committed() {
  if (partition_->start_offset() > applied_end_) {
    if (auto s = install_start_snapshot(); !s) return s;
  }
  const Offset end = partition_->high_watermark();
  bool progressed = false;
  // Bounded: every pass applies at least one batch or stops.
  while (applied_end_ < end) {
    auto read = partition_->read_local(applied_end_, kControllerReadBytes);
    if (!read) return read.error();
    if (read->bytes.empty() || read->next_offset <= applied_end_) break;
    auto bytes = read->bytes.read_all();
    if (!bytes) return bytes.error();
    std::span<const std::byte> rest = *bytes;
    while (rest.size() >= protocol::kBatchHeaderBytes) {
      auto peek = protocol::decode_batch_header(rest, limits::kBatchBytesMax);
      if (!peek) return peek.error();
      if (peek->total_bytes() > rest.size()) break;  // read_local gives whole batches
      // (A replicated group's no-op is a batch without records.)
      auto header = protocol::validate_compacted_batch(rest.first(peek->total_bytes()),
                                                       limits::kBatchBytesMax);
      if (!header) return header.error();
      const auto batch = rest.first(header->total_bytes());
      rest = rest.subspan(header->total_bytes());
      if (header->last_offset() < applied_end_) continue;
      if (!header->is_control() && header->record_count > 0) {
        auto records = protocol::batch_records(batch, limits::kBatchBytesMax);
        if (!records) return records.error();
        auto views = protocol::decode_record_section(*header, *records);
        if (!views) return views.error();
        for (const auto& v : *views) {
          auto command = v.value ? decode_command(*v.value, config_.limits)
                                 : Result<Command>(Error(Errc::malformed, "null value"));
          if (!command) {
            return Error(Errc::corrupt_log,
                         fmt::format("controller log offset {}: not a command: {}", v.offset,
                                     command.error().message()));
          }
          auto outcome = state_.apply(*command, v.offset + 1);
          if (!outcome) return outcome.error();
          if (const auto* reg = std::get_if<RegisterBroker>(&*command);
              reg != nullptr && reg->id == config_.self &&
              reg->incarnation == config_.registration.incarnation && outcome->applied()) {
            broker_epoch_ = outcome->value;
          }
          auto it = awaited_.find(Offset(v.offset));
          if (it != awaited_.end() && it->second.term == Term(header->partition_leader_epoch)) {
            it->second.outcome = std::move(*outcome);
          }
        }
      }
      applied_end_ = header->last_offset() + 1;
      progressed = true;
    }
  }
  if (progressed) changed_.notify_all();
  return Status{};
}

awaitable<void> Controller::apply_loop() {
  // Bounded: until close().
  while (!stopping_) {
    if (auto s = apply_committed(); !s) {
      failed_ = s;
      logger()->error("controller: stopped applying the metadata log: {}", s.error());
      changed_.notify_all();
      co_return;
    }
    const bool leading = is_leader();
    if (leading && !leading_) {
      // A new leader gives every broker a full session before judging it.
      last_heard_.clear();
      logger()->info("controller: this broker (node {}) leads the controller, term {}",
                     config_.self, partition_->term());
    }
    leading_ = leading;
    if (leading_) add_learners();
    if (!snapshotting_ && config_.snapshot_every > 0 &&
        applied_end_.value() - snapshot_at_.value() >= config_.snapshot_every) {
      snapshotting_ = true;
      spawn(take_snapshot());
    }
    co_await partition_->committed().wait_at_most(std::chrono::milliseconds(100));
  }
}

awaitable<void> Controller::register_loop() {
  // Bounded: until close().
  while (!stopping_) {
    const auto deadline = clock_.steady_now() + config_.call_timeout;
    if (check_removed()) {
      // Registering again would undo the operator's removal: only a restart does.
      co_await wake_.wait_at_most(config_.broker_heartbeat);
      continue;
    }
    const auto* mine = state_.broker(config_.self);
    const bool registered = broker_epoch_ >= 0 && mine != nullptr &&
                            mine->incarnation == config_.registration.incarnation;
    if (!registered) {
      Command command = config_.registration;  // named: see propose()
      auto r = co_await propose(std::move(command), deadline);
      if (!r) {
        logger()->debug("controller: registering node {}: {}", config_.self, r.error());
      } else if (!r->outcome.applied()) {
        logger()->error("controller: registration of node {} refused: {}", config_.self,
                        r->outcome.message);
      } else {
        logger()->info("controller: node {} registered, broker epoch {}", config_.self,
                       r->outcome.value);
      }
    } else if (auto s = co_await heartbeat(deadline); !s) {
      logger()->debug("controller: heartbeat of node {}: {}", config_.self, s.error());
    }
    if (stopping_) break;
    co_await wake_.wait_at_most(registered ? config_.broker_heartbeat : config_.retry_backoff);
  }
}

bool Controller::check_removed() {
  if (removed_) return true;
  // Before this run's registration applied, an absent one is not yet there.
  if (broker_epoch_ < 0 || (state_.broker(config_.self) != nullptr && !removed_by_leader_)) {
    return false;
  }
  removed_ = true;
  logger()->error(
      "controller: node {} was removed from the cluster (its registration, broker epoch {}, is "
      "gone): it no longer registers nor heartbeats and holds no replica; stop it, or restart it "
      "to join the cluster again as a new broker",
      config_.self, broker_epoch_);
  changed_.notify_all();
  return true;
}

void Controller::tick() {
  if (partition_->closed()) return;
  partition_->tick();
  if (leading_ && is_leader()) fence_silent();
}

void Controller::fence_silent() {
  if (fencing_ || stopping_) return;
  const auto now = clock_.steady_now();
  if (last_heard_.size() > state_.brokers().size()) {
    // A removed broker's last heartbeat would fence it at once if it joined again.
    std::erase_if(last_heard_, [&](const auto& e) { return state_.broker(e.first) == nullptr; });
  }
  for (const auto& [id, broker] : state_.brokers()) {
    if (broker.fenced) continue;
    auto [it, fresh] = last_heard_.try_emplace(id, now);
    if (fresh || now - it->second < config_.broker_session) continue;
    fencing_ = true;
    logger()->warn("controller: fencing node {}: no heartbeat for {} ms", id,
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count());
    Command command = FenceBroker{id, broker.epoch};
    spawn(propose_verdict(std::move(command)));
    return;
  }
}

void Controller::note_heartbeat(NodeId broker, std::int64_t epoch) {
  last_heard_[broker] = clock_.steady_now();
  const auto* b = state_.broker(broker);
  if (b == nullptr || !b->fenced || b->epoch != epoch || fencing_ || stopping_) return;
  fencing_ = true;
  Command command = UnfenceBroker{broker, epoch};
  spawn(propose_verdict(std::move(command)));
}

awaitable<void> Controller::propose_verdict(Command command) {
  const auto deadline = clock_.steady_now() + config_.call_timeout;
  auto r = co_await propose(command, deadline);
  if (!r) {
    logger()->warn("controller: {}: {}", command_name(command), r.error());
  } else if (!r->outcome.applied()) {
    logger()->warn("controller: {} refused: {}", command_name(command), r->outcome.message);
  }
  fencing_ = false;
}

awaitable<void> Controller::close() {
  stopping_ = true;
  wake_.notify_all();
  changed_.notify_all();
  partition_->committed().notify_all();
  const std::function<bool()> idle = [this] { return running_ == 0; };
  // Bounded: the loops see stopping_ at their next wake; a proposal in
  // flight ends at its deadline.
  (void)co_await done_.wait_for(idle, net::kNoDeadline);
  if (auto s = co_await partition_->close(); !s) {
    logger()->error("controller: closing its log: {}", s.error());
  }
}

}  // namespace spate::cluster
