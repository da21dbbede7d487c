// SPDX-License-Identifier: Apache-2.0
//
// The compaction swap and its recovery (docs/storage-format.md §Compaction):
// the cleaner state file, the swap manifest, and the steps that replace old
// segments by a cleaned one so that a crash at any step leaves either the old
// segments or the new one.

#include <algorithm>

#include "spate/common/bytes.h"
#include "spate/common/log.h"
#include "spate/storage/envelope.h"
#include "spate/storage/partition_log.h"

#include "log_cleaner_task.h"
#include "log_files.h"
#include "segment.h"

namespace spate::storage {
namespace {

constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kStateBytesMax = std::size_t{16} << 20U;
constexpr std::uint32_t kCleanedAtMax = 1U << 20U;

std::filesystem::path cleaned_path(const std::filesystem::path& dir, Offset base,
                                   const char* suffix) {
  return dir / (segment_file_name(base, suffix) + kCleanedSuffix);
}

Status remove_if_present(Filesystem& fs, const std::filesystem::path& path) {
  auto s = fs.remove(path);
  if (!s && s.error().code() != Errc::not_found) return s;
  return {};
}

}  // namespace

std::optional<std::int64_t> CleanerState::cleaned_at_ms(Offset base) const {
  for (const auto& c : cleaned_at) {
    if (c.base == base.value()) return c.at_ms;
  }
  return std::nullopt;
}

void CleanerState::note_swap(Offset base, Offset end, std::int64_t at_ms) {
  std::erase_if(cleaned_at,
                [&](const CleanedAt& c) { return c.base >= base.value() && c.base < end.value(); });
  cleaned_at.push_back({base.value(), at_ms});
  std::sort(cleaned_at.begin(), cleaned_at.end(),
            [](const CleanedAt& a, const CleanedAt& b) { return a.base < b.base; });
  clean_point = std::max(clean_point, end);
}

Status write_cleaner_state(Filesystem& fs, const std::filesystem::path& dir,
                           const CleanerState& state) {
  ByteWriter body(16 + state.cleaned_at.size() * 16);
  body.write<std::uint16_t>(0);  // reserved
  body.write<std::int64_t>(state.clean_point.value());
  body.write<std::uint32_t>(static_cast<std::uint32_t>(state.cleaned_at.size()));
  for (const auto& c : state.cleaned_at) {
    body.write<std::int64_t>(c.base);
    body.write<std::int64_t>(c.at_ms);
  }
  return write_envelope(fs, dir / kCleanerStateFile, kCleanerStateMagic, kVersion, body.view());
}

Result<CleanerState> read_cleaner_state(Filesystem& fs, const std::filesystem::path& dir) {
  auto file =
      read_envelope(fs, dir / kCleanerStateFile, kCleanerStateMagic, kVersion, kStateBytesMax);
  if (!file) {
    if (file.error().code() == Errc::unsupported_version) {
      return Error::corrupt(file.error().detail());
    }
    return file.error();
  }
  auto bad = [&](std::string_view why) {
    return Error::corrupt(fmt::format("{}: {}", (dir / kCleanerStateFile).string(), why));
  };
  ByteReader in(file->body);
  auto reserved = in.read<std::uint16_t>();
  auto point = in.read<std::int64_t>();
  auto count = in.read<std::uint32_t>();
  if (!reserved || !point || !count || *point < 0) return bad("bad header");
  if (*count > kCleanedAtMax || in.remaining() != std::size_t{*count} * 16) {
    return bad(fmt::format("{} entries in {} bytes", *count, in.remaining()));
  }
  CleanerState state;
  state.clean_point = Offset(*point);
  for (std::uint32_t i = 0; i < *count; ++i) {
    CleanerState::CleanedAt c;
    c.base = *in.read<std::int64_t>();  // in bounds: checked above
    c.at_ms = *in.read<std::int64_t>();
    state.cleaned_at.push_back(c);
  }
  return state;
}

Status write_swap_manifest(Filesystem& fs, const std::filesystem::path& dir,
                           const SwapManifest& manifest, bool* replaced) {
  ByteWriter body(26);
  body.write<std::uint16_t>(0);  // reserved
  body.write<std::int64_t>(manifest.base.value());
  body.write<std::int64_t>(manifest.end.value());
  body.write<std::int64_t>(manifest.cleaned_at_ms);
  return write_envelope(fs, dir / kSwapManifestFile, kSwapManifestMagic, kVersion, body.view(),
                        replaced);
}

Result<SwapManifest> read_swap_manifest(Filesystem& fs, const std::filesystem::path& dir) {
  auto file = read_envelope(fs, dir / kSwapManifestFile, kSwapManifestMagic, kVersion, 1024);
  if (!file) {
    if (file.error().code() == Errc::unsupported_version) {
      return Error::corrupt(file.error().detail());
    }
    return file.error();
  }
  if (file->body.size() != 26) {
    return Error::corrupt(
        fmt::format("{}: {} body bytes", (dir / kSwapManifestFile).string(), file->body.size()));
  }
  SwapManifest m;
  m.base = Offset(load_be<std::int64_t>(file->body.data() + 2));
  m.end = Offset(load_be<std::int64_t>(file->body.data() + 10));
  m.cleaned_at_ms = load_be<std::int64_t>(file->body.data() + 18);
  if (m.base.value() < 0 || m.end <= m.base) {
    return Error::corrupt(
        fmt::format("{}: range [{}, {})", (dir / kSwapManifestFile).string(), m.base, m.end));
  }
  return m;
}

Status apply_swap(Filesystem& fs, const std::filesystem::path& dir, const SwapManifest& manifest,
                  CleanerState& state) {
  // The clean point first: from here on the new segment's gaps are expected.
  CleanerState next = state;
  next.note_swap(manifest.base, manifest.end, manifest.cleaned_at_ms);
  if (auto s = write_cleaner_state(fs, dir, next); !s) return s;
  state = std::move(next);
  auto entry = fs.entry_type(cleaned_path(dir, manifest.base, kLogSuffix));
  if (!entry) return entry.error();
  if (*entry == EntryType::file) {
    // The old segments of the group, while the cleaned .log is not in place.
    auto names = fs.list_directory(dir);
    if (!names) return names.error();
    for (const auto& name : *names) {
      for (const char* suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix}) {
        auto base = parse_segment_file_name(name, suffix);
        if (base && *base >= manifest.base && *base < manifest.end) {
          if (auto s = fs.remove(dir / name); !s) return s;
        }
      }
    }
  }
  // Indexes first, the .log last: a missing cleaned .log means all is renamed.
  for (const char* suffix : {kIndexSuffix, kTimeIndexSuffix, kLogSuffix}) {
    const auto from = cleaned_path(dir, manifest.base, suffix);
    auto type = fs.entry_type(from);
    if (!type) return type.error();
    if (*type != EntryType::file) continue;
    if (auto s = fs.rename(from, dir / segment_file_name(manifest.base, suffix)); !s) return s;
  }
  if (auto s = fs.sync_directory(dir); !s) return s;
  if (auto s = remove_if_present(fs, dir / kSwapManifestFile); !s) return s;
  return fs.sync_directory(dir);
}

