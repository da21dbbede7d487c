// SPDX-License-Identifier: Apache-2.0
//
// TempDir: mkdtemp under $TMPDIR (or /tmp), removed recursively at the end
// unless kept, with only the error_code overloads of std::filesystem.

#include "support/temp_dir.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "spate/common/assert.h"

namespace spate::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/spate-test-XXXXXX";
  const char* made = ::mkdtemp(pattern.data());
  SPATE_ASSERT(made != nullptr, "mkdtemp {} failed", pattern);
  path_ = made;
}

TempDir::~TempDir() {
  // Outside a running test HasFailure() is false: nothing to keep for.
  if (keep_ || ::testing::Test::HasFailure()) {
    std::fprintf(stderr, "kept test directory %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::fprintf(stderr, "could not remove test directory %s: %s\n", path_.c_str(),
                 ec.message().c_str());
  }
}

}  // namespace spate::testing
