// SPDX-License-Identifier: Apache-2.0
//
// CompactionRig: a LogRig for the compaction suites (log_cleaner_test,
// log_cleaner_crash_test): a compacted log without time retention, keyed
// appends recorded in a KeyModel, keyless ones written before the topic
// became compacted, and the check of a log against the model.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/storage/partition_log.h"

#include "support/compaction.h"
#include "support/log_rig.h"

namespace spate::testing {

class CompactionRig : public LogRig {
 public:
  // cleanup.policy=compact, retention.ms=-1.
  CompactionRig();

  // Appends one batch of `records` (timestamps from the clock) and records it
  // in the model; expects it to be taken.
  void put(storage::PartitionLog& log, const std::vector<KeyedRecord>& records,
           protocol::Compression codec = protocol::Compression::none, std::int64_t producer_id = -1,
           std::int32_t sequence = 0);
  // put under cleanup.policy=delete, as before the topic became compacted
  // (a compacted topic refuses records without a key).
  void put_before_compact(storage::PartitionLog& log, const std::vector<KeyedRecord>& records);
  // Rolls and flushes so that every segment but the active one is cleanable.
  static void seal(storage::PartitionLog& log);
  // The log's invariants, then its records against the model below and
  // above the clean point: "" or what is wrong.
  [[nodiscard]] std::string check(storage::PartitionLog& log);

  KeyModel keys_;
};

}  // namespace spate::testing
