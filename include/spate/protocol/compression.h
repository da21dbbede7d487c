// SPDX-License-Identifier: Apache-2.0
//
// Record batch compression codecs (kafka-protocol.md §3.2): gzip, snappy (raw
// blocks and the xerial framing the Java client writes), lz4 (frame format),
// zstd. Decompression is bounded: it stops with an error as soon as the output
// would pass `bytes_max`, so a small batch claiming a huge size costs nothing.

#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "spate/common/result.h"
#include "spate/protocol/record_batch.h"

namespace spate::protocol {

// Errors: malformed (corrupt input), limit_exceeded (output past bytes_max),
//   invalid_argument (Compression::none or an unknown codec).
[[nodiscard]] Result<std::vector<std::byte>> decompress(Compression codec,
                                                        std::span<const std::byte> input,
                                                        std::size_t bytes_max);
// The same into `out` (cleared first), reusing its capacity: fresh memory
// costs a page fault per 4 KiB, more than inflating it (validation
// decompresses every compressed batch a producer sends).
[[nodiscard]] Status decompress_into(Compression codec, std::span<const std::byte> input,
                                     std::size_t bytes_max, std::vector<std::byte>& out);

// Compresses with the codec's default level (snappy as a raw block, as
// librdkafka writes it). Errors: invalid_argument for none.
[[nodiscard]] Result<std::vector<std::byte>> compress(Compression codec,
                                                      std::span<const std::byte> input);

// The records section of a batch, decompressed if needed (bounded).
// REQUIRES: `batch` passed validate_batch().
[[nodiscard]] Result<std::vector<std::byte>> batch_records(std::span<const std::byte> batch,
                                                           std::size_t bytes_max);

// Rebuilds an uncompressed batch as compressed with `codec` (header fields
// kept, attributes and CRC updated). For tests, benchmarks and the CLI.
[[nodiscard]] Result<std::vector<std::byte>> compress_batch(std::span<const std::byte> batch,
                                                            Compression codec);

}  // namespace spate::protocol
