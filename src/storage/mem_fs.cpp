// SPDX-License-Identifier: Apache-2.0
//
// MemFs: files and directories in memory, with a durability model that lets a
// test simulate power loss (see mem_fs.h).

#include "spate/storage/mem_fs.h"

#include <algorithm>

namespace spate::storage {

struct MemFs::Node {
  bool is_dir = false;
  std::vector<std::byte> data;     // what reads see now
  std::vector<std::byte> durable;  // what survives a crash
  bool name_durable = false;       // set by sync_directory(parent)
  std::shared_ptr<Node> replaced;  // the durable node a rename replaced, until synced
};

namespace {

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

std::string name_of(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

bool is_root(const std::string& path) { return path.empty() || path == "/"; }

Error crashed(const std::string& path) {
  return Error::io(fmt::format("{}: file handle from before a simulated crash", path));
}

}  // namespace

// A handle on a node. All access goes through the owning MemFs's mutex.
class MemFile final : public File {
 public:
  MemFile(MemFs& fs, std::mutex& mutex, const std::uint64_t& generation,
          std::shared_ptr<MemFs::Node> node, std::filesystem::path path)
      : mutex_(mutex),
        fs_generation_(generation),
        generation_(generation),
        node_(std::move(node)),
        path_(std::move(path)) {
    (void)fs;
  }

  Result<std::size_t> read_at(std::uint64_t position, std::span<std::byte> out) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_.string());
    const auto& data = node_->data;
    if (position >= data.size()) return std::size_t{0};
    const std::size_t n = std::min<std::size_t>(out.size(), data.size() - position);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(position), n, out.begin());
    return n;
  }

  Status append(std::span<const std::byte> bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_.string());
    node_->data.insert(node_->data.end(), bytes.begin(), bytes.end());
    return {};
  }

  Status truncate(std::uint64_t size_bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_.string());
    node_->data.resize(static_cast<std::size_t>(size_bytes));
    return {};
  }

  Status sync() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation_ != fs_generation_) return crashed(path_.string());
    node_->durable = node_->data;
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
  std::uint64_t generation_;
  std::shared_ptr<MemFs::Node> node_;
  std::filesystem::path path_;
};

MemFs::MemFs() = default;
MemFs::~MemFs() = default;

Result<std::shared_ptr<File>> MemFs::open(const std::filesystem::path& path, OpenMode mode) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  auto it = nodes_.find(key);
  if (it != nodes_.end()) {
    if (it->second->is_dir) return Error::io(fmt::format("open {}: is a directory", key));
    if (mode == OpenMode::create_exclusive) {
      return Error(Errc::already_exists, fmt::format("open {}: exists", key));
    }
    return std::shared_ptr<File>(
        std::make_shared<MemFile>(*this, mutex_, generation_, it->second, path));
  }
  if (mode == OpenMode::read_only || mode == OpenMode::read_write) {
    return Error::not_found(fmt::format("open {}: no such file", key));
  }
  const std::string parent = parent_of(key);
  if (!is_root(parent)) {
    auto p = nodes_.find(parent);
    if (p == nodes_.end() || !p->second->is_dir) {
      return Error::not_found(fmt::format("open {}: no such directory {}", key, parent));
    }
  }
  auto node = std::make_shared<Node>();
  nodes_[key] = node;
  return std::shared_ptr<File>(std::make_shared<MemFile>(*this, mutex_, generation_, node, path));
}

Status MemFs::create_directories(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string key = normalize(path);
  std::vector<std::string> chain;
  while (!is_root(key)) {
    chain.push_back(key);
    std::string parent = parent_of(key);
    if (parent == key) break;
    key = parent;
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto found = nodes_.find(*it);
    if (found == nodes_.end()) {
      auto node = std::make_shared<Node>();
      node->is_dir = true;
      nodes_[*it] = node;
    } else if (!found->second->is_dir) {
      return Error(Errc::already_exists, fmt::format("{} exists and is not a directory", *it));
    }
  }
  return {};
}

