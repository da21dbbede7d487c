// SPDX-License-Identifier: Apache-2.0
//
// The small files beside a partition's segments: recovery point, start offset
// and the clean-shutdown marker (docs/storage-format.md §Partition files).

#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "spate/common/result.h"
#include "spate/common/types.h"
#include "spate/storage/file.h"

namespace spate::storage {

inline constexpr const char* kRecoveryPointFile = "recovery.point";
inline constexpr const char* kStartOffsetFile = "start.offset";
inline constexpr const char* kCleanShutdownFile = "clean.shutdown";
inline constexpr const char* kRaftStateFile = "raft.state";  // owned by the raft driver
inline constexpr const char* kTmpSuffix = ".tmp";

inline constexpr std::uint32_t kRecoveryPointMagic = 0x53505250;  // "SPRP"
inline constexpr std::uint32_t kStartOffsetMagic = 0x5350534F;    // "SPSO"
inline constexpr std::uint32_t kCleanShutdownMagic = 0x53504353;  // "SPCS"

// An offset file: an envelope (envelope.h; magic u32, version u16 (1)) whose
// body is reserved u16, offset i64; then the CRC-32C of the 16 bytes before it.
// 20 bytes. Written with write_file_atomic.
[[nodiscard]] Status write_offset_file(Filesystem& fs, const std::filesystem::path& path,
                                       std::uint32_t magic, Offset offset,
                                       bool* replaced = nullptr);
// Errors: not_found if absent; corrupt_log if damaged (a newer version too);
// limit_exceeded past 64 bytes; io_error.
[[nodiscard]] Result<Offset> read_offset_file(Filesystem& fs, const std::filesystem::path& path,
                                              std::uint32_t magic);

// The clean-shutdown marker: what a clean open trusts instead of scanning. An
// envelope whose body is reserved u16, end offset i64, the segments and the
// terms (docs/storage-format.md §clean.shutdown).
struct CleanMarker {
  Offset end_offset;
  // (base offset, .log size) of every segment, ascending.
  struct SegmentSize {
    std::int64_t base = 0;
    std::uint64_t size_bytes = 0;
  };
  std::vector<SegmentSize> segments;
  struct TermStart {
    std::int64_t term = 0;
    std::int64_t start = 0;
  };
  std::vector<TermStart> terms;
};

[[nodiscard]] std::vector<std::byte> encode_clean_marker(const CleanMarker& marker);
// Errors: corrupt_log for a damaged or unknown (newer) marker.
[[nodiscard]] Result<CleanMarker> decode_clean_marker(std::span<const std::byte> bytes);

}  // namespace spate::storage
