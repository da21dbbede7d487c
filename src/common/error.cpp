// SPDX-License-Identifier: Apache-2.0
//
// Names of error codes and the errno mapping.

#include "spate/common/error.h"

#include <cerrno>
#include <cstring>
#include <ostream>

namespace spate {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::ok:
      return "ok";
    case Errc::io_error:
      return "io_error";
    case Errc::no_space:
      return "no_space";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::corrupt_log:
      return "corrupt_log";
    case Errc::corrupt_index:
      return "corrupt_index";
    case Errc::log_fenced:
      return "log_fenced";
    case Errc::offset_out_of_range:
      return "offset_out_of_range";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::malformed:
      return "malformed";
    case Errc::crc_mismatch:
      return "crc_mismatch";
    case Errc::record_too_large:
      return "record_too_large";
    case Errc::limit_exceeded:
      return "limit_exceeded";
    case Errc::unsupported_version:
      return "unsupported_version";
    case Errc::foreign_directory:
      return "foreign_directory";
    case Errc::not_leader:
      return "not_leader";
    case Errc::timeout:
      return "timeout";
    case Errc::shutting_down:
      return "shutting_down";
    case Errc::busy:
      return "busy";
    case Errc::invalid_record:
      return "invalid_record";
    case Errc::unsupported_format:
      return "unsupported_format";
    case Errc::invalid_timestamp:
      return "invalid_timestamp";
    case Errc::policy_violation:
      return "policy_violation";
    case Errc::invalid_config:
      return "invalid_config";
    case Errc::invalid_partitions:
      return "invalid_partitions";
    case Errc::out_of_order_sequence:
      return "out_of_order_sequence";
    case Errc::invalid_producer_epoch:
      return "invalid_producer_epoch";
    case Errc::invalid_replication_factor:
      return "invalid_replication_factor";
    case Errc::invalid_replica_assignment:
      return "invalid_replica_assignment";
    case Errc::fenced_leader_epoch:
      return "fenced_leader_epoch";
    case Errc::stale_broker_epoch:
      return "stale_broker_epoch";
    case Errc::unavailable:
      return "unavailable";
  }
  return "unknown";
}

std::string Error::message() const {
  if (detail_.empty()) return std::string(errc_name(code_));
  return fmt::format("{}: {}", errc_name(code_), detail_);
}

Error Error::from_errno(int err, std::string_view what) {
  Errc code = Errc::io_error;
  if (err == ENOSPC || err == EDQUOT) code = Errc::no_space;
  if (err == ENOENT) code = Errc::not_found;
  if (err == EEXIST) code = Errc::already_exists;
  Error error(code, fmt::format("{}: {} (errno {})", what, std::strerror(err), err));
  error.system_errno_ = err;
  return error;
}

std::ostream& operator<<(std::ostream& out, Errc code) { return out << errc_name(code); }
std::ostream& operator<<(std::ostream& out, const Error& error) { return out << error.message(); }

}  // namespace spate
