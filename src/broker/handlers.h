// SPDX-License-Identifier: Apache-2.0
//
// Private to broker: what Broker::handle needs of the handlers
// (src/broker/handlers/, one file per API).

#pragma once

#include <optional>
#include <span>
#include <vector>

#include "spate/broker/broker.h"
#include "spate/groups/group.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/frame.h"
#include "spate/protocol/messages/fetch.h"

namespace spate::broker {

struct HandlerContext {
  Broker& broker;
  const BrokerConfig& config;
  cluster::PartitionManager& partitions;
  // nullptr: this broker coordinates no groups (COORDINATOR_NOT_AVAILABLE).
  groups::Coordinator* coordinator;
  // nullptr: a single node (topics are this broker's own); otherwise topic
  // changes and Metadata go through the cluster's controller.
  cluster::Controller* controller;
  const Clock& clock;
  const protocol::RequestHeader& header;
  std::int16_t header_version;
  bool error;  // set when any part of the response carries an error code
  // The peer's address as Kafka shows it ("/127.0.0.1"); empty if unknown.
  std::string_view client_host;

  [[nodiscard]] std::int16_t version() const { return header.request_api_version; }
  std::int16_t code(protocol::ErrorCode c) {
    if (c != protocol::ErrorCode::none) error = true;
    return static_cast<std::int16_t>(c);
  }
};

// Errc -> the Kafka error code a client acts on (kafka-protocol.md §5).
[[nodiscard]] protocol::ErrorCode error_code_for(Errc errc);
// GroupError -> the Kafka error code (the groups module's outcomes).
[[nodiscard]] protocol::ErrorCode error_code_for(groups::GroupError error);

// Encodes a full response frame (size prefix, header, body).
// Errors: limit_exceeded for a response over the protocol's 2 GiB.
template <typename Resp>
Result<ResponseFrame> response_frame(const HandlerContext& ctx, const protocol::ApiInfo& api,
                                     const Resp& response) {
  ByteWriter out(256);
  protocol::begin_frame(out);
  protocol::encode_response_header(
      out, ctx.header.correlation_id,
      protocol::response_header_version(api, ctx.header.request_api_version));
  protocol::encode_message(out, response, ctx.header.request_api_version);
  if (auto s = protocol::finish_frame(out); !s) return s.error();
  ResponseFrame frame;
  frame.parts.push_back({out.release(), std::nullopt});
  return frame;
}

ResponseFrame api_versions_unsupported(HandlerContext& ctx);

// A Fetch response (v4-v11) whose records are `slices` where set (else the
// struct's own records): the regions are spliced in, never copied here.
// Errors: limit_exceeded for a response over the protocol's 2 GiB.
[[nodiscard]] Result<ResponseFrame> encode_fetch_response(
    const HandlerContext& ctx, const protocol::ApiInfo& api,
    const protocol::FetchResponse& response,
    const std::vector<std::optional<storage::FileSlice>>& slices);

// The handler of one served API (handlers/*.cpp): the request body in, a
// response frame out (none for acks=0).
using ApiHandler = awaitable<Result<std::optional<ResponseFrame>>> (*)(HandlerContext&,
                                                                       const protocol::ApiInfo&,
                                                                       std::span<const std::byte>);

// A served API: its info (the served version range) and its handler.
struct ServedHandler {
  const protocol::ApiInfo* info;
  ApiHandler handle;
};
// nullopt if `key` is not served (handlers/table.cpp).
[[nodiscard]] std::optional<ServedHandler> served_handler(std::int16_t key);

}  // namespace spate::broker
