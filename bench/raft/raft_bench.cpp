// SPDX-License-Identifier: Apache-2.0
//
// The algorithm's own cost: entries committed per second through a 3-node
// in-memory cluster (no network, no disk: every message delivered at once,
// every Ready persisted to an in-memory log). Proposals come in batches, as
// a partition leader sees them under load. Target: >= 1,000,000 entries/s.

#include <deque>

#include <benchmark/benchmark.h>

#include "sim/raft_sim.h"

namespace {

using namespace spate;        // NOLINT(google-build-using-namespace)
using namespace spate::raft;  // NOLINT(google-build-using-namespace)

class Bench {
 public:
  explicit Bench(int n) : logs_(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) {
      Config c;
      c.id = NodeId(i);
      for (int k = 0; k < n; ++k) c.voters.emplace_back(k);
      c.max_append_bytes = 1U << 20U;
      c.max_inflight = 256;
      rngs_.push_back(std::make_unique<Rng>(static_cast<std::uint64_t>(i + 1)));
      replicas_.push_back(std::make_unique<Replica>(c, logs_[static_cast<std::size_t>(i)],
                                                    *rngs_.back(), HardState{}));
    }
    Message m;
    m.type = MessageType::timeout_now;
    m.from = NodeId(1);
    m.to = NodeId(0);
    (void)replicas_[0]->step(m);
    pump();
  }

  void pump() {
    for (int guard = 0; guard < 1'000'000; ++guard) {
      bool any = false;
      for (std::size_t i = 0; i < replicas_.size(); ++i) {
        auto& r = *replicas_[i];
        while (r.has_ready()) {
          any = true;
          Ready ready = r.ready();
          if (ready.truncate_from) logs_[i].truncate_from(*ready.truncate_from);
          logs_[i].append(ready.entries);
          for (auto& m : ready.messages) queue_.push_back(std::move(m));
          r.advance(ready);
        }
      }
      while (!queue_.empty()) {
        any = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        (void)replicas_[static_cast<std::size_t>(m.to.value())]->step(std::move(m));
      }
      if (!any) return;
    }
  }

  Replica& leader() { return *replicas_[0]; }

 private:
  std::vector<sim::MemLog> logs_;
  std::vector<std::unique_ptr<Rng>> rngs_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::deque<Message> queue_;
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
