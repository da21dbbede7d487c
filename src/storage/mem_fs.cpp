// SPDX-License-Identifier: Apache-2.0
//
// MemFs: files and directories in memory, with a durability model that lets a
// test simulate power loss (see mem_fs.h). One mutex guards everything.

#include "spate/storage/mem_fs.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "spate/common/assert.h"

namespace spate::storage {

// A file or a directory. Durable bytes are kept as a size while they are a
// prefix of `data` (appends only since the last sync: sync() is O(1)), and as
// a copy once they are not (a truncation below them, or corrupt() past them).
struct MemFs::Node {
  bool is_dir = false;
  std::vector<std::byte> data;  // what reads see now
  std::uint64_t durable_size = 0;
  std::optional<std::vector<std::byte>> durable_copy;
  bool name_durable = false;       // set by sync_directory(parent)
  std::uint64_t reserved = 0;      // preallocate()d, past `data` it reads as nothing
  std::shared_ptr<Node> replaced;  // the durable node a rename replaced, until synced

  [[nodiscard]] std::span<const std::byte> durable() const {
    if (durable_copy) return *durable_copy;
    SPATE_ASSERT(durable_size <= data.size(), "durable prefix {} past the data {}", durable_size,
                 data.size());
    return std::span<const std::byte>(data).first(static_cast<std::size_t>(durable_size));
  }

  void keep_durable_copy() {
    if (!durable_copy) durable_copy.emplace(durable().begin(), durable().end());
  }

  void truncate(std::uint64_t size) {
    if (size < durable_size) keep_durable_copy();
    data.resize(static_cast<std::size_t>(size));
    reserved = 0;  // what lay past the new size is given back
  }

  void sync() {
    durable_copy.reset();
    durable_size = data.size();
  }

