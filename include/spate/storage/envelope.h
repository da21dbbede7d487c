// SPDX-License-Identifier: Apache-2.0
//
// The checksummed envelope of every small state file (node.meta, topics.meta,
// recovery.point, start.offset, clean.shutdown; raft.state next):
//
//   magic u32 | version u16 | body | CRC-32C u32 of every byte before it
//
// big-endian, replaced atomically (write_file_atomic). The body is the user's:
// a user whose layout begins with a reserved u16 writes it as the body's first
// two bytes (docs/storage-format.md §Small-file envelope).

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "spate/common/result.h"
#include "spate/storage/file.h"

namespace spate::storage {

// magic + version before the body, the CRC after it.
inline constexpr std::size_t kEnvelopeHeaderBytes = 6;
inline constexpr std::size_t kEnvelopeOverheadBytes = kEnvelopeHeaderBytes + 4;

// A file opened in place: `body` views the bytes given to open_envelope.
struct Envelope {
  std::uint16_t version = 0;
  std::span<const std::byte> body;
};

// A file read by read_envelope: owns its body.
struct EnvelopeFile {
  std::uint16_t version = 0;
  std::vector<std::byte> body;
};

// Versions count from 1 (a writer never uses 0).
[[nodiscard]] std::vector<std::byte> encode_envelope(std::uint32_t magic, std::uint16_t version,
                                                     std::span<const std::byte> body);

// Checks, in this order: length (at least kEnvelopeOverheadBytes), magic, CRC,
// version (1 to max_version). Any input is safe: a failure is an error, never
// an assertion. Errors: corrupt_log "too short: …", "wrong magic …", "CRC
// mismatch …"; unsupported_version "version V, this build reads 1 to M" (the
// CRC held, so the file is whole but newer). Messages do not name the file:
// the caller adds it.
[[nodiscard]] Result<Envelope> open_envelope(std::span<const std::byte> bytes, std::uint32_t magic,
                                             std::uint16_t max_version);

// write_file_atomic(fs, path, encode_envelope(magic, version, body), replaced).
[[nodiscard]] Status write_envelope(Filesystem& fs, const std::filesystem::path& path,
                                    std::uint32_t magic, std::uint16_t version,
                                    std::span<const std::byte> body, bool* replaced = nullptr);

// Reads `path` (at most bytes_max bytes) and opens it. Errors: read_file's
// (not_found, io_error, limit_exceeded), then open_envelope's with the path
// in front of the message.
[[nodiscard]] Result<EnvelopeFile> read_envelope(Filesystem& fs, const std::filesystem::path& path,
                                                 std::uint32_t magic, std::uint16_t max_version,
                                                 std::size_t bytes_max);

}  // namespace spate::storage
