// SPDX-License-Identifier: Apache-2.0
//
// Decoder and Encoder primitives: every length and count is checked against
// the bytes left before anything is allocated (kafka-protocol.md §2).

#include "spate/protocol/codec.h"

#include <limits>

namespace spate::protocol {

void Decoder::fail(std::string_view field, std::string_view why) {
  if (error_) return;
  error_ =
      Error::malformed(fmt::format("field {}: {} ({} bytes left)", field, why, in_.remaining()));
}

bool Decoder::charge(std::size_t bytes, std::string_view field) {
  if (!ok()) return false;
  if (bytes > memory_left_) {
    error_ =
        Error::limit(fmt::format("field {}: decoding would take more than the memory limit "
                                 "for this message",
                                 field));
    return false;
  }
  memory_left_ -= bytes;
  return true;
}

void Decoder::boolean(bool& v, std::string_view field) {
  std::int8_t raw = 0;
  fixed(raw, field);
  v = raw != 0;
}

void Decoder::uuid(Uuid& v, std::string_view field) {
  v = {};
  if (!ok()) return;
  auto bytes = in_.read_bytes(v.size());
  if (!bytes) return fail(field, "truncated");
  std::copy(bytes->begin(), bytes->end(), v.begin());
}

void Decoder::varint(std::int32_t& v, std::string_view field) {
  v = 0;
  if (!ok()) return;
  auto r = in_.read_varint32();
  if (!r) return fail(field, "bad varint");
  v = *r;
}

void Decoder::varlong(std::int64_t& v, std::string_view field) {
  v = 0;
  if (!ok()) return;
  auto r = in_.read_varint64();
  if (!r) return fail(field, "bad varlong");
  v = *r;
}

void Decoder::uvarint(std::uint32_t& v, std::string_view field) {
  v = 0;
  if (!ok()) return;
  auto r = in_.read_uvarint32();
  if (!r) return fail(field, "bad unsigned varint");
  v = *r;
}

std::int64_t Decoder::length(bool flexible, bool wide, std::string_view field) {
  if (!ok()) return 0;
  if (flexible) {
    auto n = in_.read_uvarint32();
    if (!n) {
      fail(field, "bad compact length");
      return 0;
    }
    return std::int64_t{*n} - 1;
  }
  if (wide) {
    auto n = in_.read<std::int32_t>();
    if (!n) {
      fail(field, "truncated length");
      return 0;
    }
    return *n;
  }
  auto n = in_.read<std::int16_t>();
  if (!n) {
    fail(field, "truncated length");
    return 0;
  }
  return *n;
}

std::optional<std::span<const std::byte>> Decoder::string_bytes(std::int64_t n,
                                                                std::string_view field) {
  if (static_cast<std::uint64_t>(n) > limits_.string_bytes_max) {
    fail(field,
         fmt::format("string of {} bytes exceeds the limit {}", n, limits_.string_bytes_max));
    return std::nullopt;
  }
  auto bytes = in_.read_bytes(static_cast<std::size_t>(n));
  if (!bytes) {
    fail(field, fmt::format("length {} past the end", n));
    return std::nullopt;
  }
  if (!charge(bytes->size(), field)) return std::nullopt;
  return *bytes;
}

void Decoder::string(std::string& v, bool flexible, std::string_view field) {
  v.clear();
  const std::int64_t n = length(flexible, false, field);
  if (!ok()) return;
  if (n < 0) return fail(field, fmt::format("length {} where null is not allowed", n));
  auto bytes = string_bytes(n, field);
  if (!bytes) return;
  v.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

void Decoder::nullable_string(std::optional<std::string>& v, bool flexible,
                              std::string_view field) {
  v.reset();
  const std::int64_t n = length(flexible, false, field);
  if (!ok()) return;
  if (n == -1) return;
  if (n < 0) return fail(field, fmt::format("length {}", n));
  auto bytes = string_bytes(n, field);
  if (!bytes) return;
  v.emplace(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

void Decoder::bytes(std::vector<std::byte>& v, bool flexible, std::string_view field) {
  v.clear();
  const std::int64_t n = length(flexible, true, field);
  if (!ok()) return;
  if (n < 0) return fail(field, fmt::format("length {} where null is not allowed", n));
  auto bytes = in_.read_bytes(static_cast<std::size_t>(n));
  if (!bytes) return fail(field, fmt::format("length {} past the end", n));
  if (!charge(bytes->size(), field)) return;
  v.assign(bytes->begin(), bytes->end());
}

void Decoder::nullable_bytes(std::optional<std::vector<std::byte>>& v, bool flexible,
                             std::string_view field) {
  v.reset();
  const std::int64_t n = length(flexible, true, field);
  if (!ok()) return;
  if (n == -1) return;
  if (n < 0) return fail(field, fmt::format("length {}", n));
  auto bytes = in_.read_bytes(static_cast<std::size_t>(n));
  if (!bytes) return fail(field, fmt::format("length {} past the end", n));
  if (!charge(bytes->size(), field)) return;
  v.emplace(bytes->begin(), bytes->end());
}

std::size_t Decoder::array_count(bool flexible, std::size_t element_bytes_min,
                                 std::string_view field, bool* is_null) {
  const std::int64_t n = length(flexible, true, field);
  if (!ok()) return 0;
  if (n == -1) {
    if (is_null != nullptr) {
      *is_null = true;
      return 0;
    }
    fail(field, "null array where null is not allowed");
    return 0;
  }
  if (n < 0) {
    fail(field, fmt::format("array count {}", n));
    return 0;
  }
  const auto count = static_cast<std::size_t>(n);
  if (count > limits_.array_items_max) {
    fail(field,
         fmt::format("array of {} items exceeds the limit {}", count, limits_.array_items_max));
    return 0;
  }
  const std::size_t min = element_bytes_min == 0 ? 1 : element_bytes_min;
  if (count > in_.remaining() / min) {
    fail(field, fmt::format("array count {} cannot fit in the bytes left", count));
    return 0;
  }
  items_total_ += count;
  if (items_total_ > limits_.items_total_max) {
    fail(field, fmt::format("{} array items in the message exceed the limit {}", items_total_,
                            limits_.items_total_max));
    return 0;
  }
  return count;
}

void Decoder::tagged_fields(std::string_view field) {
  if (!ok()) return;
  auto count = in_.read_uvarint32();
  if (!count) return fail(field, "bad tag count");
  if (*count > limits_.tagged_fields_max) {
    return fail(field, fmt::format("{} tagged fields exceed the limit {}", *count,
                                   limits_.tagged_fields_max));
  }
  std::size_t total = 0;
  std::int64_t previous = -1;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto tag = in_.read_uvarint32();
    auto size = tag ? in_.read_uvarint32() : tag;
    if (!tag || !size) return fail(field, "truncated tagged field");
    if (std::int64_t{*tag} <= previous) return fail(field, "tags not strictly ascending");
    previous = *tag;
    total += *size;
    if (total > limits_.tagged_bytes_max) {
      return fail(field, fmt::format("tagged fields exceed {} bytes", limits_.tagged_bytes_max));
    }
    if (!in_.skip(*size))
      return fail(field, fmt::format("tag {} of {} bytes past the end", *tag, *size));
  }
}

void Encoder::write_length(std::int64_t length, bool flexible, bool wide) {
  if (flexible) {
    out_.write_uvarint(static_cast<std::uint64_t>(length + 1));
  } else if (wide) {
    out_.write(static_cast<std::int32_t>(length));
  } else {
    out_.write(static_cast<std::int16_t>(length));
  }
}

void Encoder::string(const std::string& v, bool flexible, std::string_view) {
  // A classic STRING holds at most INT16 max bytes (a compact one the same,
  // by Kafka's rule). Decoded strings are already that short; anything longer
  // (a message built from client input) is cut at a UTF-8 boundary rather
  // than written with a wrong length or stopping the process.
  std::string_view text = v;
  if (text.size() > kEncodedStringBytesMax) {
    std::size_t n = kEncodedStringBytesMax;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0U) == 0x80U) --n;
    text = text.substr(0, n);
  }
  write_length(static_cast<std::int64_t>(text.size()), flexible, false);
  out_.write_string(text);
}

void Encoder::nullable_string(const std::optional<std::string>& v, bool flexible,
                              std::string_view field) {
  if (!v) return write_length(-1, flexible, false);
  string(*v, flexible, field);
}

void Encoder::bytes(const std::vector<std::byte>& v, bool flexible, std::string_view) {
  write_length(static_cast<std::int64_t>(v.size()), flexible, true);
  out_.write_bytes(v);
}

void Encoder::nullable_bytes(const std::optional<std::vector<std::byte>>& v, bool flexible,
                             std::string_view field) {
  if (!v) return write_length(-1, flexible, true);
  bytes(*v, flexible, field);
}

}  // namespace spate::protocol
