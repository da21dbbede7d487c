// SPDX-License-Identifier: Apache-2.0
//
// The inter-broker frame codec (cluster/rpc.h): round trips of every kind,
// and every malformed case a decoder must refuse with an error (never an
// assertion): truncation at every byte, counts and lengths over the limits,
// unknown kinds and versions, trailing bytes.

#include "spate/cluster/rpc.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"

namespace spate::cluster {
namespace {

raft::Message heartbeat(int from, int to, std::int64_t commit) {
  raft::Message m;
  m.type = raft::MessageType::heartbeat;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(3);
  m.commit = commit;
  return m;
}

raft::Message append_with_entries() {
  raft::Message m = heartbeat(1, 2, 5);
  m.type = raft::MessageType::append;
  m.log_index = 4;
  m.log_term = Term(2);
  m.entries.push_back(raft::Entry{5, Term(3), to_bytes("hello"), raft::EntryKind::normal, 1});
  m.entries.push_back(
      raft::Entry{9, Term(3), to_bytes("four records"), raft::EntryKind::normal, 4});
  return m;
}

RaftBatch sample_batch() {
  RaftBatch batch{NodeId(1), NodeId(2), {}};
  batch.items.push_back({kControllerGroup, heartbeat(1, 2, 7)});
  batch.items.push_back({RaftGroupId{5, 0}, append_with_entries()});
  batch.items.push_back({RaftGroupId{5, 11}, heartbeat(1, 2, 0)});
  return batch;
}

std::vector<Frame> samples() {
  return {Hello{"spate-test", NodeId(4), 1, 1},
          sample_batch(),
          RaftBatch{NodeId(0), NodeId(9), {}},
          Request{42, 7, to_bytes("payload")},
          Request{43, 0, {}},
          Response{42, 0, to_bytes("answer")},
          error_response(44, Error::not_found("no such method"))};
}

// The body of an encoded frame (after its size prefix).
std::span<const std::byte> body_of(const std::vector<std::byte>& frame) {
  return std::span<const std::byte>(frame).subspan(kFramePrefixBytes);
}

Errc decode_error(std::span<const std::byte> body, const RpcLimits& limits = {}) {
  auto frame = decode_frame(body, limits);
  return frame ? Errc::ok : frame.error().code();
}

TEST(Rpc, EveryKindRoundTrips) {
  for (const auto& frame : samples()) {
    const auto bytes = encode_frame(frame);
    ASSERT_GE(bytes.size(), kFramePrefixBytes + 2);
    EXPECT_EQ(load_be<std::uint32_t>(bytes.data()), bytes.size() - kFramePrefixBytes);
    auto decoded = decode_frame(body_of(bytes));
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(*decoded, frame);
    EXPECT_EQ(frame_kind(*decoded), frame_kind(frame));
  }
}

TEST(Rpc, BatchBuiltByPartsIsTheSameFrame) {
  const auto batch = sample_batch();
  std::vector<std::byte> items;
  for (const auto& item : batch.items) {
    const auto bytes = encode_raft_item(item.group, item.message);
    items.insert(items.end(), bytes.begin(), bytes.end());
  }
  auto parts = encode_raft_batch_header(batch.from, batch.to, 3, items.size());
  EXPECT_EQ(parts.size(), kFramePrefixBytes + kRaftBatchHeaderBytes);
  parts.insert(parts.end(), items.begin(), items.end());
  EXPECT_EQ(parts, encode_frame(batch));
}

TEST(Rpc, TruncationAtEveryByteIsMalformed) {
  for (const auto& frame : samples()) {
    const auto bytes = encode_frame(frame);
    const auto body = body_of(bytes);
    for (std::size_t n = 0; n < body.size(); ++n) {
      EXPECT_EQ(decode_error(body.first(n)), Errc::malformed)
          << frame_kind_name(frame_kind(frame)) << " cut at " << n << " of " << body.size();
    }
  }
}

TEST(Rpc, TrailingBytesAreMalformed) {
  for (const auto& frame : samples()) {
    auto bytes = encode_frame(frame);
    bytes.push_back(std::byte{0});
    EXPECT_EQ(decode_error(body_of(bytes)), Errc::malformed) << frame_kind_name(frame_kind(frame));
  }
}

TEST(Rpc, UnknownKindsAndVersionsAreRefused) {
  auto request = encode_frame(Request{1, 2, to_bytes("x")});
  for (int kind : {0, 5, 200, 255}) {
    auto bytes = request;
    bytes[5] = static_cast<std::byte>(kind);
    EXPECT_EQ(decode_error(body_of(bytes)), Errc::malformed) << kind;
  }
  for (int version : {0, kRpcVersionMax + 1, 255}) {
    auto bytes = request;
    bytes[4] = static_cast<std::byte>(version);
    EXPECT_EQ(decode_error(body_of(bytes)), Errc::unsupported_version) << version;
  }
  // A hello is version 1 whatever the versions it offers.
  auto hello = encode_frame(Hello{"c", NodeId(1), 1, 9});
  EXPECT_EQ(decode_error(body_of(hello)), Errc::ok);
  hello[4] = std::byte{2};
  EXPECT_EQ(decode_error(body_of(hello)), Errc::unsupported_version);
}

TEST(Rpc, CountsAndLengthsOverTheLimitsAreMalformed) {
  RpcLimits limits;
  limits.batch_items_max = 2;
  limits.payload_bytes_max = 4;
  limits.cluster_id_bytes_max = 3;
  EXPECT_EQ(decode_error(body_of(encode_frame(sample_batch())), limits), Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(Request{1, 1, to_bytes("12345")})), limits),
            Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(Response{1, 0, to_bytes("12345")})), limits),
            Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(Request{1, 1, to_bytes("1234")})), limits), Errc::ok);
  EXPECT_EQ(decode_error(body_of(encode_frame(Hello{"abcd", NodeId(1), 1, 1})), limits),
            Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(Hello{"abc", NodeId(1), 1, 1})), limits), Errc::ok);
  // The limits of each raft message apply inside a batch.
  RpcLimits raft_limits;
  raft_limits.raft.entries_max = 1;
  EXPECT_EQ(decode_error(body_of(encode_frame(sample_batch())), raft_limits), Errc::malformed);
}

