// SPDX-License-Identifier: Apache-2.0
//
// Encoding of the recovery point, start offset and clean-shutdown marker files.

#include "log_files.h"

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"

namespace spate::storage {
namespace {

constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kMarkerTermsMax = 1U << 20U;

}  // namespace

Status write_offset_file(Filesystem& fs, const std::filesystem::path& path, std::uint32_t magic,
                         Offset offset, bool* replaced) {
  ByteWriter w(20);
  w.write<std::uint32_t>(magic);
  w.write<std::uint16_t>(kVersion);
  w.write<std::uint16_t>(0);
  w.write<std::int64_t>(offset.value());
  w.write<std::uint32_t>(crc32c::value(w.view()));
  return write_file_atomic(fs, path, w.view(), replaced);
}

Result<Offset> read_offset_file(Filesystem& fs, const std::filesystem::path& path,
                                std::uint32_t magic) {
  auto bytes = read_file(fs, path, 64);
  if (!bytes) return bytes.error();
  auto bad = [&](std::string_view why) {
    return Error::corrupt(fmt::format("{}: {}", path.string(), why));
  };
  if (bytes->size() != 20) return bad(fmt::format("{} bytes, expected 20", bytes->size()));
  ByteReader in(*bytes);
  if (*in.read<std::uint32_t>() != magic) return bad("wrong magic");
  if (*in.read<std::uint16_t>() != kVersion) return bad("unknown version");
  (void)in.read<std::uint16_t>();
  const auto offset = *in.read<std::int64_t>();
  const auto crc = *in.read<std::uint32_t>();
  if (crc != crc32c::value(std::span<const std::byte>(*bytes).first(16)))
    return bad("CRC mismatch");
  if (offset < 0) return bad(fmt::format("negative offset {}", offset));
  return Offset(offset);
}

std::vector<std::byte> encode_clean_marker(const CleanMarker& marker) {
  ByteWriter w(32 + (marker.terms.size() + marker.segments.size()) * 16);
  w.write<std::uint32_t>(kCleanShutdownMagic);
  w.write<std::uint16_t>(kVersion);
  w.write<std::uint16_t>(0);
  w.write<std::int64_t>(marker.end_offset.value());
  w.write<std::uint32_t>(static_cast<std::uint32_t>(marker.segments.size()));
  for (const auto& s : marker.segments) {
    w.write<std::int64_t>(s.base);
    w.write<std::uint64_t>(s.size_bytes);
  }
  w.write<std::uint32_t>(static_cast<std::uint32_t>(marker.terms.size()));
  for (const auto& t : marker.terms) {
    w.write<std::int64_t>(t.term);
    w.write<std::int64_t>(t.start);
  }
  w.write<std::uint32_t>(crc32c::value(w.view()));
  return w.release();
}

Result<CleanMarker> decode_clean_marker(std::span<const std::byte> bytes) {
  auto bad = [](std::string_view why) {
    return Error::corrupt(fmt::format("clean shutdown marker: {}", why));
  };
  if (bytes.size() < 28) return bad("too short");
  const auto crc = load_be<std::uint32_t>(bytes.data() + bytes.size() - 4);
  if (crc != crc32c::value(bytes.first(bytes.size() - 4))) return bad("CRC mismatch");
  ByteReader in(bytes.first(bytes.size() - 4));
  if (*in.read<std::uint32_t>() != kCleanShutdownMagic) return bad("wrong magic");
  if (*in.read<std::uint16_t>() != kVersion) return bad("unknown version");
  (void)in.read<std::uint16_t>();
  CleanMarker m;
  m.end_offset = Offset(*in.read<std::int64_t>());
  const auto segment_count = *in.read<std::uint32_t>();
  if (segment_count > kMarkerTermsMax || in.remaining() < std::size_t{segment_count} * 16 + 4) {
    return bad(fmt::format("{} segments in {} bytes", segment_count, in.remaining()));
  }
  for (std::uint32_t i = 0; i < segment_count; ++i) {
    CleanMarker::SegmentSize s;
    s.base = *in.read<std::int64_t>();
    s.size_bytes = *in.read<std::uint64_t>();
    m.segments.push_back(s);
  }
  const auto count = *in.read<std::uint32_t>();
  if (count > kMarkerTermsMax || in.remaining() != std::size_t{count} * 16) {
    return bad(fmt::format("{} terms in {} bytes", count, in.remaining()));
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    CleanMarker::TermStart t;
    t.term = *in.read<std::int64_t>();
    t.start = *in.read<std::int64_t>();
    m.terms.push_back(t);
  }
  return m;
}

}  // namespace spate::storage
