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
      {Errc::invalid_replication_factor, ErrorCode::invalid_replication_factor},
      {Errc::invalid_replica_assignment, ErrorCode::invalid_replica_assignment},
      {Errc::fenced_leader_epoch, ErrorCode::fenced_leader_epoch},
      {Errc::stale_broker_epoch, ErrorCode::stale_broker_epoch},
      {Errc::unavailable, ErrorCode::request_timed_out},
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

TEST(ErrorCodes, EveryGroupErrorHasItsKafkaCode) {
  using groups::GroupError;
  const std::map<GroupError, ErrorCode> expected = {
      {GroupError::none, ErrorCode::none},
      {GroupError::unknown_member_id, ErrorCode::unknown_member_id},
      {GroupError::illegal_generation, ErrorCode::illegal_generation},
      {GroupError::rebalance_in_progress, ErrorCode::rebalance_in_progress},
      {GroupError::member_id_required, ErrorCode::member_id_required},
      {GroupError::inconsistent_group_protocol, ErrorCode::inconsistent_group_protocol},
      {GroupError::invalid_session_timeout, ErrorCode::invalid_session_timeout},
      {GroupError::group_max_size_reached, ErrorCode::group_max_size_reached},
      {GroupError::fenced_instance_id, ErrorCode::fenced_instance_id},
      {GroupError::coordinator_loading, ErrorCode::coordinator_load_in_progress},
      {GroupError::coordinator_not_available, ErrorCode::coordinator_not_available},
      {GroupError::request_timed_out, ErrorCode::request_timed_out},
      {GroupError::invalid_group_id, ErrorCode::invalid_group_id},
      {GroupError::group_id_not_found, ErrorCode::group_id_not_found},
      {GroupError::non_empty_group, ErrorCode::non_empty_group},
      {GroupError::offset_metadata_too_large, ErrorCode::offset_metadata_too_large},
      {GroupError::unknown_topic_or_partition, ErrorCode::unknown_topic_or_partition},
      {GroupError::too_many_groups, ErrorCode::group_max_size_reached},
      {GroupError::offsets_full, ErrorCode::group_max_size_reached},
      {GroupError::not_coordinator, ErrorCode::not_coordinator},
  };
  int count = 0;
  for (int v = 0; v < 256; ++v) {
    const auto e = static_cast<GroupError>(v);
    if (std::string_view(groups::error_name(e)) == "?") break;
    ++count;
    auto it = expected.find(e);
    ASSERT_NE(it, expected.end()) << groups::error_name(e) << " is not in this test";
    EXPECT_EQ(error_code_for(e), it->second) << groups::error_name(e);
  }
  EXPECT_EQ(count, static_cast<int>(expected.size()));
}

TEST(ServedApis, EachIsInTheCodecsRangeAndHasAHandler) {
  const auto served = served_apis();
  EXPECT_EQ(served.size(), 27U);  // with the reassignment APIs and UnregisterBroker (issue 15)
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
  // SASL is in the codec but not served yet.
  EXPECT_FALSE(served_handler(static_cast<std::int16_t>(protocol::ApiKey::sasl_handshake)));
  EXPECT_FALSE(served_handler(9999));
}

}  // namespace
}  // namespace spate::broker
