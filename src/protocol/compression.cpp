// SPDX-License-Identifier: Apache-2.0
//
// Bounded decompression and compression for the four Kafka codecs.

#include "spate/protocol/compression.h"

#include <algorithm>
#include <array>
#include <limits>
#include <lz4frame.h>
#include <memory>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"

namespace spate::protocol {
namespace {

constexpr std::size_t kChunkBytes = 64 * 1024;

Error too_big(std::size_t bytes_max) {
  return Error::limit(fmt::format("decompressed data exceeds the limit of {} bytes", bytes_max));
}

// Grows `out` by one chunk, or fails when that would pass bytes_max + 1 (one
// byte past the limit is how an overflow is detected). The capacity doubles
// but never past bytes_max + 1, so a bomb costs at most 2 x bytes_max in all.
bool grow(std::vector<std::byte>& out, std::size_t bytes_max) {
  if (out.size() > bytes_max) return false;
  const std::size_t target = std::min(out.size() + kChunkBytes, bytes_max + 1);
  if (target > out.capacity()) {
    std::size_t capacity = std::max(target, 2 * out.capacity());
    if (capacity >= bytes_max) capacity = bytes_max + 1;
    out.reserve(capacity);
  }
  out.resize(target);
  return true;
}

Status gunzip(std::span<const std::byte> in, std::size_t bytes_max, std::vector<std::byte>& out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return Error::io("inflateInit2 failed");
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&z, &inflateEnd);
  z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::size_t used = 0;
  // Bounded: each pass either produces output (bounded by bytes_max) or ends.
  while (true) {
    if (used == out.size() && !grow(out, bytes_max)) return too_big(bytes_max);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(out.size() - used);
    const int rc = inflate(&z, Z_NO_FLUSH);
    used = out.size() - z.avail_out;
    if (used > bytes_max) return too_big(bytes_max);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK) {
      return Error::malformed(fmt::format("gzip: {}", z.msg != nullptr ? z.msg : "bad data"));
    }
    if (z.avail_in == 0 && z.avail_out != 0) return Error::malformed("gzip: truncated stream");
  }
  out.resize(used);
  return {};
}

Status unlz4(std::span<const std::byte> in, std::size_t bytes_max, std::vector<std::byte>& out) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return Error::io("LZ4F_createDecompressionContext failed");
  }
  std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> ctx(
      raw, &LZ4F_freeDecompressionContext);
  std::size_t used = 0;
  std::size_t consumed = 0;
  while (true) {
    if (used == out.size() && !grow(out, bytes_max)) return too_big(bytes_max);
    std::size_t dst = out.size() - used;
    std::size_t src = in.size() - consumed;
    const std::size_t hint =
        LZ4F_decompress(ctx.get(), out.data() + used, &dst, in.data() + consumed, &src, nullptr);
    if (LZ4F_isError(hint)) {
      return Error::malformed(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    }
    used += dst;
    consumed += src;
    if (used > bytes_max) return too_big(bytes_max);
    if (hint == 0) break;  // frame complete
    if (consumed == in.size() && dst == 0) return Error::malformed("lz4: truncated frame");
  }
  out.resize(used);
  return {};
}

Status unzstd(std::span<const std::byte> in, std::size_t bytes_max, std::vector<std::byte>& out) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!ctx) return Error::io("ZSTD_createDCtx failed");
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  std::size_t used = 0;
  while (true) {
    if (used == out.size() && !grow(out, bytes_max)) return too_big(bytes_max);
    ZSTD_outBuffer output{out.data() + used, out.size() - used, 0};
    const std::size_t rc = ZSTD_decompressStream(ctx.get(), &output, &input);
    if (ZSTD_isError(rc)) return Error::malformed(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
    used += output.pos;
    if (used > bytes_max) return too_big(bytes_max);
    if (rc == 0) break;  // frame complete
    if (input.pos == input.size && output.pos < output.size) {
      return Error::malformed("zstd: truncated frame");
    }
  }
  out.resize(used);
  return {};
}

// One raw snappy block, appended to `out`.
Status unsnappy_block(std::span<const std::byte> in, std::size_t bytes_max,
                      std::vector<std::byte>& out) {
  const char* src = reinterpret_cast<const char*>(in.data());
  std::size_t length = 0;
  if (!snappy::GetUncompressedLength(src, in.size(), &length)) {
    return Error::malformed("snappy: bad block header");
  }
  if (length > bytes_max || out.size() + length > bytes_max) return too_big(bytes_max);
  const std::size_t at = out.size();
  out.resize(at + length);
  if (!snappy::RawUncompress(src, in.size(), reinterpret_cast<char*>(out.data() + at))) {
    return Error::malformed("snappy: corrupt block");
  }
  return {};
}

