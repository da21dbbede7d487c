// SPDX-License-Identifier: Apache-2.0
//
// Private to client: the JSON output of the subcommands (`--format json`,
// `consume -o json`), built with nlohmann/json and printed one document per
// line. Objects keep their keys in insertion order (the documented order).

#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <span>
#include <string_view>

#include "spate/client/tools.h"

namespace spate::client {

using Json = nlohmann::ordered_json;

// A JSON string holding arbitrary bytes (json_text).
inline Json json_bytes(std::string_view bytes) { return json_text(bytes); }
inline Json json_bytes(std::span<const std::byte> bytes) {
  return json_text({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}
// The same, or null.
template <typename Bytes>
Json json_bytes_or_null(const std::optional<Bytes>& bytes) {
  return bytes ? json_bytes(*bytes) : Json(nullptr);
}

// Writes `value` compactly on one line. json_text made every string valid
// UTF-8; `replace` only keeps a stray byte from ever throwing.
inline void print_json(std::ostream& out, const Json& value) {
  out << value.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

}  // namespace spate::client
