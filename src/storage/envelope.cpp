// SPDX-License-Identifier: Apache-2.0
//
// The small-file envelope: magic, version, body, CRC-32C.

#include "spate/storage/envelope.h"

#include "spate/common/bytes.h"
#include "spate/common/crc32c.h"

namespace spate::storage {

std::vector<std::byte> encode_envelope(std::uint32_t magic, std::uint16_t version,
                                       std::span<const std::byte> body) {
  ByteWriter w(kEnvelopeOverheadBytes + body.size());
  w.write<std::uint32_t>(magic);
  w.write<std::uint16_t>(version);
  w.write_bytes(body);
  w.write<std::uint32_t>(crc32c::value(w.view()));
  return w.release();
}

Result<Envelope> open_envelope(std::span<const std::byte> bytes, std::uint32_t magic,
                               std::uint16_t max_version) {
  if (bytes.size() < kEnvelopeOverheadBytes) {
    return Error::corrupt(fmt::format("too short: {} bytes, at least {} expected", bytes.size(),
                                      kEnvelopeOverheadBytes));
  }
  const auto found_magic = load_be<std::uint32_t>(bytes.data());
  if (found_magic != magic) {
    return Error::corrupt(
        fmt::format("wrong magic {:#010x}, expected {:#010x}", found_magic, magic));
  }
  const auto covered = bytes.first(bytes.size() - 4);
  const auto stored = load_be<std::uint32_t>(bytes.data() + covered.size());
  const auto computed = crc32c::value(covered);
  if (stored != computed) {
    return Error::corrupt(
        fmt::format("CRC mismatch: stored {:#010x}, computed {:#010x}", stored, computed));
  }
  const auto version = load_be<std::uint16_t>(bytes.data() + 4);
  if (version < 1 || version > max_version) {
    return Error(Errc::unsupported_version,
                 fmt::format("version {}, this build reads 1 to {}", version, max_version));
  }
  return Envelope{version, covered.subspan(kEnvelopeHeaderBytes)};
}

Status write_envelope(Filesystem& fs, const std::filesystem::path& path, std::uint32_t magic,
                      std::uint16_t version, std::span<const std::byte> body, bool* replaced) {
  return write_file_atomic(fs, path, encode_envelope(magic, version, body), replaced);
}

Result<EnvelopeFile> read_envelope(Filesystem& fs, const std::filesystem::path& path,
                                   std::uint32_t magic, std::uint16_t max_version,
                                   std::size_t bytes_max) {
  auto bytes = read_file(fs, path, bytes_max);
  if (!bytes) return bytes.error();
  auto opened = open_envelope(*bytes, magic, max_version);
  if (!opened) {
    return Error(opened.error().code(),
                 fmt::format("{}: {}", path.string(), opened.error().detail()));
  }
  const auto version = opened->version;
  const auto at = static_cast<std::ptrdiff_t>(opened->body.data() - bytes->data());
  const auto length = opened->body.size();
  // The body moves to the front of the buffer it was read into.
  bytes->erase(bytes->begin(), bytes->begin() + at);
  bytes->resize(length);
  return EnvelopeFile{version, std::move(*bytes)};
}

}  // namespace spate::storage
