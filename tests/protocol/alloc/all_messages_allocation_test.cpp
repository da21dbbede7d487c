// SPDX-License-Identifier: Apache-2.0
//
// The decode memory budget (2 x frame + kMemorySlackBytes) holds for every
// message at every version, including frames of many smallest-possible
// elements in each of its arrays; generated messages cost about their size.

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "protocol/message_testing.h"

std::size_t spate_allocated_bytes();  // decode_allocation_test.cpp

namespace spate::protocol {
namespace {

using testing::for_each_api_version;
using testing::Generator;

template <typename Msg>
std::size_t decode_cost(std::span<const std::byte> bytes, std::int16_t version, bool* ok) {
  const std::size_t before = spate_allocated_bytes();
  {
    auto decoded = decode_message<Msg>(bytes, version);
    *ok = decoded.has_value();
  }
  return spate_allocated_bytes() - before;
}

// The error text and the Result are the only allocations beyond the budget.
constexpr std::size_t kOverheadBytes = 4096;

template <typename Msg>
void check_inflated_arrays(std::int16_t version, std::string_view what, double* worst) {
  constexpr std::size_t kCount = 10'000;
  for (std::size_t target = 0;; ++target) {
    Msg m{};
    auto g = Generator::minimal(target, kCount);
    fields(g, m, version);
    if (!g.reached_target()) break;
    const auto bytes = testing::encode(m, version);
    bool ok = false;
    const std::size_t used = decode_cost<Msg>(bytes, version, &ok);
    EXPECT_LE(used, 2 * bytes.size() + kMemorySlackBytes + kOverheadBytes)
        << what << " v" << version << " array #" << target;
    *worst = std::max(*worst, static_cast<double>(used) / static_cast<double>(bytes.size()));
  }
}

TEST(AllMessagesAllocation, InflatedArraysStayWithinTheBudget) {
  double worst = 0;
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    const auto name = std::string(api_info(static_cast<std::int16_t>(A::kKey))->name);
    check_inflated_arrays<typename A::Request>(v, name + "Request", &worst);
    check_inflated_arrays<typename A::Response>(v, name + "Response", &worst);
  });
  std::fprintf(stderr, "worst allocation/frame ratio over 10,000-element arrays: %.2fx\n", worst);
}

TEST(AllMessagesAllocation, GeneratedMessagesCostAboutTheirSize) {
  // Small generated messages sit inside the slack; what matters is no blow-up.
  for_each_api_version([&](auto api, std::int16_t v) {
    using A = decltype(api);
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      const auto bytes = testing::encode(testing::generate<typename A::Request>(seed, v), v);
      bool ok = false;
      const std::size_t used = decode_cost<typename A::Request>(bytes, v, &ok);
      EXPECT_TRUE(ok);
      EXPECT_LE(used, 2 * bytes.size() + 64 * 1024) << static_cast<int>(A::kKey) << " v" << v;
    }
  });
}

}  // namespace
}  // namespace spate::protocol
