// SPDX-License-Identifier: Apache-2.0
//
// Small helpers for Filesystem tests: bytes as text, a whole file read through
// the Filesystem interface, a file written and synced.

#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "spate/common/bytes.h"
#include "spate/storage/file.h"

namespace spate::testing {

[[nodiscard]] inline std::string text(std::span<const std::byte> bytes) {
  std::string out;
  for (auto b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// The whole file (up to 1 MiB), or "<errc name>".
[[nodiscard]] inline std::string read_all(storage::Filesystem& filesystem,
                                          const std::filesystem::path& path) {
  auto bytes = storage::read_file(filesystem, path, 1 << 20);
  if (!bytes) return "<" + std::string(errc_name(bytes.error().code())) + ">";
  return text(*bytes);
}

[[nodiscard]] inline Status write_synced(storage::Filesystem& filesystem,
                                         const std::filesystem::path& path,
                                         std::string_view contents) {
  auto file = filesystem.open(path, storage::OpenMode::create);
  if (!file) return file.error();
  if (auto s = (*file)->append(to_bytes(contents)); !s) return s;
  return (*file)->sync();
}

}  // namespace spate::testing
