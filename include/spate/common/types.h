// SPDX-License-Identifier: Apache-2.0
//
// Strong integer ids (style.md §3.2): Offset, Term, NodeId, PartitionId,
// FilePosition. Mixing a Term into an Offset parameter is a compile error.

#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>

#include <fmt/format.h>

namespace spate {

template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep_type = Rep;

  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep value) : value_(value) {}

  [[nodiscard]] constexpr Rep value() const { return value_; }

  static constexpr StrongInt max() { return StrongInt(std::numeric_limits<Rep>::max()); }
  static constexpr StrongInt min() { return StrongInt(std::numeric_limits<Rep>::min()); }

  constexpr auto operator<=>(const StrongInt&) const = default;

  // Arithmetic helpers take a plain count, never another id of the same kind:
  // `offset + 3` is a position in the log, `offset + offset` is meaningless.
  constexpr StrongInt operator+(Rep delta) const { return StrongInt(value_ + delta); }
  constexpr StrongInt operator-(Rep delta) const { return StrongInt(value_ - delta); }
  constexpr StrongInt& operator+=(Rep delta) {
    value_ += delta;
    return *this;
  }
  constexpr StrongInt& operator++() {
    ++value_;
    return *this;
  }
  // Distance between two ids of the same kind.
  [[nodiscard]] constexpr Rep operator-(const StrongInt& other) const {
    return value_ - other.value_;
  }

 private:
  Rep value_{};
};

template <typename Tag, typename Rep>
std::ostream& operator<<(std::ostream& out, const StrongInt<Tag, Rep>& id) {
  return out << id.value();
}

struct OffsetTag {};
struct TermTag {};
struct NodeIdTag {};
struct PartitionIdTag {};
struct FilePositionTag {};

// A record's position in a partition log (Kafka offset). End offsets are exclusive.
using Offset = StrongInt<OffsetTag, std::int64_t>;
// The raft term, which is Kafka's leader epoch (partitionLeaderEpoch).
using Term = StrongInt<TermTag, std::int64_t>;
using NodeId = StrongInt<NodeIdTag, std::int32_t>;
using PartitionId = StrongInt<PartitionIdTag, std::int32_t>;
// A byte position inside one file.
using FilePosition = StrongInt<FilePositionTag, std::uint64_t>;

}  // namespace spate

template <typename Tag, typename Rep>
struct fmt::formatter<spate::StrongInt<Tag, Rep>> : fmt::formatter<Rep> {
  template <typename Ctx>
  auto format(const spate::StrongInt<Tag, Rep>& id, Ctx& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};

template <typename Tag, typename Rep>
struct std::hash<spate::StrongInt<Tag, Rep>> {
  std::size_t operator()(const spate::StrongInt<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};
