// SPDX-License-Identifier: Apache-2.0
//
// spate bench produce|consume: throughput and latency against a running
// broker, with a progress line each second (stderr) and a summary.

#include <atomic>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "spate/client/commands.h"
#include "spate/client/tools.h"
#include "spate/common/bytes.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/record_batch.h"

#include "common.h"
#include "group_member.h"
#include "json.h"

namespace spate::client {
namespace {

using protocol::ApiKey;
using SteadyClock = std::chrono::steady_clock;

Status ensure_topic(Client& client, const BenchOptions& b, std::int32_t partitions) {
  protocol::CreateTopicsRequest request;
  request.topics.push_back({b.topic, partitions, -1, {}, {}});
  auto r = client.call<protocol::CreateTopicsResponse>(ApiKey::create_topics, request);
  if (!r) return r.error();
  const auto code = r->topics.at(0).error_code;
  if (code != 0 && code != static_cast<std::int16_t>(protocol::ErrorCode::topic_already_exists)) {
    return Error::invalid(fmt::format("cannot create topic '{}': {}", b.topic, error_name(code)));
  }
  return {};
}

struct Totals {
  std::atomic<std::int64_t> records{0};
  std::atomic<std::int64_t> bytes{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::int64_t> latencies_us;  // guarded by mutex
  std::string error;                       // guarded by mutex

  // Keeps the first error and stops every worker.
  void fail(const std::string& why) {
    std::lock_guard lock(mutex);
    if (error.empty()) error = why;
    stop = true;
  }
};

// Prints a progress line every second until `totals.stop`.
void progress(Totals& totals, std::ostream& err, SteadyClock::time_point start, const char* what) {
  std::int64_t last_bytes = 0;
  auto next = start + std::chrono::seconds(1);
  while (!totals.stop) {
    std::this_thread::sleep_until(
        std::min(next, SteadyClock::now() + std::chrono::milliseconds(50)));
    if (SteadyClock::now() < next) continue;
    const auto bytes = totals.bytes.load();
    const auto elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
    err << fmt::format("[{:5.1f} s] {} {} records, {:.1f} MB/s now\n", elapsed, what,
                       totals.records.load(), static_cast<double>(bytes - last_bytes) / 1e6);
    last_bytes = bytes;
    next += std::chrono::seconds(1);
  }
}

int summary(const CommonOptions& c, Io io, const char* what, Totals& totals, double seconds,
            bool latency) {
  const auto records = totals.records.load();
  const auto bytes = totals.bytes.load();
  std::int64_t p50 = 0, p99 = 0, p999 = 0, max = 0;
  if (latency && !totals.latencies_us.empty()) {
    p50 = percentile(totals.latencies_us, 50);
    p99 = percentile(totals.latencies_us, 99);
    p999 = percentile(totals.latencies_us, 99.9);
    max = percentile(totals.latencies_us, 100);
  }
  const double rps = static_cast<double>(records) / seconds;
  const double mbps = static_cast<double>(bytes) / seconds / 1e6;
  if (c.format == Format::json) {
    // The precision of the text: seconds and latencies (ms) to three
    // decimals, MB/s to one, records/s a whole number.
    auto rounded = [](double v, double scale) { return std::round(v * scale) / scale; };
    Json out{{"bench", what},
             {"records", records},
             {"bytes", bytes},
             {"seconds", rounded(seconds, 1e3)},
             {"records_per_s", std::isfinite(rps) ? std::llround(rps) : 0},
             {"mb_per_s", rounded(mbps, 10)}};
    if (latency) {
      auto ms = [&](std::int64_t us) { return rounded(static_cast<double>(us) / 1e3, 1e3); };
      out["latency_ms"] = {
          {"p50", ms(p50)}, {"p99", ms(p99)}, {"p999", ms(p999)}, {"max", ms(max)}};
    }
    print_json(io.out, out);
  } else {
    io.out << fmt::format("{}: {} records, {:.1f} MB in {:.2f} s: {:.0f} records/s, {:.1f} MB/s\n",
                          what, records, static_cast<double>(bytes) / 1e6, seconds, rps, mbps);
    if (latency) {
      io.out << fmt::format(
          "latency (request sent to acknowledged): p50 {:.3f} ms, p99 {:.3f} ms, "
          "p999 {:.3f} ms, max {:.3f} ms\n",
          static_cast<double>(p50) / 1e3, static_cast<double>(p99) / 1e3,
          static_cast<double>(p999) / 1e3, static_cast<double>(max) / 1e3);
    }
  }
  return 0;
}

}  // namespace

namespace {

// What the produce workers share.
struct ProduceRun {
  const CommonOptions& c;
  const BenchOptions& b;
  Client& client;
  std::vector<Endpoint> leaders;  // by partition
  std::int16_t acks;
  std::int32_t partitions;
  std::size_t per_batch;  // records per request
  bool paced;             // --rate: one record per request, on a schedule
  SteadyClock::time_point start;
  SteadyClock::time_point end;
  std::vector<std::byte> value;
  Totals totals;
};

// One connection producing to one partition until --records or --seconds.
class ProduceWorker {
 public:
  ProduceWorker(ProduceRun& run, int index)
      : run_(run),
        partition_(index % run.partitions),
        rate_(run.paced ? run.b.rate / run.b.connections : 0) {}

