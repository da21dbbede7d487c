// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: a raft message from the inter-broker wire (raft/wire.h).
// Whatever decodes must re-encode to the same bytes and decode to the same
// message; a decoded membership entry must be readable.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spate/raft/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spate::raft;  // NOLINT(google-build-using-namespace)
  auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  WireLimits limits;
  limits.entries_max = 1'000;
  limits.entry_bytes_max = 1U << 20U;
  limits.snapshot_bytes_max = 1U << 20U;
  (void)decode_membership(bytes, limits);
  auto message = decode_message(bytes, limits);
  if (!message) return 0;
  const auto encoded = encode_message(*message);
  if (!std::equal(encoded.begin(), encoded.end(), bytes.begin(), bytes.end())) std::abort();
  auto again = decode_message(encoded, limits);
  if (!again || !(*again == *message)) std::abort();
  for (const auto& e : message->entries) {
    if (e.kind == EntryKind::membership && !decode_membership(e.data, limits)) std::abort();
  }
  (void)message->describe();
  return 0;
}
