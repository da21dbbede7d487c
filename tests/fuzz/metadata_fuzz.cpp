// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: the controller's metadata codecs and state machine
// (cluster/metadata_codec.h). The input is tried three ways:
//  * as one command: what decodes re-encodes to the same bytes;
//  * as a snapshot: what decodes re-encodes to the same bytes and decodes
//    to an equal state;
//  * as a log: frames of u16 length + a command; each command that decodes
//    is applied at the next index (a refusal is fine, an error is not), and
//    after each the state's snapshot must decode to an equal state.
// Seeds: tests/fuzz/corpus/metadata (written by SPATE_WRITE_METADATA_SEEDS=1
// build/bin/spate_cluster_tests --gtest_filter='MetadataSeeds.*').

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spate/cluster/metadata_codec.h"

namespace {

using namespace spate::cluster;  // NOLINT(google-build-using-namespace)

MetadataLimits small_limits() {
  MetadataLimits l;
  l.brokers_max = 16;
  l.topics_max = 16;
  l.partitions_per_topic_max = 16;
  l.partitions_max = 64;
  l.replicas_max = 8;
  l.configs_max = 8;
  l.topic_name_bytes_max = 64;
  l.string_bytes_max = 64;
  l.config_value_bytes_max = 256;
  return l;
}

void check(bool ok) {
  if (!ok) std::abort();
}

void as_snapshot(std::span<const std::byte> bytes, const MetadataLimits& limits) {
  auto state = decode_snapshot(bytes, limits);
  if (!state) return;
  const auto encoded = encode_snapshot(*state);
  check(std::equal(encoded.begin(), encoded.end(), bytes.begin(), bytes.end()));
  auto again = decode_snapshot(encoded, limits);
  check(again && *again == *state);
}

void as_log(std::span<const std::byte> bytes, const MetadataLimits& limits) {
  MetadataState state(limits);
  std::int64_t index = 0;
  while (bytes.size() >= 2) {
    const auto n = (static_cast<std::size_t>(bytes[0]) << 8U) | static_cast<std::size_t>(bytes[1]);
    bytes = bytes.subspan(2);
    const auto frame = bytes.first(std::min(n, bytes.size()));
    bytes = bytes.subspan(frame.size());
    auto command = decode_command(frame, limits);
    if (!command) continue;
    auto out = state.apply(*command, ++index);
    check(out.has_value());
    check(out->applied() == out->message.empty());
    auto restored = decode_snapshot(encode_snapshot(state), limits);
    check(restored && *restored == state);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const MetadataLimits limits = small_limits();
  auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  if (auto command = decode_command(bytes, limits)) {
    const auto encoded = encode_command(*command);
    check(std::equal(encoded.begin(), encoded.end(), bytes.begin(), bytes.end()));
    auto again = decode_command(encoded, limits);
    check(again && *again == *command);
    (void)command_name(*command);
  }
  as_snapshot(bytes, limits);
  as_log(bytes, limits);
  return 0;
}
