// SPDX-License-Identifier: Apache-2.0
//
// TempDir: a fresh directory for a test (mkdtemp under $TMPDIR or /tmp), removed
// recursively at the end unless kept: by keep(), or because the test failed.

#pragma once

#include <filesystem>

namespace spate::testing {

class TempDir {
 public:
  // Aborts (SPATE_ASSERT) if the directory cannot be made: no test can run then.
  TempDir();
  // Removes the directory, or prints its path if it is kept.
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // spate-test-XXXXXX under $TMPDIR (or /tmp).
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Keep the directory (and print its path) instead of removing it. A
  // directory is also kept when the running test has failed (style.md §3.11).
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace spate::testing

namespace spate::storage {
using spate::testing::TempDir;
}  // namespace spate::storage
