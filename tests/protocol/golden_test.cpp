// SPDX-License-Identifier: Apache-2.0
//
// Golden request frames encoded by an independent implementation (kafka-python
// 2.0.2's protocol classes, tests/protocol/golden/make_golden.py): each decodes,
// carries the expected fields, and re-encodes byte for byte.

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "spate/protocol/api_key.h"
#include "spate/protocol/frame.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/group_admin.h"
#include "spate/protocol/messages/groups.h"
#include "spate/protocol/messages/heartbeat.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/offsets.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/messages/sasl_handshake.h"
#include "spate/protocol/record_batch.h"

namespace spate::protocol {
namespace {

std::vector<std::byte> read_hex(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string hex;
  in >> hex;
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

struct Golden {
  DecodedHeader header;
  std::vector<std::byte> frame;
  std::span<const std::byte> body() const {
    return std::span<const std::byte>(frame).subspan(header.body_offset);
  }
};

Golden load(const std::string& name) {
  Golden g;
  g.frame = read_hex(std::filesystem::path(SPATE_GOLDEN_DIR) / (name + "_request.hex"));
  EXPECT_FALSE(g.frame.empty()) << name;
  auto header = decode_request_header(g.frame);
  EXPECT_TRUE(header) << name;
  if (header) g.header = *header;
  return g;
}

// Decodes the body as Msg and checks that re-encoding gives the same bytes.
template <typename Msg>
Msg decode_exact(const Golden& g) {
  const auto version = g.header.header.request_api_version;
  auto decoded = decode_message<Msg>(g.body(), version);
  EXPECT_TRUE(decoded) << "v" << version << ": " << (decoded ? "" : decoded.error().message());
  if (!decoded) return {};
  ByteWriter again;
  encode_message(again, *decoded, version);
  EXPECT_EQ(to_hex(again.view()), to_hex(g.body())) << "re-encoding differs, v" << version;
  return *decoded;
}

TEST(Golden, EveryFixtureDecodesAndReencodesExactly) {
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SPATE_GOLDEN_DIR)) {
    const auto file = entry.path().filename().string();
    if (!file.ends_with("_request.hex")) continue;
    const auto name = file.substr(0, file.size() - std::string("_request.hex").size());
    SCOPED_TRACE(name);
    const Golden g = load(name);
    const char* client = name.starts_with("librdkafka_") ? "rdkafka"
                         : name.starts_with("kafkajs_")  ? "kafkajs"
                                                         : "kafka-python-2.0.2";
    EXPECT_EQ(g.header.header.client_id, client);
    const auto api = api_info(g.header.header.request_api_key);
    ASSERT_TRUE(api.has_value());
    EXPECT_EQ(g.header.header_version,
              request_header_version(*api, g.header.header.request_api_version));
    switch (static_cast<ApiKey>(g.header.header.request_api_key)) {
      case ApiKey::api_versions:
        decode_exact<ApiVersionsRequest>(g);
        break;
      case ApiKey::metadata:
        decode_exact<MetadataRequest>(g);
        break;
      case ApiKey::produce:
        decode_exact<ProduceRequest>(g);
        break;
      case ApiKey::fetch:
        decode_exact<FetchRequest>(g);
        break;
      case ApiKey::list_offsets:
        decode_exact<ListOffsetsRequest>(g);
        break;
      case ApiKey::create_topics:
        decode_exact<CreateTopicsRequest>(g);
        break;
      case ApiKey::delete_topics:
        decode_exact<DeleteTopicsRequest>(g);
        break;
      case ApiKey::describe_configs:
        decode_exact<DescribeConfigsRequest>(g);
        break;
      case ApiKey::create_partitions:
        decode_exact<CreatePartitionsRequest>(g);
        break;
      case ApiKey::find_coordinator:
        decode_exact<FindCoordinatorRequest>(g);
        break;
      case ApiKey::join_group:
        decode_exact<JoinGroupRequest>(g);
        break;
      case ApiKey::sync_group:
        decode_exact<SyncGroupRequest>(g);
        break;
      case ApiKey::heartbeat:
        decode_exact<HeartbeatRequest>(g);
        break;
      case ApiKey::leave_group:
        decode_exact<LeaveGroupRequest>(g);
        break;
      case ApiKey::offset_commit:
        decode_exact<OffsetCommitRequest>(g);
        break;
      case ApiKey::offset_fetch:
        decode_exact<OffsetFetchRequest>(g);
        break;
      case ApiKey::list_groups:
        decode_exact<ListGroupsRequest>(g);
        break;
      case ApiKey::describe_groups:
        decode_exact<DescribeGroupsRequest>(g);
        break;
      case ApiKey::sasl_handshake:
        decode_exact<SaslHandshakeRequest>(g);
        break;
      case ApiKey::sasl_authenticate:
        decode_exact<SaslAuthenticateRequest>(g);
        break;
      case ApiKey::alter_configs:
        decode_exact<AlterConfigsRequest>(g);
        break;
      case ApiKey::delete_groups:
        decode_exact<DeleteGroupsRequest>(g);
        break;
      default:
        ADD_FAILURE() << "no decoder wired for " << name;
    }
    ++checked;
  }
  EXPECT_GE(checked, 38U);
}

TEST(Golden, ProduceV7CarriesTheLibrdkafkaBatch) {
  auto g = load("produce_v7");
  auto req = decode_exact<ProduceRequest>(g);
  EXPECT_EQ(req.acks, 1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1U);
  EXPECT_EQ(req.topic_data[0].name, "orders");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 2U);
  ASSERT_TRUE(req.topic_data[0].partition_data[1].records.has_value());
  auto batch = validate_batch(*req.topic_data[0].partition_data[1].records, 1U << 20U);
  ASSERT_TRUE(batch) << batch.error();
  EXPECT_EQ(batch->record_count, 2);
}

