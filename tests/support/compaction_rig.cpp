// SPDX-License-Identifier: Apache-2.0

#include "support/compaction_rig.h"

#include <gtest/gtest.h>

namespace spate::testing {

CompactionRig::CompactionRig() {
  config_.retention_ms = -1;
  config_.cleanup_compact = true;
}

void CompactionRig::put(storage::PartitionLog& log, const std::vector<KeyedRecord>& records,
                        protocol::Compression codec, std::int64_t producer_id,
                        std::int32_t sequence) {
  auto batch = keyed_batch(records, clock_.wall_ms(), codec, producer_id, sequence);
  auto r = log.append(batch, Term(1));
  ASSERT_TRUE(r) << r.error();
  keys_.append(r->base_offset.value(), records);
}

void CompactionRig::put_before_compact(storage::PartitionLog& log,
                                       const std::vector<KeyedRecord>& records) {
  const storage::LogConfig before = log.config();
  storage::LogConfig as_delete = before;
  as_delete.cleanup_compact = false;
  as_delete.cleanup_delete = true;
  ASSERT_TRUE(log.set_config(as_delete));
  put(log, records);
  ASSERT_TRUE(log.set_config(before));
}

void CompactionRig::seal(storage::PartitionLog& log) {
  ASSERT_TRUE(log.roll());
  ASSERT_TRUE(log.flush());
}

std::string CompactionRig::check(storage::PartitionLog& log) {
  if (auto s = log.check_invariants(); !s) return s.error().message();
  auto read = read_keyed_batches(log);
  if (!read) return read.error().message();
  return keys_.check(flatten(*read), log.clean_point(), log.end_offset());
}

}  // namespace spate::testing
