// SPDX-License-Identifier: Apache-2.0
//
// The round-trip check shared by the message tests: a message encodes and
// decodes back equal at `version`; cut at any byte, or with a byte too many,
// it is refused (never a crash).

#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/protocol/codec.h"

namespace spate::protocol::testing {

template <typename Msg>
void expect_round_trip(const Msg& m, std::int16_t version) {
  ByteWriter w;
  encode_message(w, m, version);
  std::vector<std::byte> bytes = w.release();
  auto back = decode_message<Msg>(bytes, version);
  ASSERT_TRUE(back) << "v" << version << ": " << back.error();
  EXPECT_EQ(*back, m) << "v" << version;
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_message<Msg>(std::span<const std::byte>(bytes).first(cut), version))
        << "v" << version << " cut at " << cut;
  }
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(decode_message<Msg>(bytes, version)) << "v" << version << " with a trailing byte";
}

}  // namespace spate::protocol::testing
