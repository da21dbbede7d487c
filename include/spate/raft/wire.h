// SPDX-License-Identifier: Apache-2.0
//
// The inter-broker encoding of raft::Message (design.md, Replication: a
// framed binary RPC on the cluster port). Big-endian, versioned, and decoded
// like the Kafka codec: every count and length is checked against the bytes
// left and against limits before anything is allocated.
//
//   u8  version (2)        u8 type           i32 from        i32 to
//   i64 term               i64 log_index     i64 log_term    i64 commit
//   i64 hint               u8 flags (1 reject, 2 force)
//   u32 entry count        then per entry: i64 index, i64 term, u8 kind,
//                          u32 span, u32 size, bytes
//   restart only:          membership, then u32 snapshot size, bytes
//
// A membership (the data of a membership entry, and in a restart):
//   u32 voter count, i32 per voter; u32 learner count, i32 per learner

#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "spate/common/result.h"
#include "spate/raft/config.h"
#include "spate/raft/messages.h"

namespace spate::raft {

inline constexpr std::uint8_t kWireVersion = 2;

struct WireLimits {
  std::size_t entries_max = 100'000;             // per message
  std::size_t entry_bytes_max = 16U << 20U;      // per entry
  std::size_t members_max = 1'000;               // voters, and learners, per membership
  std::size_t snapshot_bytes_max = 256U << 20U;  // per restart
};

[[nodiscard]] std::vector<std::byte> encode_message(const Message& message);

// Errors: malformed (truncated, a bad type or flag, an entry count or size
// beyond the bytes left or the limits, trailing bytes), unsupported_version.
[[nodiscard]] Result<Message> decode_message(std::span<const std::byte> bytes,
                                             const WireLimits& limits = {});

[[nodiscard]] std::vector<std::byte> encode_membership(const Membership& membership);

// Errors: malformed (truncated, trailing bytes, counts beyond the limits, a
// negative, repeated or unsorted id, a node both voter and learner).
[[nodiscard]] Result<Membership> decode_membership(std::span<const std::byte> bytes,
                                                   const WireLimits& limits = {});

}  // namespace spate::raft
