// SPDX-License-Identifier: Apache-2.0
//
// Errc -> the Kafka error code a client acts on (kafka-protocol.md §5): the
// one mapping, tested for every Errc in tests/broker/error_codes_test.cpp.

#include "spate/groups/group.h"

#include "common.h"

namespace spate::broker {

ErrorCode error_code_for(Errc errc) {
  switch (errc) {
    case Errc::ok:
      return ErrorCode::none;
    case Errc::malformed:
    case Errc::crc_mismatch:
    case Errc::unsupported_version:
      return ErrorCode::corrupt_message;
    case Errc::record_too_large:
      return ErrorCode::message_too_large;
    case Errc::invalid_record:  // not retriable, unlike CORRUPT_MESSAGE (issue 12 item 11)
      return ErrorCode::invalid_record;
    case Errc::unsupported_format:  // magic 0/1: what Produce v0-v2 carry
      return ErrorCode::unsupported_version;
    case Errc::invalid_timestamp:
      return ErrorCode::invalid_timestamp;
    case Errc::policy_violation:
      return ErrorCode::policy_violation;
    case Errc::invalid_config:
      return ErrorCode::invalid_config;
    case Errc::invalid_partitions:
      return ErrorCode::invalid_partitions;
    case Errc::out_of_order_sequence:  // the producer resets its sequence or fails
      return ErrorCode::out_of_order_sequence_number;
    case Errc::invalid_producer_epoch:  // what Kafka 2.7+ answers a fenced idempotent producer
      return ErrorCode::invalid_producer_epoch;
    case Errc::invalid_replication_factor:
      return ErrorCode::invalid_replication_factor;
    case Errc::invalid_replica_assignment:
      return ErrorCode::invalid_replica_assignment;
    case Errc::fenced_leader_epoch:
      return ErrorCode::fenced_leader_epoch;
    case Errc::stale_broker_epoch:
      return ErrorCode::stale_broker_epoch;
    case Errc::offset_out_of_range:
      return ErrorCode::offset_out_of_range;
    case Errc::not_found:
      return ErrorCode::unknown_topic_or_partition;
    case Errc::already_exists:
      return ErrorCode::topic_already_exists;
    case Errc::timeout:
    case Errc::busy:         // retriable
    case Errc::unavailable:  // another broker out of reach: retriable
      return ErrorCode::request_timed_out;
    case Errc::not_leader:
    case Errc::shutting_down:
      return ErrorCode::not_leader_or_follower;
    case Errc::invalid_argument:
    case Errc::limit_exceeded:
      return ErrorCode::invalid_request;
    case Errc::io_error:
    case Errc::no_space:
    case Errc::corrupt_log:
    case Errc::corrupt_index:
    case Errc::log_fenced:
    case Errc::foreign_directory:
      return ErrorCode::kafka_storage_error;
  }
  return ErrorCode::unknown_server_error;
}

ErrorCode error_code_for(groups::GroupError error) {
  using groups::GroupError;
  switch (error) {
    case GroupError::none:
      return ErrorCode::none;
    case GroupError::unknown_member_id:
      return ErrorCode::unknown_member_id;
    case GroupError::illegal_generation:
      return ErrorCode::illegal_generation;
    case GroupError::rebalance_in_progress:
      return ErrorCode::rebalance_in_progress;
    case GroupError::member_id_required:
      return ErrorCode::member_id_required;
    case GroupError::inconsistent_group_protocol:
      return ErrorCode::inconsistent_group_protocol;
    case GroupError::invalid_session_timeout:
      return ErrorCode::invalid_session_timeout;
    case GroupError::group_max_size_reached:
    case GroupError::too_many_groups:  // broker limits; no Kafka code of their own
    case GroupError::offsets_full:
      return ErrorCode::group_max_size_reached;
    case GroupError::fenced_instance_id:
      return ErrorCode::fenced_instance_id;
    case GroupError::coordinator_loading:
      return ErrorCode::coordinator_load_in_progress;
    case GroupError::coordinator_not_available:
      return ErrorCode::coordinator_not_available;
    case GroupError::not_coordinator:
      return ErrorCode::not_coordinator;
    case GroupError::request_timed_out:
      return ErrorCode::request_timed_out;
    case GroupError::invalid_group_id:
      return ErrorCode::invalid_group_id;
    case GroupError::group_id_not_found:
      return ErrorCode::group_id_not_found;
    case GroupError::non_empty_group:
      return ErrorCode::non_empty_group;
    case GroupError::offset_metadata_too_large:
      return ErrorCode::offset_metadata_too_large;
    case GroupError::unknown_topic_or_partition:
      return ErrorCode::unknown_topic_or_partition;
  }
  return ErrorCode::unknown_server_error;
}

}  // namespace spate::broker
