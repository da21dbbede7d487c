// SPDX-License-Identifier: Apache-2.0
//
// ByteReader varint decoding, ByteWriter varint encoding, hex helpers.

#include "spate/common/bytes.h"

#include "spate/common/varint.h"

namespace spate {

Error ByteReader::short_read(std::size_t wanted) const {
  return Error::malformed(
      fmt::format("need {} bytes at position {}, have {}", wanted, position_, remaining()));
}

Result<std::uint64_t> ByteReader::read_uvarint64() {
  auto d = varint::decode_uvarint(bytes_.subspan(position_), varint::kBytesMax64);
  if (d.status == varint::DecodeStatus::truncated) {
    return Error::malformed(fmt::format("truncated varint at position {}", position_));
  }
  if (d.status == varint::DecodeStatus::overflow) {
    return Error::malformed(fmt::format("varint overflows 64 bits at position {}", position_));
  }
  position_ += d.bytes;
  return d.value;
}

Result<std::uint32_t> ByteReader::read_uvarint32() {
  auto d = varint::decode_uvarint(bytes_.subspan(position_), varint::kBytesMax32);
  if (d.status == varint::DecodeStatus::truncated) {
    return Error::malformed(fmt::format("truncated varint at position {}", position_));
  }
  if (d.status == varint::DecodeStatus::overflow) {
    return Error::malformed(fmt::format("varint overflows 32 bits at position {}", position_));
  }
  position_ += d.bytes;
  return static_cast<std::uint32_t>(d.value);
}

Result<std::int32_t> ByteReader::read_varint32() {
  auto u = read_uvarint32();
  if (!u) return u.error();
  return static_cast<std::int32_t>(varint::zigzag_decode(*u));
}

Result<std::int64_t> ByteReader::read_varint64() {
  auto u = read_uvarint64();
  if (!u) return u.error();
  return varint::zigzag_decode(*u);
}

void ByteWriter::write_uvarint(std::uint64_t value) {
  std::byte tmp[varint::kBytesMax64];
  const std::size_t n = varint::encode_uvarint(value, tmp);
  write_bytes(std::span<const std::byte>(tmp, n));
}

void ByteWriter::write_varint(std::int64_t value) { write_uvarint(varint::zigzag_encode(value)); }

std::vector<std::byte> to_bytes(std::string_view s) {
  auto span = std::as_bytes(std::span<const char>(s.data(), s.size()));
  return {span.begin(), span.end()};
}

std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    const auto v = static_cast<unsigned>(b);
    out.push_back(kDigits[v >> 4U]);
    out.push_back(kDigits[v & 0xFU]);
  }
  return out;
}

}  // namespace spate
