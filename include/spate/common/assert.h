// SPDX-License-Identifier: Apache-2.0
//
// SPATE_ASSERT: always-on invariant checks (style.md §3.5). On failure it logs
// at critical with file:line and the formatted message, flushes, and aborts.
// Never use it on input from a client, a peer or the disk: that is an Error.

#pragma once

#include <string>
#include <utility>

#include <fmt/format.h>

namespace spate::detail {

[[noreturn]] void assert_failed(const char* expr, const char* file, int line,
                                const std::string& message);

}  // namespace spate::detail

#define SPATE_ASSERT(cond, ...)                                                     \
  do {                                                                              \
    if (!(cond)) [[unlikely]] {                                                     \
      ::spate::detail::assert_failed(#cond, __FILE__, __LINE__,                     \
                                     ::spate::detail::assert_message(__VA_ARGS__)); \
    }                                                                               \
  } while (false)

// Expensive (O(n)) checks: compiled into debug and sanitizer builds only.
#if !defined(NDEBUG) || defined(SPATE_SANITIZED)
#define SPATE_DEBUG_ASSERT(cond, ...) SPATE_ASSERT(cond, __VA_ARGS__)
#else
#define SPATE_DEBUG_ASSERT(cond, ...) \
  do {                                \
  } while (false)
#endif

namespace spate::detail {

inline std::string assert_message() { return {}; }

template <typename... Args>
std::string assert_message(fmt::format_string<Args...> format, Args&&... args) {
  return fmt::format(format, std::forward<Args>(args)...);
}

}  // namespace spate::detail
