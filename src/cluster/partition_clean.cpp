// SPDX-License-Identifier: Apache-2.0
//
// Partition's compaction: a pass on the broker's LogCleaner thread when the
// log says one is due, its result back on the shard.

#include "spate/cluster/partition.h"
#include "spate/common/log.h"
#include "spate/storage/log_cleaner.h"

namespace spate::cluster {

void Partition::maybe_clean() {
  if (cleaner_ == nullptr || clean_task_ || closed_ || !log_->config().cleanup_compact) return;
  if (!cleaner_->try_acquire()) return;  // one partition at a time
  // Only what consumers may read is compacted (the raft commit index later).
  std::shared_ptr<storage::CleanTask> task = log_->begin_clean(high_watermark());
  if (!task) {
    cleaner_->release();
    return;
  }
  clean_task_ = task;
  auto result = std::make_shared<Status>();
  auto self = shared_from_this();
  cleaner_->thread().submit([task, result] { *result = task->run(); }, shard_,
                            [self, task, result] { self->clean_done(*task, *result); });
}

void Partition::clean_done(storage::CleanTask& task, const Status& result) {
  cleaner_->release();
  clean_task_.reset();
  const Status finished = log_->finish_clean(task, result);
  const auto& stats = task.stats();
  cleaner_->runs.fetch_add(1);
  cleaner_->bytes_read.fetch_add(stats.bytes_read);
  cleaner_->bytes_written.fetch_add(stats.bytes_written);
  cleaner_->records_removed.fetch_add(stats.records_read - stats.records_kept);
  if (finished) {
    last_clean_ms_ = log_->clock().wall_ms();
  } else {
    cleaner_->failures.fetch_add(1);
    if (finished.error().code() != Errc::shutting_down) {
      log::get(log::Module::cluster)
          ->error("[{}] compaction failed: {}", id_.dir_name(), finished.error().message());
    }
    if (log_->fenced()) committed_.notify_all();
  }
  flush_idle_.notify_all();
}

}  // namespace spate::cluster
