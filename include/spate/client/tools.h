// SPDX-License-Identifier: Apache-2.0
//
// Pure helpers behind the spate CLI: the Java client's key partitioner,
// argument parsers, text for JSON output, tables, latency percentiles.

#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spate/common/result.h"

namespace spate::client {

// Kafka's murmur2 (Utils.murmur2 of the Java client), and the partition the
// Java client's default partitioner picks for a keyed record:
// (murmur2(key) & 0x7fffffff) % partitions.
[[nodiscard]] std::int32_t murmur2(std::span<const std::byte> data);
[[nodiscard]] std::int32_t partition_for_key(std::span<const std::byte> key,
                                             std::int32_t partitions);

// "name=value" (the value may contain '='). Errors: invalid_argument.
[[nodiscard]] Result<std::pair<std::string, std::string>> parse_key_value(std::string_view text);

// Where a consumer starts: `beginning`, `end`, an offset `N`, `-N` (N before
// the end), or `@MS` (the first record at or after a timestamp in ms).
struct StartPosition {
  enum class Kind : std::uint8_t { beginning, end, offset, from_end, timestamp };
  Kind kind = Kind::beginning;
  std::int64_t value = 0;
};
[[nodiscard]] Result<StartPosition> parse_start_position(std::string_view text);

// Arbitrary bytes as UTF-8 text that a JSON string can hold: valid UTF-8
// (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF) is
// kept, and each other byte becomes the character U+00XX (its Latin-1
// reading), so names, keys and values that are not UTF-8 still print as
// valid JSON. The JSON library escapes quotes and control characters.
[[nodiscard]] std::string json_text(std::string_view bytes);

// Left-aligned columns separated by two spaces, with a header row.
[[nodiscard]] std::string format_table(const std::vector<std::string>& header,
                                       const std::vector<std::vector<std::string>>& rows);

// Percentile (0..100) of the values, nearest rank. REQUIRES: !values.empty().
[[nodiscard]] std::int64_t percentile(std::vector<std::int64_t>& values, double p);

}  // namespace spate::client