  void operator()() {
    // To the partition's leader (a version the bootstrap broker speaks: the
    // cluster runs one version of spated).
    auto conn =
        Connection::open(run_.leaders[static_cast<std::size_t>(partition_)], run_.client.options());
    if (!conn) return run_.totals.fail(conn.error().detail());
    auto version = run_.client.version(ApiKey::produce);
    if (!version) return run_.totals.fail(version.error().detail());
    conn_ = conn->get();
    version_ = *version;
    if (!send_all()) return;
    while (!in_flight_.empty() && !run_.totals.stop) {
      if (!receive_one()) return;
    }
    std::lock_guard lock(run_.totals.mutex);
    run_.totals.latencies_us.insert(run_.totals.latencies_us.end(), latencies_.begin(),
                                    latencies_.end());
  }

 private:
  // Sends until the goal or the end, keeping up to --inflight requests (one
  // when paced) in flight. False after an error.
  bool send_all() {
    const std::int64_t goal = run_.b.records;
    const auto window = static_cast<std::size_t>(run_.paced ? 1 : run_.b.inflight);
    // Bounded by --records or --seconds.
    while (!run_.totals.stop) {
      const auto now = SteadyClock::now();
      if (goal > 0 ? run_.totals.records.load() +
                             static_cast<std::int64_t>(in_flight_.size() * run_.per_batch) >=
                         goal
                   : now >= run_.end) {
        break;
      }
      if (run_.paced) {
        const auto due =
            run_.start + std::chrono::duration_cast<SteadyClock::duration>(
                             std::chrono::duration<double>(static_cast<double>(sent_) / rate_));
        if (due > now) {
          if (!in_flight_.empty()) {
            if (!receive_one()) return false;
            continue;
          }
          std::this_thread::sleep_until(due);
        }
      }
      // The batch and the request stay allocated until the answers below are
      // read: freed before, each new batch faulted in fresh pages (a fifth
      // less throughput).
      protocol::BatchBuilder builder(wall_ms());
      for (std::size_t i = 0; i < run_.per_batch; ++i) builder.add_value(run_.value);
      protocol::ProduceRequest request;
      request.acks = run_.acks;
      request.timeout_ms = static_cast<std::int32_t>(run_.c.timeout.count());
      request.topic_data.push_back({run_.b.topic, {{partition_, builder.build()}}});
      const auto sent_at = SteadyClock::now();
      auto id = conn_->send(ApiKey::produce, version_, request);
      if (!id) {
        run_.totals.fail(id.error().detail());
        return false;
      }
      ++sent_;
      if (run_.acks == 0) {
        count_batch();
        continue;
      }
      in_flight_.emplace_back(*id, sent_at);
      while (in_flight_.size() >= window) {
        if (!receive_one()) return false;
      }
    }
    return true;
  }

  bool receive_one() {
    auto [id, at] = in_flight_.front();
    in_flight_.pop_front();
    auto r = conn_->receive<protocol::ProduceResponse>(id, ApiKey::produce, version_);
    if (!r) {
      run_.totals.fail(r.error().detail());
      return false;
    }
    if (r->responses.size() != 1 || r->responses[0].partition_responses.size() != 1) {
      run_.totals.fail("produce: an answer without the one partition asked for");
      return false;
    }
    const auto code = r->responses[0].partition_responses[0].error_code;
    if (code != 0) {
      run_.totals.fail(fmt::format("produce failed: {}", error_name(code)));
      return false;
    }
    latencies_.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - at).count());
    count_batch();
    return true;
  }