// xerial framing (Java clients): magic 82 'SNAPPY' 00, two INT32 versions,
// then blocks of [INT32 length][snappy block].
constexpr std::array<unsigned char, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

Status unsnappy(std::span<const std::byte> in, std::size_t bytes_max, std::vector<std::byte>& out) {
  const bool xerial = in.size() >= 16 && std::equal(kXerialMagic.begin(), kXerialMagic.end(),
                                                    in.begin(), [](unsigned char a, std::byte b) {
                                                      return a == static_cast<unsigned char>(b);
                                                    });
  if (!xerial) {
    return unsnappy_block(in, bytes_max, out);
  }
  ByteReader r(in.subspan(16));
  // Bounded: every block consumes at least its 4-byte length.
  while (!r.empty()) {
    auto length = r.read<std::int32_t>();
    if (!length || *length < 0) return Error::malformed("snappy: bad xerial block length");
    auto block = r.read_bytes(static_cast<std::size_t>(*length));
    if (!block) return Error::malformed("snappy: xerial block past the end");
    if (auto s = unsnappy_block(*block, bytes_max, out); !s) return s;
  }
  return {};
}

// The compressors append to `out`: room for the worst case, then trimmed.
Status gzip_append(std::span<const std::byte> in, int level, std::vector<std::byte>& out) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Error::io(fmt::format("deflateInit2 failed (level {})", level));
  }
  std::unique_ptr<z_stream, decltype(&deflateEnd)> guard(&z, &deflateEnd);
  const std::size_t at = out.size();
  out.resize(at + deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data() + at);
  z.avail_out = static_cast<uInt>(out.size() - at);
  const int rc = deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  if (rc != Z_STREAM_END) return Error::io("gzip: deflate did not finish");
  return {};
}

