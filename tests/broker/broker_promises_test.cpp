// SPDX-License-Identifier: Apache-2.0
//
// What acks=all, the high watermark and a fenced log promise a client, checked
// through the handlers (issue 13): each test failed with one deliberate bug
// planted by hand (see the issue note).

#include "broker_fixture.h"

namespace spate::broker {
namespace {

// While no flush completes, acks=all is never answered NONE, the high
// watermark does not move, and neither Fetch nor ListOffsets shows anything
// past it, at any acks level.
TEST_F(BrokerTest, WhileNoFlushCompletesNothingPastTheHighWatermarkIsAcknowledgedOrServed) {
  create("t", 1);
  ASSERT_EQ(produce("t", 0, value_batch("durable")).error_code, 0);
  ASSERT_EQ(latest("t", 0), 1);
  {
    DiskHold hold(disk_, io_.get_executor());
    auto all = produce("t", 0, value_batch("held-all"), -1, 200);
    EXPECT_EQ(all.error_code, code(ErrorCode::request_timed_out));
    auto one = produce("t", 0, value_batch("held-one"), 1);
    EXPECT_EQ(one.error_code, 0);  // acks=1: appended, not committed
    EXPECT_EQ(one.base_offset, 2);
    EXPECT_EQ(latest("t", 0), 1);
    EXPECT_EQ(fetch_values("t", 0, 0), std::vector<std::string>{"durable"});
    auto past = fetch("t", 0, 1);
    EXPECT_EQ(past.error_code, 0);
    EXPECT_TRUE(!past.records || past.records->empty());
    EXPECT_EQ(past.high_watermark, 1);
  }
  // Released: the held batches become durable, and then visible.
  ASSERT_EQ(produce("t", 0, value_batch("after")).error_code, 0);
  EXPECT_EQ(latest("t", 0), 4);
  EXPECT_EQ(fetch_values("t", 0, 0),
            (std::vector<std::string>{"durable", "held-all", "held-one", "after"}));
}

// Every record acknowledged with acks=all survives a power loss (MemFs crash:
// what was not fsynced is gone), here while fsyncs fail: a record is
// acknowledged only once it is durable.
TEST_F(BrokerTest, EveryAcksAllAcknowledgementSurvivesAPowerLoss) {
  create("t", 1);
  std::vector<std::string> acked;
  for (int i = 0; i < 5; ++i) {
    auto value = fmt::format("before-{}", i);
    if (produce("t", 0, value_batch(value)).error_code == 0) acked.push_back(value);
  }
  ASSERT_EQ(acked.size(), 5U);
  storage::FaultPlan eio;
  eio.ops = static_cast<std::uint32_t>(storage::FaultOp::sync);
  eio.err = EIO;
  eio.sticky = true;
  fs_.inject(eio);
  for (int i = 0; i < 5; ++i) {
    auto value = fmt::format("failing-{}", i);
    auto r = produce("t", 0, value_batch(value), -1, 500);
    if (r.error_code == 0) acked.push_back(value);
  }
  // The power goes: no close, nothing unsynced survives.
  broker_.reset();
  manager_.reset();
  dir_.reset();
  fs_.clear();
  mem_.crash();
  open();
  const auto got = fetch_values("t", 0, 0);
  for (const auto& value : acked) {
    EXPECT_NE(std::find(got.begin(), got.end(), value), got.end())
        << value << " was acknowledged and is gone after the power loss";
  }
}

// A fenced log (a failed fsync) answers KAFKA_STORAGE_ERROR at every acks
// level, appends nothing, and Metadata marks the partition offline.
TEST_F(BrokerTest, AFencedLogRefusesProducesAtEveryAcksLevel) {
  create("t", 1);
  ASSERT_EQ(produce("t", 0, value_batch("kept")).error_code, 0);
  storage::FaultPlan eio;
  eio.ops = static_cast<std::uint32_t>(storage::FaultOp::sync);
  eio.err = EIO;
  fs_.inject(eio);
  EXPECT_NE(produce("t", 0, value_batch("fails")).error_code, 0);
  auto p = manager_->partition("t", 0);
  ASSERT_TRUE(p->fenced());
  const Offset end = p->end_offset();
  EXPECT_EQ(produce("t", 0, value_batch("x"), -1).error_code, code(ErrorCode::kafka_storage_error));
  EXPECT_EQ(produce("t", 0, value_batch("x"), 1).error_code, code(ErrorCode::kafka_storage_error));
  protocol::ProduceRequest r;
  r.acks = 0;
  r.topic_data.push_back({"t", {{0, value_batch("x")}}});
  auto none = handle(frame(ApiKey::produce, 7, r));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);  // acks=0: no answer, and nothing appended
  EXPECT_EQ(p->end_offset(), end);
  EXPECT_EQ(fetch_values("t", 0, 0), std::vector<std::string>{"kept"});
  protocol::MetadataRequest m;
  m.topics = std::vector<protocol::MetadataRequestTopic>{{"t"}};
  auto meta = call<protocol::MetadataResponse>(ApiKey::metadata, 4, m);
  EXPECT_EQ(meta.topics.at(0).partitions.at(0).error_code, code(ErrorCode::kafka_storage_error));
  EXPECT_EQ(run(manager_->close_all()), 1U);  // a fenced log does not close cleanly
  manager_.reset();
}

}  // namespace
}  // namespace spate::broker