  void count_batch() {
    run_.totals.records += static_cast<std::int64_t>(run_.per_batch);
    run_.totals.bytes += static_cast<std::int64_t>(run_.per_batch * run_.b.record_size);
  }

  ProduceRun& run_;
  const std::int32_t partition_;
  const double rate_;
  Connection* conn_ = nullptr;
  std::int16_t version_ = 0;
  std::int64_t sent_ = 0;
  std::deque<std::pair<std::int32_t, SteadyClock::time_point>> in_flight_;
  std::vector<std::int64_t> latencies_;
};

}  // namespace

int bench_produce(const CommonOptions& c, const BenchOptions& b, Io io) {
  auto acks = parse_acks(b.acks);
  if (!acks) return usage_error(io, acks.error().detail());
  if (b.connections < 1 || b.record_size == 0 || b.inflight < 1) {
    return usage_error(io, "--connections, --record-size and --inflight must be positive");
  }
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  const std::int32_t partitions = b.partitions > 0 ? b.partitions : b.connections;
  if (auto s = ensure_topic(**client, b, partitions); !s) return fail(io, s.error().detail());
  auto topic = Leaders::open(**client, b.topic, false);
  if (!topic) return fail(io, topic.error().detail());
  auto leaders = leader_endpoints(**topic);
  if (!leaders) return fail(io, leaders.error().detail());
  const bool paced = b.rate > 0;
  const auto start = SteadyClock::now();
  ProduceRun run{c,
                 b,
                 **client,
                 std::move(*leaders),
                 *acks,
                 (*topic)->partitions(),
                 paced ? 1 : std::max<std::size_t>(1, b.batch_bytes / (b.record_size + 16)),
                 paced,
                 start,
                 start + std::chrono::duration_cast<SteadyClock::duration>(
                             std::chrono::duration<double>(b.seconds)),
                 std::vector<std::byte>(b.record_size, std::byte{'x'}),
                 {}};
  std::thread reporter([&] { progress(run.totals, io.err, start, "produced"); });
  std::vector<std::thread> workers;
  for (int i = 0; i < b.connections; ++i) workers.emplace_back(ProduceWorker(run, i));
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  run.totals.stop = true;
  reporter.join();
  if (!run.totals.error.empty()) return fail(io, run.totals.error);
  io.err << fmt::format(
      "bench produce: topic {} ({} partitions), {} B records, {} per request, "
      "acks {}, {} connection{}{}\n",
      b.topic, run.partitions, b.record_size, run.per_batch, b.acks, b.connections,
      b.connections == 1 ? "" : "s", paced ? fmt::format(", {:.0f} records/s", b.rate) : "");
  return summary(c, io, "produce", run.totals, seconds, *acks != 0);
}

