// SPDX-License-Identifier: Apache-2.0
//
// LogLimiter: at most one log line per interval for a kind of event a peer
// can repeat at will (refused connections, accept errors, bad frames,
// timeouts); the next line says how many were left out.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace spate::net {

class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::steady_clock::duration interval = std::chrono::seconds(10))
      : interval_(interval) {}

  // True if a line may be written now. `note` is then empty or says how
  // many similar lines were left out since the last one.
  bool allow(std::string& note) {
    const auto now = std::chrono::steady_clock::now();
    if (written_ && now - last_ < interval_) {
      ++suppressed_;
      return false;
    }
    note = suppressed_ == 0
               ? std::string()
               : fmt::format(" ({} similar lines left out in the last {} s)", suppressed_,
                             std::chrono::duration_cast<std::chrono::seconds>(now - last_).count());
    written_ = true;
    last_ = now;
    suppressed_ = 0;
    return true;
  }

 private:
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_{};
  bool written_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace spate::net
