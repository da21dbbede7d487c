// SPDX-License-Identifier: Apache-2.0
//
// Decoder and Encoder: the Kafka primitives of kafka-protocol.md §2, classic
// and compact (KIP-482), with one method set so that each message is described
// once, as `template <class Io> void fields(Io&, Msg&, std::int16_t version)`,
// and both directions derive from it (style.md §4.2).

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/bytes.h"
#include "spate/common/result.h"

namespace spate::protocol {

// Bounds on what one decode may accept, checked before anything is allocated.
struct DecodeLimits {
  std::size_t array_items_max = 100'000;  // elements in any one array
  // Elements in all arrays of one message together: what a request may ask
  // of the broker at once (partition entries of a Fetch, names of a
  // CreateTopics, ...). 1M empty Fetch entries held 244 MiB while waiting.
  std::size_t items_total_max = 100'000;
  std::size_t tagged_fields_max = 64;        // tags in one tag section
  std::size_t tagged_bytes_max = 64 * 1024;  // bytes of unknown tags in one section
  // Bytes in any one STRING (classic or compact). Kafka's own limit: a compact
  // string longer than INT16 max is refused as well.
  std::size_t string_bytes_max = 0x7fff;
  // Memory the decoded message may take (arrays, strings, bytes). 0 means
  // twice the input plus kMemorySlackBytes, which real clients' requests stay
  // far below (about 1x) while a frame built to inflate is refused.
  std::size_t memory_bytes_max = 0;
};

inline constexpr std::size_t kMemorySlackBytes = 1U << 20U;

// The smallest wire size of an element, used to reject counts that cannot fit.
inline constexpr std::size_t kStringBytesMin = 2;          // classic INT16 length
inline constexpr std::size_t kCompactBytesMin = 1;         // compact varint length
inline constexpr std::size_t kStructBytesMinFlexible = 1;  // at least its tag section

using Uuid = std::array<std::byte, 16>;

// The longest STRING the encoder writes (INT16 max, Kafka's limit for classic
// and compact strings alike); longer ones are cut at a UTF-8 boundary.
inline constexpr std::size_t kEncodedStringBytesMax = 0x7fff;

// Reads a message body. Errors are sticky: after the first failure every read
// leaves its target at a zero value, array loops see a count of 0, and ok()
// stays false, so one check at the end (finish()) is enough. The error names
// the field. Never allocates more than the counts the remaining bytes allow.
class Decoder {
 public:
  static constexpr bool kDecoding = true;

  explicit Decoder(std::span<const std::byte> bytes, const DecodeLimits& limits = {})
      : in_(bytes),
        limits_(limits),
        memory_left_(limits.memory_bytes_max != 0 ? limits.memory_bytes_max
                                                  : 2 * bytes.size() + kMemorySlackBytes) {}

  [[nodiscard]] bool ok() const { return !error_.has_value(); }
  [[nodiscard]] std::size_t remaining() const { return in_.remaining(); }

  void i8(std::int8_t& v, std::string_view field) { fixed(v, field); }
  void i16(std::int16_t& v, std::string_view field) { fixed(v, field); }
  void i32(std::int32_t& v, std::string_view field) { fixed(v, field); }
  void i64(std::int64_t& v, std::string_view field) { fixed(v, field); }
  void u32(std::uint32_t& v, std::string_view field) { fixed(v, field); }
  void boolean(bool& v, std::string_view field);
  void uuid(Uuid& v, std::string_view field);
  void varint(std::int32_t& v, std::string_view field);    // zigzag, at most 5 bytes
  void varlong(std::int64_t& v, std::string_view field);   // zigzag, at most 10 bytes
  void uvarint(std::uint32_t& v, std::string_view field);  // at most 5 bytes

  void string(std::string& v, bool flexible, std::string_view field);
  void nullable_string(std::optional<std::string>& v, bool flexible, std::string_view field);
  void bytes(std::vector<std::byte>& v, bool flexible, std::string_view field);
  void nullable_bytes(std::optional<std::vector<std::byte>>& v, bool flexible,
                      std::string_view field);

  // An array whose elements each take at least `element_bytes_min` bytes;
  // `element(T&)` reads one. Null (-1 / compact 0) is an error unless the
  // array is nullable (then `v` stays empty and `is_null` is set).
  template <typename T, typename F>
  void array(std::vector<T>& v, bool flexible, std::size_t element_bytes_min,
             std::string_view field, F&& element) {
    v.clear();
    const std::size_t count = array_count(flexible, element_bytes_min, field, nullptr);
    if (!charge(count * sizeof(T), field)) return;
    // Safe: count is bounded by the bytes left, the array limit and the memory budget.
    v.reserve(count);
    for (std::size_t i = 0; i < count && ok(); ++i) element(v.emplace_back());
  }
  template <typename T, typename F>
  void nullable_array(std::optional<std::vector<T>>& v, bool flexible,
                      std::size_t element_bytes_min, std::string_view field, F&& element) {
    bool is_null = false;
    const std::size_t count = array_count(flexible, element_bytes_min, field, &is_null);
    if (is_null || !ok()) {
      v.reset();
      return;
    }
    if (!charge(count * sizeof(T), field)) return;
    v.emplace();
    v->reserve(count);
    for (std::size_t i = 0; i < count && ok(); ++i) element(v->emplace_back());
  }