namespace {

// What the consume workers share.
struct ConsumeRun {
  ConsumeRun(Client& c, const BenchOptions& options) : client(c), b(options) {}
  Client& client;
  const BenchOptions& b;
  std::int32_t n = 0;
  std::vector<Endpoint> leaders;  // by partition
  Endpoint coordinator;           // --group's
  std::vector<std::int64_t> starts;
  std::vector<std::int64_t> ends;
  Totals totals;
  int connections = 1;
  SteadyClock::time_point start = SteadyClock::now();
  // --group: members at the end of their partitions, and when the last
  // join (the group's last rebalance) finished, in ms from the start.
  std::atomic<int> done{0};
  std::atomic<std::int64_t> last_join_ms{0};
};

// One Fetch of the partitions of `position` below their end; counts whole
// batches (no record decoding: this measures the broker, not the client) and
// advances `position`. false: nothing left to read.
Result<bool> fetch_round(Connection& conn, std::int16_t version, ConsumeRun& run,
                         std::map<std::int32_t, std::int64_t>& position) {
  protocol::FetchRequest f;
  f.max_wait_ms = 100;
  f.min_bytes = 1;
  f.max_bytes = 64 << 20;
  protocol::FetchTopic ft{run.b.topic, {}};
  for (auto& [p, at] : position) {
    if (at < run.ends[static_cast<std::size_t>(p)])
      ft.partitions.push_back({p, -1, at, -1, 8 << 20});
  }
  if (ft.partitions.empty() || (run.b.records > 0 && run.totals.records.load() >= run.b.records)) {
    return false;
  }
  f.topics.push_back(std::move(ft));
  auto r = conn.call<protocol::FetchResponse>(ApiKey::fetch, version, f);
  if (!r) return r.error();
  if (r->responses.size() != 1) {
    return Error::malformed(fmt::format("fetch: {} topics answered, not 1", r->responses.size()));
  }
  for (const auto& pr : r->responses[0].partitions) {
    if (!position.contains(pr.partition_index)) continue;  // not asked for
    if (pr.error_code != 0)
      return Error::invalid(fmt::format("fetch: {}", error_name(pr.error_code)));
    if (!pr.records) continue;
    std::span<const std::byte> rest = *pr.records;
    while (rest.size() >= protocol::kBatchHeaderBytes) {
      auto h = protocol::decode_batch_header(rest, rest.size());
      if (!h || h->total_bytes() > rest.size()) break;
      run.totals.records += h->record_count;
      run.totals.bytes += static_cast<std::int64_t>(h->total_bytes());
      position[pr.partition_index] = h->last_offset().value() + 1;
      rest = rest.subspan(h->total_bytes());
    }
  }
  return true;
}

// Fetches each partition of a position map from its leader, with a
// connection to each leader (opened when first needed).
class LeaderFetches {
 public:
  explicit LeaderFetches(ConsumeRun& run) : run_(run) {}

  // One fetch_round per leader of the partitions in `position`. false:
  // nothing left to read.
  Result<bool> round(std::int16_t version, std::map<std::int32_t, std::int64_t>& position) {
    std::map<std::string, std::map<std::int32_t, std::int64_t>> by_leader;
    for (const auto& [p, at] : position) {
      by_leader[run_.leaders[static_cast<std::size_t>(p)].text()][p] = at;
    }
    bool more = false;
    for (auto& [leader, part] : by_leader) {
      auto& conn = conns_[leader];
      if (!conn) {
        auto opened = Connection::open(run_.leaders[static_cast<std::size_t>(part.begin()->first)],
                                       run_.client.options());
        if (!opened) return opened.error();
        conn = std::move(*opened);
      }
      auto r = fetch_round(*conn, version, run_, part);
      if (!r) return r.error();
      more = more || *r;
      for (const auto& [p, at] : part) position[p] = at;
    }
    return more;
  }

 private:
  ConsumeRun& run_;
  std::map<std::string, std::unique_ptr<Connection>> conns_;  // by leader address
};

// Worker `index` of the plain benchmark: partitions index, index +
// connections, ..., each fetched from its leader.
void plain_worker(ConsumeRun& run, int index) {
  auto version = run.client.version(ApiKey::fetch);
  if (!version) return run.totals.fail(version.error().detail());
  std::map<std::int32_t, std::int64_t> position;
  for (std::int32_t p = index; p < run.n; p += run.connections) {
    position[p] = run.starts[static_cast<std::size_t>(p)];
  }
  LeaderFetches fetches(run);
  // Bounded: each round advances at least one partition toward its end.
  while (!run.totals.stop) {
    auto more = fetches.round(*version, position);
    if (!more) return run.totals.fail(more.error().detail());
    if (!*more) break;
  }
}

// (Re)joins and positions at the committed offsets (else the log start).
Status group_join(ConsumeRun& run, GroupMember& member,
                  std::map<std::int32_t, std::int64_t>& position) {
  if (auto s = member.join(); !s) return s;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - run.start).count();
  std::int64_t seen = run.last_join_ms.load();
  while (seen < ms && !run.last_join_ms.compare_exchange_weak(seen, ms)) {
  }
  auto committed = member.committed();
  if (!committed) return committed.error();
  position.clear();
  for (const auto& [p, offset] : *committed) {
    if (p < 0 || p >= run.n) continue;  // not a partition of the topic
    position[p] = offset >= 0 ? offset : run.starts[static_cast<std::size_t>(p)];
  }
  return {};
}

