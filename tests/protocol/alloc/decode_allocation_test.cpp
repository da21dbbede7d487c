// SPDX-License-Identifier: Apache-2.0
//
// A counting allocator (global operator new, in this binary only) shows how
// many bytes decoding a frame allocates, relative to the frame's size: about
// 1x for real client requests, and a bounded multiple even for frames built
// to maximise it (many minimal array elements).

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/requests.h"

namespace {
std::atomic<std::size_t> g_allocated{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocated += size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

// Bytes allocated so far in this binary, for the other tests in it.
std::size_t spate_allocated_bytes() { return g_allocated.load(); }

namespace spate::protocol {
namespace {

template <typename Msg>
double allocation_ratio(const Msg& message, std::int16_t version) {
  ByteWriter w;
  encode_message(w, message, version);
  const auto bytes = w.release();
  const std::size_t before = g_allocated.load();
  {
    auto decoded = decode_message<Msg>(bytes, version);
    EXPECT_TRUE(decoded);
  }
  const std::size_t used = g_allocated.load() - before;
  std::fprintf(stderr, "frame %zu bytes, decoding allocated %zu bytes (%.2fx)\n", bytes.size(),
               used, static_cast<double>(used) / static_cast<double>(bytes.size()));
  return static_cast<double>(used) / static_cast<double>(bytes.size());
}

TEST(DecodeAllocation, ProduceRequestsCostAboutTheirSize) {
  ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  for (int t = 0; t < 4; ++t) {
    ProduceTopicData topic{"topic-" + std::to_string(t), {}};
    for (int p = 0; p < 8; ++p) {
      topic.partition_data.push_back({p, std::vector<std::byte>(16384, std::byte{1})});
    }
    req.topic_data.push_back(std::move(topic));
  }
  const double ratio = allocation_ratio(req, 7);
  EXPECT_LE(ratio, 2.0) << ratio;
}

TEST(DecodeAllocation, FetchRequestWithManyPartitionsStaysBounded) {
  FetchRequest req;
  for (int t = 0; t < 20; ++t) {
    FetchTopic topic{"t" + std::to_string(t), {}};
    for (int p = 0; p < 50; ++p) topic.partitions.push_back({p, -1, 100, -1, 1048576});
    req.topics.push_back(std::move(topic));
  }
  const double ratio = allocation_ratio(req, 11);
  EXPECT_LE(ratio, 2.0) << ratio;
}

TEST(DecodeAllocation, FrameBuiltToInflateIsRefusedWithinTwiceItsSize) {
  // 90,000 one-byte topic names: 3 wire bytes each but a 32-byte std::string
  // each in memory. The memory budget (2 x frame + 1 MiB) refuses it before
  // allocating the array.
  DeleteTopicsRequest req;
  req.topic_names.assign(90'000, "x");
  ByteWriter w;
  encode_message(w, req, 3);
  const auto bytes = w.release();
  const std::size_t before = g_allocated.load();
  auto decoded = decode_message<DeleteTopicsRequest>(bytes, 3);
  const std::size_t used = g_allocated.load() - before;
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code(), Errc::limit_exceeded);
  EXPECT_LE(used, 2 * bytes.size() + kMemorySlackBytes) << used;
  std::fprintf(stderr, "frame %zu bytes built to inflate: refused after %zu bytes\n", bytes.size(),
               used);
}

TEST(DecodeAllocation, ManyShortTopicNamesFromARealAdminStillDecode) {
  // 10,000 topics named t0..t9999 in one Metadata request: fine.
  MetadataRequest req;
  req.topics.emplace();
  for (int i = 0; i < 10'000; ++i) req.topics->push_back({"t" + std::to_string(i)});
  const double ratio = allocation_ratio(req, 4);
  EXPECT_LE(ratio, 10.0) << ratio;  // small frame: the 1 MiB slack covers it
}

}  // namespace
}  // namespace spate::protocol
