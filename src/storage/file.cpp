// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by every Filesystem: atomic replace, whole-file reads, slices.

#include "spate/storage/file.h"

namespace spate::storage {

Result<std::vector<std::byte>> FileSlice::read_all() const {
  SPATE_ASSERT(file != nullptr || size == 0, "slice without a file");
  std::vector<std::byte> out(size);
  std::size_t done = 0;
  while (done < out.size()) {
    auto n = file->read_at(position + done, std::span<std::byte>(out).subspan(done));
    if (!n) return n.error();
    if (*n == 0) {
      return Error::malformed(fmt::format("{} ends at {} inside a slice [{}, {})",
                                          file->path().string(), position + done, position,
                                          position + size));
    }
    done += *n;
  }
  return out;
}

Status write_file_atomic(Filesystem& fs, const std::filesystem::path& path,
                         std::span<const std::byte> contents, bool* replaced) {
  auto tmp_path = path;
  tmp_path += ".tmp";
  // A failed write leaves the old file, and removes the temporary one (a
  // caller that goes on after a full disk must not leave litter behind; if
  // even that fails, the next open of the directory removes it).
  auto failed = [&](const Error& error) -> Status {
    auto removed = fs.remove(tmp_path);
    (void)removed;
    return error;
  };
  {
    auto tmp = fs.open(tmp_path, OpenMode::create);
    if (!tmp) return tmp.error();
    if (auto s = (*tmp)->truncate(0); !s) return failed(s.error());
    if (auto s = (*tmp)->append(contents); !s) return failed(s.error());
    if (auto s = (*tmp)->sync(); !s) return failed(s.error());
  }
  if (auto s = fs.rename(tmp_path, path); !s) return failed(s.error());
  if (replaced != nullptr) *replaced = true;
  return fs.sync_directory(path.parent_path());
}

Result<std::vector<std::byte>> read_file(Filesystem& fs, const std::filesystem::path& path,
                                         std::size_t bytes_max) {
  auto file = fs.open(path, OpenMode::read_only);
  if (!file) return file.error();
  const std::uint64_t size = (*file)->size();
  if (size > bytes_max) {
    return Error::limit(
        fmt::format("{} is {} bytes, more than the {} expected", path.string(), size, bytes_max));
  }
  return FileSlice{*file, 0, size}.read_all();
}

}  // namespace spate::storage
