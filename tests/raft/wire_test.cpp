// SPDX-License-Identifier: Apache-2.0

#include "spate/raft/wire.h"

#include <gtest/gtest.h>

namespace spate::raft {
namespace {

Message sample() {
  Message m;
  m.type = MessageType::append;
  m.from = NodeId(1);
  m.to = NodeId(2);
  m.term = Term(7);
  m.log_index = 41;
  m.log_term = Term(6);
  m.commit = 40;
  m.hint = 3;
  m.reject = true;
  m.force = true;
  m.entries.push_back(Entry{42, Term(7), {std::byte{1}, std::byte{2}}});
  m.entries.push_back(Entry{43, Term(7), {}});
  return m;
}

bool same(const Message& a, const Message& b) {
  return a.type == b.type && a.from == b.from && a.to == b.to && a.term == b.term &&
         a.log_index == b.log_index && a.log_term == b.log_term && a.commit == b.commit &&
         a.hint == b.hint && a.reject == b.reject && a.force == b.force && a.entries == b.entries;
}

TEST(RaftWire, EveryTypeRoundTrips) {
  for (int t = 0; t <= static_cast<int>(kLastMessageType); ++t) {
    Message m = sample();
    m.type = static_cast<MessageType>(t);
    auto back = decode_message(encode_message(m));
    ASSERT_TRUE(back) << t << ": " << back.error();
    EXPECT_TRUE(same(*back, m)) << back->describe();
  }
}

TEST(RaftWire, EveryTruncationAndEveryFlippedHeaderByteIsRefusedOrHarmless) {
  const auto bytes = encode_message(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode_message(std::span(bytes).first(n));
    EXPECT_FALSE(r) << "truncated to " << n;
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_message(longer));
}

TEST(RaftWire, HostileCountsAndSizesAreRefusedBeforeAllocating) {
  Message m = sample();
  m.entries.clear();
  auto bytes = encode_message(m);
  // The entry count is the last 4 bytes: claim 2^32-1 entries.
  for (std::size_t i = bytes.size() - 4; i < bytes.size(); ++i) bytes[i] = std::byte{0xff};
  auto r = decode_message(bytes);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::malformed);
  // One entry claiming 4 GiB of data.
  m.entries.push_back(Entry{1, Term(1), {}});
  bytes = encode_message(m);
  for (std::size_t i = bytes.size() - 4; i < bytes.size(); ++i) bytes[i] = std::byte{0xff};
  EXPECT_FALSE(decode_message(bytes));
  // A bad version, type and flags.
  bytes = encode_message(sample());
  bytes[0] = std::byte{9};
  EXPECT_EQ(decode_message(bytes).error().code(), Errc::unsupported_version);
  bytes = encode_message(sample());
  bytes[1] = std::byte{200};
  EXPECT_FALSE(decode_message(bytes));
  bytes = encode_message(sample());
  bytes[1 + 1 + 4 + 4 + 40] = std::byte{0x80};
  EXPECT_FALSE(decode_message(bytes));
}

}  // namespace
}  // namespace spate::raft
