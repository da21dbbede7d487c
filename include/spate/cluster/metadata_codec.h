// SPDX-License-Identifier: Apache-2.0
//
// The bytes of the controller's log entries (one Command each) and of its
// snapshots (a whole MetadataState, kept in raft::LogStart::snapshot).
// Big-endian, versioned, and decoded like the Kafka codec: every count and
// length is checked against the bytes left and MetadataLimits before
// anything is allocated (docs/controller.md, "Cluster metadata").
//
// Command:   u8 version (1), u8 type (the Command alternative's index), fields
// Snapshot:  u32 magic "SPMD", u16 version (1), i64 applied index,
//            u64 next topic id, i64 next producer id, u32 broker count,
//            brokers, u32 topic count, topics
// A string is u32 length + bytes; an optional one u8 present + string; a
// list of ids u32 count + i32 each; configs u32 count + (name, value) pairs
// in strictly increasing name order.

#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "spate/cluster/metadata.h"
#include "spate/common/result.h"

namespace spate::cluster {

inline constexpr std::uint8_t kMetadataCommandVersion = 1;
inline constexpr std::uint32_t kMetadataSnapshotMagic = 0x53504D44;  // "SPMD"
inline constexpr std::uint16_t kMetadataSnapshotVersion = 1;

[[nodiscard]] std::vector<std::byte> encode_command(const Command& command);

// Errors: malformed (truncated, an unknown type, a count or length past the
// bytes left or the limits, configs out of order, trailing bytes),
// unsupported_version.
[[nodiscard]] Result<Command> decode_command(std::span<const std::byte> bytes,
                                             const MetadataLimits& limits = {});

[[nodiscard]] std::vector<std::byte> encode_snapshot(const MetadataState& state);

// The state (with `limits`) that encode_snapshot() encoded. Errors:
// malformed (as decode_command, plus anything MetadataState::restore
// refuses: a repeated id or name, a replica on an unknown broker...),
// unsupported_version.
[[nodiscard]] Result<MetadataState> decode_snapshot(std::span<const std::byte> bytes,
                                                    const MetadataLimits& limits = {});

}  // namespace spate::cluster
