// SPDX-License-Identifier: Apache-2.0
//
// Result<T>: a T or an Error, with std::expected's member names so that it can
// become an alias of std::expected<T, Error> under C++23. Status = Result<void>.

#pragma once

#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "spate/common/assert.h"
#include "spate/common/error.h"

namespace spate {

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  // Implicit from a value or an Error so that `return value;` and
  // `return Error{...};` both read naturally.
  Result(const T& value) : storage_(std::in_place_index<0>, value) {}          // NOLINT
  Result(T&& value) : storage_(std::in_place_index<0>, std::move(value)) {}    // NOLINT
  Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  // From anything else a T can be made of ("abc" for a std::string, a vector
  // for a span). Not between arithmetic types: those take the constructors
  // above, so that the conversion happens at the caller, where -Wconversion
  // and -Wsign-conversion see a narrowing `return int64;` into a Result<int32_t>.
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Error> && !std::is_same_v<std::decay_t<U>, Result<T>> &&
           !(std::is_arithmetic_v<T> && std::is_arithmetic_v<std::decay_t<U>>)) Result(U&& value)
      : storage_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT

  [[nodiscard]] bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  [[nodiscard]] T& value() & {
    SPATE_ASSERT(has_value(), "Result::value() on an error: {}", std::get<1>(storage_));
    return std::get<0>(storage_);
  }
  [[nodiscard]] const T& value() const& {
    SPATE_ASSERT(has_value(), "Result::value() on an error: {}", std::get<1>(storage_));
    return std::get<0>(storage_);
  }
  [[nodiscard]] T&& value() && {
    SPATE_ASSERT(has_value(), "Result::value() on an error: {}", std::get<1>(storage_));
    return std::get<0>(std::move(storage_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const Error& error() const {
    SPATE_ASSERT(!has_value(), "Result::error() on a value");
    return std::get<1>(storage_);
  }

 private:
  std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  [[nodiscard]] bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const { SPATE_ASSERT(has_value(), "Status::value() on an error: {}", *error_); }

  [[nodiscard]] const Error& error() const {
    SPATE_ASSERT(!has_value(), "Status::error() on success");
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace spate
