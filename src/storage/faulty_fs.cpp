// SPDX-License-Identifier: Apache-2.0
//
// FaultyFs: a Filesystem decorator that fails chosen calls with EIO/ENOSPC and
// tears appends, for crash and error-path tests.

#include "spate/storage/faulty_fs.h"

#include <algorithm>
#include <bit>

namespace spate::storage {
namespace {

std::size_t op_slot(FaultOp op) {
  return static_cast<std::size_t>(std::countr_zero(static_cast<std::uint32_t>(op)));
}

class FaultyFile final : public File {
 public:
  FaultyFile(FaultyFs& fs, std::shared_ptr<File> base) : fs_(fs), base_(std::move(base)) {}

  Result<std::size_t> read_at(std::uint64_t position, std::span<std::byte> out) const override {
    auto d = fs_.check(FaultOp::read, base_->path());
    if (d.fail) return Error::from_errno(d.err, fmt::format("pread {}", base_->path().string()));
    return base_->read_at(position, out);
  }

  Status append(std::span<const std::byte> data) override {
    auto d = fs_.check(FaultOp::append, base_->path());
    if (d.fail) {
      const auto torn =
          static_cast<std::size_t>(std::min<std::uint64_t>(d.torn_bytes, data.size()));
      if (torn > 0) (void)base_->append(data.first(torn));
      return Error::from_errno(d.err, fmt::format("pwrite {}", base_->path().string()));
    }
    return base_->append(data);
  }

  Status truncate(std::uint64_t size_bytes) override {
    auto d = fs_.check(FaultOp::truncate, base_->path());
    if (d.fail) {
      return Error::from_errno(d.err, fmt::format("ftruncate {}", base_->path().string()));
    }
    return base_->truncate(size_bytes);
  }

  Status sync() override {
    auto d = fs_.check(FaultOp::sync, base_->path());
    if (d.fail) {
      return Error::from_errno(d.err, fmt::format("fdatasync {}", base_->path().string()));
    }
    return base_->sync();
  }

  std::uint64_t size() const override { return base_->size(); }
  int native_handle() const override { return base_->native_handle(); }
  const std::filesystem::path& path() const override { return base_->path(); }

 private:
  FaultyFs& fs_;
  std::shared_ptr<File> base_;
};

}  // namespace

FaultyFs::FaultyFs(Filesystem& base) : base_(base) {}
FaultyFs::~FaultyFs() = default;

void FaultyFs::inject(const FaultPlan& plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  plan_ = plan;
  dead_ = false;
}

void FaultyFs::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  plan_.reset();
  dead_ = false;
}

std::uint64_t FaultyFs::faults_fired() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fired_;
}

std::uint64_t FaultyFs::calls(std::uint32_t ops) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < 6; ++i) {
    if ((ops & (1U << i)) != 0) total += counts_[i];
  }
  return total;
}

FaultyFs::Decision FaultyFs::check(FaultOp op, const std::filesystem::path& path) {
  (void)path;
  std::lock_guard<std::mutex> lock(mutex_);
  counts_[op_slot(op)]++;
  if (!plan_ || (plan_->ops & static_cast<std::uint32_t>(op)) == 0) return {};
  if (dead_) {
    ++fired_;
    return {true, plan_->err, 0};
  }
  if (plan_->countdown > 1) {
    --plan_->countdown;
    return {};
  }
  ++fired_;
  Decision d{true, plan_->err, plan_->torn_append_bytes};
  if (plan_->sticky) {
    dead_ = true;
  } else {
    plan_.reset();
  }
  return d;
}

Result<std::shared_ptr<File>> FaultyFs::open(const std::filesystem::path& path, OpenMode mode) {
  auto d = check(FaultOp::open, path);
  if (d.fail) return Error::from_errno(d.err, fmt::format("open {}", path.string()));
  auto file = base_.open(path, mode);
  if (!file) return file.error();
  return std::shared_ptr<File>(std::make_shared<FaultyFile>(*this, std::move(*file)));
}

Status FaultyFs::create_directories(const std::filesystem::path& path) {
  auto d = check(FaultOp::directory, path);
  if (d.fail) return Error::from_errno(d.err, fmt::format("mkdir {}", path.string()));
  return base_.create_directories(path);
}

Result<std::vector<std::string>> FaultyFs::list_directory(const std::filesystem::path& path) {
  auto d = check(FaultOp::directory, path);
  if (d.fail) return Error::from_errno(d.err, fmt::format("opendir {}", path.string()));
  return base_.list_directory(path);
}

// entry_type is a stat: never failed, not counted.
Result<EntryType> FaultyFs::entry_type(const std::filesystem::path& path) {
  return base_.entry_type(path);
}

Status FaultyFs::remove(const std::filesystem::path& path) {
  auto d = check(FaultOp::directory, path);
  if (d.fail) return Error::from_errno(d.err, fmt::format("remove {}", path.string()));
  return base_.remove(path);
}

Status FaultyFs::rename(const std::filesystem::path& source, const std::filesystem::path& target) {
  auto d = check(FaultOp::directory, source);
  if (d.fail) return Error::from_errno(d.err, fmt::format("rename {}", source.string()));
  return base_.rename(source, target);
}

Status FaultyFs::sync_directory(const std::filesystem::path& path) {
  auto d = check(FaultOp::directory, path);
  if (d.fail) return Error::from_errno(d.err, fmt::format("fsync {}", path.string()));
  return base_.sync_directory(path);
}

}  // namespace spate::storage
