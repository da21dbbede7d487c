// SPDX-License-Identifier: Apache-2.0

#include "spate/client/tools.h"

#include <sstream>

#include <gtest/gtest.h>

#include "spate/client/client.h"
#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"

#include "client/common.h"
#include "client/json.h"

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
  EXPECT_EQ(Json(json_text("a\"b\\c\n")).dump(), R"("a\"b\\c\n")");
  EXPECT_EQ(Json(json_text(std::string("\x01\x00", 2))).dump(), R"("\u0001\u0000")");
  EXPECT_EQ(json_text("h\xc3\xa9"), "h\xc3\xa9");        // valid UTF-8 kept
  EXPECT_EQ(json_text("\xff\xc3"), "\xc3\xbf\xc3\x83");  // invalid bytes: U+00FF U+00C3
  EXPECT_EQ(format_table({"A", "LONGER"}, {{"xx", "1"}, {"y", "22"}}),
            "A   LONGER\nxx  1\ny   22\n");
  std::vector<std::int64_t> v = {5, 1, 4, 2, 3};
  EXPECT_EQ(percentile(v, 50), 3);
  EXPECT_EQ(percentile(v, 100), 5);
  EXPECT_EQ(percentile(v, 0), 1);
}

TEST(Output, JsonTextKeepsOnlyValidUtf8) {
  // The edges of RFC 3629: kept as they are.
  for (const char* valid :
       {"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xe2\x82\xac \xf0\x9f\x98\x80"}) {
    EXPECT_EQ(json_text(valid), valid);
  }
  // Overlong forms, surrogates, past U+10FFFF, stray continuation bytes,
  // truncated sequences: each byte becomes U+0080..U+00FF.
  const std::pair<std::string, std::string> invalid[] = {
      {"\xc0\xaf", "\xc3\x80\xc2\xaf"},
      {"\xc1\xbf", "\xc3\x81\xc2\xbf"},
      {"\xe0\x80\xaf", "\xc3\xa0\xc2\x80\xc2\xaf"},
      {"\xed\xa0\x80", "\xc3\xad\xc2\xa0\xc2\x80"},
      {"\xf0\x80\x80\xaf", "\xc3\xb0\xc2\x80\xc2\x80\xc2\xaf"},
      {"\xf4\x90\x80\x80", "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80"},
      {"\xf5\x80\x80\x80", "\xc3\xb5\xc2\x80\xc2\x80\xc2\x80"},
      {"\x80z", "\xc2\x80z"},
      {"a\xf0\x9f\x98", "a\xc3\xb0\xc2\x9f\xc2\x98"},
      {"\xe2\x82z", "\xc3\xa2\xc2\x82z"},
  };
  for (const auto& [in, out] : invalid) EXPECT_EQ(json_text(in), out) << in;
}

TEST(Output, RecordsPrintAsOneValidJsonObjectPerLine) {
  const std::string key = "k\"\\\x01\xed\xa0\x80";
  const std::string value = "v\xc0\xaf\xe2\x82\xac\n";
  const std::string header_value = "\xf4\x90\x80\x80";
  protocol::RecordView record;
  record.offset = 7;
  record.timestamp = 1234;
  record.key = std::as_bytes(std::span(key));
  record.value = std::as_bytes(std::span(value));
  record.headers.push_back({"h\"", std::as_bytes(std::span(header_value))});
  record.headers.push_back({"none", std::nullopt});
  std::ostringstream out;
  print_record(out, "json", "t", 3, record);
  const auto text = out.str();
  ASSERT_EQ(text.back(), '\n');
  ASSERT_EQ(text.find('\n'), text.size() - 1) << text;
  // Strict parsing: it throws on bytes that are not UTF-8.
  const auto parsed = Json::parse(text);
  std::vector<std::string> keys;
  for (const auto& [k, v] : parsed.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"topic", "partition", "offset", "timestamp", "key",
                                            "value", "headers"}));
  EXPECT_EQ(parsed["topic"], "t");
  EXPECT_EQ(parsed["partition"], 3);
  EXPECT_EQ(parsed["offset"], 7);
  EXPECT_EQ(parsed["timestamp"], 1234);
  EXPECT_EQ(parsed["key"], json_text(key));
  EXPECT_EQ(parsed["value"], json_text(value));
  EXPECT_EQ(parsed["headers"]["h\""], json_text(header_value));
  EXPECT_TRUE(parsed["headers"]["none"].is_null());
  record.key.reset();
  record.headers.clear();
  std::ostringstream again;
  print_record(again, "json", "t", 0, record);
  EXPECT_TRUE(Json::parse(again.str())["key"].is_null());
  EXPECT_EQ(Json::parse(again.str())["headers"], Json::object());
}

}  // namespace
}  // namespace spate::client
