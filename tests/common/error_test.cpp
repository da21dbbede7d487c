// SPDX-License-Identifier: Apache-2.0
//
// Errc names (stable, distinct, never "unknown"), Error's message format, the
// factory helpers and the errno mapping.

#include "spate/common/error.h"

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace spate {
namespace {

// Every enumerator with its stable name, in declaration order. Errc is append
// only: a new code goes at the end of the enum, of errc_name and of this list.
const std::vector<std::pair<Errc, std::string_view>>& all_codes() {
  static const std::vector<std::pair<Errc, std::string_view>> codes = {
      {Errc::ok, "ok"},
      {Errc::io_error, "io_error"},
      {Errc::no_space, "no_space"},
      {Errc::not_found, "not_found"},
      {Errc::already_exists, "already_exists"},
      {Errc::corrupt_log, "corrupt_log"},
      {Errc::corrupt_index, "corrupt_index"},
      {Errc::log_fenced, "log_fenced"},
      {Errc::offset_out_of_range, "offset_out_of_range"},
      {Errc::invalid_argument, "invalid_argument"},
      {Errc::malformed, "malformed"},
      {Errc::crc_mismatch, "crc_mismatch"},
      {Errc::record_too_large, "record_too_large"},
      {Errc::limit_exceeded, "limit_exceeded"},
      {Errc::unsupported_version, "unsupported_version"},
      {Errc::foreign_directory, "foreign_directory"},
      {Errc::not_leader, "not_leader"},
      {Errc::timeout, "timeout"},
      {Errc::shutting_down, "shutting_down"},
      {Errc::busy, "busy"},
      {Errc::invalid_record, "invalid_record"},
      {Errc::unsupported_format, "unsupported_format"},
      {Errc::invalid_timestamp, "invalid_timestamp"},
      {Errc::policy_violation, "policy_violation"},
      {Errc::invalid_config, "invalid_config"},
      {Errc::invalid_partitions, "invalid_partitions"},
      {Errc::out_of_order_sequence, "out_of_order_sequence"},
      {Errc::invalid_producer_epoch, "invalid_producer_epoch"},
      {Errc::invalid_replication_factor, "invalid_replication_factor"},
      {Errc::invalid_replica_assignment, "invalid_replica_assignment"},
      {Errc::fenced_leader_epoch, "fenced_leader_epoch"},
      {Errc::stale_broker_epoch, "stale_broker_epoch"},
      {Errc::unavailable, "unavailable"},
  };
  return codes;
}

TEST(Errc, EveryEnumeratorHasItsOwnStableName) {
  std::set<std::string_view> seen;
  int expected_value = 0;
  for (const auto& [code, name] : all_codes()) {
    // The list covers the enum densely, in order (codes are never renumbered).
    EXPECT_EQ(static_cast<int>(code), expected_value++) << name;
    const std::string_view actual = errc_name(code);
    EXPECT_EQ(actual, name);
    EXPECT_NE(actual, "unknown");
    EXPECT_TRUE(seen.insert(actual).second) << "duplicate name " << actual;
  }
}

TEST(Errc, OnePastTheLastCodeIsUnknown) {
  // Fails when a code is appended without being added to all_codes() above.
  const auto past = static_cast<Errc>(all_codes().size());
  EXPECT_EQ(errc_name(past), "unknown");
  EXPECT_EQ(errc_name(static_cast<Errc>(255)), "unknown");
}

TEST(Errc, FormatsAndStreamsAsItsName) {
  EXPECT_EQ(fmt::format("{}", Errc::crc_mismatch), "crc_mismatch");
  EXPECT_EQ(fmt::format("[{:>9}]", Errc::timeout), "[  timeout]");
  std::ostringstream out;
  out << Errc::not_leader;
  EXPECT_EQ(out.str(), "not_leader");
}

TEST(Error, DefaultIsOkWithNoDetail) {
  Error e;
  EXPECT_EQ(e.code(), Errc::ok);
  EXPECT_TRUE(e.detail().empty());
  EXPECT_EQ(e.message(), "ok");
}

TEST(Error, MessageIsNameColonDetailOrJustTheName) {
  EXPECT_EQ(Error(Errc::crc_mismatch, "batch at 4096").message(), "crc_mismatch: batch at 4096");
  EXPECT_EQ(Error(Errc::timeout, "").message(), "timeout");
  const Error e(Errc::not_leader, "partition t-0");
  EXPECT_EQ(fmt::format("{}", e), "not_leader: partition t-0");
  std::ostringstream out;
  out << e;
  EXPECT_EQ(out.str(), "not_leader: partition t-0");
}

TEST(Error, FactoriesSetTheirCodes) {
  EXPECT_EQ(Error::io("x").code(), Errc::io_error);
  EXPECT_EQ(Error::corrupt("x").code(), Errc::corrupt_log);
  EXPECT_EQ(Error::malformed("x").code(), Errc::malformed);
  EXPECT_EQ(Error::invalid("x").code(), Errc::invalid_argument);
  EXPECT_EQ(Error::fenced("x").code(), Errc::log_fenced);
  EXPECT_EQ(Error::out_of_range("x").code(), Errc::offset_out_of_range);
  EXPECT_EQ(Error::not_found("x").code(), Errc::not_found);
  EXPECT_EQ(Error::limit("x").code(), Errc::limit_exceeded);
  EXPECT_EQ(Error::limit("over 5").detail(), "over 5");
}

TEST(Error, FromErrnoMapsTheCodesCallersActOn) {
  EXPECT_EQ(Error::from_errno(ENOSPC, "write a").code(), Errc::no_space);
  EXPECT_EQ(Error::from_errno(EDQUOT, "write a").code(), Errc::no_space);
  EXPECT_EQ(Error::from_errno(ENOENT, "open a").code(), Errc::not_found);
  EXPECT_EQ(Error::from_errno(EEXIST, "open a").code(), Errc::already_exists);
  EXPECT_EQ(Error::from_errno(EIO, "fsync a").code(), Errc::io_error);
  // Everything else is an I/O error.
  for (int err : {EACCES, EBADF, EROFS, EINVAL, EMFILE, 0, 9999}) {
    EXPECT_EQ(Error::from_errno(err, "op").code(), Errc::io_error) << err;
  }
}

TEST(Error, FromErrnoDetailNamesTheCallTheReasonAndTheNumber) {
  const Error e = Error::from_errno(ENOSPC, "write /data/t-0/00000000000000000000.log");
  EXPECT_EQ(e.detail(), fmt::format("write /data/t-0/00000000000000000000.log: {} (errno {})",
                                    std::strerror(ENOSPC), ENOSPC));
  EXPECT_EQ(e.message(), "no_space: " + e.detail());
  const Error io = Error::from_errno(EIO, "fsync /a/b");
  EXPECT_EQ(io.message(),
            fmt::format("io_error: fsync /a/b: {} (errno {})", std::strerror(EIO), EIO));
}

}  // namespace
}  // namespace spate
