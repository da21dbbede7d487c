// SPDX-License-Identifier: Apache-2.0
//
// A decompression bomb costs the validator at most a small multiple of
// records_bytes_max (2x, allocated in all), however far the records would expand (issue 12 item 7).

#include <array>

#include <gtest/gtest.h>

#include "spate/common/crc32c.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

std::size_t spate_allocated_bytes();  // decode_allocation_test.cpp

namespace spate::protocol {
namespace {

TEST(BatchValidationAllocation, DecompressionBombStaysWithinTheBound) {
  constexpr std::size_t kLimit = 1U << 20U;
  // 128 MiB of zeros: one "record" that would expand eight times past the bound.
  const std::vector<std::byte> zeros(std::size_t{128} << 20U);
  for (auto codec :
       std::array{Compression::gzip, Compression::zstd, Compression::lz4, Compression::snappy}) {
    auto packed = compress(codec, zeros);
    ASSERT_TRUE(packed);
    if (packed->size() + kBatchHeaderBytes > kLimit) continue;  // snappy: ratio too low
    BatchBuilder builder(1000);
    builder.add_value(to_bytes("x"));
    auto batch = builder.build();
    batch.resize(kBatchHeaderBytes);
    batch.insert(batch.end(), packed->begin(), packed->end());
    store_be<std::int32_t>(batch.data() + batch_field::kBatchLength,
                           static_cast<std::int32_t>(batch.size() - kBatchLogOverheadBytes));
    store_be<std::int16_t>(batch.data() + batch_field::kAttributes,
                           static_cast<std::int16_t>(codec));
    store_be<std::uint32_t>(batch.data() + batch_field::kCrc, compute_batch_crc(batch));

    const std::size_t before = spate_allocated_bytes();
    auto checked = check_client_batch(batch, kLimit);
    const std::size_t used = spate_allocated_bytes() - before;
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code(), Errc::record_too_large) << checked.error();
    EXPECT_LE(used, 2 * records_bytes_max(kLimit)) << "codec " << static_cast<int>(codec);
    std::fprintf(stderr, "codec %d: %zu-byte bomb, %zu bytes allocated (bound %zu)\n",
                 static_cast<int>(codec), packed->size(), used, records_bytes_max(kLimit));
  }
}

}  // namespace
}  // namespace spate::protocol
