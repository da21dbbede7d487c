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

// Compression levels as Kafka's topic configs give them (KIP-390):
// compression.gzip.level -1 (zlib's default) or 1-9, compression.lz4.level
// 1-17 (9, the default, is lz4's fast mode as in Kafka; others its
// high-compression mode at that level), compression.zstd.level any level
// zstd takes (3 by default). Snappy has none.
inline constexpr int kGzipLevelDefault = -1;
inline constexpr int kLz4LevelDefault = 9;
inline constexpr int kZstdLevelDefault = 3;
[[nodiscard]] int default_level(Compression codec);

// Compresses (snappy as a raw block, as librdkafka writes it), by default at
// the codec's default level. Errors: invalid_argument for none.
[[nodiscard]] Result<std::vector<std::byte>> compress(Compression codec,
                                                      std::span<const std::byte> input);
[[nodiscard]] Result<std::vector<std::byte>> compress(Compression codec,
                                                      std::span<const std::byte> input, int level);

// The records section of a batch, decompressed if needed (bounded).
// REQUIRES: `batch` passed validate_batch().
[[nodiscard]] Result<std::vector<std::byte>> batch_records(std::span<const std::byte> batch,
                                                           std::size_t bytes_max);

// Rebuilds an uncompressed batch as compressed with `codec` (header fields
// kept, attributes and CRC updated). For tests, benchmarks and the CLI.
[[nodiscard]] Result<std::vector<std::byte>> compress_batch(std::span<const std::byte> batch,
                                                            Compression codec);

// Broker-side recompression (a topic's compression.type other than
// `producer`): `batch` rebuilt into `out` (cleared first) with its records in
// `codec` (Compression::none: uncompressed) at `level`. The records are
// decompressed (bounded by `records_bytes_max`) and re-encoded as one batch;
// every header field but the codec bits of the attributes, batchLength and
// the CRC (recomputed) is kept: base offset, producer id, epoch and base
// sequence, timestamps, record count, the other attribute bits.
// REQUIRES: `batch` passed validate_batch().
// Errors: malformed (the records do not decompress), limit_exceeded (they
//   decompress past records_bytes_max), io_error (a codec failed).
[[nodiscard]] Status recompress_batch(std::span<const std::byte> batch, Compression codec,
                                      int level, std::size_t records_bytes_max,
                                      std::vector<std::byte>& out);

}  // namespace spate::protocol
