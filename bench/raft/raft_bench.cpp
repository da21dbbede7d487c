// SPDX-License-Identifier: Apache-2.0
//
// The algorithm's own cost: entries committed per second through a 3-node
// in-memory cluster (no network, no disk: every message delivered at once,
// every Ready persisted to an in-memory log by the tests' one driver,
// tests/raft/sim/driver.h). Proposals come in batches, as a partition leader
// sees them under load. Target: >= 1,000,000 entries/s.

#include <benchmark/benchmark.h>

#include "sim/driver.h"

namespace {

using namespace spate;        // NOLINT(google-build-using-namespace)
using namespace spate::raft;  // NOLINT(google-build-using-namespace)

class Bench {
 public:
  explicit Bench(int n) : nodes_(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) {
      Config c;
      c.id = NodeId(i);
      for (int k = 0; k < n; ++k) c.voters.emplace_back(k);
      c.max_append_bytes = 1U << 20U;
      c.max_inflight = 256;
      auto& node = nodes_[static_cast<std::size_t>(i)];
      node.id = c.id;
      node.rng = std::make_unique<Rng>(static_cast<std::uint64_t>(i + 1));
      node.start(c);
    }
    Message m;
    m.type = MessageType::timeout_now;
    m.from = NodeId(1);
    m.to = NodeId(0);
    (void)nodes_[0].replica->step(m);
    pump();
  }

  void pump() {
    auto& queue = mailbox_.queue;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      bool any = false;
      for (auto& node : nodes_) any = sim::drain(node, mailbox_) > 0 || any;
      while (!queue.empty()) {
        any = true;
        Message m = std::move(queue.front());
        queue.pop_front();
        (void)nodes_[static_cast<std::size_t>(m.to.value())].replica->step(std::move(m));
      }
      if (!any) return;
    }
  }

  Replica& leader() { return *nodes_[0].replica; }

 private:
  std::vector<sim::Node> nodes_;
  sim::Mailbox mailbox_;
};

void BM_CommitThreeNodes(benchmark::State& state) {
  const auto batch = static_cast<int>(state.range(0));
  const std::vector<std::byte> payload(16, std::byte{'x'});
  std::int64_t committed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Bench cluster(3);
    state.ResumeTiming();
    for (int round = 0; round < 200; ++round) {
      for (int i = 0; i < batch; ++i) (void)cluster.leader().propose(payload);
      cluster.pump();
    }
    committed += cluster.leader().commit();
    benchmark::DoNotOptimize(committed);
  }
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(committed), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitThreeNodes)->Arg(1)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
