// SPDX-License-Identifier: Apache-2.0

#include "spate/client/tools.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace spate::client {

std::int32_t murmur2(std::span<const std::byte> data) {
  // The Java client's constants and order of operations, in 32-bit arithmetic.
  const std::uint32_t seed = 0x9747b28cU;
  const std::uint32_t m = 0x5bd1e995U;
  const int r = 24;
  const auto length = static_cast<std::uint32_t>(data.size());
  std::uint32_t h = seed ^ length;
  const std::size_t blocks = data.size() / 4;
  auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(data[i]); };
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::size_t b = i * 4;
    std::uint32_t k = byte(b) | (byte(b + 1) << 8U) | (byte(b + 2) << 16U) | (byte(b + 3) << 24U);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const std::size_t tail = blocks * 4;
  switch (data.size() % 4) {
    case 3:
      h ^= byte(tail + 2) << 16U;
      [[fallthrough]];
    case 2:
      h ^= byte(tail + 1) << 8U;
      [[fallthrough]];
    case 1:
      h ^= byte(tail);
      h *= m;
      break;
    default:
      break;
  }
  h ^= h >> 13U;
  h *= m;
  h ^= h >> 15U;
  return static_cast<std::int32_t>(h);
}

std::int32_t partition_for_key(std::span<const std::byte> key, std::int32_t partitions) {
  const auto positive = static_cast<std::uint32_t>(murmur2(key)) & 0x7fffffffU;
  return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(partitions));
}

Result<std::pair<std::string, std::string>> parse_key_value(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return Error::invalid(fmt::format("'{}' is not NAME=VALUE", text));
  }
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

Result<StartPosition> parse_start_position(std::string_view text) {
  auto number = [&](std::string_view digits) -> Result<std::int64_t> {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || v < 0) {
      return Error::invalid(fmt::format(
          "--from '{}': expected beginning, end, an offset N, -N (N before the end) or @MS "
          "(a time in ms since the epoch)",
          text));
    }
    return v;
  };
  if (text == "beginning" || text == "earliest") return StartPosition{};
  if (text == "end" || text == "latest") return StartPosition{StartPosition::Kind::end, 0};
  if (text.starts_with('@')) {
    auto v = number(text.substr(1));
    if (!v) return v.error();
    return StartPosition{StartPosition::Kind::timestamp, *v};
  }
  if (text.starts_with('-')) {
    auto v = number(text.substr(1));
    if (!v) return v.error();
    return StartPosition{StartPosition::Kind::from_end, *v};
  }
  auto v = number(text);
  if (!v) return v.error();
  return StartPosition{StartPosition::Kind::offset, *v};
}

namespace {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629, the
// table of Unicode §3.9: no overlong forms, no surrogates, nothing past
// U+10FFFF), or 0 if it does not start with one.
std::size_t utf8_sequence(std::string_view s) {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char low = 0x80;  // the range of the second byte
  unsigned char high = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) low = 0xa0;   // overlong below U+0800
    if (c == 0xed) high = 0x9f;  // surrogates U+D800..U+DFFF
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) low = 0x90;   // overlong below U+10000
    if (c == 0xf4) high = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len || at(1) < low || at(1) > high) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((at(k) & 0xc0U) != 0x80U) return 0;
  }
  return len;
}

}  // namespace

std::string json_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  // Bounded by the bytes: each step consumes at least one.
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t len = utf8_sequence(bytes.substr(i));
    if (len > 0) {
      out.append(bytes.substr(i, len));
      i += len;
      continue;
    }
    const auto c = static_cast<unsigned char>(bytes[i++]);  // U+0080..U+00FF in UTF-8
    out += static_cast<char>(0xc0U | (c >> 6U));
    out += static_cast<char>(0x80U | (c & 0x3fU));
  }
  return out;
}

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      text += cells[i];
      if (i + 1 < cells.size()) text.append(widths[i] - cells[i].size() + 2, ' ');
    }
    out += text;
    out += '\n';
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::int64_t percentile(std::vector<std::int64_t>& values, double p) {
  const auto n = values.size();
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  rank = std::clamp<std::size_t>(rank, 1, n);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank - 1),
                   values.end());
  return values[rank - 1];
}

}  // namespace spate::client
