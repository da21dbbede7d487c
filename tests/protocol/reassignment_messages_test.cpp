// SPDX-License-Identifier: Apache-2.0
//
// AlterPartitionReassignments and ListPartitionReassignments v0 (flexible):
// round trips and the wire layout by hand (compact strings and arrays, a
// null replica list for a cancel, a tag section after every struct). The
// generic hostile-input checks (truncation at every byte, lengths, counts
// and tags) cover them through message_testing.h's list.

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/protocol/api_key.h"
#include "spate/protocol/messages/reassignments.h"

#include "round_trip.h"

namespace spate::protocol {
namespace {

using testing::expect_round_trip;

TEST(ReassignmentMessages, AreFlexibleFromVersionZero) {
  for (auto key : {ApiKey::alter_partition_reassignments, ApiKey::list_partition_reassignments}) {
    const auto api = api_info(static_cast<std::int16_t>(key));
    ASSERT_TRUE(api);
    EXPECT_EQ(api->min_version, 0);
    EXPECT_EQ(api->max_version, 0);
    EXPECT_TRUE(is_flexible(*api, 0));
    EXPECT_EQ(request_header_version(*api, 0), 2);
    EXPECT_EQ(response_header_version(*api, 0), 1);
  }
}

TEST(ReassignmentMessages, AlterLayout) {
  AlterPartitionReassignmentsRequest req;
  req.timeout_ms = 1000;
  req.topics = {{"t", {{0, std::vector<std::int32_t>{1, 2}}, {3, std::nullopt}}}};
  ByteWriter w;
  encode_message(w, req, 0);
  EXPECT_EQ(to_hex(w.view()),
            "000003e8"  // timeout_ms
            "02"        // one topic
            "0274"      // "t"
            "03"        // two partitions
            "00000000"
            "03"
            "0000000100000002"
            "00"  // partition 0 -> [1, 2]
            "00000003"
            "00"
            "00"  // partition 3: null (cancel)
            "00"  // topic tags
            "00");
  expect_round_trip(req, 0);
  AlterPartitionReassignmentsResponse resp{
      0, 0, std::nullopt, {{"t", {{0, 0, std::nullopt}, {3, 85, "none"}}}}};
  expect_round_trip(resp, 0);
}

TEST(ReassignmentMessages, ListLayout) {
  ListPartitionReassignmentsRequest all;  // null topics: every pending one
  ByteWriter w;
  encode_message(w, all, 0);
  EXPECT_EQ(to_hex(w.view()),
            "0000ea60"
            "00"
            "00");
  expect_round_trip(all, 0);
  ListPartitionReassignmentsRequest some;
  some.topics = std::vector<ListPartitionReassignmentsTopic>{{"t", {0, 2}}};
  expect_round_trip(some, 0);
  ListPartitionReassignmentsResponse resp;
  resp.topics = {{"t", {{0, {1, 2, 3, 0}, {3}, {0}}}}};
  ByteWriter r;
  encode_message(r, resp, 0);
  EXPECT_EQ(to_hex(r.view()),
            "00000000"  // throttle
            "0000"      // error
            "00"        // null message
            "02"
            "0274"
            "02"
            "00000000"
            "0500000001000000020000000300000000"  // replicas 1,2,3,0
            "0200000003"                          // adding 3
            "0200000000"                          // removing 0
            "00"
            "00"
            "00");
  expect_round_trip(resp, 0);
}

}  // namespace
}  // namespace spate::protocol
