// SPDX-License-Identifier: Apache-2.0
//
// ApiVersions: the served APIs and their versions (the table in table.cpp).

#include "spate/protocol/messages/api_versions.h"

#include "common.h"

namespace spate::broker {

awaitable<std::optional<protocol::ApiVersionsResponse>> api_versions(
    HandlerContext& ctx, protocol::ApiVersionsRequest& /*request*/) {
  protocol::ApiVersionsResponse r;
  for (const auto& api : served_apis()) {
    r.api_keys.push_back({static_cast<std::int16_t>(api.key), api.min_version, api.max_version});
  }
  (void)ctx;
  co_return r;
}

ResponseFrame api_versions_unsupported(HandlerContext& ctx) {
  protocol::ApiVersionsResponse r;
  r.error_code = ctx.code(ErrorCode::unsupported_version);
  for (const auto& api : served_apis()) {
    if (api.key == protocol::ApiKey::api_versions) {
      r.api_keys.push_back({static_cast<std::int16_t>(api.key), api.min_version, api.max_version});
    }
  }
  ByteWriter out(64);
  protocol::begin_frame(out);
  protocol::encode_response_header(out, ctx.header.correlation_id, 0);
  protocol::encode_message(out, r, 0);
  // A few dozen bytes: never near the frame limit.
  SPATE_ASSERT(protocol::finish_frame(out), "ApiVersions error response too large");
  ResponseFrame frame;
  frame.parts.push_back({out.release(), std::nullopt});
  return frame;
}

}  // namespace spate::broker