  // A tag section: every tag skipped (Spate reads none yet), bounded by the limits.
  void tagged_fields(std::string_view field = "tagged_fields");

  // The decoded message, or the first error. Trailing bytes are an error.
  template <typename T>
  [[nodiscard]] Result<T> finish(T&& message) {
    if (ok() && !in_.empty()) {
      fail("end of message", fmt::format("{} bytes left over", in_.remaining()));
    }
    if (!ok()) return *error_;
    return std::forward<T>(message);
  }
  [[nodiscard]] const Error& error() const { return *error_; }

 private:
  template <typename V>
  void fixed(V& v, std::string_view field) {
    v = V{};
    if (!ok()) return;
    auto r = in_.read<V>();
    if (!r) return fail(field, "truncated");
    v = *r;
  }
  // Reads a length: classic INT16/INT32 or compact varint (length + 1).
  // Returns -1 for null.
  std::int64_t length(bool flexible, bool wide, std::string_view field);
  // Reads a STRING's bytes after its length `n` (>= 0), within the limits.
  std::optional<std::span<const std::byte>> string_bytes(std::int64_t n, std::string_view field);
  std::size_t array_count(bool flexible, std::size_t element_bytes_min, std::string_view field,
                          bool* is_null);
  void fail(std::string_view field, std::string_view why);
  // Takes `bytes` from the memory budget; false (and an error) if it is spent.
  bool charge(std::size_t bytes, std::string_view field);

  ByteReader in_;
  DecodeLimits limits_;
  std::size_t items_total_ = 0;
  std::size_t memory_left_;
  std::optional<Error> error_;
};

// Writes a message body into a ByteWriter.
class Encoder {
 public:
  static constexpr bool kDecoding = false;

  explicit Encoder(ByteWriter& out) : out_(out) {}

  [[nodiscard]] bool ok() const { return true; }

  void i8(const std::int8_t& v, std::string_view) { out_.write(v); }
  void i16(const std::int16_t& v, std::string_view) { out_.write(v); }
  void i32(const std::int32_t& v, std::string_view) { out_.write(v); }
  void i64(const std::int64_t& v, std::string_view) { out_.write(v); }
  void u32(const std::uint32_t& v, std::string_view) { out_.write(v); }
  void boolean(const bool& v, std::string_view) { out_.write<std::int8_t>(v ? 1 : 0); }
  void uuid(const Uuid& v, std::string_view) { out_.write_bytes(v); }
  void varint(const std::int32_t& v, std::string_view) { out_.write_varint(v); }
  void varlong(const std::int64_t& v, std::string_view) { out_.write_varint(v); }
  void uvarint(const std::uint32_t& v, std::string_view) { out_.write_uvarint(v); }

  void string(const std::string& v, bool flexible, std::string_view field);
  void nullable_string(const std::optional<std::string>& v, bool flexible, std::string_view field);
  void bytes(const std::vector<std::byte>& v, bool flexible, std::string_view field);
  void nullable_bytes(const std::optional<std::vector<std::byte>>& v, bool flexible,
                      std::string_view field);

  template <typename T, typename F>
  void array(std::vector<T>& v, bool flexible, std::size_t, std::string_view, F&& element) {
    write_length(static_cast<std::int64_t>(v.size()), flexible, true);
    for (auto& e : v) element(e);
  }
  template <typename T, typename F>
  void nullable_array(std::optional<std::vector<T>>& v, bool flexible, std::size_t,
                      std::string_view, F&& element) {
    if (!v) {
      write_length(-1, flexible, true);
      return;
    }
    write_length(static_cast<std::int64_t>(v->size()), flexible, true);
    for (auto& e : *v) element(e);
  }

  // Spate writes no tags: an empty section.
  void tagged_fields(std::string_view = {}) { out_.write_uvarint(0); }

 private:
  void write_length(std::int64_t length, bool flexible, bool wide);
  ByteWriter& out_;
};

// Decodes a message with its `fields` description.
template <typename Msg>
[[nodiscard]] Result<Msg> decode_message(std::span<const std::byte> body, std::int16_t version,
                                         const DecodeLimits& limits = {}) {
  Decoder in(body, limits);
  Msg message;
  fields(in, message, version);
  return in.finish(std::move(message));
}

// Encodes a message with its `fields` description (which does not modify it).
template <typename Msg>
void encode_message(ByteWriter& out, const Msg& message, std::int16_t version) {
  Encoder encoder(out);
  fields(encoder, const_cast<Msg&>(message), version);  // NOLINT: Encoder only reads
}

}  // namespace spate::protocol