// A member of the group: reads its partitions, commits every 200 ms and at
// the end, heartbeats every 500 ms, rejoins on a rebalance, and leaves once
// every member is at the end.
void group_worker(ConsumeRun& run) {
  // The group's calls to its coordinator, fetches to the leaders.
  auto conn = Connection::open(run.coordinator, run.client.options());
  if (!conn) return run.totals.fail(conn.error().detail());
  auto version = run.client.version(ApiKey::fetch);
  if (!version) return run.totals.fail(version.error().detail());
  GroupMember member(run.client, **conn, run.b.group, run.b.topic, run.n);
  LeaderFetches fetches(run);
  std::map<std::int32_t, std::int64_t> position;
  bool rejoin = true;
  bool finished = false;
  auto last_commit = SteadyClock::now();
  auto last_beat = SteadyClock::now();
  using std::chrono::milliseconds;
  while (!run.totals.stop) {
    if (rejoin) {
      if (finished) --run.done;
      finished = rejoin = false;
      if (auto s = group_join(run, member, position); !s)
        return run.totals.fail(s.error().detail());
    }
    const auto now = SteadyClock::now();
    bool more = false;
    if (!finished) {
      auto r = fetches.round(*version, position);
      if (!r) return run.totals.fail(r.error().detail());
      more = *r;
    }
    if ((!more && !finished) || now - last_commit > milliseconds(200)) {
      auto c = member.commit(position);
      if (!c) return run.totals.fail(c.error().detail());
      last_commit = now;
      rejoin = *c;
      if (rejoin) continue;
    }
    if (!more && !finished) {
      finished = true;
      ++run.done;
    }
    if (finished && run.done.load() >= run.connections) break;
    if (finished) std::this_thread::sleep_for(milliseconds(20));
    if (SteadyClock::now() - last_beat > milliseconds(500)) {
      auto h = member.heartbeat();
      if (!h) return run.totals.fail(h.error().detail());
      last_beat = SteadyClock::now();
      rejoin = *h;
    }
  }
  member.leave();
}

}  // namespace

int bench_consume(const CommonOptions& c, const BenchOptions& b, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  auto topic = Leaders::open(**client, b.topic, false);
  if (!topic) return fail(io, topic.error().detail());
  auto leaders = leader_endpoints(**topic);
  if (!leaders) return fail(io, leaders.error().detail());
  ConsumeRun run{**client, b};
  run.n = (*topic)->partitions();
  run.leaders = std::move(*leaders);
  auto starts = list_offsets(**topic, protocol::kListOffsetsEarliest);
  auto ends = list_offsets(**topic, protocol::kListOffsetsLatest);
  if (!starts || !ends) return fail(io, (!starts ? starts : ends).error().detail());
  run.starts = std::move(*starts);
  run.ends = std::move(*ends);
  const bool group = !b.group.empty();
  if (group) {
    auto coordinator = find_coordinator(**client, b.group);
    if (!coordinator) return fail(io, coordinator.error().detail());
    run.coordinator = std::move(*coordinator);
  }
  // A group may have more members than partitions (the others idle).
  run.connections =
      group ? std::max(1, b.connections) : std::max(1, std::min<int>(b.connections, run.n));
  run.start = SteadyClock::now();
  std::thread reporter([&] { progress(run.totals, io.err, run.start, "consumed"); });
  std::vector<std::thread> workers;
  for (int i = 0; i < run.connections; ++i) {
    if (group) {
      workers.emplace_back([&run] { group_worker(run); });
    } else {
      workers.emplace_back([&run, i] { plain_worker(run, i); });
    }
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - run.start).count();
  run.totals.stop = true;
  reporter.join();
  if (!run.totals.error.empty()) return fail(io, run.totals.error);
  io.err << fmt::format("bench consume: topic {} ({} partitions) from the {} to the end, {} {}{}\n",
                        b.topic, run.n, group ? "committed offsets" : "start", run.connections,
                        group ? "members of group " + b.group : "connection",
                        !group && run.connections != 1 ? "s" : "");
  if (group) {
    io.err << fmt::format("group {}: last rebalance done {} ms after the start\n", b.group,
                          run.last_join_ms.load());
  }
  return summary(c, io, "consume", run.totals, seconds, false);
}

}  // namespace spate::client
