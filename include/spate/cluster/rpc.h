// SPDX-License-Identifier: Apache-2.0
//
// The frames of the inter-broker transport on the cluster port (docs/cluster.md
// has the layout and the behaviour under faults). A pure codec: no sockets.
// Big-endian; every frame is
//
//   u32 size                       the bytes after this field
//   u8  version  u8 kind           then the kind's fields:
//   hello       u16 length, cluster id bytes; i32 node id;
//               u8 lowest version, u8 highest version spoken
//   raft_batch  i32 from node, i32 to node, u32 item count, then per item:
//               u64 topic id, i32 partition, u32 size, raft::encode_message bytes
//   request     u64 correlation id, u16 method, u32 size, payload bytes
//   response    u64 correlation id, i16 error (0 or an Errc), u32 size,
//               payload bytes (an error's detail text when error != 0)
//
// A hello is always version 1 (its fields never change: they negotiate the
// version of the other frames). Decoding checks every count and length
// against the bytes left and the RpcLimits before anything is allocated;
// errors are malformed or unsupported_version Results.

#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "spate/cluster/raft_group_id.h"
#include "spate/common/result.h"
#include "spate/common/types.h"
#include "spate/raft/messages.h"
#include "spate/raft/wire.h"

namespace spate::cluster {

inline constexpr std::uint8_t kRpcVersionMin = 1;  // the versions this build speaks
inline constexpr std::uint8_t kRpcVersionMax = 1;
inline constexpr std::uint8_t kHelloVersion = 1;
inline constexpr std::size_t kFramePrefixBytes = 4;
// u8 version, u8 kind, i32 from, i32 to, u32 count.
inline constexpr std::size_t kRaftBatchHeaderBytes = 1 + 1 + 4 + 4 + 4;
// u64 topic id, i32 partition, u32 size (then the message).
inline constexpr std::size_t kRaftItemHeaderBytes = 8 + 4 + 4;

enum class FrameKind : std::uint8_t { hello = 1, raft_batch = 2, request = 3, response = 4 };
[[nodiscard]] const char* frame_kind_name(FrameKind kind);

struct RpcLimits {
  // A whole frame (after the size prefix). Holds a raft restart's snapshot.
  std::size_t frame_bytes_max = 300U << 20U;
  std::size_t batch_items_max = 100'000;       // raft messages per raft_batch
  std::size_t payload_bytes_max = 64U << 20U;  // a request's or response's payload
  std::size_t cluster_id_bytes_max = 255;      // in a hello
  std::size_t hello_frame_bytes_max = 4096;    // a frame before the hellos are exchanged
  raft::WireLimits raft;                       // each message of a batch
};

struct Hello {
  std::string cluster_id;
  NodeId node{0};
  std::uint8_t version_min = kRpcVersionMin;
  std::uint8_t version_max = kRpcVersionMax;
  bool operator==(const Hello&) const = default;
};

struct RaftItem {
  RaftGroupId group;
  raft::Message message;
  bool operator==(const RaftItem&) const = default;
};

struct RaftBatch {
  NodeId from{0};
  NodeId to{0};
  std::vector<RaftItem> items;
  bool operator==(const RaftBatch&) const = default;
};

struct Request {
  std::uint64_t correlation_id = 0;
  std::uint16_t method = 0;
  std::vector<std::byte> payload;
  bool operator==(const Request&) const = default;
};

struct Response {
  std::uint64_t correlation_id = 0;
  std::int16_t error = 0;  // 0, or the Errc of a failed call (its detail in the payload)
  std::vector<std::byte> payload;
  bool operator==(const Response&) const = default;
};

using Frame = std::variant<Hello, RaftBatch, Request, Response>;
[[nodiscard]] FrameKind frame_kind(const Frame& frame);

// The frame, size prefix included, in `version` (a hello is always version 1).
[[nodiscard]] std::vector<std::byte> encode_frame(const Frame& frame,
                                                  std::uint8_t version = kRpcVersionMax);

// A raft_batch is built by parts, so that a transport can queue encoded
// messages as they are sent and frame them later: one item's bytes...
[[nodiscard]] std::vector<std::byte> encode_raft_item(const RaftGroupId& group,
                                                      const raft::Message& message);
// ...and the size prefix and header of a batch of `count` items whose bytes
// total `items_bytes`, to be written before them.
[[nodiscard]] std::vector<std::byte> encode_raft_batch_header(
    NodeId from, NodeId to, std::uint32_t count, std::size_t items_bytes,
    std::uint8_t version = kRpcVersionMax);

// The size in a frame's prefix. Errors: malformed (below the 2 bytes of
// version and kind, or over `frame_bytes_max`).
[[nodiscard]] Result<std::size_t> decode_frame_size(std::span<const std::byte, 4> prefix,
                                                    std::size_t frame_bytes_max);

// Decodes a frame's body (the bytes after the size prefix). Errors:
// unsupported_version (a version outside [kRpcVersionMin, kRpcVersionMax], a
// hello not in version 1), malformed (an unknown kind, truncation, a count or
// length beyond the bytes left or the limits, a negative node id or
// partition, a bad raft message, trailing bytes).
[[nodiscard]] Result<Frame> decode_frame(std::span<const std::byte> body,
                                         const RpcLimits& limits = {});

// The version two hellos agree on: the highest both speak. Errors:
// unsupported_version when their ranges do not meet.
[[nodiscard]] Result<std::uint8_t> negotiate_version(const Hello& ours, const Hello& theirs);

// A response's error as an Error (an unknown code becomes io_error), and back.
[[nodiscard]] Error response_error(const Response& response);
[[nodiscard]] Response error_response(std::uint64_t correlation_id, const Error& error);

}  // namespace spate::cluster
