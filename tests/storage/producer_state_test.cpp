// SPDX-License-Identifier: Apache-2.0
//
// ProducerState: Kafka's idempotence rules one by one (duplicates of the last
// 5 batches, gaps, fencing, new epochs, unknown producers, the sequence
// wrap), expiry, the bound, truncation and the snapshot body.

#include "spate/storage/producer_state.h"

#include <limits>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"

namespace spate::storage {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr std::int32_t kSeqMax = std::numeric_limits<std::int32_t>::max();

// Appends `records` records of producer `id` at `*end`, as the partition does
// after a check that said "append".
ProducerBatch append(ProducerState& s, std::int64_t id, std::int16_t epoch, std::int32_t seq,
                     int records, Offset* end, std::int64_t now = kNow) {
  const std::int32_t last = increment_sequence(seq, records - 1);
  auto verdict = s.check(id, epoch, seq, last);
  EXPECT_TRUE(verdict) << verdict.error();
  EXPECT_TRUE(verdict && !verdict->has_value()) << "not a new batch";
  ProducerBatch b{seq, last, *end, *end + (records - 1), now};
  s.record(id, epoch, b, now);
  *end = *end + records;
  return b;
}

Errc check_error(const ProducerState& s, std::int64_t id, std::int16_t epoch, std::int32_t seq,
                 std::int32_t last) {
  auto verdict = s.check(id, epoch, seq, last);
  return verdict ? Errc::ok : verdict.error().code();
}

TEST(ProducerState, UnknownProducerIsAcceptedAtAnySequence) {
  ProducerState s;
  EXPECT_FALSE(s.check(7, 0, 0, 4)->has_value());
  EXPECT_FALSE(s.check(7, 3, 12345, 12349)->has_value());  // new, or expired elsewhere
}

TEST(ProducerState, InSequenceBatchesAreAppended) {
  ProducerState s;
  Offset end(10);
  append(s, 7, 0, 0, 3, &end);
  append(s, 7, 0, 3, 2, &end);
  EXPECT_FALSE(s.check(7, 0, 5, 5)->has_value());
  EXPECT_EQ(s.find(7)->batches.size(), 2U);
  EXPECT_EQ(s.end_offset(), Offset(15));
}

TEST(ProducerState, DuplicateOfEachOfTheLastFiveAnswersItsOriginalOffsets) {
  ProducerState s;
  Offset end(0);
  std::vector<ProducerBatch> sent;
  for (int i = 0; i < 7; ++i) sent.push_back(append(s, 7, 0, i * 2, 2, &end));
  for (int i = 2; i < 7; ++i) {  // the last five
    auto verdict = s.check(7, 0, i * 2, i * 2 + 1);
    ASSERT_TRUE(verdict && verdict->has_value()) << i;
    EXPECT_EQ(**verdict, sent[static_cast<std::size_t>(i)]);
  }
  // Older than the last five: not known as a duplicate, and out of order.
  EXPECT_EQ(check_error(s, 7, 0, 2, 3), Errc::out_of_order_sequence);
  // Same first sequence, another last: not the same batch.
  EXPECT_EQ(check_error(s, 7, 0, 12, 12), Errc::out_of_order_sequence);
}

TEST(ProducerState, GapIsOutOfOrder) {
  ProducerState s;
  Offset end(0);
  append(s, 7, 0, 0, 3, &end);
  EXPECT_EQ(check_error(s, 7, 0, 4, 4), Errc::out_of_order_sequence);
  EXPECT_EQ(check_error(s, 7, 0, 1, 1), Errc::out_of_order_sequence);  // overlaps
}

TEST(ProducerState, OlderEpochIsFenced) {
  ProducerState s;
  Offset end(0);
  append(s, 7, 3, 0, 1, &end);
  EXPECT_EQ(check_error(s, 7, 2, 1, 1), Errc::invalid_producer_epoch);
  // Even a batch that would be a duplicate in the old epoch.
  EXPECT_EQ(check_error(s, 7, 2, 0, 0), Errc::invalid_producer_epoch);
}

TEST(ProducerState, NewEpochMustStartAtZeroAndDropsTheOldBatches) {
  ProducerState s;
  Offset end(0);
  append(s, 7, 0, 0, 5, &end);
  EXPECT_EQ(check_error(s, 7, 1, 5, 5), Errc::out_of_order_sequence);
  append(s, 7, 1, 0, 1, &end);
  EXPECT_EQ(s.find(7)->epoch, 1);
  EXPECT_EQ(s.find(7)->batches.size(), 1U);
  // The old epoch is fenced now, even its batches.
  EXPECT_EQ(check_error(s, 7, 0, 0, 4), Errc::invalid_producer_epoch);
}

TEST(ProducerState, SequenceWrapsAtInt32Max) {
  EXPECT_EQ(increment_sequence(kSeqMax, 1), 0);
  EXPECT_EQ(increment_sequence(kSeqMax - 1, 3), 1);
  EXPECT_EQ(increment_sequence(5, 3), 8);
  ProducerState s;
  Offset end(0);
  // Unknown producer: any sequence, so it may start near the top.
  append(s, 7, 0, kSeqMax - 1, 2, &end);
  EXPECT_EQ(s.find(7)->batches.back().last_seq, kSeqMax);
  append(s, 7, 0, 0, 2, &end);  // wraps to 0
  auto straddling = s.check(7, 0, 2, increment_sequence(2, 0));
  EXPECT_TRUE(straddling && !straddling->has_value());
  EXPECT_EQ(check_error(s, 7, 0, kSeqMax, kSeqMax), Errc::out_of_order_sequence);
}

TEST(ProducerState, ProducersAreIndependent) {
  ProducerState s;
  Offset end(0);
  append(s, 1, 0, 0, 1, &end);
  append(s, 2, 0, 0, 1, &end);
  append(s, 1, 0, 1, 1, &end);
  EXPECT_FALSE(s.check(2, 0, 1, 1)->has_value());
  EXPECT_EQ(check_error(s, 2, 0, 2, 2), Errc::out_of_order_sequence);
}

TEST(ProducerState, ExpiresSilentProducers) {
  ProducerState s({.producers_max = 100, .expiration_ms = 1000});
  Offset end(0);
  append(s, 1, 0, 0, 1, &end, kNow);
  append(s, 2, 0, 0, 1, &end, kNow + 600);
  EXPECT_EQ(s.expire(kNow + 999), 0U);
  EXPECT_EQ(s.expire(kNow + 1000), 1U);
  EXPECT_EQ(s.find(1), nullptr);
  ASSERT_NE(s.find(2), nullptr);
  // Forgotten: accepted again at any sequence.
  EXPECT_FALSE(s.check(1, 0, 77, 77)->has_value());
}

TEST(ProducerState, BoundedExpiredFirstThenLeastRecentlyActive) {
  ProducerState s({.producers_max = 3, .expiration_ms = 1000});
  Offset end(0);
  append(s, 1, 0, 0, 1, &end, kNow + 500);
  append(s, 2, 0, 0, 1, &end, kNow);  // expires first
  append(s, 3, 0, 0, 1, &end, kNow + 700);
  append(s, 4, 0, 0, 1, &end, kNow + 1200);  // full: 2 has expired
  EXPECT_EQ(s.size(), 3U);
  EXPECT_EQ(s.find(2), nullptr);
  append(s, 5, 0, 0, 1, &end, kNow + 1300);  // full, none expired: 1 is the oldest
  EXPECT_EQ(s.size(), 3U);
  EXPECT_EQ(s.find(1), nullptr);
  EXPECT_NE(s.find(3), nullptr);
  // A known producer never evicts anyone.
  append(s, 3, 0, 1, 1, &end, kNow + 1400);
  EXPECT_EQ(s.size(), 3U);
}

TEST(ProducerState, TruncationForgetsBatchesPastTheEnd) {
  ProducerState s;
  Offset end(0);
  append(s, 1, 0, 0, 2, &end);  // 0-1
  append(s, 2, 0, 0, 2, &end);  // 2-3
  append(s, 1, 0, 2, 2, &end);  // 4-5
  s.truncate_from(Offset(4));
  EXPECT_EQ(s.end_offset(), Offset(4));
  ASSERT_NE(s.find(1), nullptr);
  EXPECT_EQ(s.find(1)->batches.back().last_seq, 1);
  // The truncated batch is not a duplicate any more: it is the next one.
  EXPECT_FALSE(s.check(1, 0, 2, 3)->has_value());
  s.truncate_from(Offset(1));
  EXPECT_EQ(s.size(), 0U);  // nothing of theirs left
}

TEST(ProducerState, SnapshotRoundTripsAndRefusesDamage) {
  ProducerState s({.producers_max = 10, .expiration_ms = 1000});
  Offset end(0);
  for (int i = 0; i < 7; ++i) append(s, 1, 2, i, 1, &end);
  append(s, 9, 0, 5, 3, &end, kNow + 5);
  const auto body = s.encode();
  auto back = ProducerState::decode(body, s.limits());
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(back->find(1)->batches.size(), kProducerBatchesKept);
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(ProducerState::decode(std::span(body).first(cut), s.limits())) << cut;
  }
  // More producers than the bound: refused, not allocated.
  EXPECT_FALSE(ProducerState::decode(body, {.producers_max = 1, .expiration_ms = 1000}));
  auto extra = body;
  extra.push_back(std::byte{0});
  EXPECT_FALSE(ProducerState::decode(extra, s.limits()));
}

// The state never records a negative activity time (it starts at 0 and only
// grows), so a snapshot claiming one is damaged: refused, instead of making
// expiry compute now - INT64_MIN (signed overflow).
TEST(ProducerState, SnapshotWithANegativeActivityTimeIsRefused) {
  ProducerState s({.producers_max = 10, .expiration_ms = 1000});
  Offset end(0);
  append(s, 3, 0, 0, 1, &end);
  auto body = s.encode();
  constexpr std::size_t kActivityAt = 2 + 8 + 4 + 8 + 2;  // header, producer id, epoch
  ASSERT_EQ(load_be<std::int64_t>(body.data() + kActivityAt), kNow);
  for (std::int64_t bad : {std::int64_t{-1}, std::numeric_limits<std::int64_t>::min()}) {
    store_be<std::int64_t>(body.data() + kActivityAt, bad);
    auto back = ProducerState::decode(body, s.limits());
    EXPECT_FALSE(back) << bad;
    if (back) (void)back->expire(kNow);
  }
}

}  // namespace
}  // namespace spate::storage
