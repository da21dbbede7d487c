// SPDX-License-Identifier: Apache-2.0

#include "spate/cluster/rpc.h"

#include <limits>

#include <fmt/format.h>

#include "spate/common/bytes.h"

namespace spate::cluster {
namespace {

constexpr std::size_t kHelloFixedBytes = 2 + 4 + 1 + 1;  // after version and kind
constexpr std::size_t kCallFixedBytes = 8 + 2 + 4;  // request, response: after version and kind
constexpr std::size_t kFrameHeaderBytes = 2;        // version, kind
constexpr std::size_t kErrorDetailBytesMax = 1024;

Error bad(std::string_view what, std::string_view why) {
  return Error::malformed(fmt::format("{} frame: {}", what, why));
}

std::uint32_t u32(std::size_t n) {
  SPATE_ASSERT(n <= std::numeric_limits<std::uint32_t>::max(), "{} bytes do not fit a u32", n);
  return static_cast<std::uint32_t>(n);
}

// Starts a frame: room for the size prefix (patched by finish), version, kind.
ByteWriter start(FrameKind kind, std::uint8_t version, std::size_t body_hint) {
  ByteWriter out(kFramePrefixBytes + kFrameHeaderBytes + body_hint);
  out.write<std::uint32_t>(0);
  out.write<std::uint8_t>(version);
  out.write<std::uint8_t>(static_cast<std::uint8_t>(kind));
  return out;
}

std::vector<std::byte> finish(ByteWriter& out) {
  out.patch<std::uint32_t>(0, u32(out.size() - kFramePrefixBytes));
  return out.release();
}

std::vector<std::byte> encode_hello(const Hello& hello) {
  auto out = start(FrameKind::hello, kHelloVersion, kHelloFixedBytes + hello.cluster_id.size());
  SPATE_ASSERT(hello.cluster_id.size() <= std::numeric_limits<std::uint16_t>::max(),
               "cluster id of {} bytes", hello.cluster_id.size());
  out.write<std::uint16_t>(static_cast<std::uint16_t>(hello.cluster_id.size()));
  out.write_string(hello.cluster_id);
  out.write<std::int32_t>(hello.node.value());
  out.write<std::uint8_t>(hello.version_min);
  out.write<std::uint8_t>(hello.version_max);
  return finish(out);
}

std::vector<std::byte> encode_payload_frame(FrameKind kind, std::uint8_t version,
                                            std::uint64_t correlation_id, std::uint16_t word,
                                            std::span<const std::byte> payload) {
  auto out = start(kind, version, kCallFixedBytes + payload.size());
  out.write<std::uint64_t>(correlation_id);
  out.write<std::uint16_t>(word);
  out.write<std::uint32_t>(u32(payload.size()));
  out.write_bytes(payload);
  return finish(out);
}

std::vector<std::byte> encode_batch(const RaftBatch& batch, std::uint8_t version) {
  std::vector<std::vector<std::byte>> items;
  items.reserve(batch.items.size());
  std::size_t bytes = 0;
  for (const auto& item : batch.items) {
    items.push_back(encode_raft_item(item.group, item.message));
    bytes += items.back().size();
  }
  auto out = encode_raft_batch_header(batch.from, batch.to, u32(items.size()), bytes, version);
  out.reserve(out.size() + bytes);
  for (const auto& item : items) out.insert(out.end(), item.begin(), item.end());
  return out;
}

Result<Frame> decode_hello(ByteReader& in, const RpcLimits& limits) {
  if (in.remaining() < kHelloFixedBytes) return bad("hello", "truncated");
  const auto length = *in.read<std::uint16_t>();
  if (length > limits.cluster_id_bytes_max) {
    return bad("hello", fmt::format("cluster id of {} bytes (at most {})", length,
                                    limits.cluster_id_bytes_max));
  }
  if (in.remaining() < length + std::size_t{4 + 1 + 1}) return bad("hello", "truncated");
  Hello hello;
  const auto id = *in.read_bytes(length);
  hello.cluster_id.assign(reinterpret_cast<const char*>(id.data()), id.size());
  const auto node = *in.read<std::int32_t>();
  if (node < 0) return bad("hello", fmt::format("negative node id {}", node));
  hello.node = NodeId(node);
  hello.version_min = *in.read<std::uint8_t>();
  hello.version_max = *in.read<std::uint8_t>();
  if (hello.version_min == 0 || hello.version_min > hello.version_max) {
    return bad("hello",
               fmt::format("version range [{}, {}]", hello.version_min, hello.version_max));
  }
  return Frame(std::move(hello));
}

Result<RaftItem> decode_item(ByteReader& in, std::uint32_t i, const RpcLimits& limits) {
  if (in.remaining() < kRaftItemHeaderBytes) {
    return bad("raft_batch", fmt::format("item {} truncated", i));
  }
  RaftItem item;
  item.group.topic_id = *in.read<std::uint64_t>();
  item.group.partition = *in.read<std::int32_t>();
  const auto size = *in.read<std::uint32_t>();
  if (item.group.partition < 0 || (item.group.topic_id == 0 && item.group.partition != 0)) {
    return bad("raft_batch", fmt::format("item {}: no such group (topic {} partition {})", i,
                                         item.group.topic_id, item.group.partition));
  }
  if (size > in.remaining()) {
    return bad("raft_batch", fmt::format("item {} of {} bytes in {}", i, size, in.remaining()));
  }
  auto message = raft::decode_message(*in.read_bytes(size), limits.raft);
  if (!message) {
    return Error(message.error().code(),
                 fmt::format("raft_batch frame: item {}: {}", i, message.error().detail()));
  }
  item.message = std::move(*message);
  return item;
}

Result<Frame> decode_batch(ByteReader& in, const RpcLimits& limits) {
  if (in.remaining() < kRaftBatchHeaderBytes - kFrameHeaderBytes) {
    return bad("raft_batch", "truncated");
  }
  RaftBatch batch;
  const auto from = *in.read<std::int32_t>();
  const auto to = *in.read<std::int32_t>();
  const auto count = *in.read<std::uint32_t>();
  if (from < 0 || to < 0) return bad("raft_batch", fmt::format("node ids {} -> {}", from, to));
  batch.from = NodeId(from);
  batch.to = NodeId(to);
  // Every item takes its header at least: a count the bytes cannot hold is a
  // lie, refused before the vector is sized by it.
  if (count > limits.batch_items_max || count > in.remaining() / kRaftItemHeaderBytes) {
    return bad("raft_batch", fmt::format("{} items in {} bytes (at most {})", count, in.remaining(),
                                         limits.batch_items_max));
  }
  batch.items.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto item = decode_item(in, i, limits);
    if (!item) return item.error();
    batch.items.push_back(std::move(*item));
  }
  return Frame(std::move(batch));
}

// A request or a response: u64 correlation id, a 16-bit word, a payload.
Result<Frame> decode_payload_frame(ByteReader& in, FrameKind kind, const RpcLimits& limits) {
  const char* what = frame_kind_name(kind);
  if (in.remaining() < kCallFixedBytes) return bad(what, "truncated");
  const auto correlation_id = *in.read<std::uint64_t>();
  const auto word = *in.read<std::uint16_t>();
  const auto size = *in.read<std::uint32_t>();
  if (size > limits.payload_bytes_max || size > in.remaining()) {
    return bad(what, fmt::format("payload of {} bytes in {} (at most {})", size, in.remaining(),
                                 limits.payload_bytes_max));
  }
  const auto payload = *in.read_bytes(size);
  if (kind == FrameKind::request) {
    return Frame(Request{correlation_id, word, {payload.begin(), payload.end()}});
  }
  return Frame(
      Response{correlation_id, static_cast<std::int16_t>(word), {payload.begin(), payload.end()}});
}

}  // namespace

