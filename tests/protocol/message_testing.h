// SPDX-License-Identifier: Apache-2.0
//
// Test helpers over every message description: the list of (API, request,
// response), a Generator that fills a message through its fields() visitor,
// and a Recorder that notes where each length, count and tag section is written.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "spate/protocol/api_key.h"
#include "spate/protocol/codec.h"
#include "spate/protocol/messages/alter_configs.h"
#include "spate/protocol/messages/api_versions.h"
#include "spate/protocol/messages/create_topics.h"
#include "spate/protocol/messages/delete_topics.h"
#include "spate/protocol/messages/describe_configs.h"
#include "spate/protocol/messages/fetch.h"
#include "spate/protocol/messages/group_admin.h"
#include "spate/protocol/messages/groups.h"
#include "spate/protocol/messages/heartbeat.h"
#include "spate/protocol/messages/init_producer_id.h"
#include "spate/protocol/messages/list_offsets.h"
#include "spate/protocol/messages/metadata.h"
#include "spate/protocol/messages/offset_for_leader_epoch.h"
#include "spate/protocol/messages/offsets.h"
#include "spate/protocol/messages/partition_admin.h"
#include "spate/protocol/messages/produce.h"
#include "spate/protocol/messages/reassignments.h"
#include "spate/protocol/messages/sasl_handshake.h"
#include "spate/protocol/messages/unregister_broker.h"

namespace spate::protocol::testing {

template <ApiKey K, typename Req, typename Resp>
struct Api {
  static constexpr ApiKey kKey = K;
  using Request = Req;
  using Response = Resp;
};

using AllApis = std::tuple<
    Api<ApiKey::produce, ProduceRequest, ProduceResponse>,
    Api<ApiKey::fetch, FetchRequest, FetchResponse>,
    Api<ApiKey::list_offsets, ListOffsetsRequest, ListOffsetsResponse>,
    Api<ApiKey::metadata, MetadataRequest, MetadataResponse>,
    Api<ApiKey::offset_commit, OffsetCommitRequest, OffsetCommitResponse>,
    Api<ApiKey::offset_fetch, OffsetFetchRequest, OffsetFetchResponse>,
    Api<ApiKey::find_coordinator, FindCoordinatorRequest, FindCoordinatorResponse>,
    Api<ApiKey::join_group, JoinGroupRequest, JoinGroupResponse>,
    Api<ApiKey::heartbeat, HeartbeatRequest, HeartbeatResponse>,
    Api<ApiKey::leave_group, LeaveGroupRequest, LeaveGroupResponse>,
    Api<ApiKey::sync_group, SyncGroupRequest, SyncGroupResponse>,
    Api<ApiKey::describe_groups, DescribeGroupsRequest, DescribeGroupsResponse>,
    Api<ApiKey::list_groups, ListGroupsRequest, ListGroupsResponse>,
    Api<ApiKey::sasl_handshake, SaslHandshakeRequest, SaslHandshakeResponse>,
    Api<ApiKey::api_versions, ApiVersionsRequest, ApiVersionsResponse>,
    Api<ApiKey::create_topics, CreateTopicsRequest, CreateTopicsResponse>,
    Api<ApiKey::delete_topics, DeleteTopicsRequest, DeleteTopicsResponse>,
    Api<ApiKey::delete_records, DeleteRecordsRequest, DeleteRecordsResponse>,
    Api<ApiKey::init_producer_id, InitProducerIdRequest, InitProducerIdResponse>,
    Api<ApiKey::offset_for_leader_epoch, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>,
    Api<ApiKey::describe_configs, DescribeConfigsRequest, DescribeConfigsResponse>,
    Api<ApiKey::alter_configs, AlterConfigsRequest, AlterConfigsResponse>,
    Api<ApiKey::sasl_authenticate, SaslAuthenticateRequest, SaslAuthenticateResponse>,
    Api<ApiKey::create_partitions, CreatePartitionsRequest, CreatePartitionsResponse>,
    Api<ApiKey::delete_groups, DeleteGroupsRequest, DeleteGroupsResponse>,
    Api<ApiKey::incremental_alter_configs, IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse>,
    Api<ApiKey::alter_partition_reassignments, AlterPartitionReassignmentsRequest,
        AlterPartitionReassignmentsResponse>,
    Api<ApiKey::list_partition_reassignments, ListPartitionReassignmentsRequest,
        ListPartitionReassignmentsResponse>,
    Api<ApiKey::unregister_broker, UnregisterBrokerRequest, UnregisterBrokerResponse>>;

// Calls f(api, version) for every API of AllApis at every advertised version.
template <typename F>
void for_each_api_version(F&& f) {
  std::apply(
      [&](auto... apis) {
        (
            [&](auto api) {
              const auto info = api_info(static_cast<std::int16_t>(decltype(api)::kKey));
              for (std::int16_t v = info->min_version; v <= info->max_version; ++v) f(api, v);
            }(apis),
            ...);
      },
      AllApis{});
}

// Fills a message through its fields() description, so that exactly the fields
// of that version get values. Two shapes:
//  - rich (the default): values from a seeded sequence, arrays of 0-3 elements,
//    nullable fields sometimes null;
//  - minimal around one array: the `target`-th array visited gets `count`
//    elements, arrays visited before it one element, arrays after it none, and
//    every string, bytes and nullable field its smallest form. A decoder that
//    overstates an element's minimum size rejects that message.
class Generator {
 public:
  static constexpr bool kDecoding = true;

