// SPDX-License-Identifier: Apache-2.0
//
// KIP-320 through the broker: Fetch (v9+) and ListOffsets (v4+) fence a
// current leader epoch older than the partition's Raft term and refuse a
// newer one; ListOffsets v4+ names the epoch of its answer;
// OffsetForLeaderEpoch v0-v3 tells where each epoch ends; Metadata v7 names
// each partition's epoch. Hostile values:
// negative and huge epochs, unknown topics and partitions, many entries.

#include <limits>

#include "spate/protocol/messages/offset_for_leader_epoch.h"

#include "broker_fixture.h"

namespace spate::broker {
namespace {

constexpr std::int32_t kI32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t kI32Min = std::numeric_limits<std::int32_t>::min();

class BrokerEpochsTest : public BrokerTest {
 protected:
  std::int32_t term(const std::string& topic, std::int32_t partition) {
    return static_cast<std::int32_t>(manager_->partition(topic, partition)->term().value());
  }

  void restart() {
    ASSERT_EQ(run(manager_->close_all()), 0U);
    broker_.reset();
    manager_.reset();
    open();
  }

  protocol::FetchPartitionData fetch_at_epoch(std::int32_t epoch, std::int16_t version = 11) {
    protocol::FetchRequest r;
    r.min_bytes = 1;
    r.max_bytes = 1 << 20;
    r.topics.push_back({"t", {{0, epoch, 0, -1, 1 << 20}}});
    return call<protocol::FetchResponse>(ApiKey::fetch, version, r)
        .responses.at(0)
        .partitions.at(0);
  }

  protocol::ListOffsetsPartitionResponse list_at_epoch(std::int32_t epoch, std::int64_t timestamp,
                                                       std::int16_t version = 5) {
    protocol::ListOffsetsRequest r;
    r.topics.push_back({"t", {{0, timestamp, epoch}}});
    return call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, version, r)
        .topics.at(0)
        .partitions.at(0);
  }

  protocol::OffsetForLeaderEpochResponse epochs(
      std::int16_t version, std::vector<protocol::OffsetForLeaderTopic> topics) {
    protocol::OffsetForLeaderEpochRequest r;
    r.replica_id = -1;
    r.topics = std::move(topics);
    return call<protocol::OffsetForLeaderEpochResponse>(ApiKey::offset_for_leader_epoch, version,
                                                        r);
  }

