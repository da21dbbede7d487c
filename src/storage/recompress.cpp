// SPDX-License-Identifier: Apache-2.0

#include "recompress.h"

#include <fmt/format.h>

#include "spate/protocol/compression.h"

namespace spate::storage {
namespace {

int level_of(const LogConfig& config, protocol::Compression codec) {
  switch (codec) {
    case protocol::Compression::gzip:
      return config.gzip_level;
    case protocol::Compression::lz4:
      return config.lz4_level;
    case protocol::Compression::zstd:
      return config.zstd_level;
    case protocol::Compression::none:
    case protocol::Compression::snappy:
      break;
  }
  return 0;
}

}  // namespace

bool needs_recompression(const LogConfig& config, const protocol::BatchHeader& header) {
  return config.compression && *config.compression != header.compression();
}

Status recompress(const LogConfig& config, std::span<const std::byte> batch,
                  protocol::BatchHeader& header, std::vector<std::byte>& out) {
  const protocol::Compression codec = *config.compression;
  const std::size_t bytes_max = protocol::records_bytes_max(config.batch_bytes_max);
  if (auto s = protocol::recompress_batch(batch, codec, level_of(config, codec), bytes_max, out);
      !s) {
    if (s.error().code() == Errc::limit_exceeded) {
      return Error(Errc::record_too_large,
                   fmt::format("the records decompress past {} bytes", bytes_max));
    }
    return s;
  }
  // Kafka re-checks the size after recompression (UnifiedLog.append).
  if (out.size() > config.batch_bytes_max) {
    return Error(Errc::record_too_large,
                 fmt::format("the batch is {} bytes recompressed, above max.message.bytes {}",
                             out.size(), config.batch_bytes_max));
  }
  auto rewritten = protocol::decode_batch_header(out, out.size());
  if (!rewritten) return rewritten.error();
  header = *rewritten;
  return {};
}

}  // namespace spate::storage