  explicit Generator(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  static Generator minimal(std::size_t target, std::size_t count) {
    Generator g(0);
    g.minimal_ = true;
    g.target_ = target;
    g.target_count_ = count;
    return g;
  }

  [[nodiscard]] bool ok() const { return true; }
  [[nodiscard]] bool reached_target() const { return arrays_seen_ > target_; }

  void i8(std::int8_t& v, std::string_view) { v = static_cast<std::int8_t>(number()); }
  void i16(std::int16_t& v, std::string_view) { v = static_cast<std::int16_t>(number()); }
  void i32(std::int32_t& v, std::string_view) { v = static_cast<std::int32_t>(number()); }
  void i64(std::int64_t& v, std::string_view) { v = static_cast<std::int64_t>(number()); }
  void u32(std::uint32_t& v, std::string_view) { v = static_cast<std::uint32_t>(number()); }
  void boolean(bool& v, std::string_view) { v = (number() & 1U) != 0; }
  void uuid(Uuid& v, std::string_view) {
    for (auto& b : v) b = static_cast<std::byte>(number());
  }
  void varint(std::int32_t& v, std::string_view) { v = static_cast<std::int32_t>(number()); }
  void varlong(std::int64_t& v, std::string_view) { v = static_cast<std::int64_t>(number()); }
  void uvarint(std::uint32_t& v, std::string_view) { v = static_cast<std::uint32_t>(number()); }

  void string(std::string& v, bool, std::string_view) { v = text(); }
  void nullable_string(std::optional<std::string>& v, bool, std::string_view) {
    if (minimal_ || next() % 4 == 0) {
      v.reset();
    } else {
      v = text();
    }
  }
  void bytes(std::vector<std::byte>& v, bool, std::string_view) { v = blob(); }
  void nullable_bytes(std::optional<std::vector<std::byte>>& v, bool, std::string_view) {
    if (minimal_ || next() % 4 == 0) {
      v.reset();
    } else {
      v = blob();
    }
  }

  template <typename T, typename F>
  void array(std::vector<T>& v, bool, std::size_t, std::string_view, F&& element) {
    const std::size_t n = array_size();
    v.clear();
    for (std::size_t i = 0; i < n; ++i) element(v.emplace_back());
  }
  template <typename T, typename F>
  void nullable_array(std::optional<std::vector<T>>& v, bool, std::size_t, std::string_view,
                      F&& element) {
    const bool is_target = minimal_ && arrays_seen_ == target_;
    if (!is_target && (minimal_ ? arrays_seen_ > target_ : next() % 4 == 0)) {
      ++arrays_seen_;
      v.reset();
      return;
    }
    const std::size_t n = array_size();
    v.emplace();
    for (std::size_t i = 0; i < n; ++i) element(v->emplace_back());
  }
  void tagged_fields(std::string_view = {}) {}

 private:
  std::uint64_t next() {
    // splitmix64: fixed output on every platform.
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31U);
  }
  std::uint64_t number() {
    if (minimal_) return 0;
    const std::uint64_t r = next();
    switch (r % 4) {  // small, negative, and full-width values
      case 0:
        return r % 8;
      case 1:
        return ~std::uint64_t{0};  // -1
      default:
        return r >> 3U;
    }
  }
  std::string text() {
    if (minimal_) return {};
    std::string s(next() % 12, 'a');
    for (auto& c : s) c = static_cast<char>('a' + next() % 26);
    return s;
  }
  std::vector<std::byte> blob() {
    if (minimal_) return {};
    std::vector<std::byte> b(next() % 40);
    for (auto& x : b) x = static_cast<std::byte>(next());
    return b;
  }
  std::size_t array_size() {
    const std::size_t index = arrays_seen_++;
    if (minimal_) {
      if (index < target_) return 1;
      return index == target_ ? target_count_ : 0;
    }
    // Fewer elements deeper down keeps messages small.
    return static_cast<std::size_t>(next() % (index < 4 ? 4 : 2));
  }

