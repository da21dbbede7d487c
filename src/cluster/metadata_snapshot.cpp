// SPDX-License-Identifier: Apache-2.0
//
// The controller's snapshot (metadata_codec.h) and MetadataState::restore,
// which checks that a decoded snapshot holds a state apply() could have made.

#include <algorithm>

#include <fmt/format.h>

#include "spate/cluster/metadata_codec.h"
#include "spate/storage/data_dir.h"

#include "metadata_wire.h"
#include "module_shared.h"

namespace spate::cluster {

namespace {

constexpr std::size_t kBrokerMinBytes = 4 + 8 + 8 + 1 + 8 + 8 + 1;
constexpr std::size_t kTopicMinBytes = 4 + 8 + 4 + 4;
constexpr std::size_t kPartitionMinBytes = 4 + 4 + 8 + 4 + 4;

void write_broker(wire::Writer& w, const BrokerRegistration& b) {
  w.num<std::int32_t>(b.id.value());
  w.host_port(b.advertised);
  w.host_port(b.cluster);
  w.opt_str(b.rack);
  w.num<std::uint64_t>(b.incarnation);
  w.num<std::int64_t>(b.epoch);
  w.num<std::uint8_t>(b.fenced ? 1 : 0);
}

BrokerRegistration read_broker(wire::Reader& r) {
  BrokerRegistration b;
  b.id = NodeId(r.num<std::int32_t>("broker id"));
  b.advertised = r.host_port("advertised address");
  b.cluster = r.host_port("cluster address");
  b.rack = r.opt_str(r.limits().string_bytes_max, "rack");
  b.incarnation = r.num<std::uint64_t>("incarnation");
  b.epoch = r.num<std::int64_t>("broker epoch");
  const auto fenced = r.num<std::uint8_t>("fenced");
  if (fenced > 1) r.fail(fmt::format("broker {} has fenced byte {}", b.id, fenced));
  b.fenced = fenced == 1;
  return b;
}

void write_topic(wire::Writer& w, const TopicMeta& t) {
  w.str(t.name);
  w.num<std::uint64_t>(t.id);
  w.configs(t.configs);
  w.num<std::uint32_t>(static_cast<std::uint32_t>(t.partitions.size()));
  for (const auto& p : t.partitions) {
    w.ids(p.replicas);
    w.num<std::int32_t>(p.leader.value());
    w.num<std::int64_t>(p.leader_epoch.value());
    w.ids(p.isr);
    w.ids(p.target);
  }
}

TopicMeta read_topic(wire::Reader& r) {
  TopicMeta t;
  t.name = r.str(r.limits().topic_name_bytes_max, "topic name");
  t.id = r.num<std::uint64_t>("topic id");
  t.configs = r.configs("configs");
  const auto n = r.count(r.limits().partitions_per_topic_max, kPartitionMinBytes, "partitions");
  t.partitions.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    PartitionMeta p;
    p.replicas = r.ids(r.limits().replicas_max, "replicas");
    p.leader = NodeId(r.num<std::int32_t>("leader"));
    p.leader_epoch = Term(r.num<std::int64_t>("leader epoch"));
    p.isr = r.ids(r.limits().replicas_max * 2, "in-sync replicas");
    p.target = r.ids(r.limits().replicas_max, "target replicas");
    t.partitions.push_back(std::move(p));
  }
  return t;
}

// A partition's own consistency (the brokers are checked by the caller).
std::string check_partition(const PartitionMeta& p) {
  auto member = [&](NodeId id) { return contains(p.replicas, id) || contains(p.target, id); };
  if (p.leader != kNoLeader && (!member(p.leader) || !contains(p.isr, p.leader))) {
    return fmt::format("leader {} is not an in-sync replica", p.leader);
  }
  if (p.leader_epoch < kNoEpoch) return fmt::format("leader epoch {}", p.leader_epoch);
  for (std::size_t i = 0; i < p.isr.size(); ++i) {
    if (!member(p.isr[i]) || std::count(p.isr.begin(), p.isr.end(), p.isr[i]) != 1) {
      return fmt::format("in-sync replica {} is repeated or not a replica", p.isr[i]);
    }
  }
  return {};
}

}  // namespace

