// SPDX-License-Identifier: Apache-2.0
//
// Fetch: reads every named partition within the byte budgets, waits for data
// up to max_wait, and answers with the records as file regions (sendfile).
// A partition whose current leader epoch (v9+) is not the partition's gets
// FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH (KIP-320); Raft's membership
// entries never reach a client (Partition::read_for_client).

#include "spate/protocol/messages/fetch.h"

#include <limits>
#include <span>
#include <vector>

#include "spate/net/signal.h"
#include "spate/protocol/record_batch.h"

#include "common.h"

namespace spate::broker {
namespace {

// One Fetch answer in the making: the response struct (records left empty)
// and, per partition in order, the file region holding its records.
struct FetchResult {
  protocol::FetchResponse response;
  std::vector<std::optional<storage::FileSlice>> slices;
};

// A read of nothing but record-less batches: a new leader's no-op (an empty
// batch, docs/cluster.md) or a membership entry passed as one, alone at the
// end of the log (or cut off by the byte limit). Clients differ on it:
// librdkafka and the Java client step past it; KafkaJS 2.2.4 does not and
// fetches the same offset again at once, and kafka-python 2.0.2 (Fetch v4)
// fails its consumer with an IndexError (it takes the last record of what
// it unpacked, fetcher.py _parse_fetched_data). So:
// - at the end of the log such a read counts as no data: the Fetch waits
//   for more (or max_wait) like an empty one, then answers with the batch;
// - up to Fetch v4 it is left out: the read goes on from after it (records
//   starting later, as past compacted offsets) or, at the end of the log,
//   the partition answers no records and the consumer waits at the no-op
//   (its lag reads 1 meanwhile, as after a transaction marker in Kafka).
constexpr std::int16_t kFetchVersionSkippingEmptyBatches = 4;
// A read is checked only when it is small enough to be nothing but empty
// batches, at most this many; and at most this many reads are skipped.
constexpr std::size_t kEmptyBatchesChecked = 8;
constexpr int kEmptyReadsSkipped = 16;

// Every batch of the read holds no record.
bool only_empty_batches(const cluster::ClientRead& read) {
  const bool copied = !read.substitute.empty();
  const std::size_t size = copied ? read.substitute.size() : read.bytes.size;
  if (size == 0 || size % protocol::kBatchHeaderBytes != 0 ||
      size > kEmptyBatchesChecked * protocol::kBatchHeaderBytes) {
    return false;
  }
  std::vector<std::byte> file_bytes;
  if (!copied) {
    auto bytes = read.bytes.read_all();
    if (!bytes) return false;  // sent as it is; the read itself reports the error
    file_bytes = std::move(*bytes);
  }
  std::span<const std::byte> rest =
      copied ? std::span<const std::byte>(read.substitute) : std::span<const std::byte>(file_bytes);
  // Bounded: each pass consumes one whole batch.
  while (!rest.empty()) {
    auto header = protocol::decode_batch_header(rest, rest.size());
    if (!header || header->total_bytes() > rest.size() || header->record_count != 0) return false;
    rest = rest.subspan(header->total_bytes());
  }
  return true;
}

// Reads every partition once. Returns the bytes found in all.
//
// Both byte limits are soft only for the first batch of the first partition
// with data (so that a consumer never stalls on a batch larger than its
// limits, as in Kafka): every later read must fit what is left. The response
// never holds more than fetch_bytes_max (the broker's fetch.max.bytes) plus
// that one batch, however many entries or duplicates the request names.
std::int64_t fetch_once(HandlerContext& ctx, const protocol::FetchRequest& request,
                        const std::vector<std::shared_ptr<cluster::Partition>>& partitions,
                        FetchResult& out, bool& any_error) {
  out = FetchResult{};
  any_error = false;
  std::int64_t total = 0;
  std::int64_t budget =
      std::min<std::int64_t>(std::max(request.max_bytes, 0), ctx.config.fetch_bytes_max);
  std::size_t index = 0;
  for (const auto& t : request.topics) {
    auto& tr = out.response.responses.emplace_back();
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      auto& slice = out.slices.emplace_back();
      pr.partition_index = p.partition;
      const auto& partition = partitions[index++];
      if (!partition || partition->closed()) {
        // Unknown, or deleted (or the broker stopping) while this Fetch waited.
        pr.error_code =
            static_cast<std::int16_t>(partition ? ErrorCode::not_leader_or_follower
                                                : missing_partition(ctx, t.topic, p.partition));
        pr.high_watermark = -1;
        any_error = true;
        continue;
      }
      // Kafka reads any negative epoch as none here (FetchRequest.optionalEpoch),
      // and answers a fenced or unknown one with unknown offsets (-1).
      const auto epoch =
          leader_epoch_error(*partition, p.current_leader_epoch >= 0
                                             ? std::optional<std::int64_t>(p.current_leader_epoch)
                                             : std::nullopt);
      if (epoch != ErrorCode::none) {
        pr.error_code = static_cast<std::int16_t>(epoch);
        pr.high_watermark = -1;
        any_error = true;
        continue;
      }
      const Offset visible = partition->client_high_watermark();  // once per partition
      pr.high_watermark = visible.value();
      pr.last_stable_offset = pr.high_watermark;
      pr.log_start_offset = partition->start_offset().value();
      pr.records = std::vector<std::byte>{};
      const std::int64_t limit = std::min<std::int64_t>(std::max(p.partition_max_bytes, 0), budget);
      const bool first = total == 0;
      if (limit <= 0 && !first) continue;
      const auto read_max = static_cast<std::uint64_t>(std::max<std::int64_t>(limit, 1));
      auto read = partition->read_for_client(Offset(p.fetch_offset), read_max);
      bool empty_only = read && only_empty_batches(*read);
      if (ctx.version() <= kFetchVersionSkippingEmptyBatches) {
        for (int pass = 0; pass < kEmptyReadsSkipped && empty_only; ++pass) {
          if (read->next_offset >= visible) {
            read = cluster::ClientRead{};  // nothing after them: no records
            empty_only = false;
            break;
          }
          read = partition->read_for_client(read->next_offset, read_max);
          empty_only = read && only_empty_batches(*read);
        }
      }
      if (!read) {
        pr.error_code = static_cast<std::int16_t>(error_code_for(read.error().code()));
        any_error = true;
        continue;
      }
      const auto size = static_cast<std::int64_t>(
          read->substitute.empty() ? read->bytes.size : read->substitute.size());
      if (size == 0) continue;
      // A read returns at least one whole batch: past the limits, only the
      // first partition with data may keep it.
      if (!first && size > limit) continue;
      // Empty batches at the end of the log are no reason to answer now.
      if (!empty_only || read->next_offset < visible) total += size;
      budget = std::max<std::int64_t>(budget - size, 0);
      if (read->substitute.empty()) {
        slice = read->bytes;
      } else {
        pr.records = std::move(read->substitute);
      }
    }
  }
  return total;
}

awaitable<FetchResult> fetch(HandlerContext& ctx, const protocol::FetchRequest& request) {
  const auto deadline = deadline_after(ctx, request.max_wait_ms);
  std::vector<std::shared_ptr<cluster::Partition>> partitions;
  for (const auto& t : request.topics) {
    for (const auto& p : t.partitions) {
      partitions.push_back(ctx.partitions.partition(t.topic, p.partition));
    }
  }
  std::vector<std::shared_ptr<cluster::Partition>> distinct;
  for (const auto& p : partitions) {
    if (p) distinct.push_back(p);
  }
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  // Once per partition, however often the request names it (a waiter list
  // per entry made every wake-up quadratic).
  std::vector<net::Signal*> signals;
  signals.reserve(distinct.size());
  for (auto& p : distinct) signals.push_back(&p->committed());
  FetchResult result;
  // Bounded by the deadline: each pass either answers or waits until woken
  // (new data) or the deadline.
  while (true) {
    bool any_error = false;
    const std::int64_t total = fetch_once(ctx, request, partitions, result, any_error);
    const auto now = ctx.clock.steady_now();
    if (any_error || total >= request.min_bytes || now >= deadline || partitions.empty()) {
      if (any_error) ctx.error = true;
      co_return result;
    }
    co_await net::wait_any(signals, net::deadline_in(deadline - now));
  }
}

}  // namespace

