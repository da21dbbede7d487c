// SPDX-License-Identifier: Apache-2.0
//
// TempDir: a fresh directory for a test, removed afterwards unless kept.

#pragma once

#include <filesystem>

namespace spate::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Keep the directory (and print its path) instead of removing it.
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace spate::testing

namespace spate::storage {
using spate::testing::TempDir;
}  // namespace spate::storage