Result<MetadataState> MetadataState::restore(std::vector<BrokerRegistration> brokers,
                                             std::vector<TopicMeta> topics, TopicId next_topic_id,
                                             std::int64_t next_producer_id,
                                             std::int64_t applied_index, MetadataLimits limits) {
  auto bad = [](std::string why) { return Error::malformed("metadata snapshot: " + why); };
  MetadataState s(limits);
  if (brokers.size() > limits.brokers_max) return bad("too many brokers");
  for (auto& b : brokers) {
    // In increasing id order, as encode_snapshot writes them: one state,
    // one encoding.
    if (b.id.value() < 0 || (!s.brokers_.empty() && b.id <= s.brokers_.rbegin()->first)) {
      return bad(fmt::format("broker id {} is negative, repeated or out of order", b.id));
    }
    s.brokers_.emplace(b.id, std::move(b));
  }
  if (next_topic_id < kFirstTopicId || next_producer_id < 0 || applied_index < 0) {
    return bad(fmt::format("next topic id {}, next producer id {}, applied index {}", next_topic_id,
                           next_producer_id, applied_index));
  }
  if (topics.size() > limits.topics_max) return bad("too many topics");
  for (auto& t : topics) {
    if (auto v = storage::validate_topic_name(t.name); !v) return bad(v.error().detail());
    if (t.id < kFirstTopicId || t.id >= next_topic_id ||
        (!s.topics_.empty() && t.id <= s.topics_.rbegin()->first) ||
        s.topic_ids_.contains(t.name)) {
      return bad(fmt::format("topic {} has id {}: repeated, out of order, or not in [1, {})",
                             t.name, t.id, next_topic_id));
    }
    if (t.partitions.empty() || t.partitions.size() > limits.partitions_per_topic_max ||
        t.partitions.size() > limits.partitions_max - s.partition_count_) {
      return bad(fmt::format("topic {} has {} partitions", t.name, t.partitions.size()));
    }
    if (auto why = s.check_configs(t.configs); !why.empty()) return bad(why);
    for (const auto& p : t.partitions) {
      auto why = s.check_replicas(p.replicas, "replicas");
      if (why.empty() && !p.target.empty()) why = s.check_replicas(p.target, "target replicas");
      if (why.empty()) why = check_partition(p);
      if (!why.empty()) return bad(fmt::format("topic {}: {}", t.name, why));
    }
    s.partition_count_ += t.partitions.size();
    s.topic_ids_.emplace(t.name, t.id);
    const TopicId id = t.id;
    s.topics_.emplace(id, std::move(t));
  }
  s.next_topic_id_ = next_topic_id;
  s.next_producer_id_ = next_producer_id;
  s.applied_index_ = applied_index;
  return s;
}

std::vector<std::byte> encode_snapshot(const MetadataState& state) {
  wire::Writer w;
  w.num<std::uint32_t>(kMetadataSnapshotMagic);
  w.num<std::uint16_t>(kMetadataSnapshotVersion);
  w.num<std::int64_t>(state.applied_index());
  w.num<std::uint64_t>(state.next_topic_id());
  w.num<std::int64_t>(state.next_producer_id());
  w.num<std::uint32_t>(static_cast<std::uint32_t>(state.brokers().size()));
  for (const auto& [id, b] : state.brokers()) write_broker(w, b);
  w.num<std::uint32_t>(static_cast<std::uint32_t>(state.topics().size()));
  for (const auto& [id, t] : state.topics()) write_topic(w, t);
  return w.release();
}

Result<MetadataState> decode_snapshot(std::span<const std::byte> bytes,
                                      const MetadataLimits& limits) {
  wire::Reader r(bytes, limits, "metadata snapshot");
  const auto magic = r.num<std::uint32_t>("magic");
  const auto version = r.num<std::uint16_t>("version");
  if (!r.ok()) return r.finish().error();
  if (magic != kMetadataSnapshotMagic) {
    return Error::malformed(fmt::format("metadata snapshot: magic {:#x}", magic));
  }
  if (version != kMetadataSnapshotVersion) {
    return Error(Errc::unsupported_version,
                 fmt::format("metadata snapshot version {}, this broker reads {}", version,
                             kMetadataSnapshotVersion));
  }
  const auto applied = r.num<std::int64_t>("applied index");
  const auto next_topic = r.num<std::uint64_t>("next topic id");
  const auto next_producer = r.num<std::int64_t>("next producer id");
  std::vector<BrokerRegistration> brokers(r.count(limits.brokers_max, kBrokerMinBytes, "brokers"));
  for (auto& b : brokers) {
    if (!r.ok()) break;
    b = read_broker(r);
  }
  const auto topic_count = r.count(limits.topics_max, kTopicMinBytes, "topics");
  std::vector<TopicMeta> topics;
  topics.reserve(topic_count);
  for (std::size_t i = 0; i < topic_count && r.ok(); ++i) topics.push_back(read_topic(r));
  if (auto s = r.finish(); !s) return s.error();
  return MetadataState::restore(std::move(brokers), std::move(topics), next_topic, next_producer,
                                applied, limits);
}

}  // namespace spate::cluster
