// SPDX-License-Identifier: Apache-2.0
//
// GoogleTest fixtures over LogRig that several storage test files share (a
// fixture's suite must be one type in every file that uses it):
// PartitionLogTest for the plain behaviours, TornWrite for recovery.

#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "support/batches.h"
#include "support/log_rig.h"

#include "storage/segment.h"

namespace spate::testing {

// The file of the segment at `base` in the test log's directory (".log", ".index", ...).
inline std::filesystem::path segment_path(Offset base, const char* suffix) {
  return kLogDir / storage::segment_file_name(base, suffix);
}

// A log's plain behaviours on MemFs: no retention, timestamps from the clock.
class PartitionLogTest : public ::testing::Test, public LogRig {
 protected:
  PartitionLogTest() : LogRig(20261122) {
    config_.retention_ms = -1;
    ts_ = clock_.wall_ms();
  }

  // A batch whose size depends only on `records` and `value_bytes`.
  std::vector<std::byte> fixed_batch(int records, std::size_t value_bytes, std::int64_t timestamp) {
    return make_batch(rng_, records, BatchShape{value_bytes, value_bytes, false}, timestamp);
  }

  // Appends `batch` as it is and records it in the model.
  storage::AppendResult append_bytes(storage::PartitionLog& log, std::vector<std::byte> batch,
                                     Term term = Term(1)) {
    const auto sent = batch;
    auto r = log.append(batch, term);
    EXPECT_TRUE(r) << r.error();
    if (!r) return {};
    model_.append(sent, r->base_offset, term);
    return *r;
  }

  // The only batch a read(from, 1) returns.
  std::vector<std::byte> read_one(storage::PartitionLog& log, Offset from) {
    auto r = log.read(from, 1);
    EXPECT_TRUE(r) << r.error();
    if (!r) return {};
    auto bytes = r->bytes.read_all();
    EXPECT_TRUE(bytes) << bytes.error();
    if (!bytes) return {};
    std::vector<std::span<const std::byte>> parts;
    EXPECT_TRUE(split_batches(*bytes, parts));
    EXPECT_EQ(parts.size(), 1U);
    return *bytes;
  }
};

// Recovery from torn writes and damaged files (reliability.md S1).
class TornWrite : public ::testing::Test, public LogRig {
 protected:
  TornWrite() : LogRig(31337) {}

  // File position of the batch at `base` in a single-segment log.
  std::uint64_t position_of(Offset base) const {
    std::uint64_t at = 0;
    for (const auto& b : model_.batches()) {
      if (b.base == base) return at;
      at += b.bytes.size();
    }
    ADD_FAILURE() << "no batch at " << base;
    return at;
  }

  // Five flushed batches in one segment, then the process dies (no power
  // loss): the next open is unclean and scans the whole segment.
  void five_batches_then_unclean() {
    auto log = open_log();
    for (int i = 0; i < 5; ++i) append(*log, 1 + static_cast<int>(rng_.uniform(6)), 400);
    ASSERT_TRUE(log->flush());
  }

  // Reopens and expects the last batch cut (its bytes were damaged), for a
  // reason that says `reason`.
  void expect_last_batch_cut(std::uint64_t bytes_cut, std::string_view reason = "") {
    const Offset last = model_.batches().back().base;
    const std::uint64_t last_at = position_of(last);
    auto log = open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_FALSE(log->recovery().clean);
    ASSERT_TRUE(log->recovery().cut_reason.has_value());
    EXPECT_NE(log->recovery().cut_reason->find(reason), std::string::npos)
        << *log->recovery().cut_reason;
    EXPECT_EQ(log->recovery().bytes_cut, bytes_cut);
    EXPECT_EQ(log->end_offset(), last);
    EXPECT_EQ(log->size_bytes(), last_at);
    model_.truncate(last);
    EXPECT_EQ(compare_with_model(*log, model_), "");
    auto contents = mem_.contents(kLogDir / "00000000000000000000.log");
    ASSERT_TRUE(contents);
    EXPECT_EQ(contents->size(), last_at);
    // The log goes on from there, and keeps it through a clean restart.
    EXPECT_EQ(append(*log, 2, 100).base_offset, last);
    ASSERT_TRUE(log->close());
    log = open_log();
    EXPECT_TRUE(log->recovery().clean);
    EXPECT_EQ(compare_with_model(*log, model_), "");
  }
};

}  // namespace spate::testing
