// SPDX-License-Identifier: Apache-2.0
//
// Batches as an idempotent producer sends them: producer id, epoch and base
// sequence set, CRC recomputed.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"

namespace spate::testing {

// `records` records with values "v<first_seq + i>", timestamps from `timestamp`.
[[nodiscard]] inline std::vector<std::byte> producer_batch(std::int64_t producer_id,
                                                           std::int16_t epoch,
                                                           std::int32_t first_seq, int records = 1,
                                                           std::int64_t timestamp = 1000) {
  protocol::BatchBuilder builder(timestamp);
  for (int i = 0; i < records; ++i) {
    const std::string value = "v" + std::to_string(static_cast<std::int64_t>(first_seq) + i);
    builder.add_value(std::as_bytes(std::span<const char>(value.data(), value.size())));
  }
  auto batch = builder.build();
  store_be<std::int64_t>(batch.data() + protocol::batch_field::kProducerId, producer_id);
  store_be<std::int16_t>(batch.data() + protocol::batch_field::kProducerEpoch, epoch);
  store_be<std::int32_t>(batch.data() + protocol::batch_field::kBaseSequence, first_seq);
  store_be<std::uint32_t>(batch.data() + protocol::batch_field::kCrc,
                          protocol::compute_batch_crc(batch));
  return batch;
}

}  // namespace spate::testing
