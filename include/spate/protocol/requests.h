// SPDX-License-Identifier: Apache-2.0
//
// Decoding any request body by API key and version: the codec-level dispatch
// used by the fuzzers and, later, by the broker's dispatch table.

#pragma once

#include <cstdint>
#include <span>

#include "spate/common/result.h"
#include "spate/protocol/codec.h"

namespace spate::protocol {

// Decodes the body of request (api_key, version), re-encodes it and checks
// that the bytes match the decoded prefix (a self-check for fuzzing).
// Errors: unsupported_version for an API or version outside the §0 table;
//   malformed for a bad body.
[[nodiscard]] Status decode_request_body(std::int16_t api_key, std::int16_t version,
                                         std::span<const std::byte> body,
                                         const DecodeLimits& limits = {});

// Decodes the body of a response to (api_key, version): what a client would
// read (the broker fuzzer checks every response it makes this way).
// Errors: as decode_request_body.
[[nodiscard]] Status decode_response_body(std::int16_t api_key, std::int16_t version,
                                          std::span<const std::byte> body,
                                          const DecodeLimits& limits = {});

}  // namespace spate::protocol