  // Power loss: see the crash() comment in mem_fs.h.
  void crash(const std::string& path, const KeepUnsynced& keep_unsynced) {
    const std::size_t durable_bytes = durable().size();
    if (data.size() > durable_bytes) {
      const std::uint64_t unsynced = data.size() - durable_bytes;
      std::uint64_t keep = keep_unsynced ? keep_unsynced(path, unsynced) : 0;
      keep = std::min(keep, unsynced);
      data.resize(durable_bytes + static_cast<std::size_t>(keep));
    } else if (durable_copy) {
      data = std::move(*durable_copy);
    }
    sync();
  }
};

namespace {

// Far beyond any test's needs, and far below vector::max_size(): a size past
// it is an EFBIG error, never a length_error thrown from a resize.
constexpr std::uint64_t kFileBytesMax = std::uint64_t{1} << 34U;

std::string normalize(const std::filesystem::path& path) {
  std::string s = path.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s == ".") s.clear();
  return s;
}

std::string parent_of(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  if (parent == path) return path;  // "/" is its own parent
  return parent;
}

// "" (relative paths) and "/" are roots: always there, never created.
bool is_root(const std::string& path) { return path.empty() || path == "/"; }

// The prefix that every path below `dir` starts with.
std::string prefix_below(const std::string& dir) {
  if (dir.empty() || dir == "/") return dir;
  return dir + "/";
}

using NodeMap = std::map<std::string, std::shared_ptr<MemFs::Node>>;

// Calls f(path, node) for every entry below `dir`, or only the direct children.
template <typename F>
void for_each_below(const NodeMap& nodes, const std::string& dir, bool children_only, F&& f) {
  const std::string prefix = prefix_below(dir);
  for (auto it = nodes.lower_bound(prefix); it != nodes.end() && it->first.starts_with(prefix);
       ++it) {
    const std::string_view rest = std::string_view(it->first).substr(prefix.size());
    if (rest.empty()) continue;
    if (children_only && rest.find('/') != std::string_view::npos) continue;
    f(it->first, it->second);
  }
}

bool has_children(const NodeMap& nodes, const std::string& dir) {
  bool found = false;
  for_each_below(nodes, dir, true, [&](const std::string&, const auto&) { found = true; });
  return found;
}

Error fs_error(int err, std::string_view call, const std::string& path) {
  return Error::from_errno(err, fmt::format("{} {}", call, path));
}

// not_found if `dir` is missing, io_error if it is a file.
Status check_directory(const NodeMap& nodes, const std::string& dir, std::string_view call) {
  if (is_root(dir)) return {};
  auto it = nodes.find(dir);
  if (it == nodes.end()) return fs_error(ENOENT, call, dir);
  if (!it->second->is_dir) return fs_error(ENOTDIR, call, dir);
  return {};
}

Error crashed(const std::filesystem::path& path) {
  return Error::io(fmt::format("{}: file handle from before a simulated crash", path.string()));
}

// A handle on a node. All access goes through the owning MemFs's mutex.
class MemFile final : public File {
 public:
  MemFile(std::mutex& mutex, const std::uint64_t& fs_generation, std::shared_ptr<MemFs::Node> node,
          std::filesystem::path path, bool writable, std::size_t& open_files,
          const bool& preallocate_supported)
      : mutex_(mutex),
        fs_generation_(fs_generation),
        generation_(fs_generation),
        node_(std::move(node)),
        path_(std::move(path)),
        writable_(writable),
        open_files_(open_files),
        preallocate_supported_(preallocate_supported) {}
  ~MemFile() override {
    std::lock_guard<std::mutex> lock(mutex_);
    --open_files_;
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  Result<std::size_t> read_at(std::uint64_t position, std::span<std::byte> out) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_);
    const auto& data = node_->data;
    if (position >= data.size()) return std::size_t{0};
    const auto start = static_cast<std::size_t>(position);
    const std::size_t n = std::min(out.size(), data.size() - start);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(start), n, out.begin());
    return n;
  }

  Status append(std::span<const std::byte> bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_);
    if (!writable_) return fs_error(EBADF, "pwrite", path_.string());
    if (bytes.size() > kFileBytesMax - node_->data.size()) {
      return fs_error(EFBIG, "pwrite", path_.string());
    }
    node_->data.insert(node_->data.end(), bytes.begin(), bytes.end());
    return {};
  }

  Status truncate(std::uint64_t size_bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_);
    if (!writable_) return fs_error(EINVAL, "ftruncate", path_.string());  // what Linux says
    if (size_bytes > kFileBytesMax) return fs_error(EFBIG, "ftruncate", path_.string());
    node_->truncate(size_bytes);
    return {};
  }

  Result<bool> preallocate(std::uint64_t size_bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_);
    if (!writable_) return fs_error(EBADF, "fallocate", path_.string());
    if (size_bytes > kFileBytesMax) return fs_error(EFBIG, "fallocate", path_.string());
    if (!preallocate_supported_) return false;
    node_->reserved = std::max(node_->reserved, size_bytes);
    return true;
  }

  Status sync() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_);
    node_->sync();
    return {};
  }

  std::uint64_t size() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return node_->data.size();
  }

  const std::filesystem::path& path() const override { return path_; }

 private:
  std::mutex& mutex_;
  const std::uint64_t& fs_generation_;
  const std::uint64_t generation_;
  const std::shared_ptr<MemFs::Node> node_;
  const std::filesystem::path path_;
  const bool writable_;      // not opened OpenMode::read_only
  std::size_t& open_files_;  // the MemFs's count of live handles, under mutex_
  const bool& preallocate_supported_;
};

}  // namespace

MemFs::MemFs() = default;
MemFs::~MemFs() = default;

Result<std::shared_ptr<File>> MemFs::open(const std::filesystem::path& path, OpenMode mode) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  if (is_root(key)) return fs_error(EISDIR, "open", key);
  if (open_files_max_ != 0 && open_files_ >= open_files_max_) return fs_error(EMFILE, "open", key);
  std::shared_ptr<Node> node;
  if (auto it = nodes_.find(key); it != nodes_.end()) {
    if (mode == OpenMode::create_exclusive) return fs_error(EEXIST, "open", key);
    if (it->second->is_dir) return fs_error(EISDIR, "open", key);
    node = it->second;
  } else {
    if (mode == OpenMode::read_only || mode == OpenMode::read_write) {
      return fs_error(ENOENT, "open", key);
    }
    if (auto s = check_directory(nodes_, parent_of(key), "open"); !s) return s.error();
    node = std::make_shared<Node>();
    nodes_.emplace(key, node);
  }
  auto file =
      std::make_shared<MemFile>(mutex_, generation_, node, path, mode != OpenMode::read_only,
                                open_files_, preallocate_supported_);
  ++open_files_;
  open_files_peak_ = std::max(open_files_peak_, open_files_);
  return std::shared_ptr<File>(std::move(file));
}

