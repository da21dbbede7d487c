// SPDX-License-Identifier: Apache-2.0
//
// Storage benchmarks on a real disk: PartitionLog append (no flush, group commit inline and on a
// disk thread), read and recovery, each beside a raw POSIX baseline measured in the same run on
// the same directory. How to run and read them: bench/README.md.

#include "storage_bench.h"

namespace spate_bench {
namespace {

// ---------------------------------------------------------------------------------------------
// Machine context and main().
// ---------------------------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string fs_type(const stdfs::path& dir) {
  struct statfs info {};
  if (::statfs(dir.c_str(), &info) != 0) return errno_text("statfs");
  const auto magic = static_cast<std::uint64_t>(info.f_type);
  struct Known {
    std::uint64_t magic;
    const char* name;
  };
  static constexpr Known kKnown[] = {
      {0xEF53, "ext4"},        {0x58465342, "xfs"}, {0x9123683E, "btrfs"}, {0x01021994, "tmpfs"},
      {0x794C7630, "overlay"}, {0x2FC12FC1, "zfs"}, {0x6969, "nfs"},       {0xF2F52010, "f2fs"},
  };
  for (const auto& known : kKnown) {
    if (known.magic == magic) return known.name;
  }
  return fmt::format("{:#x}", magic);
}

void add_context() {
  struct utsname uts {};
  if (::uname(&uts) == 0) {
    benchmark::AddCustomContext("kernel", std::string(uts.sysname) + " " + uts.release + " " +
                                              uts.version + " " + uts.machine);
  }
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("nproc", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("bench_dir", g_settings.dir.string());
  benchmark::AddCustomContext("bench_dir_fs", fs_type(g_settings.dir));
  benchmark::AddCustomContext("crc32c", spate::crc32c::has_hardware() ? "hardware" : "portable");
  benchmark::AddCustomContext("sizes", "append " + std::to_string(g_settings.append_bytes) +
                                           " B/iteration, logs " +
                                           std::to_string(g_settings.log_bytes) + " B" +
                                           (g_settings.smoke ? " (--smoke)" : ""));
  benchmark::AddCustomContext("batch", std::to_string(batch_template().size()) + " B (" +
                                           std::to_string(kRecordsPerBatch) + " records of " +
                                           std::to_string(kRecordValueBytes) + " B)");
}

// A fresh directory inside $SPATE_BENCH_DIR, else inside $TMPDIR or /var/tmp.
std::optional<stdfs::path> make_bench_dir() {
  stdfs::path parent = "/var/tmp";
  if (const char* env = std::getenv("SPATE_BENCH_DIR"); env != nullptr && *env != '\0') {
    parent = env;
  } else if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0') {
    parent = tmp;
  }
  std::error_code ec;
  stdfs::create_directories(parent, ec);
  std::string pattern = (parent / "spate-storage-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "cannot create a directory in %s: %s\n", parent.c_str(),
                 std::strerror(errno));
    return std::nullopt;
  }
  return stdfs::path(pattern);
}

}  // namespace
}  // namespace spate_bench

int main(int argc, char** argv) {
  using namespace spate_bench;  // NOLINT(google-build-using-namespace)
  // --smoke is ours; every other flag goes to Google Benchmark.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    char* arg = argv[i];  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
    if (std::string_view(arg) == "--smoke") {
      g_settings.smoke = true;
    } else {
      args.push_back(arg);
    }
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  if (g_settings.smoke) {
    g_settings.append_bytes = 8 * kMiB;
    g_settings.log_bytes = 8 * kMiB;
  }
  spate::log::set_level(spdlog::level::warn);  // rolls and opens log at info
  auto dir = make_bench_dir();
  if (!dir) return 1;
  g_settings.dir = *dir;
  add_context();
  benchmark::RunSpecifiedBenchmarks();
  g_fixtures.clear();
  remove_quietly(g_settings.dir);
  benchmark::Shutdown();
  return 0;
}