// SPDX-License-Identifier: Apache-2.0

#include "spate/raft/wire.h"

#include <gtest/gtest.h>

namespace spate::raft {
namespace {

Membership members() {
  Membership m;
  m.voters = {NodeId(0), NodeId(2), NodeId(5)};
  m.learners = {NodeId(7)};
  return m;
}

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
  m.entries.push_back(Entry{44, Term(7), encode_membership(members()), EntryKind::membership});
  m.entries.push_back(Entry{47, Term(7), {std::byte{3}}, EntryKind::normal, 3});  // a batch of 3
  return m;
}

TEST(RaftWire, EveryTypeRoundTrips) {
  for (int t = 0; t <= static_cast<int>(kLastMessageType); ++t) {
    Message m = sample();
    m.type = static_cast<MessageType>(t);
    if (m.type == MessageType::restart) {
      // Only a restart carries the leader's start membership and snapshot.
      m.start.push_back(LogStart{members(), {std::byte{9}, std::byte{8}, std::byte{7}}});
    }
    auto back = decode_message(encode_message(m));
    ASSERT_TRUE(back) << t << ": " << back.error();
    EXPECT_TRUE(*back == m) << back->describe();
  }
  Message restart = sample();
  restart.type = MessageType::restart;
  restart.entries.clear();
  restart.start.emplace_back();
  auto back = decode_message(encode_message(restart));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == restart) << "an empty membership and snapshot";
}

TEST(RaftWire, MembershipsRoundTripAndBadOnesAreRefused) {
  auto back = decode_membership(encode_membership(members()));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, members());
  EXPECT_TRUE(decode_membership(encode_membership(Membership{})));
  auto bad = [](Membership m) { return decode_membership(encode_membership(m)); };
  Membership m = members();
  m.voters = {NodeId(2), NodeId(0)};
  EXPECT_FALSE(bad(m)) << "unsorted";
  m.voters = {NodeId(2), NodeId(2)};
  EXPECT_FALSE(bad(m)) << "repeated";
  m.voters = {NodeId(-1)};
  EXPECT_FALSE(bad(m)) << "negative";
  m.voters = {NodeId(7)};
  EXPECT_FALSE(bad(m)) << "voter and learner";
  auto bytes = encode_membership(members());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_membership(std::span(bytes).first(n))) << "truncated to " << n;
  }
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(decode_membership(bytes)) << "trailing";
  bytes = encode_membership(members());
  for (std::size_t i = 0; i < 4; ++i) bytes[i] = std::byte{0xff};  // 2^32-1 voters
  EXPECT_FALSE(decode_membership(bytes));
  WireLimits small;
  small.members_max = 2;
  EXPECT_FALSE(decode_membership(encode_membership(members()), small)) << "3 voters, at most 2";

  // In a message: a membership entry that does not decode, an unknown kind,
  // a restart whose snapshot claims more than the limit.
  Message with_bad_entry = sample();
  with_bad_entry.entries[2].data.pop_back();  // the membership entry
  EXPECT_FALSE(decode_message(encode_message(with_bad_entry)));
  Message restart = sample();
  restart.type = MessageType::restart;
  restart.entries.clear();
  restart.start.push_back(LogStart{members(), std::vector<std::byte>(100, std::byte{1})});
  auto encoded = encode_message(restart);
  WireLimits tiny;
  tiny.snapshot_bytes_max = 99;
  EXPECT_FALSE(decode_message(encoded, tiny));
  EXPECT_TRUE(decode_message(encoded));
  encoded.resize(encoded.size() - 1);
  EXPECT_FALSE(decode_message(encoded)) << "snapshot cut short";
}

TEST(RaftWire, EntriesMustFollowEachOtherByTheirSpans) {
  Message m = sample();
  m.entries.back().span = 2;  // 47 - 2 = 45: a gap after 44
  EXPECT_FALSE(decode_message(encode_message(m)));
  m.entries.back().span = 4;  // overlaps 44
  EXPECT_FALSE(decode_message(encode_message(m)));
  m.entries.back().span = 0;
  EXPECT_FALSE(decode_message(encode_message(m)));
  m.entries.back().span = 3;
  EXPECT_TRUE(decode_message(encode_message(m)));
}

TEST(RaftWire, NegativeTermsAreRefused) {
  for (int field = 0; field < 3; ++field) {
    Message m = sample();
    if (field == 0) m.term = Term(-1);
    if (field == 1) m.log_term = Term(-1);
    if (field == 2) m.entries[1].term = Term(-5);
    EXPECT_FALSE(decode_message(encode_message(m))) << "field " << field;
  }
}

TEST(RaftWire, AnEntryOfAnUnknownKindIsRefused) {
  Message m = sample();
  m.entries.resize(1);
  auto bytes = encode_message(m);
  // The single entry's kind byte follows its index and term.
  const std::size_t kind_at = 1 + 1 + 4 + 4 + 40 + 1 + 4 + 16;
  ASSERT_EQ(bytes[kind_at], std::byte{0});
  bytes[kind_at] = std::byte{2};
  EXPECT_FALSE(decode_message(bytes));
  bytes[kind_at] = std::byte{1};  // a membership entry whose data is 2 bytes
  EXPECT_FALSE(decode_message(bytes));
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
