// SPDX-License-Identifier: Apache-2.0
//
// Protocol micro-benchmarks: CRC32C, validating a 1 MiB batch, decoding a
// Produce request, encoding a Fetch response.

#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "spate/common/crc32c.h"
#include "spate/common/rng.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/record_batch.h"

namespace spate::protocol {
namespace {

std::vector<std::byte> one_mib_batch() {
  BatchBuilder builder(1700000000000);
  std::vector<std::byte> value(1024, std::byte{0x42});
  while (builder.record_count() < 1000) builder.add_value(value);
  return builder.build();
}

void BM_Crc32c(benchmark::State& state) {
  std::vector<std::byte> data(static_cast<std::size_t>(state.range(0)), std::byte{7});
  for (auto _ : state) benchmark::DoNotOptimize(crc32c::value(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(16 * 1024)->Arg(1 << 20);

void BM_Batch_Validate1MiB(benchmark::State& state) {
  auto batch = one_mib_batch();
  for (auto _ : state) benchmark::DoNotOptimize(validate_batch(batch, 2U << 20U));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
}
BENCHMARK(BM_Batch_Validate1MiB);

// What the append path runs on a client batch: the framing above plus every
// record walked in place (issue 12 item 7); compressed, after decompression.
void BM_Batch_ValidateClient1MiB(benchmark::State& state) {
  auto batch = one_mib_batch();
  for (auto _ : state) benchmark::DoNotOptimize(check_client_batch(batch, 2U << 20U));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
}
BENCHMARK(BM_Batch_ValidateClient1MiB);

void BM_Batch_ValidateClientSmallRecords(benchmark::State& state) {
  // 100-byte records: the per-record walk weighs most here.
  BatchBuilder builder(1700000000000);
  std::vector<std::byte> value(100, std::byte{0x42});
  while (builder.record_count() < 2000) builder.add_value(value);
  auto batch = builder.build();
  const bool framing_only = state.range(0) == 0;
  for (auto _ : state) {
    if (framing_only) {
      benchmark::DoNotOptimize(validate_batch(batch, 2U << 20U));
    } else {
      benchmark::DoNotOptimize(check_client_batch(batch, 2U << 20U));
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
  state.SetLabel(framing_only ? "validate_batch" : "check_client_batch");
}
BENCHMARK(BM_Batch_ValidateClientSmallRecords)->Arg(0)->Arg(1);

// 1000 records of 1 KiB of JSON-like text (compresses about 3:1), the batch
// compressed with `codec` as a producer would send it.
std::vector<std::byte> text_batch(Compression codec) {
  BatchBuilder builder(1700000000000);
  Rng rng(7);
  while (builder.record_count() < 1000) {
    std::string value;
    while (value.size() < 1024) {
      value += "{\"user\":" + std::to_string(rng.uniform(100000)) + ",\"event\":\"click\",\"ts\":" +
               std::to_string(1700000000000 + rng.uniform(1000000)) + "},";
    }
    value.resize(1024);
    builder.add_value(to_bytes(value));
  }
  auto plain = builder.build();
  return codec == Compression::none ? plain : *compress_batch(plain, codec);
}

// compression.type on the append path, for an lz4 batch of 1 MiB of records:
// -1 is `producer` (or lz4: the codec matches), what runs is validation only;
// otherwise validation and the rewrite into that codec. Bytes: the records.
void BM_Produce_Lz4BatchIntoCodec(benchmark::State& state) {
  const auto batch = text_batch(Compression::lz4);
  const auto records_bytes = text_batch(Compression::none).size() - kBatchHeaderBytes;
  const bool passthrough = state.range(0) < 0;
  const auto codec = static_cast<Compression>(std::max<std::int64_t>(state.range(0), 0));
  std::vector<std::byte> out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(check_client_batch(batch, 2U << 20U));
    if (!passthrough) {
      if (!recompress_batch(batch, codec, default_level(codec), 16U << 20U, out)) {
        state.SkipWithError("recompress failed");
      }
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(records_bytes));
  static constexpr const char* kNames[] = {"uncompressed", "gzip", "snappy", "lz4", "zstd"};
  state.SetLabel(passthrough
                     ? "passthrough (producer)"
                     : fmt::format("lz4 -> {}, stored {} bytes of {}",
                                   kNames[static_cast<int>(codec)], out.size(), batch.size()));
}
BENCHMARK(BM_Produce_Lz4BatchIntoCodec)->Arg(-1)->Arg(4)->Arg(1)->Arg(2)->Arg(0);

void BM_Produce_DecodeRequest(benchmark::State& state) {
  auto batch = one_mib_batch();
  ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  req.topic_data = {{"orders", {{0, batch}}}};
  ByteWriter w;
  encode_message(w, req, 7);
  const auto bytes = w.release();
  for (auto _ : state) {
    auto decoded = decode_message<ProduceRequest>(bytes, 7);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
}
BENCHMARK(BM_Produce_DecodeRequest);

void BM_Fetch_EncodeResponse(benchmark::State& state) {
  FetchResponse resp;
  for (int t = 0; t < 10; ++t) {
    FetchTopicResponse topic{"topic-" + std::to_string(t), {}};
    for (int p = 0; p < 10; ++p) {
      FetchPartitionData d;
      d.partition_index = p;
      d.high_watermark = 1000;
      d.records = std::vector<std::byte>(16 * 1024, std::byte{1});
      topic.partitions.push_back(std::move(d));
    }
    resp.responses.push_back(std::move(topic));
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    ByteWriter w(2U << 20U);
    encode_message(w, resp, 11);
    bytes = w.size();
    benchmark::DoNotOptimize(w.view().data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_Fetch_EncodeResponse);

}  // namespace
}  // namespace spate::protocol

BENCHMARK_MAIN();
