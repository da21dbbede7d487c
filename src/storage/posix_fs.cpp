// SPDX-License-Identifier: Apache-2.0
//
// PosixFs: the real file system through pread/pwrite/fdatasync/ftruncate.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spate/storage/file.h"

namespace spate::storage {
namespace {

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
        if (errno == EINTR) continue;
        return Error::from_errno(errno, fmt::format("pread {}", path_.string()));
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status append(std::span<const std::byte> data) override {
    std::uint64_t at = size_.load();
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(at + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        refresh_size();
        return Error::from_errno(err, fmt::format("pwrite {}", path_.string()));
      }
      done += static_cast<std::size_t>(n);
    }
    size_.store(at + data.size());
    return {};
  }

  Status truncate(std::uint64_t size_bytes) override {
    if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) {
      const int err = errno;
      refresh_size();
      return Error::from_errno(err, fmt::format("ftruncate {}", path_.string()));
    }
    size_.store(size_bytes);
    return {};
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) {
      return Error::from_errno(errno, fmt::format("fdatasync {}", path_.string()));
    }
    return {};
  }

  std::uint64_t size() const override { return size_.load(); }
  int native_handle() const override { return fd_; }
  const std::filesystem::path& path() const override { return path_; }

 private:
  void refresh_size() {
    struct stat st {};
    if (::fstat(fd_, &st) == 0) size_.store(static_cast<std::uint64_t>(st.st_size));
  }

  int fd_;
  std::filesystem::path path_;
  std::atomic<std::uint64_t> size_;
};

class PosixFs final : public Filesystem {
 public:
  Result<std::shared_ptr<File>> open(const std::filesystem::path& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::read_only:
        flags |= O_RDONLY;
        break;
      case OpenMode::read_write:
        flags |= O_RDWR;
        break;
      case OpenMode::create:
        flags |= O_RDWR | O_CREAT;
        break;
      case OpenMode::create_exclusive:
        flags |= O_RDWR | O_CREAT | O_EXCL;
        break;
    }
    int fd = -1;
    do {
      fd = ::open(path.c_str(), flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return Error::from_errno(errno, fmt::format("open {}", path.string()));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return Error::from_errno(err, fmt::format("fstat {}", path.string()));
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return Error::io(fmt::format("open {}: is a directory", path.string()));
    }
    return std::shared_ptr<File>(
        std::make_shared<PosixFile>(fd, path, static_cast<std::uint64_t>(st.st_size)));
  }

  Status create_directories(const std::filesystem::path& path) override {
    std::filesystem::path partial;
    for (const auto& part : path) {
      partial /= part;
      if (partial == partial.root_path()) continue;
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return Error::from_errno(errno, fmt::format("mkdir {}", partial.string()));
      }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return Error::from_errno(errno, fmt::format("stat {}", path.string()));
    }
    if (!S_ISDIR(st.st_mode)) {
      return Error(Errc::already_exists,
                   fmt::format("{} exists and is not a directory", path.string()));
    }
    return {};
  }

  Result<std::vector<std::string>> list_directory(const std::filesystem::path& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return Error::from_errno(errno, fmt::format("opendir {}", path.string()));
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
      std::string name(entry->d_name);
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    const int err = errno;
    ::closedir(dir);
    if (err != 0) return Error::from_errno(err, fmt::format("readdir {}", path.string()));
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<EntryType> entry_type(const std::filesystem::path& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return EntryType::none;
      return Error::from_errno(errno, fmt::format("lstat {}", path.string()));
    }
    if (S_ISREG(st.st_mode)) return EntryType::file;
    if (S_ISDIR(st.st_mode)) return EntryType::directory;
    return EntryType::other;
  }

  Status remove(const std::filesystem::path& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      return Error::from_errno(errno, fmt::format("remove {}", path.string()));
    }
    const int rc = S_ISDIR(st.st_mode) ? ::rmdir(path.c_str()) : ::unlink(path.c_str());
    if (rc != 0) return Error::from_errno(errno, fmt::format("remove {}", path.string()));
    return {};
  }

  Status rename(const std::filesystem::path& source, const std::filesystem::path& target) override {
    if (::rename(source.c_str(), target.c_str()) != 0) {
      return Error::from_errno(errno,
                               fmt::format("rename {} to {}", source.string(), target.string()));
    }
    return {};
  }

  Status sync_directory(const std::filesystem::path& path) override {
    const auto& dir = path.empty() ? std::filesystem::path(".") : path;
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Error::from_errno(errno, fmt::format("open {}", dir.string()));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return Error::from_errno(err, fmt::format("fsync {}", dir.string()));
    return {};
  }
};

}  // namespace

std::unique_ptr<Filesystem> make_posix_fs() { return std::make_unique<PosixFs>(); }

}  // namespace spate::storage
