// SPDX-License-Identifier: Apache-2.0
//
// Test helpers for record batches: random valid batches and splitting the
// bytes a read returned back into batches.

#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"

namespace spate::testing {

// A valid uncompressed batch of `records` records with values of
// `value_bytes` random bytes and timestamps timestamp, timestamp+1, ...
[[nodiscard]] std::vector<std::byte> make_batch(Rng& rng, int records, std::size_t value_bytes,
                                                std::int64_t timestamp);

// Splits concatenated batches by their batchLength fields. Returns false if
// the bytes do not end exactly at a batch boundary.
[[nodiscard]] bool split_batches(std::span<const std::byte> bytes,
                                 std::vector<std::span<const std::byte>>& out);

}  // namespace spate::testing
