// SPDX-License-Identifier: Apache-2.0
//
// The idempotent producer through the broker: InitProducerId (new ids, KIP-360
// epoch bumps, transactional ids refused, ids never reused after a restart)
// and Produce with producer ids (a retry answers its original offset and is
// not appended, even while the original is not yet durable; gaps, fencing,
// unknown producers; the state kept across a restart).

#include <thread>

#include "spate/protocol/messages/init_producer_id.h"

#include "support/producer_batches.h"

#include "broker_fixture.h"

namespace spate::broker {
namespace {

using spate::testing::producer_batch;

class Idempotence : public BrokerTest {
 protected:
  protocol::InitProducerIdResponse init(std::int16_t version, std::int64_t id = -1,
                                        std::int16_t epoch = -1,
                                        std::optional<std::string> txn = std::nullopt) {
    protocol::InitProducerIdRequest r{std::move(txn), 60000, id, epoch};
    return call<protocol::InitProducerIdResponse>(ApiKey::init_producer_id, version, r);
  }

  protocol::ProducePartitionResponse send(std::int64_t id, std::int16_t epoch, std::int32_t seq,
                                          int records = 2, std::int16_t acks = -1,
                                          std::int32_t timeout_ms = 5000) {
    return produce("t", 0, producer_batch(id, epoch, seq, records), acks, timeout_ms);
  }