std::size_t MemFs::open_files() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_files_;
}

std::size_t MemFs::open_files_peak() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_files_peak_;
}

Result<std::uint64_t> MemFs::allocated_bytes(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return fs_error(ENOENT, "allocated_bytes", key);
  return std::max<std::uint64_t>(it->second->data.size(), it->second->reserved);
}

void MemFs::set_preallocate_supported(bool supported) {
  std::lock_guard<std::mutex> lock(mutex_);
  preallocate_supported_ = supported;
}

void MemFs::set_open_files_max(std::size_t max) {
  std::lock_guard<std::mutex> lock(mutex_);
  open_files_max_ = max;
  open_files_peak_ = open_files_;
}

Status MemFs::create_directories(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> chain;  // the path, then its parents up to the root
  for (std::string key = normalize(path); !is_root(key); key = parent_of(key)) {
    chain.push_back(key);
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto found = nodes_.find(*it);
    if (found == nodes_.end()) {
      auto node = std::make_shared<Node>();
      node->is_dir = true;
      nodes_.emplace(*it, std::move(node));
    } else if (!found->second->is_dir) {
      // As mkdir -p: a file in the middle is ENOTDIR, at the end EEXIST.
      return fs_error(it + 1 == chain.rend() ? EEXIST : ENOTDIR, "mkdir", *it);
    }
  }
  return {};
}

Result<std::vector<std::string>> MemFs::list_directory(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  if (auto s = check_directory(nodes_, key, "opendir"); !s) return s.error();
  std::vector<std::string> names;
  const std::size_t skip = prefix_below(key).size();
  for_each_below(nodes_, key, true,
                 [&](const std::string& p, const auto&) { names.push_back(p.substr(skip)); });
  return names;  // sorted: the map is
}

Result<EntryType> MemFs::entry_type(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  if (is_root(key)) return EntryType::directory;
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return EntryType::none;
  return it->second->is_dir ? EntryType::directory : EntryType::file;
}

Status MemFs::remove(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  if (is_root(key)) return fs_error(EBUSY, "rmdir", key);
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return fs_error(ENOENT, "unlink", key);
  const auto node = it->second;
  if (node->is_dir && has_children(nodes_, key)) return fs_error(ENOTEMPTY, "rmdir", key);
  nodes_.erase(it);
  // Durable at once: the node does not come back under an older name either.
  std::erase_if(ghosts_, [&](const auto& ghost) { return ghost.second == node; });
  return {};
}

Status MemFs::rename(const std::filesystem::path& source, const std::filesystem::path& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string from = normalize(source);
  const std::string to = normalize(target);
  const std::string what = fmt::format("rename {} {}", from, to);
  if (is_root(from) || is_root(to)) return Error::from_errno(EBUSY, what);
  auto it = nodes_.find(from);
  if (it == nodes_.end()) return Error::from_errno(ENOENT, what);
  if (from == to) return {};
  if (auto s = check_directory(nodes_, parent_of(to), "rename"); !s) return s.error();
  const auto node = it->second;
  if (node->is_dir && to.starts_with(from + "/")) return Error::from_errno(EINVAL, what);
  std::shared_ptr<Node> replaced;
  if (auto existing = nodes_.find(to); existing != nodes_.end()) {
    const auto& old = existing->second;
    if (node->is_dir && !old->is_dir) return Error::from_errno(ENOTDIR, what);
    if (!node->is_dir && old->is_dir) return Error::from_errno(EISDIR, what);
    if (old->is_dir && has_children(nodes_, to)) return Error::from_errno(ENOTEMPTY, what);
    replaced = old->name_durable ? old : old->replaced;
    nodes_.erase(existing);
  }
  // Until a directory sync, a crash puts the entry back under its old name.
  if (auto ghost = node->name_durable ? node : node->replaced) {
    ghosts_.try_emplace(from, ghost);
    if (node->is_dir) {
      for_each_below(nodes_, from, false, [&](const std::string& p, const auto& n) {
        if (n->name_durable) ghosts_.try_emplace(p, n);
      });
    }
  }
  std::vector<std::pair<std::string, std::shared_ptr<Node>>> moved;
  moved.emplace_back(to, node);
  nodes_.erase(from);
  if (node->is_dir) {
    const std::string prefix = from + "/";
    for (auto i = nodes_.lower_bound(prefix); i != nodes_.end() && i->first.starts_with(prefix);) {
      moved.emplace_back(to + i->first.substr(from.size()), i->second);
      i = nodes_.erase(i);
    }
  }
  for (auto& [p, n] : moved) nodes_[p] = std::move(n);
  node->name_durable = false;  // the children keep theirs: they live in the moved directory
  node->replaced = std::move(replaced);
  return {};
}

