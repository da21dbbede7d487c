// SPDX-License-Identifier: Apache-2.0
//
// Result<T> and Status: holding a value or an Error, move-only values, the
// conversions that must (and must not) compile, and the abort on misuse.

#include "spate/common/result.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/error.h"

namespace spate {
namespace {

// The result of a test-local fallible step, to show propagation.
Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return Error::malformed(std::string("not a digit: ") + c);
  return c - '0';
}

Result<int> sum_of_digits(const std::string& s) {
  int sum = 0;
  for (char c : s) {
    auto digit = parse_digit(c);
    if (!digit) return digit.error();
    sum += *digit;
  }
  return sum;
}

Status check_even(int v) {
  if (v % 2 != 0) return Error::invalid("odd");
  return ok_status();
}

// Explicit operator bool: a Result is testable in a condition but never
// silently becomes a bool (or an int) in arithmetic or in an argument.
static_assert(std::is_constructible_v<bool, Result<int>>);
static_assert(!std::is_convertible_v<Result<int>, bool>);
static_assert(!std::is_convertible_v<Status, bool>);
// Both the value and the error convert implicitly, so `return x;` reads naturally.
static_assert(std::is_convertible_v<int, Result<int>>);
static_assert(std::is_convertible_v<Error, Result<int>>);
static_assert(std::is_convertible_v<Error, Status>);
// Forwarding construction from something a T can be made of.
static_assert(std::is_convertible_v<const char*, Result<std::string>>);
static_assert(std::is_convertible_v<std::vector<std::byte>&, Result<std::span<const std::byte>>>);
// Move-only values are fine.
static_assert(std::is_move_constructible_v<Result<std::unique_ptr<int>>>);
static_assert(!std::is_copy_constructible_v<Result<std::unique_ptr<int>>>);

TEST(Result, ValueIsReachableThroughValueStarAndArrow) {
  Result<std::string> r = std::string("spate");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r.value(), "spate");
  EXPECT_EQ(*r, "spate");
  EXPECT_EQ(r->size(), 5U);
  r->append("!");
  EXPECT_EQ(*r, "spate!");
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr.value(), "spate!");
  EXPECT_EQ(cr->size(), 6U);
}

TEST(Result, ErrorKeepsItsCodeAndDetail) {
  Result<int> r = Error(Errc::not_found, "topic t");
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), Errc::not_found);
  EXPECT_EQ(r.error().detail(), "topic t");
}

TEST(Result, ConstructsFromAnythingTheValueTypeCanBeMadeOf) {
  Result<std::string> s = "literal";
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "literal");
  std::vector<std::byte> bytes(3, std::byte{7});
  Result<std::span<const std::byte>> view = bytes;
  ASSERT_TRUE(view);
  EXPECT_EQ(view->size(), 3U);
  EXPECT_EQ(view->data(), bytes.data());
  // A widening arithmetic conversion goes through the value constructors.
  Result<std::int64_t> wide = 42;
  EXPECT_EQ(*wide, 42);
}

TEST(Result, HoldsMoveOnlyValuesAndMovesThemOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(9);
  ASSERT_TRUE(r);
  std::unique_ptr<int> owned = std::move(r).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 9);
  Result<std::unique_ptr<int>> r2 = std::make_unique<int>(10);
  std::unique_ptr<int> owned2 = *std::move(r2);
  EXPECT_EQ(*owned2, 10);
}

TEST(Result, CopiesAndMovesKeepWhicheverAlternativeIsHeld) {
  Result<int> value = 5;
  Result<int> error = Error::io("disk");
  Result<int> value_copy = value;
  Result<int> error_copy = error;
  EXPECT_EQ(*value_copy, 5);
  EXPECT_EQ(error_copy.error().code(), Errc::io_error);
  value_copy = error;
  EXPECT_FALSE(value_copy);
  error_copy = std::move(value);
  ASSERT_TRUE(error_copy);
  EXPECT_EQ(*error_copy, 5);
}

TEST(Result, ErrorsPropagateThroughCallers) {
  auto good = sum_of_digits("123");
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 6);
  auto bad = sum_of_digits("12x3");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::malformed);
  EXPECT_EQ(bad.error().detail(), "not a digit: x");
}

TEST(Status, DefaultAndOkStatusAreSuccess) {
  Status s;
  EXPECT_TRUE(s.has_value());
  EXPECT_TRUE(static_cast<bool>(s));
  EXPECT_TRUE(ok_status());
  s.value();  // no-op on success
  EXPECT_TRUE(check_even(4));
}

TEST(Status, CarriesAnError) {
  Status s = check_even(3);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::invalid_argument);
  EXPECT_EQ(s.error().message(), "invalid_argument: odd");
}

TEST(ResultDeathTest, ValueOfAnErrorAbortsWithTheError) {
  const Result<int> r = Error::corrupt("segment 7");
  EXPECT_DEATH((void)r.value(), "corrupt_log: segment 7");
  EXPECT_DEATH((void)*Result<int>(Error::io("x")), "Result::value\\(\\) on an error");
}

TEST(ResultDeathTest, ErrorOfAValueAborts) {
  const Result<int> r = 1;
  EXPECT_DEATH((void)r.error(), "Result::error\\(\\) on a value");
}

TEST(ResultDeathTest, StatusMisuseAborts) {
  const Status failed = Error::io("fsync");
  EXPECT_DEATH(failed.value(), "Status::value\\(\\) on an error: io_error: fsync");
  const Status ok;
  EXPECT_DEATH((void)ok.error(), "Status::error\\(\\) on success");
}

}  // namespace
}  // namespace spate
