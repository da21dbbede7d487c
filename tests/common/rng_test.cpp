// SPDX-License-Identifier: Apache-2.0
//
// Rng: reproducible per seed, pinned golden outputs (a recorded simulation seed
// must replay the same schedule forever), bounds and rough uniformity.

#include "spate/common/rng.h"

#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace spate {
namespace {

constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

TEST(Rng, SameSeedGivesTheSameSequence) {
  Rng a(12345);
  Rng b(12345);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(a.next(), b.next()) << "draw " << i;
  }
  Rng c(12345);
  Rng d(12345);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(c.uniform(1000), d.uniform(1000)) << "draw " << i;
    ASSERT_EQ(c.range(-50, 50), d.range(-50, 50)) << "draw " << i;
    ASSERT_EQ(c.chance(30), d.chance(30)) << "draw " << i;
  }
}

TEST(Rng, DifferentSeedsGiveDifferentSequences) {
  Rng a(1);
  Rng b(2);
  int equal = 0;
  for (int i = 0; i < 64; ++i) equal += a.next() == b.next() ? 1 : 0;
  EXPECT_EQ(equal, 0);
}

// Golden values for seed 1, computed once from the implementation and checked
// against an independent Python transcription of splitmix64 + xoshiro256** and
// Lemire's bounded method. If this test fails, every recorded seed now replays
// a different schedule: change the generator only on purpose, and update these.
TEST(Rng, SeedOneSequenceIsPinned) {
  Rng rng(1);
  const std::uint64_t expected[] = {0xb3f2af6d0fc710c5ULL, 0x853b559647364ceaULL,
                                    0x92f89756082a4514ULL, 0x642e1c7bc266a3a7ULL,
                                    0xb27a48e29a233673ULL};
  for (std::uint64_t want : expected) EXPECT_EQ(rng.next(), want);
}

TEST(Rng, SeedZeroIsAValidSeed) {
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0x99ec5f36cb75f2b4ULL);
  EXPECT_EQ(rng.next(), 0xbf6e1f784956452aULL);
}

TEST(Rng, BoundedHelpersArePinnedToo) {
  Rng u(1);
  const std::uint64_t uniform10[] = {7, 5, 5, 3, 6, 1, 0, 3};
  for (std::uint64_t want : uniform10) EXPECT_EQ(u.uniform(10), want);

  Rng r(1);
  const std::int64_t range3[] = {1, 0, 1, -1, 1, -2, -3, -1};
  for (std::int64_t want : range3) EXPECT_EQ(r.range(-3, 3), want);

  // A bound just over 2^63 rejects about half of the draws: this pins the
  // rejection path (the four values below take five draws).
  Rng big(7);
  const std::uint64_t bound = (std::uint64_t{1} << 63U) + 1;
  const std::uint64_t expected[] = {0x59ac7d7ba77cbb2dULL, 0x6b78e9a4ca963ccbULL,
                                    0x7d949c398f403920ULL, 0x7ed482763f2a018cULL};
  for (std::uint64_t want : expected) EXPECT_EQ(big.uniform(bound), want);
}

TEST(Rng, UniformStaysBelowItsBound) {
  Rng rng(3);
  for (std::uint64_t bound :
       {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}, std::uint64_t{7}, std::uint64_t{1000},
        std::uint64_t{1} << 32U, (std::uint64_t{1} << 63U) + 1, kU64Max}) {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_LT(rng.uniform(bound), bound) << "bound " << bound;
    }
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.uniform(1), 0U);
}

TEST(Rng, UniformIsRoughlyUniformOverASmallBound) {
  Rng rng(2024);
  constexpr int kBuckets = 5;
  constexpr int kDraws = 50000;
  std::vector<int> counts(kBuckets);
  for (int i = 0; i < kDraws; ++i) counts[rng.uniform(kBuckets)]++;
  // Expected 10000 each with a standard deviation near 90: 1000 is generous.
  for (int b = 0; b < kBuckets; ++b) {
    EXPECT_NEAR(counts[static_cast<std::size_t>(b)], kDraws / kBuckets, 1000) << "bucket " << b;
  }
}

TEST(Rng, RangeIncludesBothEnds) {
  Rng rng(5);
  bool saw_low = false;
  bool saw_high = false;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t v = rng.range(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    saw_low = saw_low || v == -3;
    saw_high = saw_high || v == 3;
  }
  EXPECT_TRUE(saw_low);
  EXPECT_TRUE(saw_high);
}

TEST(Rng, RangeHandlesSingletonsAndTheExtremes) {
  Rng rng(6);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.range(42, 42), 42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.range(kI64Min, kI64Min), kI64Min);
  bool saw_max = false;
  bool saw_below = false;
  for (int i = 0; i < 200; ++i) {
    const std::int64_t v = rng.range(kI64Max - 1, kI64Max);
    ASSERT_GE(v, kI64Max - 1);
    saw_max = saw_max || v == kI64Max;
    saw_below = saw_below || v == kI64Max - 1;
  }
  EXPECT_TRUE(saw_max && saw_below);
  // The whole int64 range (its span does not fit in a uint64 bound).
  bool saw_negative = false;
  bool saw_positive = false;
  for (int i = 0; i < 200; ++i) {
    const std::int64_t v = rng.range(kI64Min, kI64Max);
    saw_negative = saw_negative || v < 0;
    saw_positive = saw_positive || v > 0;
  }
  EXPECT_TRUE(saw_negative && saw_positive);
}

TEST(Rng, ChanceZeroNeverAndHundredAlways) {
  Rng rng(8);
  int hits = 0;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(rng.chance(0));
    EXPECT_TRUE(rng.chance(100));
    hits += rng.chance(50) ? 1 : 0;
  }
  EXPECT_NEAR(hits, 500, 100);
}

TEST(Rng, FromOsGivesIndependentGenerators) {
  Rng a = Rng::from_os();
  Rng b = Rng::from_os();
  // Equal first draws have probability 2^-64.
  EXPECT_NE(a.next(), b.next());
}

TEST(RngDeathTest, ZeroBoundAndEmptyRangeAbort) {
  Rng rng(1);
  EXPECT_DEATH((void)rng.uniform(0), "Rng::uniform bound 0");
  EXPECT_DEATH((void)rng.range(3, 2), "Rng::range low 3 > high 2");
}

}  // namespace
}  // namespace spate
