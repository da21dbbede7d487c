// SPDX-License-Identifier: Apache-2.0
//
// The one Errc -> Kafka error code mapping (src/broker/handlers/error_codes.cpp)
// for every Errc, and the served-API table against the codec's versions.

#include <map>

#include <gtest/gtest.h>

#include "spate/broker/broker.h"

#include "broker/handlers.h"

namespace spate::broker {
namespace {

using protocol::ErrorCode;

TEST(ErrorCodes, EveryErrcHasItsKafkaCode) {
  // Written out by hand: a new Errc must be added here (the loop below fails
  // until it is), and a changed mapping shows up in review.
  const std::map<Errc, ErrorCode> expected = {
      {Errc::ok, ErrorCode::none},
      {Errc::io_error, ErrorCode::kafka_storage_error},
      {Errc::no_space, ErrorCode::kafka_storage_error},
      {Errc::not_found, ErrorCode::unknown_topic_or_partition},
      {Errc::already_exists, ErrorCode::topic_already_exists},
      {Errc::corrupt_log, ErrorCode::kafka_storage_error},
      {Errc::corrupt_index, ErrorCode::kafka_storage_error},
      {Errc::log_fenced, ErrorCode::kafka_storage_error},
      {Errc::offset_out_of_range, ErrorCode::offset_out_of_range},
      {Errc::invalid_argument, ErrorCode::invalid_request},
      {Errc::malformed, ErrorCode::corrupt_message},
      {Errc::crc_mismatch, ErrorCode::corrupt_message},
      {Errc::record_too_large, ErrorCode::message_too_large},
      {Errc::limit_exceeded, ErrorCode::invalid_request},
      {Errc::unsupported_version, ErrorCode::corrupt_message},
      {Errc::foreign_directory, ErrorCode::kafka_storage_error},
      {Errc::not_leader, ErrorCode::not_leader_or_follower},
      {Errc::timeout, ErrorCode::request_timed_out},
      {Errc::shutting_down, ErrorCode::not_leader_or_follower},
      {Errc::busy, ErrorCode::request_timed_out},
      {Errc::invalid_record, ErrorCode::invalid_record},
      {Errc::unsupported_format, ErrorCode::unsupported_version},
      {Errc::invalid_timestamp, ErrorCode::invalid_timestamp},
      {Errc::policy_violation, ErrorCode::policy_violation},
      {Errc::invalid_config, ErrorCode::invalid_config},
      {Errc::invalid_partitions, ErrorCode::invalid_partitions},
      {Errc::out_of_order_sequence, ErrorCode::out_of_order_sequence_number},
      {Errc::invalid_producer_epoch, ErrorCode::invalid_producer_epoch},
  };
  // Every Errc: the enum is dense from 0, and errc_name knows each one.
  int count = 0;
  for (int v = 0; v < 256; ++v) {
    const auto errc = static_cast<Errc>(v);
    if (errc_name(errc) == "unknown") break;
    ++count;
    auto it = expected.find(errc);
    ASSERT_NE(it, expected.end()) << "Errc " << errc_name(errc) << " is not in this test";
    EXPECT_EQ(error_code_for(errc), it->second) << errc_name(errc);
    EXPECT_NE(error_code_for(errc), ErrorCode::unknown_server_error) << errc_name(errc);
  }
  EXPECT_EQ(count, static_cast<int>(expected.size()));
}

TEST(ServedApis, EachIsInTheCodecsRangeAndHasAHandler) {
  const auto served = served_apis();
  EXPECT_EQ(served.size(), 13U);
  for (const auto& api : served) {
    auto codec = protocol::api_info(static_cast<std::int16_t>(api.key));
    ASSERT_TRUE(codec) << api.name;
    EXPECT_LE(codec->min_version, api.min_version) << api.name;
    EXPECT_GE(codec->max_version, api.max_version) << api.name;
    auto handler = served_handler(static_cast<std::int16_t>(api.key));
    ASSERT_TRUE(handler) << api.name;
    EXPECT_EQ(handler->info->key, api.key);
    EXPECT_NE(handler->handle, nullptr);
  }
  // Group APIs are in the codec but not served yet.
  EXPECT_FALSE(served_handler(static_cast<std::int16_t>(protocol::ApiKey::join_group)));
  EXPECT_FALSE(served_handler(9999));
}

}  // namespace
}  // namespace spate::broker
