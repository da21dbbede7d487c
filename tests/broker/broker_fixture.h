// SPDX-License-Identifier: Apache-2.0
//
// The fixture of the broker tests: broker::Broker without sockets (request
// frames in, response frames out) over a PartitionManager on MemFs (wrapped in
// FaultyFs) with a real disk thread.

#pragma once

#include <future>

#include <gtest/gtest.h>

#include "spate/broker/broker.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/error_code.h"
#include "spate/protocol/frame.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"
#include "support/io_testing.h"

namespace spate::broker {

using protocol::ApiKey;
using protocol::ErrorCode;
using Frame = std::optional<ResponseFrame>;

using spate::testing::DiskHold;

inline std::int16_t code(ErrorCode c) { return static_cast<std::int16_t>(c); }

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    auto d = storage::DataDir::open(fs_, "/data", {0, "test-cluster"});
    ASSERT_TRUE(d) << d.error();
    dir_ = std::move(*d);
    auto m = cluster::PartitionManager::open(fs_, *dir_, storage::LogConfig{}, clock_,
                                             io_.get_executor(), disk_);
    ASSERT_TRUE(m) << m.error();
    manager_ = std::move(*m);
    broker_ = std::make_unique<Broker>(config_, *manager_, metrics_, clock_);
  }

  void TearDown() override {
    if (!manager_) return;
    auto failures = run(manager_->close_all());
    EXPECT_EQ(failures, 0U);
  }

  // Runs a coroutine on the test's io_context to completion (bounded: 10 s).
  template <typename T>
  T run(awaitable<T> task) {
    return spate::testing::run_on(io_, std::move(task));
  }

  template <typename Req>
  std::vector<std::byte> frame(ApiKey key, std::int16_t version, const Req& request,
                               std::int32_t correlation_id = 42) {
    ByteWriter out(64);
    protocol::encode_request_header(
        out, {static_cast<std::int16_t>(key), version, correlation_id, "test"},
        protocol::request_header_version(static_cast<std::int16_t>(key), version));
    protocol::encode_message(out, request, version);
    return out.release();
  }

  Result<Frame> handle(std::vector<std::byte> bytes) {
    return run(broker_->handle(std::move(bytes), "/127.0.0.1"));
  }

  template <typename Resp, typename Req>
  Resp call(ApiKey key, std::int16_t version, const Req& request) {
    auto result = handle(frame(key, version, request));
    SPATE_ASSERT(result && *result, "no response to {}", static_cast<int>(key));
    auto flat = (*result)->flatten();
    SPATE_ASSERT(flat, "unreadable response: {}", flat.error());
    const auto& bytes = *flat;
    ByteReader in(bytes);
    EXPECT_EQ(*in.read<std::int32_t>(), static_cast<std::int32_t>(bytes.size() - 4));
    EXPECT_EQ(*in.read<std::int32_t>(), 42);  // correlation id
    std::size_t offset = 8;
    if (protocol::response_header_version(static_cast<std::int16_t>(key), version) >= 1) {
      offset += 1;  // empty tagged fields
    }
    auto decoded = protocol::decode_message<Resp>(std::span(bytes).subspan(offset), version);
    SPATE_ASSERT(decoded, "undecodable response: {}", decoded.error());
    return std::move(*decoded);
  }

  void create(const std::string& name, std::int32_t partitions,
              std::vector<protocol::CreateTopicsConfig> configs = {}) {
    protocol::CreateTopicsRequest r;
    r.topics.push_back({name, partitions, 1, {}, std::move(configs)});
    auto resp = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, 4, r);
    ASSERT_EQ(resp.topics.at(0).error_code, 0) << resp.topics[0].error_message.value_or("");
  }

  static std::vector<std::byte> batch(int records, std::int64_t timestamp = 1000) {
    protocol::BatchBuilder b(timestamp);
    for (int i = 0; i < records; ++i) b.add_value(to_bytes(fmt::format("value-{}", i)));
    return b.build();
  }

  protocol::ProducePartitionResponse produce(const std::string& topic, std::int32_t partition,
                                             std::vector<std::byte> records, std::int16_t acks = -1,
                                             std::int32_t timeout_ms = 5000) {
    protocol::ProduceRequest r;
    r.acks = acks;
    r.timeout_ms = timeout_ms;
    r.topic_data.push_back({topic, {{partition, std::move(records)}}});
    auto resp = call<protocol::ProduceResponse>(ApiKey::produce, 7, r);
    return resp.responses.at(0).partition_responses.at(0);
  }

  std::int64_t latest(const std::string& topic, std::int32_t partition) {
    protocol::ListOffsetsRequest r;
    r.topics.push_back({topic, {{partition, protocol::kListOffsetsLatest}}});
    return call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, 3, r)
        .topics.at(0)
        .partitions.at(0)
        .offset;
  }

  // Every record a Fetch from `offset` returns, in order (values).
  std::vector<std::string> fetch_values(const std::string& topic, std::int32_t partition,
                                        std::int64_t offset) {
    std::vector<std::string> out;
    for (int guard = 0; guard < 1000; ++guard) {
      auto data = fetch(topic, partition, offset);
      if (data.error_code != 0 || !data.records || data.records->empty()) break;
      std::vector<std::span<const std::byte>> parts;
      EXPECT_TRUE(spate::testing::split_batches(*data.records, parts));
      for (auto part : parts) {
        auto h = protocol::validate_batch(part, 16U << 20U);
        auto views = protocol::decode_records(part);
        EXPECT_TRUE(h && views);
        if (!h || !views) return out;
        for (const auto& v : *views) {
          out.emplace_back(reinterpret_cast<const char*>(v.value->data()), v.value->size());
        }
        offset = h->next_offset().value();
      }
    }
    return out;
  }

  protocol::FetchPartitionData fetch(const std::string& topic, std::int32_t partition,
                                     std::int64_t offset, std::int32_t max_wait_ms = 0) {
    protocol::FetchRequest r;
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = 1;
    r.max_bytes = 1 << 20;
    r.topics.push_back({topic, {{partition, -1, offset, -1, 1 << 20}}});
    auto resp = call<protocol::FetchResponse>(ApiKey::fetch, 11, r);
    return resp.responses.at(0).partitions.at(0);
  }

  storage::MemFs mem_;
  storage::FaultyFs fs_{mem_};
  SystemClock clock_;
  asio::io_context io_;
  cluster::DiskThread disk_;
  std::unique_ptr<storage::DataDir> dir_;
  std::unique_ptr<cluster::PartitionManager> manager_;
  Metrics metrics_;
  BrokerConfig config_ = [] {
    BrokerConfig c;
    c.cluster_id = "test-cluster";
    return c;
  }();
  std::unique_ptr<Broker> broker_;
};

inline std::vector<std::byte> value_batch(const std::string& value) {
  protocol::BatchBuilder b(1000);
  b.add_value(to_bytes(value));
  return b.build();
}

}  // namespace spate::broker
