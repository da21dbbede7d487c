// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: Broker::handle end to end, on a real data directory (the
// handlers, the partition manager, the group coordinator and the storage
// behind the decoder).
//
// An input is a sequence of request frames, each with its 4-byte size prefix
// (so every single-frame seed of request_fuzz is a seed here too), handled in
// order by one broker whose state lives on across inputs. Every request must
// end (no request may wait: waits are capped at 0 ms here) without a crash,
// a sanitizer report or an assertion, and every response must re-decode as
// the response of its API and version, as a client would read it.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <unistd.h>
#include <vector>

#include "spate/broker/broker.h"
#include "spate/cluster/disk_thread.h"
#include "spate/cluster/partition_manager.h"
#include "spate/common/asio.h"
#include "spate/common/clock.h"
#include "spate/common/log.h"
#include "spate/groups/coordinator.h"
#include "spate/protocol/api_key.h"
#include "spate/protocol/frame.h"
#include "spate/protocol/requests.h"
#include "spate/storage/data_dir.h"

namespace {

using namespace spate;  // NOLINT(google-build-using-namespace)

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "broker_fuzz: %s\n", what);
  std::abort();
}

struct World {
  World() {
    log::set_level(spdlog::level::off);
    // /dev/shm when there is one: fsyncs cost nothing there.
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/spate-broker-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) finding("mkdtemp failed");
    root = pattern;
    fs = storage::make_posix_fs();
    auto d = storage::DataDir::open(*fs, root / "data", {0, "fuzz-cluster"});
    if (!d) finding("cannot open the data directory");
    dir = std::move(*d);
    storage::LogConfig defaults;
    defaults.segment_bytes_max = 64U << 10U;  // many segments, many rolls
    defaults.flush_policy = storage::FlushPolicy::none;
    auto m = cluster::PartitionManager::open(*fs, *dir, defaults, clock, io.get_executor(), disk);
    if (!m) finding("cannot open the partition manager");
    manager = std::move(*m);
    manager->set_limits({16, 64});
    broker::BrokerConfig config;
    config.cluster_id = "fuzz-cluster";
    config.request_wait_max_ms = 0;
    config.decode_limits.items_total_max = 2000;
    broker = std::make_unique<broker::Broker>(config, *manager, metrics, clock);
    start_coordinator();
  }

  // Group requests reach a real coordinator over __consumer_offsets; no join
  // or sync waits (rebalance and slack 0) and tick() runs after each request,
  // so groups still move through their states.
  void start_coordinator() {
    groups::CoordinatorConfig config;
    config.offsets_partitions = 2;
    config.groups_max = 64;
    config.member_bytes_max = 4U << 20U;
    config.offsets_bytes_max = 4U << 20U;
    config.rebalance_timeout_max_ms = 0;
    config.wait_slack_ms = 0;
    config.limits.members_max = 16;
    coordinator = std::make_unique<groups::Coordinator>(config, *manager, clock);
    std::optional<Status> started;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { started.emplace(co_await coordinator->start()); },
        asio::detached);
    for (int i = 0; i < 1000 && !started; ++i) io.run_one_for(std::chrono::milliseconds(10));
    if (!started || !*started) finding("the coordinator did not start");
    broker->set_coordinator(coordinator.get());
  }

  // Runs one request to its end; returns its response frame, if any.
  std::optional<broker::ResponseFrame> handle(std::vector<std::byte> frame) {
    std::optional<Result<std::optional<broker::ResponseFrame>>> out;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> { out.emplace(co_await broker->handle(std::move(frame), {})); },
        [](std::exception_ptr e) {
          if (e) finding("the handler threw");
        });
    io.restart();
    // Bounded: 10 s of 10 ms slices. Nothing waits (waits are capped at 0),
    // so only blocking work on the worker threads takes any time.
    for (int i = 0; i < 1000 && !out; ++i) io.run_one_for(std::chrono::milliseconds(10));
    if (!out) finding("a request did not finish within 10 s");
    coordinator->tick();
    io.restart();
    io.poll();  // what the tick answered
    if (!*out || !**out) return std::nullopt;
    return std::move(**out);
  }

  std::filesystem::path root;
  asio::io_context io{1};
  cluster::DiskThread disk;
  SystemClock clock;
  std::unique_ptr<storage::Filesystem> fs;
  std::unique_ptr<storage::DataDir> dir;
  std::unique_ptr<cluster::PartitionManager> manager;
  broker::Metrics metrics;
  std::unique_ptr<broker::Broker> broker;
  std::unique_ptr<groups::Coordinator> coordinator;
};

World* g_world = nullptr;

World& world() {
  if (g_world == nullptr) {
    g_world = new World();  // never destroyed: libFuzzer exits without unwinding
    // The data directory goes with the process (libFuzzer exits through exit()).
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(g_world->root, ec);
    });
  }
  return *g_world;
}

void check_response(const protocol::RequestHeader& request, const broker::ResponseFrame& frame) {
  auto flat = frame.flatten();
  if (!flat) return;  // a file region that vanished (a deleted segment): not a finding
  std::span<const std::byte> bytes = *flat;
  if (bytes.size() < protocol::kFrameSizeBytes + 4) finding("response shorter than a header");
  const auto size = load_be<std::int32_t>(bytes.data());
  if (size < 0 || static_cast<std::size_t>(size) != bytes.size() - protocol::kFrameSizeBytes) {
    finding("response size prefix does not match its bytes");
  }
  if (load_be<std::int32_t>(bytes.data() + 4) != request.correlation_id) {
    finding("response carries the wrong correlation id");
  }
  std::size_t body = protocol::kFrameSizeBytes + 4;
  const auto api = protocol::api_info(request.request_api_key);
  if (!api) finding("a response to an unknown API");
  std::int16_t version = request.request_api_version;
  if (api->key == protocol::ApiKey::api_versions &&
      (version < api->min_version || version > api->max_version)) {
    version = 0;  // KIP-511: the error answer is v0
  }
  if (protocol::response_header_version(*api, version) >= 1) {
    if (bytes.size() <= body || bytes[body] != std::byte{0}) finding("response header tags");
    ++body;
  }
  auto decoded =
      protocol::decode_response_body(request.request_api_key, version, bytes.subspan(body));
  if (!decoded) {
    std::fprintf(stderr, "broker_fuzz: API %d v%d: %s\n", request.request_api_key, version,
                 decoded.error().message().c_str());
    finding("a response does not decode");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = std::as_bytes(std::span<const std::uint8_t>(data, size));
  World& w = world();
  // Bounded by the input: each pass consumes a size prefix and its frame.
  for (int n = 0; n < 16 && input.size() >= protocol::kFrameSizeBytes; ++n) {
    auto frame_size =
        protocol::decode_frame_size(input.first<protocol::kFrameSizeBytes>(), 1U << 20U);
    if (!frame_size) return 0;
    input = input.subspan(protocol::kFrameSizeBytes);
    const std::size_t take = std::min<std::size_t>(*frame_size, input.size());
    std::vector<std::byte> frame(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(take));
    input = input.subspan(take);
    auto header = protocol::decode_request_header(frame);
    auto response = w.handle(std::move(frame));
    if (response) {
      if (!header) finding("a response to a request whose header does not decode");
      check_response(header->header, *response);
    }
  }
  return 0;
}
