// SPDX-License-Identifier: Apache-2.0
//
// Where __consumer_offsets comes from: a single node's partition manager, or
// the cluster's controller (offsets_topic.h).

#include "spate/groups/offsets_topic.h"

#include <fmt/format.h>

#include "spate/net/signal.h"

namespace spate::groups {
namespace {

// offsets.topic.segment.bytes: small segments, so compaction starts early.
constexpr std::int64_t kOffsetsSegmentBytes = 100LL << 20U;

class LocalOffsetsTopic final : public OffsetsTopic {
 public:
  explicit LocalOffsetsTopic(cluster::PartitionManager& partitions) : partitions_(partitions) {}

  awaitable<Status> prepare(std::int32_t partitions) override {
    const std::string topic(kOffsetsTopic);
    if (partitions_.topic(topic) == nullptr) {
      auto s = co_await partitions_.create_topic(topic, partitions, offsets_topic_configs(), false,
                                                 net::deadline_in(std::chrono::seconds(60)));
      if (!s && s.error().code() != Errc::already_exists) co_return s;
    } else if (auto current = partitions_.topic(topic)->overrides;
               current["cleanup.policy"] != "compact") {
      // An operator's change, or a topic from before compaction existed.
      current["cleanup.policy"] = "compact";
      auto s = co_await partitions_.set_topic_configs(topic, current, false,
                                                      net::deadline_in(std::chrono::seconds(60)));
      if (!s) co_return s;
    }
    const auto* t = partitions_.topic(topic);
    if (t == nullptr || t->partitions.empty()) {
      co_return Error(Errc::not_found, fmt::format("topic {} is missing", topic));
    }
    co_return Status{};
  }

  [[nodiscard]] std::int32_t partition_count() const override {
    const auto* t = partitions_.topic(std::string(kOffsetsTopic));
    return t == nullptr ? 0 : static_cast<std::int32_t>(t->partitions.size());
  }

  [[nodiscard]] std::shared_ptr<cluster::Partition> partition(std::int32_t index) const override {
    if (partitions_.closing()) return nullptr;
    return partitions_.partition(std::string(kOffsetsTopic), index);
  }

  [[nodiscard]] bool exists(const std::string& topic, std::int32_t index) const override {
    return partitions_.partition(topic, index) != nullptr;
  }

 private:
  cluster::PartitionManager& partitions_;
};

class ClusterOffsetsTopic final : public OffsetsTopic {
 public:
  ClusterOffsetsTopic(cluster::PartitionManager& partitions, const cluster::Controller& controller)
      : partitions_(partitions), controller_(controller) {}

  // The broker creates the topic through the controller when a client first
  // asks for a coordinator (FindCoordinator): nothing to do here.
  awaitable<Status> prepare(std::int32_t /*partitions*/) override { co_return Status{}; }

  [[nodiscard]] std::int32_t partition_count() const override {
    const auto* t = controller_.state().topic(kOffsetsTopic);
    return t == nullptr ? 0 : static_cast<std::int32_t>(t->partitions.size());
  }

  [[nodiscard]] std::shared_ptr<cluster::Partition> partition(std::int32_t index) const override {
    if (partitions_.closing()) return nullptr;
    // The partition of the topic the metadata names (a leftover of a deleted
    // topic of the same name, not yet removed here, is not it).
    const auto* meta = controller_.state().topic(kOffsetsTopic);
    const auto* held = partitions_.topic(std::string(kOffsetsTopic));
    if (meta == nullptr || held == nullptr || held->id != meta->id) return nullptr;
    return partitions_.partition(std::string(kOffsetsTopic), index);
  }

  [[nodiscard]] bool exists(const std::string& topic, std::int32_t index) const override {
    const auto* t = controller_.state().topic(topic);
    return t != nullptr && index >= 0 && static_cast<std::size_t>(index) < t->partitions.size();
  }

 private:
  cluster::PartitionManager& partitions_;
  const cluster::Controller& controller_;
};

}  // namespace

cluster::ConfigMap offsets_topic_configs() {
  return {{"cleanup.policy", "compact"}, {"segment.bytes", std::to_string(kOffsetsSegmentBytes)}};
}

std::int32_t offsets_partition(std::string_view group_id, std::int32_t partitions) {
  std::uint32_t h = 2166136261U;
  for (char c : group_id) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 16777619U;
  }
  return partitions > 0 ? static_cast<std::int32_t>(h % static_cast<std::uint32_t>(partitions)) : 0;
}

std::unique_ptr<OffsetsTopic> local_offsets_topic(cluster::PartitionManager& partitions) {
  return std::make_unique<LocalOffsetsTopic>(partitions);
}

std::unique_ptr<OffsetsTopic> cluster_offsets_topic(cluster::PartitionManager& partitions,
                                                    const cluster::Controller& controller) {
  return std::make_unique<ClusterOffsetsTopic>(partitions, controller);
}

}  // namespace spate::groups
