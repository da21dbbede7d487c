// SPDX-License-Identifier: Apache-2.0
//
// Test helpers for record batches: the one maker of random valid batches, and
// splitting the bytes a read returned back into batches.

#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"

namespace spate::testing {

// What each record of a made batch holds.
struct BatchShape {
  // Values of a random size in [value_bytes_min, value_bytes_max], random bytes.
  std::size_t value_bytes_min = 0;
  std::size_t value_bytes_max = 100;
  // A short random key on about half of the records. Without keys, and with
  // min == max, a batch's size depends only on its record count.
  bool keys = true;
};

// A valid uncompressed batch of `records` records shaped by `shape`, with
// timestamps first_timestamp, first_timestamp + 1, ... (-1: none).
[[nodiscard]] std::vector<std::byte> make_batch(Rng& rng, int records, const BatchShape& shape,
                                                std::int64_t first_timestamp);

// The usual shape: values of 0 to value_bytes_max bytes, keys half the time.
[[nodiscard]] inline std::vector<std::byte> make_varied_batch(Rng& rng, int records,
                                                              std::size_t value_bytes_max,
                                                              std::int64_t first_timestamp) {
  return make_batch(rng, records, BatchShape{0, value_bytes_max, true}, first_timestamp);
}

// Splits concatenated batches by their batchLength fields. Returns false if
// the bytes do not end exactly at a batch boundary.
[[nodiscard]] bool split_batches(std::span<const std::byte> bytes,
                                 std::vector<std::span<const std::byte>>& out);

}  // namespace spate::testing