  std::uint64_t state_;
  bool minimal_ = false;
  std::size_t target_ = static_cast<std::size_t>(-1);
  std::size_t target_count_ = 0;
  std::size_t arrays_seen_ = 0;
};

// Encodes like Encoder and notes where every length, count and tag section
// starts, so that tests can replace each with hostile values.
class Recorder {
 public:
  static constexpr bool kDecoding = false;

  enum class Kind : std::uint8_t { string, bytes, array, tagged_fields };
  struct Field {
    Kind kind;
    bool flexible;
    bool nullable;
    std::size_t offset;  // of the length, count or tag count
    std::string name;
  };

  explicit Recorder(ByteWriter& out) : out_(out), encoder_(out) {}

  [[nodiscard]] bool ok() const { return true; }
  [[nodiscard]] const std::vector<Field>& fields() const { return fields_; }

  void i8(const std::int8_t& v, std::string_view f) { encoder_.i8(v, f); }
  void i16(const std::int16_t& v, std::string_view f) { encoder_.i16(v, f); }
  void i32(const std::int32_t& v, std::string_view f) { encoder_.i32(v, f); }
  void i64(const std::int64_t& v, std::string_view f) { encoder_.i64(v, f); }
  void u32(const std::uint32_t& v, std::string_view f) { encoder_.u32(v, f); }
  void boolean(const bool& v, std::string_view f) { encoder_.boolean(v, f); }
  void uuid(const Uuid& v, std::string_view f) { encoder_.uuid(v, f); }
  void varint(const std::int32_t& v, std::string_view f) { encoder_.varint(v, f); }
  void varlong(const std::int64_t& v, std::string_view f) { encoder_.varlong(v, f); }
  void uvarint(const std::uint32_t& v, std::string_view f) { encoder_.uvarint(v, f); }

  void string(const std::string& v, bool flex, std::string_view f) {
    note(Kind::string, flex, false, f);
    encoder_.string(v, flex, f);
  }
  void nullable_string(const std::optional<std::string>& v, bool flex, std::string_view f) {
    note(Kind::string, flex, true, f);
    encoder_.nullable_string(v, flex, f);
  }
  void bytes(const std::vector<std::byte>& v, bool flex, std::string_view f) {
    note(Kind::bytes, flex, false, f);
    encoder_.bytes(v, flex, f);
  }
  void nullable_bytes(const std::optional<std::vector<std::byte>>& v, bool flex,
                      std::string_view f) {
    note(Kind::bytes, flex, true, f);
    encoder_.nullable_bytes(v, flex, f);
  }
  template <typename T, typename F>
  void array(std::vector<T>& v, bool flex, std::size_t min, std::string_view f, F&& element) {
    note(Kind::array, flex, false, f);
    encoder_.array(v, flex, min, f, element);
  }
  template <typename T, typename F>
  void nullable_array(std::optional<std::vector<T>>& v, bool flex, std::size_t min,
                      std::string_view f, F&& element) {
    note(Kind::array, flex, true, f);
    encoder_.nullable_array(v, flex, min, f, element);
  }
  void tagged_fields(std::string_view f = "tagged_fields") {
    note(Kind::tagged_fields, true, false, f);
    encoder_.tagged_fields(f);
  }

 private:
  void note(Kind kind, bool flexible, bool nullable, std::string_view name) {
    fields_.push_back({kind, flexible, nullable, out_.size(), std::string(name)});
  }
  ByteWriter& out_;
  Encoder encoder_;
  std::vector<Field> fields_;
};

template <typename Msg>
[[nodiscard]] Msg generate(std::uint64_t seed, std::int16_t version) {
  Msg m{};
  Generator g(seed);
  fields(g, m, version);
  return m;
}

template <typename Msg>
[[nodiscard]] std::vector<std::byte> encode(const Msg& m, std::int16_t version) {
  ByteWriter w;
  encode_message(w, m, version);
  return w.release();
}

}  // namespace spate::protocol::testing
