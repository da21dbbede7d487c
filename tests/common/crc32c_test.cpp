// SPDX-License-Identifier: Apache-2.0
//
// CRC-32C against published check values, hardware against portable.

#include "spate/common/crc32c.h"

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/rng.h"

namespace spate {
namespace {

TEST(Crc32c, CheckValueOf123456789) {
  auto data = to_bytes("123456789");
  EXPECT_EQ(crc32c::value(data), 0xE3069283U);
  EXPECT_EQ(crc32c::extend_portable(0, data), 0xE3069283U);
}

TEST(Crc32c, Rfc3720Vectors) {
  std::vector<std::byte> zeros(32, std::byte{0});
  std::vector<std::byte> ones(32, std::byte{0xFF});
  std::vector<std::byte> ascending(32);
  for (std::size_t i = 0; i < 32; ++i) ascending[i] = static_cast<std::byte>(i);
  EXPECT_EQ(crc32c::value(zeros), 0x8A9136AAU);
  EXPECT_EQ(crc32c::value(ones), 0x62A8AB43U);
  EXPECT_EQ(crc32c::value(ascending), 0x46DD794EU);
}

TEST(Crc32c, HardwareMatchesPortableAtEveryLengthAndSplit) {
  if (!crc32c::has_hardware()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  Rng rng(42);
  std::vector<std::byte> data(3 * 8192 * 2 + 777);
  for (auto& b : data) b = static_cast<std::byte>(rng.next());
  for (std::size_t len :
       {0UL, 1UL, 7UL, 8UL, 9UL, 767UL, 768UL, 769UL, 24575UL, 24576UL, 24577UL, data.size()}) {
    auto span = std::span<const std::byte>(data).first(len);
    EXPECT_EQ(crc32c::extend_hardware(0, span), crc32c::extend_portable(0, span)) << len;
    // Extending in two pieces equals one pass.
    std::size_t cut = len / 3;
    EXPECT_EQ(crc32c::extend(crc32c::extend(0, span.first(cut)), span.subspan(cut)),
              crc32c::extend_portable(0, span))
        << len;
  }
}

}  // namespace
}  // namespace spate
