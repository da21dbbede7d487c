// SPDX-License-Identifier: Apache-2.0
//
// Dispatch: decode the header, check the API and version, decode the body,
// run the handler, encode the response. The handlers live in handlers/, one
// file per API, reached through handlers/table.cpp.

#include "spate/broker/broker.h"

#include "spate/common/log.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/frame.h"
#include "spate/protocol/messages/api_versions.h"

#include "handlers.h"

namespace spate::broker {

using protocol::ApiKey;

Broker::Broker(BrokerConfig config, cluster::PartitionManager& partitions, Metrics& metrics,
               const Clock& clock)
    : config_(std::move(config)), partitions_(partitions), metrics_(metrics), clock_(clock) {}

Result<std::vector<std::byte>> ResponseFrame::flatten() const {
  std::vector<std::byte> out;
  out.reserve(size());
  for (const auto& p : parts) {
    out.insert(out.end(), p.bytes.begin(), p.bytes.end());
    if (p.file) {
      auto bytes = p.file->read_all();
      if (!bytes) return bytes.error();
      out.insert(out.end(), bytes->begin(), bytes->end());
    }
  }
  return out;
}

awaitable<Result<std::optional<ResponseFrame>>> Broker::handle(std::vector<std::byte> frame,
                                                               std::string client_host) {
  const auto started = clock_.steady_now();
  protocol::DecodeLimits limits;
  auto header = protocol::decode_request_header(frame, limits);
  if (!header) {
    metrics_.malformed_requests.fetch_add(1, std::memory_order_relaxed);
    co_return Error::malformed(
        fmt::format("unreadable request header: {}", header.error().detail()));
  }
  const auto& h = header->header;
  const auto served = served_handler(h.request_api_key);
  HandlerContext ctx{*this,       config_,    partitions_, coordinator_,
                     controller_, clock_,     h,           header->header_version,
                     false,       client_host};
  const auto body = std::span<const std::byte>(frame).subspan(header->body_offset);
  Result<std::optional<ResponseFrame>> result = std::optional<ResponseFrame>{};
  const protocol::ApiInfo* api = served ? served->info : nullptr;
  const bool in_range = api != nullptr && h.request_api_version >= api->min_version &&
                        h.request_api_version <= api->max_version;
  if (api != nullptr && api->key == ApiKey::api_versions && !in_range) {
    // KIP-511: answer an unknown ApiVersions version with v0 and error 35 so
    // the client can retry with a version it finds in the list.
    result = std::optional(api_versions_unsupported(ctx));
  } else if (api == nullptr) {
    metrics_.malformed_requests.fetch_add(1, std::memory_order_relaxed);
    co_return Error(Errc::unsupported_version,
                    fmt::format("API key {} is not supported (correlation id {})",
                                h.request_api_key, h.correlation_id));
  } else if (!in_range) {
    metrics_.malformed_requests.fetch_add(1, std::memory_order_relaxed);
    co_return Error(Errc::unsupported_version,
                    fmt::format("{} version {} is outside the supported range [{}, {}]", api->name,
                                h.request_api_version, api->min_version, api->max_version));
  } else {
    result = co_await served->handle(ctx, *api, body);
  }
  if (!result) {
    metrics_.malformed_requests.fetch_add(1, std::memory_order_relaxed);
    co_return result;
  }
  metrics_.record(
      h.request_api_key,
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.steady_now() - started),
      ctx.error);
  metrics_.bytes_in.fetch_add(frame.size() + 4, std::memory_order_relaxed);
  if (*result) metrics_.bytes_out.fetch_add((*result)->size(), std::memory_order_relaxed);
  co_return result;
}

}  // namespace spate::broker