const char* frame_kind_name(FrameKind kind) {
  switch (kind) {
    case FrameKind::hello:
      return "hello";
    case FrameKind::raft_batch:
      return "raft_batch";
    case FrameKind::request:
      return "request";
    case FrameKind::response:
      return "response";
  }
  return "unknown";
}

FrameKind frame_kind(const Frame& frame) {
  static constexpr FrameKind kKinds[] = {FrameKind::hello, FrameKind::raft_batch,
                                         FrameKind::request, FrameKind::response};
  return kKinds[frame.index()];
}

std::vector<std::byte> encode_frame(const Frame& frame, std::uint8_t version) {
  if (const auto* hello = std::get_if<Hello>(&frame)) return encode_hello(*hello);
  if (const auto* batch = std::get_if<RaftBatch>(&frame)) return encode_batch(*batch, version);
  if (const auto* request = std::get_if<Request>(&frame)) {
    return encode_payload_frame(FrameKind::request, version, request->correlation_id,
                                request->method, request->payload);
  }
  const auto& response = std::get<Response>(frame);
  return encode_payload_frame(FrameKind::response, version, response.correlation_id,
                              static_cast<std::uint16_t>(response.error), response.payload);
}

std::vector<std::byte> encode_raft_item(const RaftGroupId& group, const raft::Message& message) {
  const auto encoded = raft::encode_message(message);
  ByteWriter out(kRaftItemHeaderBytes + encoded.size());
  out.write<std::uint64_t>(group.topic_id);
  out.write<std::int32_t>(group.partition);
  out.write<std::uint32_t>(u32(encoded.size()));
  out.write_bytes(encoded);
  return out.release();
}