TEST(Rpc, CountsBeyondTheBytesLeftAreMalformed) {
  // A batch that claims 2^32-1 items in a few bytes: refused before sizing.
  auto batch = encode_frame(RaftBatch{NodeId(1), NodeId(2), {}});
  store_be<std::uint32_t>(batch.data() + kFramePrefixBytes + 10, 0xffffffffU);
  RpcLimits unlimited;
  unlimited.batch_items_max = std::numeric_limits<std::size_t>::max();
  EXPECT_EQ(decode_error(body_of(batch), unlimited), Errc::malformed);
  // An item whose message size runs past the frame.
  auto one =
      encode_frame(RaftBatch{NodeId(1), NodeId(2), {{RaftGroupId{1, 0}, heartbeat(1, 2, 0)}}});
  store_be<std::uint32_t>(one.data() + kFramePrefixBytes + kRaftBatchHeaderBytes + 12, 1U << 30U);
  EXPECT_EQ(decode_error(body_of(one)), Errc::malformed);
  // A request payload longer than the frame.
  auto request = encode_frame(Request{1, 2, to_bytes("abc")});
  store_be<std::uint32_t>(request.data() + kFramePrefixBytes + 12, 1000);
  EXPECT_EQ(decode_error(body_of(request)), Errc::malformed);
  // A hello's cluster id longer than the frame.
  auto hello = encode_frame(Hello{"abc", NodeId(1), 1, 1});
  store_be<std::uint16_t>(hello.data() + kFramePrefixBytes + 2, 200);
  EXPECT_EQ(decode_error(body_of(hello)), Errc::malformed);
}

TEST(Rpc, BadFieldsAreMalformed) {
  EXPECT_EQ(decode_error(body_of(encode_frame(Hello{"c", NodeId(-1), 1, 1}))), Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(Hello{"c", NodeId(1), 0, 1}))), Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(Hello{"c", NodeId(1), 3, 2}))), Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(RaftBatch{NodeId(-2), NodeId(1), {}}))),
            Errc::malformed);
  EXPECT_EQ(decode_error(body_of(encode_frame(RaftBatch{NodeId(1), NodeId(-2), {}}))),
            Errc::malformed);
  for (const auto group : {RaftGroupId{3, -1}, RaftGroupId{0, 4}}) {
    const RaftBatch batch{NodeId(1), NodeId(2), {{group, heartbeat(1, 2, 0)}}};
    EXPECT_EQ(decode_error(body_of(encode_frame(batch))), Errc::malformed) << group.describe();
  }
  // A raft message that is no raft message.
  auto batch =
      encode_frame(RaftBatch{NodeId(1), NodeId(2), {{RaftGroupId{1, 0}, heartbeat(1, 2, 0)}}});
  batch[kFramePrefixBytes + kRaftBatchHeaderBytes + kRaftItemHeaderBytes + 1] = std::byte{99};
  EXPECT_EQ(decode_error(body_of(batch)), Errc::malformed);
}

