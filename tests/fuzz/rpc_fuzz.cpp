// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: a stream of inter-broker frames (cluster/rpc.h), read the
// way a cluster connection reads them: a size prefix, the body, the next.
// Whatever decodes must re-encode to the same bytes and decode to the same
// frame; nothing may crash, assert or allocate past the limits.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spate/cluster/rpc.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spate::cluster;  // NOLINT(google-build-using-namespace)
  auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  RpcLimits limits;
  limits.frame_bytes_max = 1U << 20U;
  limits.batch_items_max = 1'000;
  limits.payload_bytes_max = 64U << 10U;
  limits.raft.entries_max = 1'000;
  limits.raft.entry_bytes_max = 64U << 10U;
  limits.raft.snapshot_bytes_max = 64U << 10U;
  // Bounded: each pass consumes a frame or stops.
  while (bytes.size() >= kFramePrefixBytes) {
    const auto prefix = bytes.first<kFramePrefixBytes>();
    auto frame_size = decode_frame_size(prefix, limits.frame_bytes_max);
    if (!frame_size || *frame_size > bytes.size() - kFramePrefixBytes) return 0;
    const auto whole = bytes.first(kFramePrefixBytes + *frame_size);
    const auto body = whole.subspan(kFramePrefixBytes);
    bytes = bytes.subspan(whole.size());
    auto frame = decode_frame(body, limits);
    if (!frame) continue;  // a connection would close here; the fuzzer reads on
    const auto encoded = encode_frame(*frame, std::to_integer<std::uint8_t>(body[0]));
    if (!std::equal(encoded.begin(), encoded.end(), whole.begin(), whole.end())) std::abort();
    auto again =
        decode_frame(std::span<const std::byte>(encoded).subspan(kFramePrefixBytes), limits);
    if (!again || !(*again == *frame)) std::abort();
    if (const auto* response = std::get_if<Response>(&*frame); response && response->error != 0) {
      (void)response_error(*response).message();
    }
  }
  return 0;
}
