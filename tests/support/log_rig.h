// SPDX-License-Identifier: Apache-2.0
//
// LogRig: one PartitionLog under test on FaultyFs over MemFs (no plan: every
// call passes through and is counted), with the model of what it must hold,
// the acknowledged (flushed) end, and the steps the storage suites share:
// open, append into the model, flush, crash and recover, and check.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_testing.h"

namespace spate::testing {

// The partition directory every rig uses (its parent exists durably).
inline const std::filesystem::path kLogDir = "/data/topic-0";

// After a failed write or sync the log refuses writes: for good (fenced: any
// failed sync, or EIO) or until storage recovers (ENOSPC, EMFILE; the clock
// of these tests does not move, so the backoff never ends). Either way it
// keeps serving reads of what was durable, unless `reads_work` is false (a
// dead disk fails the reads themselves).
void expect_fenced(storage::PartitionLog& log, bool reads_work = true);

class LogRig {
 public:
  // Quiets the storage logger; `seed` seeds the batches' contents.
  explicit LogRig(std::uint64_t seed = 4242);

  [[nodiscard]] Result<std::unique_ptr<storage::PartitionLog>> try_open();
  // Expects the open to work; nullptr if it did not.
  [[nodiscard]] std::unique_ptr<storage::PartitionLog> open_log();

  // Appends a random batch (timestamps from ts_ on) and, if it was taken,
  // records it in the model.
  Result<storage::AppendResult> try_append(storage::PartitionLog& log, int records = 3,
                                           std::size_t value_bytes_max = 200, Term term = Term(1));
  // The same, expecting it to be taken.
  storage::AppendResult append(storage::PartitionLog& log, int records = 3,
                               std::size_t value_bytes_max = 200, Term term = Term(1));
  // Appends `count` batches and flushes them: acknowledged.
  void append_flushed(storage::PartitionLog& log, int count);

  // The log ends where the model does and reads back exactly its batches.
  void expect_matches_model(storage::PartitionLog& log);

  // Reopens after a fault: the process dies (and the power too, if
  // `power_loss`, keeping up to `keep_unsynced` unsynced bytes per file), the
  // disk is healthy again. Every acknowledged batch must be there, whole, and
  // nothing half-written may be visible.
  std::unique_ptr<storage::PartitionLog> recover(std::unique_ptr<storage::PartitionLog> log,
                                                 bool power_loss, std::uint64_t keep_unsynced = 0);
  // The recovered log takes appends and keeps them through a clean restart.
  void expect_healthy(std::unique_ptr<storage::PartitionLog> log);

  // A starting state for the fault sweeps (not faulted): flushed batches over
  // several segments, open in log_.
  void prepare();

  storage::MemFs mem_;
  storage::FaultyFs faulty_{mem_};
  ManualClock clock_;
  storage::LogConfig config_;
  LogModel model_;
  Rng rng_;
  std::int64_t ts_ = 1'700'000'000'000;
  Offset acked_{0};
  std::unique_ptr<storage::PartitionLog> log_;
};

}  // namespace spate::testing