Result<std::vector<std::string>> MemFs::list_directory(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  if (!is_root(key)) {
    auto it = nodes_.find(key);
    if (it == nodes_.end()) return Error::not_found(fmt::format("opendir {}: no such", key));
    if (!it->second->is_dir) return Error::io(fmt::format("opendir {}: not a directory", key));
  }
  std::vector<std::string> names;
  for (const auto& [p, node] : nodes_) {
    if (p != key && parent_of(p) == key) names.push_back(name_of(p));
  }
  std::sort(names.begin(), names.end());
  return names;
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
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return Error::not_found(fmt::format("remove {}: no such entry", key));
  if (it->second->is_dir) {
    for (const auto& [p, node] : nodes_) {
      if (p != key && parent_of(p) == key) {
        return Error::io(fmt::format("remove {}: directory not empty", key));
      }
    }
  }
  nodes_.erase(it);
  return {};
}

Status MemFs::rename(const std::filesystem::path& source, const std::filesystem::path& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string from = normalize(source);
  const std::string to = normalize(target);
  auto it = nodes_.find(from);
  if (it == nodes_.end()) return Error::not_found(fmt::format("rename {}: no such entry", from));
  auto node = it->second;
  if (node->is_dir) {
    // Move the directory and everything below it.
    std::vector<std::pair<std::string, std::shared_ptr<Node>>> moved;
    for (auto i = nodes_.begin(); i != nodes_.end();) {
      if (i->first == from || i->first.starts_with(from + "/")) {
        moved.emplace_back(to + i->first.substr(from.size()), i->second);
        i = nodes_.erase(i);
      } else {
        ++i;
      }
    }
    for (auto& [p, n] : moved) nodes_[p] = n;
    node->name_durable = false;
    return {};
  }
  auto existing = nodes_.find(to);
  std::shared_ptr<Node> replaced;
  if (existing != nodes_.end()) {
    replaced = existing->second->name_durable ? existing->second : existing->second->replaced;
  }
  nodes_.erase(from);
  node->name_durable = false;
  node->replaced = replaced;
  nodes_[to] = node;
  return {};
}

Status MemFs::sync_directory(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalize(path);
  for (auto& [p, node] : nodes_) {
    if (p != key && parent_of(p) == key) {
      node->name_durable = true;
      node->replaced.reset();
    }
  }
  return {};
}

void MemFs::crash(const KeepUnsynced& keep_unsynced) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++generation_;
  std::map<std::string, std::shared_ptr<Node>> after;
  for (auto& [path, node] : nodes_) {
    std::shared_ptr<Node> survivor = node->name_durable ? node : node->replaced;
    if (!survivor) continue;
    const std::string parent = parent_of(path);
    if (!is_root(parent) && !after.contains(parent)) continue;  // its folder is gone
    if (!survivor->is_dir) {
      auto& data = survivor->data;
      const auto& durable = survivor->durable;
      std::vector<std::byte> kept = durable;
      if (survivor == node && data.size() > durable.size()) {
        const std::uint64_t unsynced = data.size() - durable.size();
        std::uint64_t keep = keep_unsynced ? keep_unsynced(path, unsynced) : 0;
        keep = std::min(keep, unsynced);
        kept.assign(data.begin(),
                    data.begin() + static_cast<std::ptrdiff_t>(durable.size() + keep));
      }
      survivor->data = kept;
      survivor->durable = std::move(kept);
    }
    survivor->name_durable = true;
    survivor->replaced.reset();
    after[path] = survivor;
  }
  nodes_ = std::move(after);
}

Result<std::vector<std::byte>> MemFs::contents(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = nodes_.find(normalize(path));
  if (it == nodes_.end() || it->second->is_dir) {
    return Error::not_found(fmt::format("{}: no such file", path.string()));
  }
  return it->second->data;
}

Status MemFs::corrupt(const std::filesystem::path& path, std::uint64_t position,
                      std::span<const std::byte> bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = nodes_.find(normalize(path));
  if (it == nodes_.end() || it->second->is_dir) {
    return Error::not_found(fmt::format("{}: no such file", path.string()));
  }
  for (auto* data : {&it->second->data, &it->second->durable}) {
    const auto end = static_cast<std::size_t>(position) + bytes.size();
    if (data->size() < end) data->resize(end);
    std::copy(bytes.begin(), bytes.end(), data->begin() + static_cast<std::ptrdiff_t>(position));
  }
  return {};
}

Status MemFs::set_size_durable(const std::filesystem::path& path, std::uint64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = nodes_.find(normalize(path));
  if (it == nodes_.end() || it->second->is_dir) {
    return Error::not_found(fmt::format("{}: no such file", path.string()));
  }
  it->second->data.resize(static_cast<std::size_t>(size));
  it->second->durable = it->second->data;
  return {};
}

}  // namespace spate::storage