Status MemFs::sync_directory(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  if (auto s = check_directory(nodes_, key, "fsync"); !s) return s.error();
  std::set<const Node*> now_durable;  // nodes whose new name became durable, with their subtrees
  for_each_below(nodes_, key, true, [&](const std::string& p, const std::shared_ptr<Node>& n) {
    if (n->name_durable && !n->replaced) return;
    n->name_durable = true;
    n->replaced.reset();
    now_durable.insert(n.get());
    if (n->is_dir) {
      for_each_below(nodes_, p, false, [&](const std::string&, const auto& below) {
        now_durable.insert(below.get());
      });
    }
  });
  // A rename is durable once either end is synced: drop the old names.
  std::erase_if(ghosts_, [&](const auto& ghost) {
    return parent_of(ghost.first) == key || now_durable.contains(ghost.second.get());
  });
  return {};
}

void MemFs::crash(const KeepUnsynced& keep_unsynced) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++generation_;
  NodeMap after;
  std::set<const Node*> placed;
  // Parents sort before their children, so one ordered pass sees them first.
  auto place = [&](const std::string& path, const std::shared_ptr<Node>& survivor) {
    if (!survivor || after.contains(path) || placed.contains(survivor.get())) return;
    const std::string parent = parent_of(path);
    if (!is_root(parent)) {
      auto p = after.find(parent);
      if (p == after.end() || !p->second->is_dir) return;  // its folder is gone
    }
    if (!survivor->is_dir) survivor->crash(path, keep_unsynced);
    survivor->name_durable = true;
    survivor->replaced.reset();
    after.emplace(path, survivor);
    placed.insert(survivor.get());
  };
  for (const auto& [path, node] : nodes_) place(path, node->name_durable ? node : node->replaced);
  // Then the old names of renames that were never synced.
  for (const auto& [path, node] : ghosts_) place(path, node);
  nodes_ = std::move(after);
  ghosts_.clear();
}

Result<std::vector<std::byte>> MemFs::contents(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return fs_error(ENOENT, "contents", key);
  if (it->second->is_dir) return fs_error(EISDIR, "contents", key);
  return it->second->data;
}

Status MemFs::corrupt(const std::filesystem::path& path, std::uint64_t position,
                      std::span<const std::byte> bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return fs_error(ENOENT, "corrupt", key);
  Node& node = *it->second;
  if (node.is_dir) return fs_error(EISDIR, "corrupt", key);
  if (position > kFileBytesMax || bytes.size() > kFileBytesMax - position) {
    return Error::invalid(
        fmt::format("corrupt {} at {}: past the largest MemFs file", key, position));
  }
  const auto start = static_cast<std::size_t>(position);
  const std::size_t end = start + bytes.size();
  // While the durable bytes are data's prefix, writing inside them writes both.
  if (end > node.durable_size) node.keep_durable_copy();
  std::vector<std::byte>* targets[] = {&node.data,
                                       node.durable_copy ? &*node.durable_copy : nullptr};
  for (auto* target : targets) {
    if (target == nullptr) continue;
    if (target->size() < end) target->resize(end);
    std::copy(bytes.begin(), bytes.end(), target->begin() + static_cast<std::ptrdiff_t>(start));
  }
  if (node.durable_copy) node.durable_size = node.durable_copy->size();
  return {};
}

Status MemFs::set_size_durable(const std::filesystem::path& path, std::uint64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return fs_error(ENOENT, "set_size_durable", key);
  if (it->second->is_dir) return fs_error(EISDIR, "set_size_durable", key);
  if (size > kFileBytesMax) {
    return Error::invalid(fmt::format("set_size_durable {} to {}: too large", key, size));
  }
  it->second->truncate(size);
  it->second->sync();
  return {};
}

}  // namespace spate::storage
