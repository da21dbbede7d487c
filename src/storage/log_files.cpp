// SPDX-License-Identifier: Apache-2.0
//
// Encoding of the recovery point, start offset and clean-shutdown marker files:
// each an envelope (envelope.h) whose body begins with a reserved u16.

#include "log_files.h"

#include "spate/common/bytes.h"
#include "spate/storage/envelope.h"

namespace spate::storage {
namespace {

constexpr std::uint16_t kLogFilesVersion = 1;
constexpr std::size_t kOffsetFileBytes = 20;
constexpr std::size_t kMarkerTermsMax = 1U << 20U;

// Damage of any kind, a newer version included, is corrupt_log for these
// files: their readers decide between scanning and stopping by that code.
Error as_corrupt(const Error& e, std::string_view what) {
  return Error::corrupt(fmt::format("{}: {}", what, e.detail()));
}

}  // namespace

Status write_offset_file(Filesystem& fs, const std::filesystem::path& path, std::uint32_t magic,
                         Offset offset, bool* replaced) {
  ByteWriter body(kOffsetFileBytes - kEnvelopeOverheadBytes);
  body.write<std::uint16_t>(0);  // reserved
  body.write<std::int64_t>(offset.value());
  return write_envelope(fs, path, magic, kLogFilesVersion, body.view(), replaced);
}

Result<Offset> read_offset_file(Filesystem& fs, const std::filesystem::path& path,
                                std::uint32_t magic) {
  auto file = read_envelope(fs, path, magic, kLogFilesVersion, 64);
  if (!file) {
    // read_file's errors (not_found, io_error, limit_exceeded) pass as they are.
    if (file.error().code() != Errc::unsupported_version) return file.error();
    return Error::corrupt(file.error().detail());
  }
  auto bad = [&](std::string_view why) {
    return Error::corrupt(fmt::format("{}: {}", path.string(), why));
  };
  constexpr std::size_t kBodyBytes = kOffsetFileBytes - kEnvelopeOverheadBytes;
  if (file->body.size() != kBodyBytes) {
    return bad(fmt::format("{} bytes, expected {}", file->body.size() + kEnvelopeOverheadBytes,
                           kOffsetFileBytes));
  }
  // The body: reserved u16 (ignored), offset i64.
  const auto offset = load_be<std::int64_t>(file->body.data() + 2);
  if (offset < 0) return bad(fmt::format("negative offset {}", offset));
  return Offset(offset);
}

std::vector<std::byte> encode_clean_marker(const CleanMarker& marker) {
  ByteWriter w(32 + (marker.terms.size() + marker.segments.size()) * 16);
  w.write<std::uint16_t>(0);  // reserved
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
  return encode_envelope(kCleanShutdownMagic, kLogFilesVersion, w.view());
}

Result<CleanMarker> decode_clean_marker(std::span<const std::byte> bytes) {
  constexpr std::string_view kWhat = "clean shutdown marker";
  auto bad = [&](std::string_view why) {
    return Error::corrupt(fmt::format("{}: {}", kWhat, why));
  };
  auto file = open_envelope(bytes, kCleanShutdownMagic, kLogFilesVersion);
  if (!file) return as_corrupt(file.error(), kWhat);
  ByteReader in(file->body);
  auto reserved = in.read<std::uint16_t>();
  auto end = in.read<std::int64_t>();
  auto segment_count = in.read<std::uint32_t>();
  if (!reserved || !end || !segment_count) return bad("too short");
  CleanMarker m;
  m.end_offset = Offset(*end);
  if (*segment_count > kMarkerTermsMax || in.remaining() < std::size_t{*segment_count} * 16 + 4) {
    return bad(fmt::format("{} segments in {} bytes", *segment_count, in.remaining()));
  }
  m.segments.reserve(*segment_count);
  for (std::uint32_t i = 0; i < *segment_count; ++i) {
    CleanMarker::SegmentSize s;
    s.base = *in.read<std::int64_t>();  // in bounds: checked above
    s.size_bytes = *in.read<std::uint64_t>();
    m.segments.push_back(s);
  }
  const auto count = *in.read<std::uint32_t>();
  if (count > kMarkerTermsMax || in.remaining() != std::size_t{count} * 16) {
    return bad(fmt::format("{} terms in {} bytes", count, in.remaining()));
  }
  m.terms.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    CleanMarker::TermStart t;
    t.term = *in.read<std::int64_t>();
    t.start = *in.read<std::int64_t>();
    m.terms.push_back(t);
  }
  return m;
}

}  // namespace spate::storage
