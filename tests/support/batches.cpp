// SPDX-License-Identifier: Apache-2.0
//
// Random batch construction and batch splitting for storage tests.

#include "support/batches.h"

#include "spate/common/bytes.h"

namespace spate::testing {

std::vector<std::byte> make_batch(Rng& rng, int records, std::size_t value_bytes,
                                  std::int64_t timestamp) {
  protocol::BatchBuilder builder;
  for (int i = 0; i < records; ++i) {
    protocol::RecordSpec spec;
    spec.timestamp = timestamp + i;
    spec.value = std::vector<std::byte>(value_bytes);
    for (auto& b : *spec.value) b = static_cast<std::byte>(rng.next());
    if (rng.chance(50)) spec.key = to_bytes("key");
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
