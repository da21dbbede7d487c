// SPDX-License-Identifier: Apache-2.0
//
// The seed corpus of tests/fuzz/metadata_fuzz.cpp: every seed still decodes
// (as a command, a snapshot, or a log of u16-length-framed commands that
// mostly apply), so a format change that would make the seeds useless
// fails here. SPATE_WRITE_METADATA_SEEDS=1 rewrites them first.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "spate/cluster/metadata_codec.h"

#include "cluster/metadata_samples.h"

namespace spate::cluster {
namespace {

namespace fs = std::filesystem;
using testing::broker_cmd;
using testing::ids;

std::vector<std::byte> framed(const std::vector<Command>& commands) {
  std::vector<std::byte> out;
  for (const auto& c : commands) {
    const auto bytes = encode_command(c);
    out.push_back(static_cast<std::byte>(bytes.size() >> 8U));
    out.push_back(static_cast<std::byte>(bytes.size() & 0xFFU));
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

std::vector<Command> a_log() {
  return {
      broker_cmd(1, "a"),
      broker_cmd(2, "b"),
      broker_cmd(3, "a"),
      CreateTopic{"orders", 0, {ids({1, 2}), ids({2, 3})}, {{"retention.ms", "1000"}}},
      SetPartitionLeader{1, 0, NodeId(1), Term(1), ids({1, 2})},
      CreatePartitions{"orders", {ids({3, 1})}},
      BeginReassignment{1, 1, ids({3, 1})},
      CompleteReassignment{1, 1, ids({3, 1})},
      AlterTopicConfigs{"orders", {{"cleanup.policy", "compact"}}},
      AllocateProducerIds{NodeId(2), 1000},
      FenceBroker{NodeId(3), -1},
      CreateTopic{"events", 0, {ids({1})}, {}},
      DeleteTopic{"events", 0},
      BeginReassignment{1, 0, ids({3, 2})},
      CancelReassignment{1, 0},
      broker_cmd(4, "b"),
      UnregisterBroker{NodeId(4)},
      NoopCommand{},
  };
}

void write_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<std::byte>& bytes) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  };
  for (const auto& c : testing::sample_commands()) {
    write(fmt::format("command_{}", command_name(c)), encode_command(c));
  }
  write("log", framed(a_log()));
  MetadataState state;
  std::int64_t index = 0;
  for (const auto& c : a_log()) ASSERT_TRUE(state.apply(c, ++index));
  write("snapshot", encode_snapshot(state));
}

TEST(MetadataSeeds, EverySeedDecodes) {
  const fs::path dir = SPATE_METADATA_CORPUS;
  if (std::getenv("SPATE_WRITE_METADATA_SEEDS") != nullptr) {
    ASSERT_NO_FATAL_FAILURE(write_seeds(dir));
  }
  std::size_t seeds = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto bytes = std::as_bytes(std::span(chars));
    const auto name = entry.path().filename().string();
    ++seeds;
    if (name.starts_with("command_")) {
      EXPECT_TRUE(decode_command(bytes)) << name;
    } else if (name == "snapshot") {
      EXPECT_TRUE(decode_snapshot(bytes)) << name;
    } else {
      EXPECT_EQ(name, "log");
      const auto expected = framed(a_log());
      EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), expected.begin(), expected.end()));
    }
  }
  EXPECT_EQ(seeds, std::variant_size_v<Command> + 2);
}

// The log seed applies, every command but none refused.
TEST(MetadataSeeds, TheLogSeedApplies) {
  MetadataState state;
  std::int64_t index = 0;
  for (const auto& c : a_log()) {
    auto out = state.apply(c, ++index);
    ASSERT_TRUE(out);
    EXPECT_TRUE(out->applied()) << command_name(c) << ": " << out->message;
  }
}

}  // namespace
}  // namespace spate::cluster
