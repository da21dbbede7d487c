// SPDX-License-Identifier: Apache-2.0
//
// FaultyFs: a Filesystem decorator that fails chosen calls with EIO/ENOSPC and
// tears appends, for crash and error-path tests.

#include "spate/storage/faulty_fs.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <string_view>
#include <utility>

namespace spate::storage {
namespace {

constexpr std::size_t kOpKinds = 7;  // the single bits of FaultOp

std::size_t op_slot(FaultOp op) {
  const auto bits = static_cast<std::uint32_t>(op);
  SPATE_ASSERT(std::has_single_bit(bits), "check() takes one FaultOp, not the mask {:#x}", bits);
  const auto slot = static_cast<std::size_t>(std::countr_zero(bits));
  SPATE_ASSERT(slot < kOpKinds, "unknown FaultOp {:#x}", bits);
  return slot;
}

Error injected(int err, std::string_view call, const std::filesystem::path& path) {
  return Error::from_errno(err, fmt::format("{} {} (injected)", call, path.string()));
}

// Routes every read/append/truncate/sync through FaultyFs::check().
class FaultyFile final : public File {
 public:
  FaultyFile(FaultyFs& fs, std::shared_ptr<File> base) : fs_(fs), base_(std::move(base)) {}

  Result<std::size_t> read_at(std::uint64_t position, std::span<std::byte> out) const override {
    if (auto d = fs_.check(FaultOp::read, path()); d.fail) return injected(d.err, "pread", path());
    return base_->read_at(position, out);
  }

  Status append(std::span<const std::byte> data) override {
    auto d = fs_.check(FaultOp::append, path());
    if (!d.fail) return base_->append(data);
    // A torn write: a prefix reaches the file, then the call fails.
    const auto torn = static_cast<std::size_t>(std::min<std::uint64_t>(d.torn_bytes, data.size()));
    if (torn > 0) (void)base_->append(data.first(torn));
    return injected(d.err, "pwrite", path());
  }

  Status truncate(std::uint64_t size_bytes) override {
    if (auto d = fs_.check(FaultOp::truncate, path()); d.fail) {
      return injected(d.err, "ftruncate", path());
    }
    return base_->truncate(size_bytes);
  }

  Result<bool> preallocate(std::uint64_t size_bytes) override {
    if (auto d = fs_.check(FaultOp::preallocate, path()); d.fail) {
      return injected(d.err, "fallocate", path());
    }
    return base_->preallocate(size_bytes);
  }

  Status sync() override {
    if (auto d = fs_.check(FaultOp::sync, path()); d.fail) {
      return injected(d.err, "fdatasync", path());
    }
    return base_->sync();
  }

  std::uint64_t size() const override { return base_->size(); }
  int native_handle() const override { return base_->native_handle(); }
  std::optional<std::int64_t> modified_ms() const override { return base_->modified_ms(); }
  const std::filesystem::path& path() const override { return base_->path(); }

 private:
  FaultyFs& fs_;
  const std::shared_ptr<File> base_;
};

}  // namespace

FaultyFs::FaultyFs(Filesystem& base) : base_(base) {}
FaultyFs::~FaultyFs() = default;

void FaultyFs::inject(const FaultPlan& plan) {
  SPATE_ASSERT(plan.err > 0, "a fault needs an errno, not {}", plan.err);
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

std::vector<FaultyFs::Fired> FaultyFs::take_fired() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Fired> out;
  out.swap(fired_log_);
  return out;
}

std::uint64_t FaultyFs::calls(std::uint32_t ops) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kOpKinds; ++i) {
    if ((ops & (1U << i)) != 0) total += counts_[i];
  }
  return total;
}

// Every call counts, plan or not. With a plan, the matching calls count down
// (a countdown of 0 behaves as 1); the one that reaches it fails, and with
// `sticky` so does every matching call after it, until inject() or clear().
// A one-shot plan is spent once it fires.
FaultyFs::Decision FaultyFs::check(FaultOp op, const std::filesystem::path& path) {
  // The plan does not select by path (yet); the path is recorded.
  const std::size_t slot = op_slot(op);
  std::lock_guard<std::mutex> lock(mutex_);
  counts_[slot]++;
  std::filesystem::path previous = std::exchange(last_path_, path);
  if (!plan_ || (plan_->ops & static_cast<std::uint32_t>(op)) == 0) return {};
  auto record = [&] {
    if (fired_log_.size() < 16) fired_log_.push_back({op, path, std::move(previous), plan_->err});
  };
  if (dead_) {
    ++fired_;
    record();
    return {.fail = true, .err = plan_->err, .torn_bytes = 0};  // a dead disk writes nothing
  }
  if (plan_->countdown > 1) {
    --plan_->countdown;
    return {};
  }
  ++fired_;
  record();
  const Decision d{.fail = true, .err = plan_->err, .torn_bytes = plan_->torn_append_bytes};
  if (plan_->sticky) {
    dead_ = true;
  } else {
    plan_.reset();
  }
  return d;
}

Result<std::shared_ptr<File>> FaultyFs::open(const std::filesystem::path& path, OpenMode mode) {
  if (auto d = check(FaultOp::open, path); d.fail) return injected(d.err, "open", path);
  auto file = base_.open(path, mode);
  if (!file) return file.error();
  return std::shared_ptr<File>(std::make_shared<FaultyFile>(*this, std::move(*file)));
}

Status FaultyFs::create_directories(const std::filesystem::path& path) {
  if (auto d = check(FaultOp::directory, path); d.fail) return injected(d.err, "mkdir", path);
  return base_.create_directories(path);
}

Result<std::vector<std::string>> FaultyFs::list_directory(const std::filesystem::path& path) {
  if (auto d = check(FaultOp::directory, path); d.fail) return injected(d.err, "opendir", path);
  return base_.list_directory(path);
}

// entry_type is a stat: it is neither counted nor ever failed, so that a
// sweep's call numbering does not depend on how often code looks before acting.
Result<EntryType> FaultyFs::entry_type(const std::filesystem::path& path) {
  return base_.entry_type(path);
}

Status FaultyFs::remove(const std::filesystem::path& path) {
  if (auto d = check(FaultOp::directory, path); d.fail) return injected(d.err, "unlink", path);
  return base_.remove(path);
}

Status FaultyFs::rename(const std::filesystem::path& source, const std::filesystem::path& target) {
  if (auto d = check(FaultOp::directory, source); d.fail) {
    return Error::from_errno(
        d.err, fmt::format("rename {} {} (injected)", source.string(), target.string()));
  }
  return base_.rename(source, target);
}

Status FaultyFs::sync_directory(const std::filesystem::path& path) {
  if (auto d = check(FaultOp::directory, path); d.fail) return injected(d.err, "fsync", path);
  return base_.sync_directory(path);
}

}  // namespace spate::storage