  protocol::EpochEndOffset epoch_end(std::int32_t leader_epoch, std::int16_t version = 3,
                                     std::int32_t current = -1) {
    return epochs(version, {{"t", {{0, current, leader_epoch}}}}).topics.at(0).partitions.at(0);
  }
};

TEST_F(BrokerEpochsTest, FetchFencesAnOlderEpochAndRefusesANewerOne) {
  create("t", 1);
  produce("t", 0, batch(3));
  const std::int32_t now = term("t", 0);
  ASSERT_GE(now, 1);
  auto same = fetch_at_epoch(now);
  EXPECT_EQ(same.error_code, 0);
  ASSERT_TRUE(same.records);
  EXPECT_FALSE(same.records->empty());
  auto old = fetch_at_epoch(now - 1);
  EXPECT_EQ(old.error_code, code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(old.high_watermark, -1);
  EXPECT_TRUE(!old.records || old.records->empty());
  EXPECT_EQ(fetch_at_epoch(now + 1).error_code, code(ErrorCode::unknown_leader_epoch));
  EXPECT_EQ(fetch_at_epoch(kI32Max).error_code, code(ErrorCode::unknown_leader_epoch));
  // Kafka's Fetch reads every negative epoch as none.
  for (std::int32_t none : {-1, -2, kI32Min}) {
    EXPECT_EQ(fetch_at_epoch(none).error_code, 0) << none;
  }
  // Before v9 there is no epoch on the wire: never fenced.
  EXPECT_EQ(fetch_at_epoch(0, 8).error_code, 0);
  // After a restart (a new term) the old epoch is fenced.
  restart();
  EXPECT_EQ(fetch_at_epoch(now).error_code, code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(fetch_at_epoch(term("t", 0)).error_code, 0);
}

// Metadata v7 names each partition's Raft term, the epoch Fetch checks; a
// restart (a new term) raises it. v6 has no epoch on the wire.
TEST_F(BrokerEpochsTest, MetadataV7NamesEachPartitionsTermAndARestartRaisesIt) {
  auto versions = call<protocol::ApiVersionsResponse>(ApiKey::api_versions, 3,
                                                      protocol::ApiVersionsRequest{"test", "1"});
  bool listed = false;
  for (const auto& api : versions.api_keys) {
    if (api.api_key != static_cast<std::int16_t>(ApiKey::metadata)) continue;
    listed = true;
    EXPECT_EQ(api.min_version, 0);
    EXPECT_EQ(api.max_version, 7);
  }
  EXPECT_TRUE(listed);
  create("t", 2);
  produce("t", 0, batch(2));
  auto epochs = [&](std::int16_t version) {
    protocol::MetadataRequest all;  // null: every topic
    auto resp = call<protocol::MetadataResponse>(ApiKey::metadata, version, all);
    std::vector<std::int32_t> out;
    for (const auto& p : resp.topics.at(0).partitions) {
      EXPECT_EQ(p.error_code, 0);
      EXPECT_EQ(p.leader_id, 0);
      out.push_back(p.leader_epoch);
    }
    return out;
  };
  const std::int32_t first = term("t", 0);
  ASSERT_GE(first, 1);
  EXPECT_EQ(epochs(7), (std::vector<std::int32_t>{first, term("t", 1)}));
  EXPECT_EQ(epochs(6), (std::vector<std::int32_t>{-1, -1}));  // absent before v7
  EXPECT_EQ(fetch_at_epoch(first).error_code, 0);             // the epoch named is the one served
  restart();
  const std::int32_t now = term("t", 0);
  ASSERT_GT(now, first);
  EXPECT_EQ(epochs(7), (std::vector<std::int32_t>{now, term("t", 1)}));
  EXPECT_EQ(fetch_at_epoch(first).error_code, code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(fetch_at_epoch(now).error_code, 0);
  // Named topics too; one that is missing has no partitions to name.
  protocol::MetadataRequest named;
  named.topics = std::vector<protocol::MetadataRequestTopic>{{"t"}, {"missing"}};
  named.allow_auto_topic_creation = false;
  auto resp = call<protocol::MetadataResponse>(ApiKey::metadata, 7, named);
  ASSERT_EQ(resp.topics.size(), 2U);
  EXPECT_EQ(resp.topics[0].partitions.at(0).leader_epoch, now);
  EXPECT_EQ(resp.topics[1].error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_TRUE(resp.topics[1].partitions.empty());
}

TEST_F(BrokerEpochsTest, FetchFencesEachPartitionOnItsOwn) {
  create("t", 3);
  produce("t", 1, batch(2));
  const std::int32_t now = term("t", 1);
  protocol::FetchRequest r;
  r.min_bytes = 1;
  r.max_bytes = 1 << 20;
  r.topics.push_back({"t",
                      {{0, now - 1, 0, -1, 1 << 20},
                       {1, now, 0, -1, 1 << 20},
                       {2, now + 1, 0, -1, 1 << 20},
                       {7, now, 0, -1, 1 << 20}}});
  r.topics.push_back({"missing", {{0, now, 0, -1, 1 << 20}}});
  auto resp = call<protocol::FetchResponse>(ApiKey::fetch, 11, r);
  ASSERT_EQ(resp.responses.size(), 2U);
  const auto& ps = resp.responses[0].partitions;
  ASSERT_EQ(ps.size(), 4U);
  EXPECT_EQ(ps[0].error_code, code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(ps[1].error_code, 0);
  EXPECT_EQ(ps[1].high_watermark, 2);
  EXPECT_EQ(ps[2].error_code, code(ErrorCode::unknown_leader_epoch));
  EXPECT_EQ(ps[3].error_code, code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(resp.responses[1].partitions.at(0).error_code,
            code(ErrorCode::unknown_topic_or_partition));
}

TEST_F(BrokerEpochsTest, ListOffsetsFencesAndNamesTheEpochOfItsAnswer) {
  create("t", 1);
  produce("t", 0, batch(3, 1000));
  const std::int32_t first = term("t", 0);
  restart();
  produce("t", 0, batch(2, 5000));
  const std::int32_t now = term("t", 0);
  ASSERT_GT(now, first);
  auto latest = list_at_epoch(now, protocol::kListOffsetsLatest);
  EXPECT_EQ(latest.error_code, 0);
  EXPECT_EQ(latest.offset, 5);
  EXPECT_EQ(latest.leader_epoch, now);
  auto earliest = list_at_epoch(-1, protocol::kListOffsetsEarliest);
  EXPECT_EQ(earliest.offset, 0);
  EXPECT_EQ(earliest.leader_epoch, first) << "the epoch of the batch at the start";
  auto by_time = list_at_epoch(now, 4000, 4);
  EXPECT_EQ(by_time.error_code, 0);
  EXPECT_EQ(by_time.offset, 3);
  EXPECT_EQ(by_time.leader_epoch, now);
  auto old_time = list_at_epoch(-1, 0);
  EXPECT_EQ(old_time.offset, 0);
  EXPECT_EQ(old_time.leader_epoch, first);
  auto none = list_at_epoch(-1, 1'000'000);
  EXPECT_EQ(none.error_code, 0);
  EXPECT_EQ(none.offset, -1);
  EXPECT_EQ(none.leader_epoch, -1);

  EXPECT_EQ(list_at_epoch(first, protocol::kListOffsetsLatest).error_code,
            code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(list_at_epoch(now + 1, protocol::kListOffsetsLatest).error_code,
            code(ErrorCode::unknown_leader_epoch));
  EXPECT_EQ(list_at_epoch(kI32Max, 0).error_code, code(ErrorCode::unknown_leader_epoch));
  // Only -1 means none here; another negative epoch is older than any.
  EXPECT_EQ(list_at_epoch(-2, protocol::kListOffsetsLatest).error_code,
            code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(list_at_epoch(kI32Min, protocol::kListOffsetsLatest).error_code,
            code(ErrorCode::fenced_leader_epoch));
  // v1-v3 carry no epoch either way.
  auto v3 = list_at_epoch(first, protocol::kListOffsetsLatest, 3);
  EXPECT_EQ(v3.error_code, 0);
  EXPECT_EQ(v3.offset, 5);
  EXPECT_EQ(v3.leader_epoch, -1) << "not on the wire before v4";
}

TEST_F(BrokerEpochsTest, ListOffsetsOfAnEmptyPartitionNamesTheCurrentEpoch) {
  create("t", 1);
  const std::int32_t now = term("t", 0);
  for (std::int64_t ts : {protocol::kListOffsetsLatest, protocol::kListOffsetsEarliest}) {
    auto r = list_at_epoch(now, ts);
    EXPECT_EQ(r.error_code, 0);
    EXPECT_EQ(r.offset, 0);
    EXPECT_EQ(r.leader_epoch, now);
  }
}

TEST_F(BrokerEpochsTest, OffsetForLeaderEpochTellsWhereEachEpochEnds) {
  create("t", 1);
  produce("t", 0, batch(3));  // offsets 0-2
  const std::int32_t first = term("t", 0);
  restart();
  produce("t", 0, batch(2));  // offsets 3-4
  const std::int32_t now = term("t", 0);
  ASSERT_GT(now, first);
  for (std::int16_t v = 0; v <= 3; ++v) {
    auto a = epoch_end(first, v);
    EXPECT_EQ(a.error_code, 0) << "v" << v;
    EXPECT_EQ(a.end_offset, 3) << "v" << v;
    EXPECT_EQ(a.leader_epoch, v >= 1 ? first : -1) << "v" << v;
    auto b = epoch_end(now, v);
    EXPECT_EQ(b.end_offset, 5) << "the current epoch ends at the log end, v" << v;
    auto between = epoch_end(now - 1, v);
    if (now - 1 > first) {
      EXPECT_EQ(between.end_offset, 3) << "v" << v;
      EXPECT_EQ(between.leader_epoch, v >= 1 ? first : -1) << "v" << v;
    }
    auto above = epoch_end(now + 1, v);
    EXPECT_EQ(above.error_code, 0);
    EXPECT_EQ(above.end_offset, -1) << "undefined above every epoch, v" << v;
    EXPECT_EQ(above.leader_epoch, -1);
    auto undefined = epoch_end(-1, v);
    EXPECT_EQ(undefined.end_offset, -1);
    EXPECT_EQ(undefined.leader_epoch, -1);
  }
  // Below every epoch (Kafka: the requested epoch and the first start).
  if (first > 0) {
    auto below = epoch_end(first - 1);
    EXPECT_EQ(below.end_offset, 0);
    EXPECT_EQ(below.leader_epoch, first - 1);
  }
  auto huge = epoch_end(kI32Max);
  EXPECT_EQ(huge.end_offset, -1);
  auto negative = epoch_end(kI32Min);
  EXPECT_EQ(negative.error_code, 0);
  EXPECT_EQ(negative.end_offset, 0);
}

TEST_F(BrokerEpochsTest, OffsetForLeaderEpochFencesFromV2) {
  create("t", 1);
  produce("t", 0, batch(1));
  const std::int32_t now = term("t", 0);
  EXPECT_EQ(epoch_end(now, 2, now).error_code, 0);
  EXPECT_EQ(epoch_end(now, 3, now - 1).error_code, code(ErrorCode::fenced_leader_epoch));
  EXPECT_EQ(epoch_end(now, 3, now + 1).error_code, code(ErrorCode::unknown_leader_epoch));
  EXPECT_EQ(epoch_end(now, 2, -7).error_code, code(ErrorCode::fenced_leader_epoch));
  auto fenced = epoch_end(now, 3, kI32Max);
  EXPECT_EQ(fenced.error_code, code(ErrorCode::unknown_leader_epoch));
  EXPECT_EQ(fenced.end_offset, -1);
  EXPECT_EQ(fenced.leader_epoch, -1);
  // v0 and v1 carry no current epoch: nothing to fence.
  EXPECT_EQ(epoch_end(now, 1, now + 1).error_code, 0);
}

TEST_F(BrokerEpochsTest, OffsetForLeaderEpochAnswersEveryEntryOfAHostileRequest) {
  create("t", 4);
  std::vector<protocol::OffsetForLeaderTopic> topics;
  topics.push_back({"t", {}});
  // Existing, negative, past the end and huge partitions, repeated: 5,000 entries.
  for (int i = 0; i < 1000; ++i) {
    for (std::int32_t p : {0, 3, -1, 4, kI32Max}) topics[0].partitions.push_back({p, -1, 1});
  }
  topics.push_back({"", {{0, -1, 0}}});
  topics.push_back({std::string(300, 'x'), {{0, -1, 0}}});
  auto resp = epochs(3, std::move(topics));
  ASSERT_EQ(resp.topics.size(), 3U);
  const auto& ps = resp.topics[0].partitions;
  ASSERT_EQ(ps.size(), 5000U);
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const bool exists = ps[i].partition == 0 || ps[i].partition == 3;
    EXPECT_EQ(ps[i].error_code, exists ? 0 : code(ErrorCode::unknown_topic_or_partition)) << i;
    if (!exists) {
      EXPECT_EQ(ps[i].end_offset, -1);
    }
  }
  EXPECT_EQ(resp.topics[1].partitions.at(0).error_code,
            code(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(resp.topics[2].partitions.at(0).error_code,
            code(ErrorCode::unknown_topic_or_partition));
  // Past the broker's 20,000 entries the request is refused whole.
  protocol::OffsetForLeaderEpochRequest big;
  big.topics.push_back({"t", {}});
  for (int i = 0; i < 30'000; ++i) big.topics[0].partitions.push_back({0, -1, 1});
  auto refused = handle(frame(ApiKey::offset_for_leader_epoch, 3, big));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::malformed);
}

TEST_F(BrokerEpochsTest, TruncatedOrGarbledRequestsCloseTheConnection) {
  create("t", 1);
  protocol::OffsetForLeaderEpochRequest r;
  r.topics.push_back({"t", {{0, -1, 1}}});
  for (std::int16_t v = 0; v <= 3; ++v) {
    auto bytes = frame(ApiKey::offset_for_leader_epoch, v, r);
    for (std::size_t cut = 1; cut <= 4; ++cut) {
      auto shorter = bytes;
      shorter.resize(bytes.size() - cut);
      EXPECT_FALSE(handle(shorter)) << "v" << v << " cut " << cut;
    }
    auto hostile = bytes;
    // Header v1 (2 + 2 + 4 + "test" as 2 + 4), replica_id (v3), the topic
    // count, "t": then the partition count claims two billion entries.
    const std::size_t count_at = 14 + (v >= 3 ? 4 : 0) + 4 + 3;
    ASSERT_EQ(load_be<std::int32_t>(hostile.data() + count_at), 1);
    store_be<std::int32_t>(hostile.data() + count_at, kI32Max);
    EXPECT_FALSE(handle(hostile)) << "v" << v;
  }
  // v4 is flexible and not served.
  auto v4 = frame(ApiKey::offset_for_leader_epoch, 3, r);
  store_be<std::int16_t>(v4.data() + 2, 4);
  EXPECT_FALSE(handle(v4));
}

}  // namespace
}  // namespace spate::broker