std::vector<std::byte> encode_raft_batch_header(NodeId from, NodeId to, std::uint32_t count,
                                                std::size_t items_bytes, std::uint8_t version) {
  ByteWriter out(kFramePrefixBytes + kRaftBatchHeaderBytes);
  out.write<std::uint32_t>(u32(kRaftBatchHeaderBytes + items_bytes));
  out.write<std::uint8_t>(version);
  out.write<std::uint8_t>(static_cast<std::uint8_t>(FrameKind::raft_batch));
  out.write<std::int32_t>(from.value());
  out.write<std::int32_t>(to.value());
  out.write<std::uint32_t>(count);
  return out.release();
}

Result<std::size_t> decode_frame_size(std::span<const std::byte, 4> prefix,
                                      std::size_t frame_bytes_max) {
  const auto size = load_be<std::uint32_t>(prefix.data());
  if (size < kFrameHeaderBytes) return Error::malformed(fmt::format("frame of {} bytes", size));
  if (size > frame_bytes_max) {
    return Error::malformed(
        fmt::format("frame of {} bytes is over the limit of {}", size, frame_bytes_max));
  }
  return std::size_t{size};
}

Result<Frame> decode_frame(std::span<const std::byte> body, const RpcLimits& limits) {
  ByteReader in(body);
  if (in.remaining() < kFrameHeaderBytes) return Error::malformed("frame: truncated header");
  const auto version = *in.read<std::uint8_t>();
  const auto kind_byte = *in.read<std::uint8_t>();
  const auto kind = static_cast<FrameKind>(kind_byte);
  if (kind_byte < static_cast<std::uint8_t>(FrameKind::hello) ||
      kind_byte > static_cast<std::uint8_t>(FrameKind::response)) {
    return Error::malformed(fmt::format("frame of unknown kind {}", kind_byte));
  }
  const bool hello = kind == FrameKind::hello;
  const bool known =
      hello ? version == kHelloVersion : (version >= kRpcVersionMin && version <= kRpcVersionMax);
  if (!known) {
    return Error(Errc::unsupported_version,
                 fmt::format("{} frame of version {}", frame_kind_name(kind), version));
  }
  Result<Frame> frame = Error::malformed("unreachable");
  switch (kind) {
    case FrameKind::hello:
      frame = decode_hello(in, limits);
      break;
    case FrameKind::raft_batch:
      frame = decode_batch(in, limits);
      break;
    case FrameKind::request:
    case FrameKind::response:
      frame = decode_payload_frame(in, kind, limits);
      break;
  }
  if (frame && !in.empty()) {
    return bad(frame_kind_name(kind), fmt::format("{} trailing bytes", in.remaining()));
  }
  return frame;
}

Result<std::uint8_t> negotiate_version(const Hello& ours, const Hello& theirs) {
  const auto low = std::max(ours.version_min, theirs.version_min);
  const auto high = std::min(ours.version_max, theirs.version_max);
  if (low > high) {
    return Error(
        Errc::unsupported_version,
        fmt::format("no common version: we speak [{}, {}], the peer [{}, {}]", ours.version_min,
                    ours.version_max, theirs.version_min, theirs.version_max));
  }
  return high;
}

Error response_error(const Response& response) {
  const std::string detail(reinterpret_cast<const char*>(response.payload.data()),
                           response.payload.size());
  const auto code = response.error;
  if (code > 0 && code <= std::numeric_limits<std::uint8_t>::max() &&
      errc_name(static_cast<Errc>(code)) != "unknown") {
    return {static_cast<Errc>(code), detail};
  }
  return Error::io(fmt::format("error code {} from the peer: {}", code, detail));
}

Response error_response(std::uint64_t correlation_id, const Error& error) {
  Response response{correlation_id, static_cast<std::int16_t>(error.code()), {}};
  // An Error without a code still fails the call.
  if (error.code() == Errc::ok) response.error = static_cast<std::int16_t>(Errc::io_error);
  // The detail is for a log line: a bounded one.
  const auto detail = std::string_view(error.detail()).substr(0, kErrorDetailBytesMax);
  const auto* bytes = reinterpret_cast<const std::byte*>(detail.data());
  response.payload.assign(bytes, bytes + detail.size());
  return response;
}

}  // namespace spate::cluster