Status PartitionLog::recover_clean() {
  auto state = read_cleaner_state(fs_, dir_);
  if (state) {
    cleaner_ = std::make_unique<CleanerState>(std::move(*state));
  } else if (state.error().code() == Errc::not_found) {
    cleaner_ = std::make_unique<CleanerState>();
  } else {
    // Below the clean point batches have gaps; guessing it could cut a log.
    return state.error();
  }
  auto manifest = read_swap_manifest(fs_, dir_);
  if (manifest) {
    log::get(log::Module::storage)
        ->warn("[{}] finishing an interrupted compaction swap of [{}, {})", name_, manifest->base,
               manifest->end);
    if (auto s = apply_swap(fs_, dir_, *manifest, *cleaner_); !s) return s;
  } else if (manifest.error().code() != Errc::not_found) {
    return manifest.error();  // a damaged manifest: its write_file_atomic never half-writes
  }
  // Cleaned files without a manifest: a pass that crashed before its commit
  // point; the old segments are whole.
  auto names = fs_.list_directory(dir_);
  if (!names) return names.error();
  bool removed = false;
  for (const auto& name : *names) {
    if (!name.ends_with(kCleanedSuffix)) continue;
    if (auto s = fs_.remove(dir_ / name); !s) return s;
    removed = true;
  }
  if (removed) {
    if (auto s = fs_.sync_directory(dir_); !s) return s;
  }
  clean_point_ = cleaner_->clean_point;
  return {};
}

}  // namespace spate::storage
