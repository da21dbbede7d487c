// SPDX-License-Identifier: Apache-2.0
//
// PosixFs: the real file system through open/pread/pwrite/fdatasync/ftruncate.
// Every failure is Error::from_errno(errno, "<call> <path>"); nothing throws.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "spate/storage/file.h"

namespace spate::storage {
namespace {

constexpr mode_t kFileMode = 0644;
constexpr mode_t kDirectoryMode = 0755;

// errno is read by the caller before the message is formatted (formatting
// allocates, and an allocation may change errno).
Error posix_error(int err, std::string_view call, const std::filesystem::path& path) {
  return Error::from_errno(err, fmt::format("{} {}", call, path.string()));
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::filesystem::path path, std::uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Result<std::size_t> read_at(std::uint64_t position, std::span<std::byte> out) const override {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(position + done));
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        return posix_error(err, "pread", path_);
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  // One writer per file (file.h), so the size read at the start is where the
  // bytes go; sync() and size() may run concurrently on other threads.
  Status append(std::span<const std::byte> data) override {
    const std::uint64_t at = size_.load();
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(at + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // n == 0 cannot happen for a regular file; treat it as EIO rather than spin.
        const int err = n < 0 ? errno : EIO;
        refresh_size();  // a prefix may have reached the file
        return posix_error(err, "pwrite", path_);
      }
      done += static_cast<std::size_t>(n);
    }
    size_.store(at + data.size());
    return {};
  }

  Result<bool> preallocate(std::uint64_t size_bytes) override {
#ifdef __linux__
    int rc = 0;
    do {  // bounded: only a signal repeats it
      rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size_bytes));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return true;
    const int err = errno;
    if (err == EOPNOTSUPP || err == ENOSYS) return false;
    return posix_error(err, "fallocate", path_);
#else
    (void)size_bytes;
    return false;
#endif
  }

  Status truncate(std::uint64_t size_bytes) override {
    if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) {
      const int err = errno;
      refresh_size();
      return posix_error(err, "ftruncate", path_);
    }
    size_.store(size_bytes);
    return {};
  }

  // Never retried on failure (style.md §3.5): the caller fences.
  Status sync() override {
    if (::fdatasync(fd_) != 0) {
      const int err = errno;
      return posix_error(err, "fdatasync", path_);
    }
    return {};
  }

  std::uint64_t size() const override { return size_.load(); }
  int native_handle() const override { return fd_; }
  std::optional<std::int64_t> modified_ms() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return std::nullopt;
    return std::int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000;
  }
  const std::filesystem::path& path() const override { return path_; }

 private:
  // After a failed write the tracked size is unknown: ask the kernel. If even
  // fstat fails, keep the old value (the caller treats the tail as damaged).
  void refresh_size() {
    struct stat st {};
    if (::fstat(fd_, &st) == 0) size_.store(static_cast<std::uint64_t>(st.st_size));
  }

  const int fd_;
  const std::filesystem::path path_;
  std::atomic<std::uint64_t> size_;
};

int open_flags(OpenMode mode) {
  switch (mode) {
    case OpenMode::read_only:
      return O_RDONLY;
    case OpenMode::read_write:
      return O_RDWR;
    case OpenMode::create:
      return O_RDWR | O_CREAT;
    case OpenMode::create_exclusive:
      return O_RDWR | O_CREAT | O_EXCL;
  }
  SPATE_ASSERT(false, "unknown OpenMode {}", static_cast<int>(mode));
  return O_RDONLY;
}

class PosixFs final : public Filesystem {
 public:
  Result<std::shared_ptr<File>> open(const std::filesystem::path& path, OpenMode mode) override {
    const int flags = open_flags(mode) | O_CLOEXEC;
    int fd = -1;
    do {
      fd = ::open(path.c_str(), flags, kFileMode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int err = errno;
      return posix_error(err, "open", path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return posix_error(err, "fstat", path);
    }
    if (!S_ISREG(st.st_mode)) {  // O_RDONLY opens a directory without complaint
      ::close(fd);
      return posix_error(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "open", path);
    }
    return std::shared_ptr<File>(
        std::make_shared<PosixFile>(fd, path, static_cast<std::uint64_t>(st.st_size)));
  }

  Status create_directories(const std::filesystem::path& path) override {
    std::filesystem::path partial;
    for (const auto& part : path) {
      partial /= part;
      if (part.empty() || partial == partial.root_path()) continue;
      if (::mkdir(partial.c_str(), kDirectoryMode) != 0) {
        const int err = errno;
        if (err != EEXIST) return posix_error(err, "mkdir", partial);
      }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      return posix_error(err, "stat", path);
    }
    if (!S_ISDIR(st.st_mode)) return posix_error(EEXIST, "mkdir", path);  // a file is in the way
    return {};
  }

  Result<std::vector<std::string>> list_directory(const std::filesystem::path& path) override {
    DIR* dir = ::opendir(path.c_str());  // glibc opens it O_CLOEXEC
    if (dir == nullptr) {
      const int err = errno;
      return posix_error(err, "opendir", path);
    }
    std::vector<std::string> names;
    int err = 0;
    for (;;) {
      errno = 0;
      const dirent* entry = ::readdir(dir);
      if (entry == nullptr) {
        err = errno;
        break;
      }
      const std::string_view name(entry->d_name);
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    if (err != 0) return posix_error(err, "readdir", path);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<EntryType> entry_type(const std::filesystem::path& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) return EntryType::none;
      return posix_error(err, "lstat", path);
    }
    if (S_ISREG(st.st_mode)) return EntryType::file;
    if (S_ISDIR(st.st_mode)) return EntryType::directory;
    return EntryType::other;
  }

  Status remove(const std::filesystem::path& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      const int err = errno;
      return posix_error(err, "lstat", path);
    }
    const bool is_directory = S_ISDIR(st.st_mode);
    if ((is_directory ? ::rmdir(path.c_str()) : ::unlink(path.c_str())) != 0) {
      const int err = errno;
      return posix_error(err, is_directory ? "rmdir" : "unlink", path);
    }
    return {};
  }

  Status rename(const std::filesystem::path& source, const std::filesystem::path& target) override {
    if (::rename(source.c_str(), target.c_str()) != 0) {
      const int err = errno;
      return Error::from_errno(err, fmt::format("rename {} {}", source.string(), target.string()));
    }
    return {};
  }

  Status sync_directory(const std::filesystem::path& path) override {
    // write_file_atomic("name") syncs parent_path(), which is empty: the cwd.
    const std::filesystem::path dir = path.empty() ? std::filesystem::path(".") : path;
    int fd = -1;
    do {
      fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int err = errno;
      return posix_error(err, "open", dir);
    }
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return posix_error(err, "fsync", dir);
    return {};
  }
};

}  // namespace

std::unique_ptr<Filesystem> make_posix_fs() { return std::make_unique<PosixFs>(); }

}  // namespace spate::storage