TEST(Golden, CapturedFromLibrdkafka) {
  // kcat -P (librdkafka 2.0.2) against tests/protocol/golden/record_librdkafka.py.
  auto av = decode_exact<ApiVersionsRequest>(load("librdkafka_api_versions_v3"));
  EXPECT_EQ(av.client_software_name, "librdkafka");
  EXPECT_EQ(av.client_software_version, "2.0.2");
  auto md = decode_exact<MetadataRequest>(load("librdkafka_metadata_v4"));
  ASSERT_TRUE(md.topics.has_value());
  auto produce = decode_exact<ProduceRequest>(load("librdkafka_produce_v7"));
  EXPECT_EQ(produce.acks, -1);  // librdkafka's default acks=all
  ASSERT_EQ(produce.topic_data.size(), 1U);
  EXPECT_EQ(produce.topic_data[0].name, "t");
  const auto& records = produce.topic_data[0].partition_data.at(0).records;
  ASSERT_TRUE(records.has_value());
  auto batch = validate_batch(*records, 1U << 20U);
  ASSERT_TRUE(batch) << batch.error();
  EXPECT_EQ(batch->record_count, 2);
  EXPECT_EQ(batch->partition_leader_epoch, 0);  // librdkafka writes 0 (§3.6)
  auto decoded = decode_records(*records);
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->size(), 2U);
  EXPECT_EQ(to_hex(*(*decoded)[1].key), to_hex(to_bytes("k2")));
  EXPECT_EQ(to_hex(*(*decoded)[1].value), to_hex(to_bytes("v2")));
}

