// SPDX-License-Identifier: Apache-2.0
//
// Controller: snapshots of the metadata state, and the log cut at them
// (controller.h; docs/cluster.md, "Controller snapshots").
//
// Every `snapshot_every` applied offsets the state is encoded (the offset
// it covers, then encode_snapshot's bytes: the last command's index may be
// below that offset when no-op batches followed it), written to
// <data_dir>/__cluster/metadata.snapshot (an envelope, replaced atomically,
// on the disk thread), handed to the partition as its start snapshot, and
// only then the log's start is raised, to the previous snapshot's offset:
// the log keeps what followed that one, so it is never empty after a cut
// (raft reads the term at the start from the first batch kept). So whenever
// the log no longer starts at 0, a snapshot covering at least what precedes
// its start is both in the file and in memory, and raft sends it to a
// follower that lacks the prefix (Ready::restart, which writes it into
// raft.state); the follower installs it (install_start_snapshot) and skips
// the entries it covers. A restart loads the newest of the file's and
// raft.state's snapshots.

#include "spate/cluster/controller.h"
#include "spate/cluster/metadata_codec.h"
#include "spate/common/bytes.h"
#include "spate/common/log.h"
#include "spate/storage/envelope.h"

#include "module_shared.h"

namespace spate::cluster {
namespace {

constexpr std::uint32_t kSnapshotMagic = 0x53504353;  // "SPCS"
constexpr std::uint16_t kSnapshotVersion = 1;
constexpr std::size_t kSnapshotBytesMax = 256U << 20U;  // raft_state.h's snapshot_bytes_max

// A snapshot: the state after applying every offset below `at`.
struct Snapshot {
  Offset at;
  MetadataState state;
};

std::vector<std::byte> encode_controller_snapshot(Offset at, const MetadataState& state) {
  ByteWriter w;
  w.write<std::int64_t>(at.value());
  w.write_bytes(encode_snapshot(state));
  return w.release();
}

Result<Snapshot> decode_controller_snapshot(std::span<const std::byte> bytes,
                                            const MetadataLimits& limits) {
  ByteReader r(bytes);
  auto at = r.read<std::int64_t>();
  if (!at) return Error::corrupt("a controller snapshot without its offset");
  auto state = decode_snapshot(bytes.subspan(sizeof(std::int64_t)), limits);
  if (!state) return state.error();
  if (*at < state->applied_index()) {
    return Error::corrupt(fmt::format("a controller snapshot at offset {} holds index {}", *at,
                                      state->applied_index()));
  }
  return Snapshot{Offset(*at), std::move(*state)};
}

}  // namespace

Status Controller::load_snapshot() {
  const auto path = folder_ / kControllerSnapshotFile;
  const Offset log_start = partition_->start_offset();
  std::optional<Snapshot> best;
  std::vector<std::byte> best_bytes;
  auto consider = [&](std::vector<std::byte> bytes, std::string_view from) {
    auto snapshot = decode_controller_snapshot(bytes, config_.limits);
    if (!snapshot) {
      // Harmless while the log still holds everything; fatal otherwise (below).
      logger()->warn("controller: the snapshot in {} is unusable: {}", from, snapshot.error());
      return;
    }
    if (!best || snapshot->at > best->at) {
      best = std::move(*snapshot);
      best_bytes = std::move(bytes);
    }
  };
  auto file = storage::read_envelope(*fs_, path, kSnapshotMagic, kSnapshotVersion,
                                     kSnapshotBytesMax + storage::kEnvelopeOverheadBytes);
  if (file) {
    consider(std::move(file->body), path.string());
  } else if (file.error().code() != Errc::not_found) {
    logger()->warn("controller: cannot use {}: {}", path.string(), file.error());
  }
  if (!partition_->start_snapshot().empty()) {
    consider(partition_->start_snapshot(), "raft.state");
  }
  if (log_start > Offset(0) && (!best || best->at < log_start)) {
    return Error::corrupt(fmt::format(
        "the controller log starts at offset {} and no snapshot covers what precedes it (newest "
        "usable: {}); restore {} or start this broker with an empty {}",
        log_start, best ? fmt::format("offset {}", best->at) : std::string("none"), path.string(),
        folder_.string()));
  }
  if (!best) return Status{};
  applied_end_ = best->at;
  snapshot_at_ = applied_end_;
  state_ = std::move(best->state);
  partition_->set_start_snapshot(std::move(best_bytes));
  logger()->info("controller: loaded the snapshot at offset {} (the log starts at {})",
                 applied_end_, log_start);
  return Status{};
}

Status Controller::install_start_snapshot() {
  const Offset start = partition_->start_offset();
  auto snapshot = decode_controller_snapshot(partition_->start_snapshot(), config_.limits);
  if (!snapshot) {
    return Error::corrupt(
        fmt::format("the controller log restarted at offset {} with an unusable snapshot: {}",
                    start, snapshot.error().message()));
  }
  if (snapshot->at < start) {
    return Error::corrupt(
        fmt::format("the controller log restarted at offset {} with a snapshot at offset {}", start,
                    snapshot->at));
  }
  state_ = std::move(snapshot->state);
  applied_end_ = snapshot->at;
  // Proposals the snapshot covers answer at their deadline ("may still
  // apply"); this run's registration, if covered, stands.
  awaited_.erase(awaited_.begin(), awaited_.lower_bound(applied_end_));
  const auto* mine = state_.broker(config_.self);
  if (mine != nullptr && mine->incarnation == config_.registration.incarnation) {
    broker_epoch_ = mine->epoch;
  }
  logger()->info(
      "controller: installed the leader's snapshot at offset {} (the log restarted at {})",
      applied_end_, start);
  changed_.notify_all();
  if (!snapshotting_) {
    // The file too, so that a restart needs no leader; best effort (raft.state has it).
    snapshotting_ = true;
    auto bytes = std::make_shared<const std::vector<std::byte>>(partition_->start_snapshot());
    spawn([](Controller* self, std::shared_ptr<const std::vector<std::byte>> b,
             Offset at) -> awaitable<void> {
      if (auto s = co_await self->write_snapshot(std::move(b), at); s) self->snapshot_at_ = at;
      self->snapshotting_ = false;
    }(this, std::move(bytes), applied_end_));
  }
  return Status{};
}

awaitable<Status> Controller::write_snapshot(std::shared_ptr<const std::vector<std::byte>> bytes,
                                             Offset at) {
  auto written = std::make_shared<Status>();
  // A named job, not a temporary in the co_await (see DiskThread::run).
  std::function<void()> job = [fs = fs_, path = folder_ / kControllerSnapshotFile, bytes, written] {
    *written = storage::write_envelope(*fs, path, kSnapshotMagic, kSnapshotVersion, *bytes);
  };
  co_await disk_->run(std::move(job), shard_);
  if (!*written) {
    logger()->error("controller: writing the snapshot at offset {}: {}", at, written->error());
  }
  co_return *written;
}

awaitable<void> Controller::take_snapshot() {
  const Offset at = applied_end_;
  const Offset cut = snapshot_at_;  // the previous snapshot's (see the top)
  auto bytes =
      std::make_shared<const std::vector<std::byte>>(encode_controller_snapshot(at, state_));
  if (bytes->size() > kSnapshotBytesMax) {
    logger()->error("controller: a snapshot of {} bytes exceeds {}; the log is not cut",
                    bytes->size(), kSnapshotBytesMax);
    co_return;  // snapshotting_ stays set: no retry every pass
  }
  if (auto s = co_await write_snapshot(bytes, at); !s || stopping_) {
    snapshotting_ = false;
    co_return;
  }
  snapshot_at_ = at;
  // Raft sends this from now on to followers lacking the prefix; it covers
  // the start as it is and as it will be.
  partition_->set_start_snapshot(*bytes);
  if (cut <= partition_->start_offset()) {
    logger()->info("controller: snapshot at offset {} ({} bytes)", at, bytes->size());
  } else if (auto s = co_await partition_->advance_start(cut); !s) {
    logger()->warn("controller: cutting the log at offset {}: {}", cut, s.error());
  } else {
    logger()->info("controller: snapshot at offset {} ({} bytes); the log starts at {} now", at,
                   bytes->size(), cut);
  }
  snapshotting_ = false;
}

}  // namespace spate::cluster
