// SPDX-License-Identifier: Apache-2.0

#include "spate/client/tools.h"

#include <gtest/gtest.h>

#include "spate/client/client.h"
#include "spate/common/bytes.h"

namespace spate::client {
namespace {

TEST(Murmur2, MatchesTheJavaClient) {
  // Vectors from the Java client's UtilsTest.
  const std::pair<const char*, std::int32_t> cases[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(murmur2(to_bytes(text)), want) << text;
}

TEST(Murmur2, PartitionIsPositiveModulo) {
  EXPECT_EQ(partition_for_key(to_bytes("21"), 7), (-973932308 & 0x7fffffff) % 7);
  for (int i = 0; i < 1000; ++i) {
    const auto p = partition_for_key(to_bytes(std::to_string(i)), 3);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, 3);
  }
}

TEST(Parsers, KeyValueAndStartPositions) {
  auto kv = parse_key_value("retention.ms=a=b");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "retention.ms");
  EXPECT_EQ(kv->second, "a=b");
  EXPECT_FALSE(parse_key_value("novalue"));
  EXPECT_FALSE(parse_key_value("=x"));
  using K = StartPosition::Kind;
  EXPECT_EQ(parse_start_position("beginning")->kind, K::beginning);
  EXPECT_EQ(parse_start_position("end")->kind, K::end);
  EXPECT_EQ(parse_start_position("42")->value, 42);
  EXPECT_EQ(parse_start_position("-5")->kind, K::from_end);
  EXPECT_EQ(parse_start_position("@1700000000000")->value, 1700000000000);
  for (const char* bad : {"", "x", "@", "-", "12a", "@-3", "--1"}) {
    auto r = parse_start_position(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().detail().find("--from"), std::string::npos);
  }
}

TEST(Brokers, ParsesListsAndRefusesBadOnes) {
  auto b = parse_brokers("localhost:9092,[::1]:19092");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2U);
  EXPECT_EQ((*b)[1].host, "::1");
  EXPECT_EQ((*b)[1].port, 19092);
  for (const char* bad : {"", "localhost", "host:0", "host:70000", "a:1,", ":9092", "[::1:9"}) {
    EXPECT_FALSE(parse_brokers(bad)) << bad;
  }
}

TEST(Output, JsonStringsAndTables) {
  EXPECT_EQ(json_string("a\"b\\c\n"), R"("a\"b\\c\n")");
  EXPECT_EQ(json_string(std::string("\x01\x7f", 2)), R"("\u0001\u007f")");
  EXPECT_EQ(json_string("h\xc3\xa9"), "\"h\xc3\xa9\"");     // valid UTF-8 kept
  EXPECT_EQ(json_string("\xff\xc3"), R"("\u00ff\u00c3")");  // invalid bytes escaped
  EXPECT_EQ(format_table({"A", "LONGER"}, {{"xx", "1"}, {"y", "22"}}),
            "A   LONGER\nxx  1\ny   22\n");
  std::vector<std::int64_t> v = {5, 1, 4, 2, 3};
  EXPECT_EQ(percentile(v, 50), 3);
  EXPECT_EQ(percentile(v, 100), 5);
  EXPECT_EQ(percentile(v, 0), 1);
}

}  // namespace
}  // namespace spate::client
