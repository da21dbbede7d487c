// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: a record batch, including decompression into a bounded
// buffer and record decoding.

#include <cstddef>
#include <cstdint>
#include <span>

#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spate::protocol;  // NOLINT(google-build-using-namespace)
  auto batch = std::as_bytes(std::span<const std::uint8_t>(data, size));
  // The fuzzer mutates the CRC away almost always; check the rest regardless.
  auto header = decode_batch_header(batch, 1U << 20U);
  if (!header || header->total_bytes() != batch.size()) return 0;
  (void)validate_batch(batch, 1U << 20U);
  auto records = batch_records(batch, 4U << 20U);
  if (!records) return 0;
  (void)decode_record_section(*header, *records);
  return 0;
}