  void restart() {
    EXPECT_EQ(run(manager_->close_all()), 0U);
    broker_.reset();
    manager_.reset();
    dir_.reset();
    open();
  }
};

TEST_F(Idempotence, InitProducerIdHandsOutNewIdsWithEpochZeroAtEveryVersion) {
  std::set<std::int64_t> ids;
  for (std::int16_t v = 0; v <= 4; ++v) {
    auto r = init(v);
    EXPECT_EQ(r.error_code, 0) << v;
    EXPECT_EQ(r.producer_epoch, 0);
    EXPECT_GE(r.producer_id, 0);
    EXPECT_TRUE(ids.insert(r.producer_id).second) << "id handed out twice";
  }
}

TEST_F(Idempotence, Kip360BumpKeepsTheIdUntilTheEpochIsExhausted) {
  auto first = init(4);
  auto bumped = init(4, first.producer_id, 0);
  EXPECT_EQ(bumped.error_code, 0);
  EXPECT_EQ(bumped.producer_id, first.producer_id);
  EXPECT_EQ(bumped.producer_epoch, 1);
  auto exhausted = init(3, first.producer_id, 32766);
  EXPECT_EQ(exhausted.error_code, 0);
  EXPECT_NE(exhausted.producer_id, first.producer_id);
  EXPECT_EQ(exhausted.producer_epoch, 0);
  // An id this broker never handed out is not taken over.
  auto foreign = init(4, 1'000'000'000, 5);
  EXPECT_EQ(foreign.error_code, 0);
  EXPECT_NE(foreign.producer_id, 1'000'000'000);
  EXPECT_EQ(foreign.producer_epoch, 0);
  // Id without epoch (or the reverse) is malformed, as in Kafka.
  EXPECT_EQ(init(4, first.producer_id, -1).error_code, code(ErrorCode::invalid_request));
}

TEST_F(Idempotence, TransactionalIdIsRefusedNotPretended) {
  auto r = init(4, -1, -1, "txn-1");
  EXPECT_EQ(r.error_code, code(ErrorCode::transactional_id_authorization_failed));
  EXPECT_EQ(r.producer_id, -1);
}

TEST_F(Idempotence, ProducerIdsAreNeverReusedAfterARestart) {
  std::int64_t highest = -1;
  for (int i = 0; i < 3; ++i) highest = std::max(highest, init(4).producer_id);
  restart();
  EXPECT_GT(init(4).producer_id, highest);
}

TEST_F(Idempotence, DuplicateAnswersTheOriginalOffsetAndIsNotAppended) {
  create("t", 1);
  ASSERT_EQ(produce("t", 0, value_batch("plain")).base_offset, 0);
  const auto id = init(4).producer_id;
  std::vector<std::int64_t> bases;
  for (int i = 0; i < 6; ++i) {
    auto r = send(id, 0, i * 2);
    ASSERT_EQ(r.error_code, 0) << i;
    bases.push_back(r.base_offset);
  }
  const auto end = latest("t", 0);
  for (int i = 1; i < 6; ++i) {  // each of the last five
    auto again = send(id, 0, i * 2, 2, static_cast<std::int16_t>(i % 2 == 0 ? -1 : 1));
    EXPECT_EQ(again.error_code, 0) << i;
    EXPECT_EQ(again.base_offset, bases[static_cast<std::size_t>(i)]) << i;
  }
  EXPECT_EQ(latest("t", 0), end);
  EXPECT_EQ(fetch_values("t", 0, 0).size(), 13U);
  // Older than the last five: not recognised, and out of order.
  EXPECT_EQ(send(id, 0, 0).error_code, code(ErrorCode::out_of_order_sequence_number));
}

// On a LogAppendTime topic a retry is answered as the original was: its
// offsets and the time the broker stamped it with (Kafka's duplicate reply
// carries the batch's timestamp), not -1 (CreateTime) and not a new time.
TEST_F(Idempotence, DuplicateOnALogAppendTimeTopicAnswersTheOriginalAppendTime) {
  create("t", 1, {{"message.timestamp.type", "LogAppendTime"}});
  create("c", 1);
  const auto id = init(4).producer_id;
  const auto first = send(id, 0, 0);
  ASSERT_EQ(first.error_code, 0);
  ASSERT_GE(first.log_append_time_ms, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto again = send(id, 0, 0);
  EXPECT_EQ(again.error_code, 0);
  EXPECT_EQ(again.base_offset, first.base_offset);
  EXPECT_EQ(again.log_append_time_ms, first.log_append_time_ms);
  restart();  // the state from the snapshot written at the close
  const auto after = send(id, 0, 0);
  EXPECT_EQ(after.base_offset, first.base_offset);
  EXPECT_EQ(after.log_append_time_ms, first.log_append_time_ms);
  // CreateTime: no append time, for a retry either.
  ASSERT_EQ(produce("c", 0, producer_batch(id, 0, 0, 2)).log_append_time_ms, -1);
  EXPECT_EQ(produce("c", 0, producer_batch(id, 0, 0, 2)).log_append_time_ms, -1);
  EXPECT_EQ(latest("t", 0), 2);
  EXPECT_EQ(latest("c", 0), 2);
}

// flush.messages counts records appended: retries answered as duplicates
// append nothing, so they neither count towards it nor trigger a flush.
TEST_F(Idempotence, RetriesDoNotCountTowardsFlushMessages) {
  create("t", 1, {{"flush.policy", "interval"}, {"flush.ms", "3600000"}, {"flush.messages", "3"}});
  const auto syncs = [&] { return fs_.calls(static_cast<std::uint32_t>(storage::FaultOp::sync)); };
  const auto id = init(4).producer_id;
  const auto start = syncs();
  ASSERT_EQ(send(id, 0, 0, 2, 1).error_code, 0);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(send(id, 0, 0, 2, 1).base_offset, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(syncs(), start);  // 2 records appended, 6 more only retried
  ASSERT_EQ(send(id, 0, 2, 1, 1).base_offset, 2);
  for (int i = 0; i < 200 && syncs() == start; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(syncs(), start);  // the third record flushes
  EXPECT_EQ(latest("t", 0), 3);
}

TEST_F(Idempotence, GapFencingAndNewEpochs) {
  create("t", 1);
  const auto id = init(4).producer_id;
  ASSERT_EQ(send(id, 0, 0).error_code, 0);
  EXPECT_EQ(send(id, 0, 5).error_code, code(ErrorCode::out_of_order_sequence_number));
  // A bumped epoch must start at 0; then the old epoch is fenced.
  const auto bumped = init(4, id, 0);
  ASSERT_EQ(bumped.producer_epoch, 1);
  EXPECT_EQ(send(id, 1, 2).error_code, code(ErrorCode::out_of_order_sequence_number));
  ASSERT_EQ(send(id, 1, 0).error_code, 0);
  EXPECT_EQ(send(id, 0, 2).error_code, code(ErrorCode::invalid_producer_epoch));
  EXPECT_EQ(latest("t", 0), 4);
}

TEST_F(Idempotence, UnknownProducerIsAcceptedAtAnySequence) {
  create("t", 1);
  // As after its state expired: Kafka 2.5+ takes it.
  auto r = send(4242, 7, 1000);
  EXPECT_EQ(r.error_code, 0);
  EXPECT_EQ(r.base_offset, 0);
  EXPECT_EQ(send(4242, 7, 1002).base_offset, 2);
}

TEST_F(Idempotence, RetryOfABatchNotYetDurableWaitsForTheOriginal) {
  create("t", 1);
  const auto id = init(4).producer_id;
  {
    spate::testing::DiskHold hold(disk_, io_.get_executor());
    auto original = send(id, 0, 0, 3, /*acks=*/1);
    ASSERT_EQ(original.error_code, 0);
    EXPECT_EQ(original.base_offset, 0);
    // The retry does not append again: it waits for the original to commit.
    auto retry = send(id, 0, 0, 3, -1, 200);
    EXPECT_EQ(retry.error_code, code(ErrorCode::request_timed_out));
    EXPECT_EQ(retry.base_offset, 0);
  }
  auto retry = send(id, 0, 0, 3);
  EXPECT_EQ(retry.error_code, 0);
  EXPECT_EQ(retry.base_offset, 0);
  EXPECT_EQ(latest("t", 0), 3);
  EXPECT_EQ(fetch_values("t", 0, 0), (std::vector<std::string>{"v0", "v1", "v2"}));
}

TEST_F(Idempotence, StateSurvivesACleanRestart) {
  create("t", 1);
  const auto id = init(4).producer_id;
  ASSERT_EQ(send(id, 0, 0).error_code, 0);
  ASSERT_EQ(send(id, 0, 2).error_code, 0);
  restart();
  auto dup = send(id, 0, 2);
  EXPECT_EQ(dup.error_code, 0);
  EXPECT_EQ(dup.base_offset, 2);
  EXPECT_EQ(send(id, 0, 9).error_code, code(ErrorCode::out_of_order_sequence_number));
  EXPECT_EQ(latest("t", 0), 4);
}

// A roll makes the tick write a snapshot on the disk thread; a start after a
// crash (no clean close, so no snapshot at close) then knows producers whose
// segments DeleteRecords removed since: only the snapshot remembers them.
TEST_F(Idempotence, SnapshotAfterARollServesTheStartAfterACrash) {
  create("t", 1, {{"segment.bytes", "200"}});
  const auto id = init(4).producer_id;
  for (int i = 0; i < 6; ++i) ASSERT_EQ(send(id, 0, i * 2).error_code, 0);
  auto partition = manager_->partition("t", 0);
  ASSERT_GT(partition->status().segments, 2U);
  manager_->tick();
  const std::filesystem::path snapshot = "/data/t-0/producer.snapshot";
  for (int i = 0; i < 400 && !storage::read_file(mem_, snapshot, 1U << 20U); ++i) {
    io_.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(storage::read_file(mem_, snapshot, 1U << 20U)) << "no snapshot after a roll";
  ASSERT_TRUE(run(partition->advance_start(partition->end_offset())));
  ASSERT_EQ(partition->status().segments, 1U);
  partition.reset();
  // kill -9: nothing closed, the page cache kept.
  broker_.reset();
  manager_.reset();
  dir_.reset();
  open();
  auto dup = send(id, 0, 4);
  EXPECT_EQ(dup.error_code, 0);
  EXPECT_EQ(dup.base_offset, 4);
  EXPECT_EQ(send(id, 0, 12).base_offset, 12);
}

}  // namespace
}  // namespace spate::broker
