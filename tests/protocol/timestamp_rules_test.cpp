// SPDX-License-Identifier: Apache-2.0
//
// protocol: a topic's timestamp rules on a client batch
// (message.timestamp.type=LogAppendTime stamps the batch; the
// before/after limits refuse CreateTime records too far from now).

#include <limits>

#include <gtest/gtest.h>

#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

namespace spate::protocol {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr std::size_t kMax = 1U << 20U;

std::vector<std::byte> batch_at(std::vector<std::int64_t> timestamps) {
  BatchBuilder b(timestamps.empty() ? 0 : timestamps.front());
  for (auto ts : timestamps) {
    RecordSpec r;
    r.value = std::vector<std::byte>{std::byte{'v'}};
    r.timestamp = ts;
    b.add(r);
  }
  return b.build();
}

TEST(TimestampRules, LogAppendTimeStampsTheBatchAndKeepsItValid) {
  auto bytes = batch_at({1000, 1001, 1002});
  const auto before = bytes;
  TimestampRules rules{.log_append_time = true, .now_ms = kNow};
  auto h = validate_client_batch(bytes, kMax, nullptr, rules);
  ASSERT_TRUE(h) << h.error();
  EXPECT_TRUE(h->log_append_time());
  EXPECT_EQ(h->max_timestamp, kNow);
  EXPECT_EQ(h->base_timestamp, 1000);        // Kafka leaves the records as they are
  auto again = validate_batch(bytes, kMax);  // the CRC was recomputed
  ASSERT_TRUE(again) << again.error();
  EXPECT_TRUE(again->log_append_time());
  EXPECT_EQ(again->max_timestamp, kNow);
  EXPECT_EQ(again->crc, compute_batch_crc(bytes));
  // Only the attributes, maxTimestamp and CRC changed.
  for (std::size_t i = batch_field::kRecords; i < bytes.size(); ++i) {
    ASSERT_EQ(bytes[i], before[i]) << i;
  }
  // A LogAppendTime topic ignores the limits (nothing to check).
  auto far = batch_at({1});
  rules.before_max_ms = 10;
  EXPECT_TRUE(validate_client_batch(far, kMax, nullptr, rules));
}

TEST(TimestampRules, LogAppendTimeStampsCompressedBatches) {
  auto compressed = compress_batch(batch_at({5, 6}), Compression::lz4);
  ASSERT_TRUE(compressed) << compressed.error();
  auto& bytes = *compressed;
  auto h = validate_client_batch(bytes, kMax, nullptr, {.log_append_time = true, .now_ms = kNow});
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->compression(), Compression::lz4);
  EXPECT_TRUE(h->log_append_time());
  EXPECT_TRUE(validate_batch(bytes, kMax));
}

TEST(TimestampRules, CreateTimeRecordsTooFarFromNowAreRefused) {
  const TimestampRules rules{.before_max_ms = 1000, .after_max_ms = 500, .now_ms = kNow};
  struct Case {
    std::vector<std::int64_t> timestamps;
    bool ok;
  };
  const Case cases[] = {
      {{kNow}, true},
      {{kNow - 1000}, true},         // exactly the limit
      {{kNow - 1001}, false},        // one ms past it
      {{kNow + 500}, true},          //
      {{kNow + 501}, false},         //
      {{kNow, kNow - 5000}, false},  // any record, not only the first or the largest
      {{kNow + 400, kNow - 900, kNow}, true},
      {{-1}, true},  // NO_TIMESTAMP is not checked (Kafka)
      {{std::numeric_limits<std::int64_t>::min() + 10}, false},  // no overflow
      {{std::numeric_limits<std::int64_t>::max() - 10}, false},
  };
  for (const auto& c : cases) {
    auto bytes = batch_at(c.timestamps);
    auto h = validate_client_batch(bytes, kMax, nullptr, rules);
    EXPECT_EQ(static_cast<bool>(h), c.ok) << c.timestamps.front();
    if (!h) {
      EXPECT_EQ(h.error().code(), Errc::invalid_timestamp);
    }
  }
  // Without limits (the default), anything goes.
  auto old = batch_at({1});
  EXPECT_TRUE(validate_client_batch(old, kMax, nullptr, {.now_ms = kNow}));
}

}  // namespace
}  // namespace spate::protocol
