// SPDX-License-Identifier: Apache-2.0
//
// Errc and Error: the project-wide vocabulary of operating errors (style.md §3.5).
// Kafka's numeric error codes live in the protocol module, never here.

#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace spate {

// Stable names for every operating error. Append only; never renumber.
enum class Errc : std::uint8_t {
  ok = 0,
  io_error,             // a system call failed (detail has errno text)
  no_space,             // ENOSPC
  not_found,            // file, directory, topic or offset not present
  already_exists,       // create of something that exists
  corrupt_log,          // damage found where data was known durable
  corrupt_index,        // an index file is unreadable (rebuilt from the log)
  log_fenced,           // an earlier write or sync failed; the log refuses all calls
  offset_out_of_range,  // offset outside [start_offset, end_offset]
  invalid_argument,     // caller passed something the contract forbids
  malformed,            // bytes do not follow the format (wire or disk)
  crc_mismatch,         // a checksum did not match
  record_too_large,     // a batch over the configured maximum
  limit_exceeded,       // a configured bound would be crossed
  unsupported_version,  // a format or protocol version we do not speak
  foreign_directory,    // a data directory that Spate did not create
  not_leader,
  timeout,
  shutting_down,
  busy,                // a conflicting operation is still in progress: retry later
  invalid_record,      // a record batch that is well framed but not valid (count, records, fields)
  unsupported_format,  // a record batch in a message format Spate does not store (magic 0/1)
  invalid_timestamp,   // a record batch whose timestamps the topic refuses
  policy_violation,    // past a broker-wide limit on what clients may create
  invalid_config,      // a topic config name or value refused
  invalid_partitions,  // a partition count refused
  out_of_order_sequence,       // an idempotent producer's batch does not follow its last one
  invalid_producer_epoch,      // an idempotent producer's epoch is older than the one known
  invalid_replication_factor,  // a replication factor below 1 or above the live brokers
  invalid_replica_assignment,  // replicas named by hand that are repeated, unknown or uneven
  fenced_leader_epoch,         // a partition leader's report older than the epoch known
  stale_broker_epoch,          // a broker registration older than the one known
  unavailable,                 // a peer (another broker) is not reachable now: retry later
};

[[nodiscard]] std::string_view errc_name(Errc code);

// An operating error: a stable code plus a human-readable detail for logs.
// The detail is never parsed.
class Error {
 public:
  Error() = default;
  Error(Errc code, std::string detail) : code_(code), detail_(std::move(detail)) {}

  [[nodiscard]] Errc code() const { return code_; }
  [[nodiscard]] const std::string& detail() const { return detail_; }
  // The errno an error made by from_errno() came from; 0 for any other.
  // Lets storage tell a transient failure (EMFILE, ENFILE) from EIO.
  [[nodiscard]] int system_errno() const { return system_errno_; }
  // "<errc name>: <detail>"
  [[nodiscard]] std::string message() const;

  static Error io(std::string detail) { return {Errc::io_error, std::move(detail)}; }
  // From an errno value: ENOSPC maps to no_space, ENOENT to not_found, the
  // rest to io_error. `what` names the call and the path.
  static Error from_errno(int err, std::string_view what);
  static Error corrupt(std::string detail) { return {Errc::corrupt_log, std::move(detail)}; }
  static Error malformed(std::string detail) { return {Errc::malformed, std::move(detail)}; }
  static Error invalid(std::string detail) { return {Errc::invalid_argument, std::move(detail)}; }
  static Error fenced(std::string detail) { return {Errc::log_fenced, std::move(detail)}; }
  static Error out_of_range(std::string detail) {
    return {Errc::offset_out_of_range, std::move(detail)};
  }
  static Error not_found(std::string detail) { return {Errc::not_found, std::move(detail)}; }
  static Error limit(std::string detail) { return {Errc::limit_exceeded, std::move(detail)}; }

 private:
  Errc code_ = Errc::ok;
  std::string detail_;
  int system_errno_ = 0;
};

// For test frameworks and streams; logs use the fmt formatters below.
std::ostream& operator<<(std::ostream& out, Errc code);
std::ostream& operator<<(std::ostream& out, const Error& error);

}  // namespace spate

template <>
struct fmt::formatter<spate::Errc> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(spate::Errc code, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(spate::errc_name(code), ctx);
  }
};

template <>
struct fmt::formatter<spate::Error> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const spate::Error& e, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(e.message(), ctx);
  }
};
