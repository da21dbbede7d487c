// SPDX-License-Identifier: Apache-2.0
//
// Bounds-checked big-endian byte reader and writer. Wire and disk integers are
// always read through these, never by casting pointers (style.md §3.4).

#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "spate/common/result.h"

namespace spate {

// Loads and stores of big-endian integers at a byte pointer.
// REQUIRES: the caller checked that sizeof(T) bytes are there.
template <typename T>
requires std::is_integral_v<T>
[[nodiscard]] inline T load_be(const std::byte* p) {
  using U = std::make_unsigned_t<T>;
  U v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v = static_cast<U>(static_cast<U>(v << 8U) | static_cast<U>(p[i]));
  }
  return static_cast<T>(v);
}

template <typename T>
requires std::is_integral_v<T>
inline void store_be(std::byte* p, T value) {
  using U = std::make_unsigned_t<T>;
  auto v = static_cast<U>(value);
  for (std::size_t i = sizeof(T); i > 0; --i) {
    p[i - 1] = static_cast<std::byte>(v & 0xFFU);
    if constexpr (sizeof(T) > 1) v = static_cast<U>(v >> 8U);
  }
}

// Reads from a borrowed span. Every read checks the bytes left first; a short
// read returns an Error (Errc::malformed) and leaves the position unchanged.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  [[nodiscard]] std::size_t position() const { return position_; }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - position_; }
  [[nodiscard]] bool empty() const { return remaining() == 0; }

  template <typename T>
  requires std::is_integral_v<T>
  [[nodiscard]] Result<T> read() {
    if (remaining() < sizeof(T)) return short_read(sizeof(T));
    T v = load_be<T>(bytes_.data() + position_);
    position_ += sizeof(T);
    return v;
  }

  // A view of the next `count` bytes (valid while the underlying bytes live).
  [[nodiscard]] Result<std::span<const std::byte>> read_bytes(std::size_t count) {
    if (remaining() < count) return short_read(count);
    auto out = bytes_.subspan(position_, count);
    position_ += count;
    return out;
  }

  [[nodiscard]] Status skip(std::size_t count) {
    if (remaining() < count) return short_read(count);
    position_ += count;
    return {};
  }

  // Unsigned LEB128 up to 64 bits and zigzag varints (Kafka VARINT/VARLONG).
  [[nodiscard]] Result<std::uint64_t> read_uvarint64();
  [[nodiscard]] Result<std::uint32_t> read_uvarint32();
  [[nodiscard]] Result<std::int32_t> read_varint32();
  [[nodiscard]] Result<std::int64_t> read_varint64();

 private:
  [[nodiscard]] Error short_read(std::size_t wanted) const;

  std::span<const std::byte> bytes_;
  std::size_t position_ = 0;
};

// Appends to an owned, growable buffer.
class ByteWriter {
 public:
  ByteWriter() = default;
  explicit ByteWriter(std::size_t reserve_bytes) { buffer_.reserve(reserve_bytes); }

  template <typename T>
  requires std::is_integral_v<T>
  void write(T value) {
    std::size_t at = buffer_.size();
    buffer_.resize(at + sizeof(T));
    store_be<T>(buffer_.data() + at, value);
  }
  void write_bytes(std::span<const std::byte> bytes) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }
  void write_string(std::string_view s) {
    write_bytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
  }
  void write_uvarint(std::uint64_t value);
  void write_varint(std::int64_t value);  // zigzag

  // Overwrite an integer written earlier (length and CRC back-patching).
  // REQUIRES: at + sizeof(T) <= size().
  template <typename T>
  requires std::is_integral_v<T>
  void patch(std::size_t at, T value) {
    // Written so that a huge `at` cannot wrap the sum around and pass.
    SPATE_ASSERT(at <= buffer_.size() && sizeof(T) <= buffer_.size() - at,
                 "patch past end: {} bytes at {}, size {}", sizeof(T), at, buffer_.size());
    store_be<T>(buffer_.data() + at, value);
  }

  [[nodiscard]] std::size_t size() const { return buffer_.size(); }
  [[nodiscard]] std::span<const std::byte> view() const { return buffer_; }
  [[nodiscard]] std::span<std::byte> mutable_view() { return buffer_; }
  [[nodiscard]] std::vector<std::byte> release() { return std::move(buffer_); }

 private:
  std::vector<std::byte> buffer_;
};

// Convenience for tests and logs.
[[nodiscard]] std::vector<std::byte> to_bytes(std::string_view s);
[[nodiscard]] std::string to_hex(std::span<const std::byte> bytes);

}  // namespace spate