TEST(Rpc, FrameSizes) {
  const std::array<std::byte, 4> zero{};
  EXPECT_FALSE(decode_frame_size(zero, 100));
  std::array<std::byte, 4> one{};
  store_be<std::uint32_t>(one.data(), 1);
  EXPECT_EQ(decode_frame_size(one, 100).error().code(), Errc::malformed);
  std::array<std::byte, 4> big{};
  store_be<std::uint32_t>(big.data(), 101);
  EXPECT_EQ(decode_frame_size(big, 100).error().code(), Errc::malformed);
  store_be<std::uint32_t>(big.data(), 100);
  EXPECT_EQ(decode_frame_size(big, 100).value(), 100U);
  std::array<std::byte, 4> huge{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
  EXPECT_EQ(decode_frame_size(huge, 1U << 20U).error().code(), Errc::malformed);
}

TEST(Rpc, VersionsNegotiateToTheHighestBothSpeak) {
  EXPECT_EQ(negotiate_version(Hello{"c", NodeId(1), 1, 3}, Hello{"c", NodeId(2), 2, 5}).value(), 3);
  EXPECT_EQ(
      negotiate_version(Hello{"c", NodeId(1), 1, 1}, Hello{"c", NodeId(2), 2, 5}).error().code(),
      Errc::unsupported_version);
}

TEST(Rpc, ResponseErrorsCarryTheirCodeAndDetail) {
  const auto response = error_response(9, Error(Errc::busy, "too many"));
  EXPECT_EQ(response.error, static_cast<std::int16_t>(Errc::busy));
  const auto error = response_error(response);
  EXPECT_EQ(error.code(), Errc::busy);
  EXPECT_EQ(error.detail(), "too many");
  // No code is still an error; an unknown one (a newer peer's) is io_error.
  EXPECT_NE(error_response(1, Error()).error, 0);
  EXPECT_EQ(response_error(Response{1, 999, to_bytes("?")}).code(), Errc::io_error);
  EXPECT_EQ(response_error(Response{1, -3, {}}).code(), Errc::io_error);
  // A long detail is cut (it is for a log line).
  const auto long_detail = error_response(1, Error::io(std::string(100'000, 'x')));
  EXPECT_LE(long_detail.payload.size(), 1024U);
}

// The fuzz seeds come from tests/fuzz/make_seeds.py, an encoder written from
// the layout in rpc.h: every one is a stream of frames this decoder reads.
TEST(Rpc, FuzzSeedsWrittenFromTheDocumentedLayoutDecode) {
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SPATE_RPC_CORPUS_DIR)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
    auto bytes = std::as_bytes(std::span<const char>(chars));
    std::size_t frames = 0;
    while (!bytes.empty()) {
      ASSERT_GE(bytes.size(), kFramePrefixBytes) << entry.path();
      auto size = decode_frame_size(bytes.first<kFramePrefixBytes>(), 1U << 20U);
      ASSERT_TRUE(size) << entry.path() << ": " << size.error();
      ASSERT_LE(*size, bytes.size() - kFramePrefixBytes) << entry.path();
      auto frame = decode_frame(bytes.subspan(kFramePrefixBytes, *size));
      ASSERT_TRUE(frame) << entry.path() << ": " << frame.error();
      bytes = bytes.subspan(kFramePrefixBytes + *size);
      ++frames;
    }
    EXPECT_GE(frames, 1U) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 5U);
}

TEST(RaftGroupIdTest, ControllerOrderAndHash) {
  EXPECT_TRUE(kControllerGroup.is_controller());
  EXPECT_EQ(kControllerGroup.describe(), "controller");
  EXPECT_EQ((RaftGroupId{7, 3}).describe(), "topic 7 partition 3");
  EXPECT_LT((RaftGroupId{1, 9}), (RaftGroupId{2, 0}));
  EXPECT_LT((RaftGroupId{2, 0}), (RaftGroupId{2, 1}));
  std::unordered_set<RaftGroupId> groups;
  for (std::uint64_t topic = 0; topic < 50; ++topic) {
    for (std::int32_t partition = 0; partition < 50; ++partition) {
      groups.insert(RaftGroupId{topic, partition});
    }
  }
  EXPECT_EQ(groups.size(), 2500U);
}

}  // namespace
}  // namespace spate::cluster
