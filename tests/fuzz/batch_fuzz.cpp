// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: a record batch, including decompression into a bounded
// buffer, record decoding, and the client-batch validator (Kafka's log
// validator: every record walked, maxTimestamp and the CRC rewritten).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "spate/common/bytes.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spate::protocol;  // NOLINT(google-build-using-namespace)
  constexpr std::size_t kLimit = 1U << 20U;
  auto batch = std::as_bytes(std::span<const std::uint8_t>(data, size));
  (void)check_client_batch(batch, kLimit);
  // The fuzzer mutates the CRC away almost always: validate a copy with the
  // CRC made right, so the record checks behind it are reached.
  if (size >= kBatchHeaderBytes) {
    std::vector<std::byte> fixed(batch.begin(), batch.end());
    spate::store_be<std::uint32_t>(fixed.data() + batch_field::kCrc, compute_batch_crc(fixed));
    auto header = validate_client_batch(fixed, kLimit);
    if (header) {
      // What was accepted is stored: it must pass again, unchanged.
      auto again = check_client_batch(fixed, kLimit);
      if (!again || again->max_timestamp != header->max_timestamp ||
          again->header.max_timestamp != header->max_timestamp) {
        std::abort();
      }
    }
  }
  auto header = decode_batch_header(batch, kLimit);
  if (!header || header->total_bytes() != batch.size()) return 0;
  (void)validate_batch(batch, kLimit);
  auto records = batch_records(batch, records_bytes_max(kLimit));
  if (!records) return 0;
  (void)decode_record_section(*header, *records);
  (void)check_record_section(*header, *records);
  return 0;
}
