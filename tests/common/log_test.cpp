// SPDX-License-Identifier: Apache-2.0

#include "spate/common/log.h"

#include <gtest/gtest.h>

namespace spate::log {
namespace {

TEST(Log, EachModuleHasOneLoggerNamedLikeIt) {
  const auto& storage = get(Module::storage);
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->name(), "storage");
  EXPECT_EQ(get(Module::storage).get(), storage.get());  // made once
  EXPECT_EQ(get(Module::server)->name(), "server");
  EXPECT_EQ(get(Module::spated)->name(), "spated");
  EXPECT_NE(get(Module::broker).get(), get(Module::cluster).get());
  set_level(spdlog::level::err);
  EXPECT_EQ(get(Module::raft)->level(), spdlog::level::err);
  set_level(spdlog::level::info);
  EXPECT_EQ(get(Module::raft)->level(), spdlog::level::info);
}

}  // namespace
}  // namespace spate::log
