// SPDX-License-Identifier: Apache-2.0
//
// Random batch construction and batch splitting for storage tests.

#include "support/batches.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "spate/common/bytes.h"

namespace spate::testing {

std::vector<std::byte> make_batch(Rng& rng, int records, const BatchShape& shape,
                                  std::int64_t first_timestamp) {
  protocol::BatchBuilder builder(first_timestamp);
  const std::size_t spread =
      shape.value_bytes_max - std::min(shape.value_bytes_min, shape.value_bytes_max);
  for (int i = 0; i < records; ++i) {
    protocol::RecordSpec spec;
    spec.timestamp = first_timestamp < 0 ? first_timestamp : first_timestamp + i;
    const auto size =
        shape.value_bytes_max - spread + static_cast<std::size_t>(rng.uniform(spread + 1));
    std::vector<std::byte> value(size);
    // Eight random bytes per draw: the sims make tens of megabytes of values.
    for (std::size_t at = 0; at < size; at += 8) {
      const std::uint64_t word = rng.next();
      std::memcpy(value.data() + at, &word, std::min<std::size_t>(8, size - at));
    }
    spec.value = std::move(value);
    if (shape.keys && rng.chance(50)) spec.key = to_bytes(fmt::format("k{}", rng.uniform(1000)));
    builder.add(spec);
  }
  return builder.build();
}

bool split_batches(std::span<const std::byte> bytes, std::vector<std::span<const std::byte>>& out) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < protocol::kBatchLogOverheadBytes) return false;
    const auto length =
        load_be<std::int32_t>(bytes.data() + at + protocol::batch_field::kBatchLength);
    if (length < 0) return false;
    const std::size_t total = protocol::kBatchLogOverheadBytes + static_cast<std::size_t>(length);
    if (bytes.size() - at < total) return false;
    out.push_back(bytes.subspan(at, total));
    at += total;
  }
  return true;
}

}  // namespace spate::testing