Result<ResponseFrame> encode_fetch_response(
    const HandlerContext& ctx, const protocol::ApiInfo& api, const protocol::FetchResponse& r,
    const std::vector<std::optional<storage::FileSlice>>& slices) {
  // The layout is protocol's (messages/fetch.h); each partition's records
  // that a read found are a file region, spliced in here, never copied.
  const std::int16_t version = ctx.header.request_api_version;
  // The table serves v4-v11 only (checked before dispatch); a version the
  // splicing layout does not cover is an error, never an assertion.
  if (version < 4 || protocol::is_flexible(api, version)) {
    return Error(Errc::unsupported_version,
                 fmt::format("Fetch v{} responses cannot splice file regions", version));
  }
  ResponseFrame frame;
  ByteWriter out(1024);
  protocol::begin_frame(out);
  protocol::encode_response_header(out, ctx.header.correlation_id,
                                   protocol::response_header_version(api, version));
  auto region_size = [&](std::size_t k) -> std::optional<std::int32_t> {
    const auto& slice = slices.at(k);
    if (!slice || slice->size == 0) return std::nullopt;
    return static_cast<std::int32_t>(slice->size);
  };
  auto splice = [&](std::size_t k) {
    frame.parts.push_back({out.release(), slices.at(k)});
    out = ByteWriter(256);
  };
  protocol::encode_fetch_response(out, r, version, {region_size, splice});
  if (out.size() > 0) frame.parts.push_back({out.release(), std::nullopt});
  const std::size_t total = frame.size() - protocol::kFrameSizeBytes;
  if (total > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return Error::limit(
        fmt::format("a Fetch response of {} bytes exceeds the 2 GiB frame limit", total));
  }
  store_be<std::int32_t>(frame.parts.front().bytes.data(), static_cast<std::int32_t>(total));
  return frame;
}

awaitable<Result<Frame>> serve_fetch(HandlerContext& ctx, const protocol::ApiInfo& api,
                                     std::span<const std::byte> body) {
  auto request = protocol::decode_message<protocol::FetchRequest>(body, ctx.version(),
                                                                  ctx.config.decode_limits);
  if (!request) {
    co_return Error::malformed(fmt::format("Fetch v{} request (correlation id {}): {}",
                                           ctx.version(), ctx.header.correlation_id,
                                           request.error().detail()));
  }
  auto result = co_await fetch(ctx, *request);
  auto frame = encode_fetch_response(ctx, api, result.response, result.slices);
  if (!frame) co_return frame.error();
  co_return Frame(std::move(*frame));
}

}  // namespace spate::broker