Status lz4_append(std::span<const std::byte> in, int level, std::vector<std::byte>& out) {
  LZ4F_preferences_t prefs{};
  // Independent blocks, as librdkafka writes them (Java's reader wants them).
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  // Kafka's default level is lz4's fast compressor; others its HC levels.
  prefs.compressionLevel = level == kLz4LevelDefault ? 0 : level;
  const std::size_t at = out.size();
  out.resize(at + LZ4F_compressFrameBound(in.size(), &prefs));
  const std::size_t n =
      LZ4F_compressFrame(out.data() + at, out.size() - at, in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return Error::io(fmt::format("lz4: {}", LZ4F_getErrorName(n)));
  out.resize(at + n);
  return {};
}

Status zstd_append(std::span<const std::byte> in, int level, std::vector<std::byte>& out) {
  const std::size_t at = out.size();
  out.resize(at + ZSTD_compressBound(in.size()));
  const std::size_t n =
      ZSTD_compress(out.data() + at, out.size() - at, in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Error::io(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  out.resize(at + n);
  return {};
}

Status snappy_append(std::span<const std::byte> in, std::vector<std::byte>& out) {
  const std::size_t at = out.size();
  out.resize(at + snappy::MaxCompressedLength(in.size()));
  std::size_t n = 0;
  snappy::RawCompress(reinterpret_cast<const char*>(in.data()), in.size(),
                      reinterpret_cast<char*>(out.data() + at), &n);
  out.resize(at + n);
  return {};
}

Status compress_append(Compression codec, std::span<const std::byte> in, int level,
                       std::vector<std::byte>& out) {
  switch (codec) {
    case Compression::gzip:
      return gzip_append(in, level, out);
    case Compression::snappy:
      return snappy_append(in, out);
    case Compression::lz4:
      return lz4_append(in, level, out);
    case Compression::zstd:
      return zstd_append(in, level, out);
    case Compression::none:
      break;
  }
  return Error::invalid("compress with codec none");
}

}  // namespace

Status decompress_into(Compression codec, std::span<const std::byte> input, std::size_t bytes_max,
                       std::vector<std::byte>& out) {
  out.clear();  // the capacity stays
  switch (codec) {
    case Compression::gzip:
      return gunzip(input, bytes_max, out);
    case Compression::snappy:
      return unsnappy(input, bytes_max, out);
    case Compression::lz4:
      return unlz4(input, bytes_max, out);
    case Compression::zstd:
      return unzstd(input, bytes_max, out);
    case Compression::none:
      break;
  }
  return Error::invalid(fmt::format("no decompression for codec {}", static_cast<int>(codec)));
}

Result<std::vector<std::byte>> decompress(Compression codec, std::span<const std::byte> input,
                                          std::size_t bytes_max) {
  std::vector<std::byte> out;
  if (auto s = decompress_into(codec, input, bytes_max, out); !s) return s.error();
  return out;
}

int default_level(Compression codec) {
  switch (codec) {
    case Compression::gzip:
      return kGzipLevelDefault;
    case Compression::lz4:
      return kLz4LevelDefault;
    case Compression::zstd:
      return kZstdLevelDefault;
    case Compression::none:
    case Compression::snappy:
      break;
  }
  return 0;
}

Result<std::vector<std::byte>> compress(Compression codec, std::span<const std::byte> input) {
  return compress(codec, input, default_level(codec));
}

Result<std::vector<std::byte>> compress(Compression codec, std::span<const std::byte> input,
                                        int level) {
  std::vector<std::byte> out;
  if (auto s = compress_append(codec, input, level, out); !s) return s.error();
  return out;
}

Result<std::vector<std::byte>> batch_records(std::span<const std::byte> batch,
                                             std::size_t bytes_max) {
  auto header = decode_batch_header(batch, batch.size());
  if (!header) return header.error();
  auto records = batch.subspan(kBatchHeaderBytes);
  if (header->compression() == Compression::none) {
    if (records.size() > bytes_max) return too_big(bytes_max);
    return std::vector<std::byte>(records.begin(), records.end());
  }
  return decompress(header->compression(), records, bytes_max);
}

Result<std::vector<std::byte>> compress_batch(std::span<const std::byte> batch, Compression codec) {
  auto header = decode_batch_header(batch, batch.size());
  if (!header) return header.error();
  if (header->compression() != Compression::none) {
    return Error::invalid("compress_batch needs an uncompressed batch");
  }
  if (codec == Compression::none) return Error::invalid("compress with codec none");
  std::vector<std::byte> out;
  if (auto s = recompress_batch(batch, codec, default_level(codec), batch.size(), out); !s) {
    return s.error();
  }
  return out;
}

// Recompression decompresses into a buffer kept per thread (its pages are
// faulted in once); one that a large batch grew past this is given back.
constexpr std::size_t kPlainKeepBytes = std::size_t{16} << 20U;

Status recompress_batch(std::span<const std::byte> batch, Compression codec, int level,
                        std::size_t records_bytes_max, std::vector<std::byte>& out) {
  auto header = decode_batch_header(batch, batch.size());
  if (!header) return header.error();
  const auto section = batch.subspan(kBatchHeaderBytes);
  std::span<const std::byte> records = section;
  thread_local std::vector<std::byte> plain;
  struct Trim {
    ~Trim() {
      if (plain.capacity() > kPlainKeepBytes) std::vector<std::byte>().swap(plain);
    }
  } trim;
  if (header->compression() != Compression::none) {
    if (auto s = decompress_into(header->compression(), section, records_bytes_max, plain); !s) {
      return s;
    }
    records = plain;
  } else if (records.size() > records_bytes_max) {
    return too_big(records_bytes_max);
  }
  out.clear();
  out.insert(out.end(), batch.begin(), batch.begin() + kBatchHeaderBytes);
  if (codec == Compression::none) {
    out.insert(out.end(), records.begin(), records.end());
  } else if (auto s = compress_append(codec, records, level, out); !s) {
    return s;
  }
  if (out.size() - kBatchLogOverheadBytes >
      static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return Error::limit(fmt::format("a recompressed batch of {} bytes", out.size()));
  }
  store_be<std::int32_t>(out.data() + batch_field::kBatchLength,
                         static_cast<std::int32_t>(out.size() - kBatchLogOverheadBytes));
  const auto attributes =
      static_cast<std::int16_t>((header->attributes & ~0x7) | static_cast<std::int16_t>(codec));
  store_be<std::int16_t>(out.data() + batch_field::kAttributes, attributes);
  store_be<std::uint32_t>(out.data() + batch_field::kCrc, compute_batch_crc(out));
  return {};
}

}  // namespace spate::protocol
