// SPDX-License-Identifier: Apache-2.0
//
// Hard limits shared by several modules. Configurable limits live in each
// module's config struct; these are the ceilings those configs may not exceed.

#pragma once

#include <cstdint>

namespace spate::limits {

// The largest record batch Spate will store or serve (Kafka's message.max.bytes
// may be configured up to this). Keeps every in-segment position in 32 bits.
inline constexpr std::uint32_t kBatchBytesMax = 256U * 1024U * 1024U;

// Segments are capped so that relative positions fit an index entry's uint32.
inline constexpr std::uint64_t kSegmentBytesMax = std::uint64_t{1} << 31;

}  // namespace spate::limits
