// SPDX-License-Identifier: Apache-2.0
//
// Strong ids: arithmetic, comparison, formatting and hashing, and at compile
// time that ids of different kinds (or bare integers) never mix silently.

#include "spate/common/types.h"

#include <concepts>
#include <cstdint>
#include <sstream>
#include <type_traits>
#include <unordered_set>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace spate {
namespace {

// Concepts over requires-expressions, so that an ill-formed expression is a
// `false` rather than a compile error.
template <typename A, typename B>
concept Addable = requires(A a, B b) {
  a + b;
};
template <typename A, typename B>
concept Subtractable = requires(A a, B b) {
  a - b;
};
template <typename A, typename B>
concept EqualityComparable = requires(A a, B b) {
  a == b;
};
template <typename A, typename B>
concept Orderable = requires(A a, B b) {
  a < b;
};
template <typename To, typename From>
concept BraceConstructible = requires(From f) {
  To{f};
};
template <typename To, typename From>
concept Assignable = requires(To t, From f) {
  t = f;
};

// An Offset is never made from a Term, implicitly or explicitly.
static_assert(!std::is_convertible_v<Term, Offset>);
static_assert(!std::is_constructible_v<Offset, Term>);
static_assert(!BraceConstructible<Offset, Term>);
static_assert(!Assignable<Offset&, Term>);
// From a bare integer only explicitly: `Offset o = 5;` and f(5) for f(Offset)
// do not compile; `Offset(5)` does.
static_assert(!std::is_convertible_v<std::int64_t, Offset>);
static_assert(!std::is_convertible_v<int, Offset>);
static_assert(!Assignable<Offset&, std::int64_t>);
static_assert(std::is_constructible_v<Offset, std::int64_t>);
static_assert(BraceConstructible<Offset, std::int64_t>);
// And never back to an integer without .value().
static_assert(!std::is_convertible_v<Offset, std::int64_t>);
// Mixed-kind arithmetic and comparison do not compile.
static_assert(!EqualityComparable<Offset, Term>);
static_assert(!Orderable<Offset, Term>);
static_assert(!EqualityComparable<Offset, std::int64_t>);
static_assert(!Orderable<Offset, int>);
static_assert(!Addable<Offset, Term>);
static_assert(!Subtractable<Offset, Term>);
static_assert(!EqualityComparable<NodeId, PartitionId>);
// offset + offset is meaningless; offset + count and offset - offset are not.
static_assert(!Addable<Offset, Offset>);
static_assert(Addable<Offset, std::int64_t>);
static_assert(std::same_as<decltype(Offset(1) + 1), Offset>);
static_assert(std::same_as<decltype(Offset(3) - Offset(1)), std::int64_t>);
static_assert(std::same_as<decltype(Offset(3) - 1), Offset>);
// The ids are as small and trivial as their representation.
static_assert(sizeof(Offset) == sizeof(std::int64_t));
static_assert(sizeof(NodeId) == sizeof(std::int32_t));
static_assert(std::is_trivially_copyable_v<Offset>);
// Usable in constant expressions.
static_assert((Offset(10) + 5).value() == 15);
static_assert(Offset::max().value() == INT64_MAX);
static_assert(NodeId::min().value() == INT32_MIN);

TEST(StrongInt, DefaultsToZero) {
  EXPECT_EQ(Offset().value(), 0);
  EXPECT_EQ(Term{}.value(), 0);
  EXPECT_EQ(FilePosition().value(), 0U);
}

TEST(StrongInt, AddsAndSubtractsCounts) {
  Offset o(100);
  EXPECT_EQ(o + 5, Offset(105));
  EXPECT_EQ(o - 5, Offset(95));
  EXPECT_EQ(o + -5, Offset(95));
  o += 10;
  EXPECT_EQ(o, Offset(110));
  EXPECT_EQ(++o, Offset(111));
  EXPECT_EQ(o.value(), 111);
  FilePosition p(4096);
  EXPECT_EQ((p + 512).value(), 4608U);
}

TEST(StrongInt, DifferenceOfTwoIdsIsACount) {
  EXPECT_EQ(Offset(110) - Offset(100), 10);
  EXPECT_EQ(Offset(100) - Offset(110), -10);
  EXPECT_EQ(Term(7) - Term(7), 0);
}

TEST(StrongInt, ComparesByValue) {
  EXPECT_EQ(Offset(3), Offset(3));
  EXPECT_NE(Offset(3), Offset(4));
  EXPECT_LT(Offset(-1), Offset(0));
  EXPECT_LE(Offset(3), Offset(3));
  EXPECT_GT(Term(9), Term(2));
  EXPECT_GE(NodeId(2), NodeId(2));
  EXPECT_LT(Offset::min(), Offset(0));
  EXPECT_GT(Offset::max(), Offset(0));
  EXPECT_TRUE((Offset(1) <=> Offset(2)) < 0);
}

TEST(StrongInt, FormatsAsItsNumber) {
  EXPECT_EQ(fmt::format("{}", Offset(42)), "42");
  EXPECT_EQ(fmt::format("{}", Term(-1)), "-1");
  EXPECT_EQ(fmt::format("{}", NodeId(3)), "3");
  EXPECT_EQ(fmt::format("{}", FilePosition(18446744073709551615ULL)), "18446744073709551615");
  // Format specs are the representation's.
  EXPECT_EQ(fmt::format("{:020}", Offset(1234)), "00000000000000001234");
  EXPECT_EQ(fmt::format("[{:>4}]", PartitionId(7)), "[   7]");
  EXPECT_EQ(fmt::format("{:x}", Offset(255)), "ff");
  std::ostringstream out;
  out << Offset(77) << "/" << Term(2);
  EXPECT_EQ(out.str(), "77/2");
}

TEST(StrongInt, HashesLikeItsValueForUnorderedContainers) {
  std::unordered_set<Offset> set;
  set.insert(Offset(1));
  set.insert(Offset(2));
  set.insert(Offset(1));
  EXPECT_EQ(set.size(), 2U);
  EXPECT_TRUE(set.contains(Offset(2)));
  EXPECT_EQ(std::hash<Offset>{}(Offset(5)), std::hash<std::int64_t>{}(5));
}

}  // namespace
}  // namespace spate