TEST(Golden, CapturedFromKafkaJs) {
  // KafkaJS 2.2.4 producer against tests/protocol/golden/record_clients.py.
  auto av = decode_exact<ApiVersionsRequest>(load("kafkajs_api_versions_v2"));
  (void)av;
  auto md = decode_exact<MetadataRequest>(load("kafkajs_metadata_v6"));
  ASSERT_TRUE(md.topics.has_value());
  EXPECT_EQ((*md.topics)[0].name, "t");
  auto produce = decode_exact<ProduceRequest>(load("kafkajs_produce_v7"));
  EXPECT_EQ(produce.acks, -1);
  const auto& records = produce.topic_data.at(0).partition_data.at(0).records;
  ASSERT_TRUE(records.has_value());
  auto batch = validate_batch(*records, 1U << 20U);
  ASSERT_TRUE(batch) << batch.error();
  // kafka-protocol.md §3.6: non-idempotent KafkaJS sends producerId -1 but
  // producerEpoch 0 and baseSequence 0.
  EXPECT_EQ(batch->producer_id, -1);
  EXPECT_EQ(batch->producer_epoch, 0);
  EXPECT_EQ(batch->base_sequence, 0);
  auto decoded = decode_records(*records);
  ASSERT_TRUE(decoded) << decoded.error();
  ASSERT_EQ(decoded->size(), 2U);
  ASSERT_EQ((*decoded)[0].headers.size(), 1U);
  EXPECT_EQ((*decoded)[0].headers[0].key, "h");
  EXPECT_FALSE((*decoded)[1].key.has_value());
}

TEST(Golden, MetadataAndFetchFields) {
  auto m1 = decode_exact<MetadataRequest>(load("metadata_v1"));
  EXPECT_FALSE(m1.topics.has_value());  // null: all topics
  auto m4 = decode_exact<MetadataRequest>(load("metadata_v4"));
  ASSERT_TRUE(m4.topics.has_value());
  EXPECT_EQ((*m4.topics)[0].name, "orders");
  EXPECT_FALSE(m4.allow_auto_topic_creation);
  auto f = decode_exact<FetchRequest>(load("fetch_v11"));
  EXPECT_EQ(f.max_wait_ms, 500);
  EXPECT_EQ(f.isolation_level, 1);
  EXPECT_EQ(f.session_epoch, -1);
  ASSERT_EQ(f.topics.size(), 1U);
  EXPECT_EQ(f.topics[0].partitions[0].current_leader_epoch, 5);
  EXPECT_EQ(f.topics[0].partitions[0].fetch_offset, 42);
  auto lo = decode_exact<ListOffsetsRequest>(load("list_offsets_v1"));
  EXPECT_EQ(lo.topics[0].partitions[0].timestamp, kListOffsetsEarliest);
}

TEST(Golden, AdminAndGroupFields) {
  auto ct = decode_exact<CreateTopicsRequest>(load("create_topics_v3"));
  ASSERT_EQ(ct.topics.size(), 1U);
  EXPECT_EQ(ct.topics[0].num_partitions, 3);
  EXPECT_EQ(ct.topics[0].configs[0].name, "retention.ms");
  EXPECT_EQ(ct.topics[0].configs[0].value, "86400000");
  auto dc = decode_exact<DescribeConfigsRequest>(load("describe_configs_v2"));
  ASSERT_EQ(dc.resources.size(), 2U);
  EXPECT_FALSE(dc.resources[1].configuration_keys.has_value());
  EXPECT_TRUE(dc.include_synonyms);
  auto jg = decode_exact<JoinGroupRequest>(load("join_group_v2"));
  EXPECT_EQ(jg.rebalance_timeout_ms, 300000);
  EXPECT_EQ(jg.protocols[0].name, "range");
  auto oc = decode_exact<OffsetCommitRequest>(load("offset_commit_v2"));
  EXPECT_EQ(oc.topics[0].partitions[0].committed_offset, 42);
  EXPECT_EQ(oc.topics[0].partitions[0].committed_metadata, "meta");
  auto of = decode_exact<OffsetFetchRequest>(load("offset_fetch_v3"));
  EXPECT_FALSE(of.topics.has_value());
}

}  // namespace
}  // namespace spate::protocol
