// SPDX-License-Identifier: Apache-2.0
//
// Test helpers for the controller's metadata: one command of every kind
// with every field set, a broker registration, and a random command
// generator that makes mostly valid commands against a state (and some
// invalid ones, which the state must refuse the same way everywhere).

#pragma once

#include <string>
#include <vector>

#include "spate/cluster/assignment.h"
#include "spate/cluster/metadata.h"
#include "spate/common/rng.h"

namespace spate::cluster::testing {

inline RegisterBroker broker_cmd(std::int32_t id, std::optional<std::string> rack = std::nullopt,
                                 std::uint64_t incarnation = 1) {
  RegisterBroker c;
  c.id = NodeId(id);
  c.advertised = {fmt::format("broker{}.example", id), 9092};
  c.cluster = {fmt::format("10.0.0.{}", id), 9093};
  c.rack = std::move(rack);
  c.incarnation = incarnation;
  return c;
}

inline std::vector<NodeId> ids(std::initializer_list<std::int32_t> list) {
  std::vector<NodeId> out;
  for (auto v : list) out.emplace_back(v);
  return out;
}

// One command of each kind, in the variant's order, every field non-default.
inline std::vector<Command> sample_commands() {
  return {
      NoopCommand{},
      broker_cmd(1, "rack-a", 0x1122334455667788ULL),
      FenceBroker{NodeId(2), 17},
      UnfenceBroker{NodeId(3), -1},
      CreateTopic{"orders",
                  7,
                  {ids({1, 2, 3}), ids({2, 3, 1})},
                  {{"cleanup.policy", "compact"}, {"retention.ms", "1000"}}},
      DeleteTopic{"orders", 7},
      CreatePartitions{"events", {ids({3, 1}), ids({1, 2})}},
      AlterTopicConfigs{"events", {{"segment.bytes", "1048576"}}},
      AllocateProducerIds{NodeId(2), 1000},
      SetPartitionLeader{3, 1, NodeId(2), Term(5), ids({2, 3})},
      BeginReassignment{3, 0, ids({4, 5, 6})},
      CompleteReassignment{3, 0, ids({4, 5, 6})},
      CancelReassignment{3, 2},
      UnregisterBroker{NodeId(4)},
  };
}

// Random commands against `state`: names and ids mostly picked among those
// that exist so that most commands apply.
class CommandGen {
 public:
  explicit CommandGen(std::uint64_t seed) : rng_(seed) {}

  Command next(const MetadataState& state) {
    switch (rng_.uniform(14)) {
      case 0:
        return NoopCommand{};
      case 1:
        return broker_cmd(static_cast<std::int32_t>(rng_.range(-1, 7)),
                          rng_.chance(50) ? std::optional<std::string>(rack()) : std::nullopt,
                          rng_.uniform(3));
      case 2:
        return FenceBroker{broker(), rng_.chance(20) ? std::int64_t(rng_.uniform(50)) : -1};
      case 3:
        return UnfenceBroker{broker(), rng_.chance(20) ? std::int64_t(rng_.uniform(50)) : -1};
      case 4:
        return create_topic(state);
      case 5:
        return DeleteTopic{topic_name(state), rng_.chance(20) ? rng_.uniform(6) : 0};
      case 6:
        return CreatePartitions{topic_name(state), assignment(state, rng_.uniform(3), rf(state))};
      case 7:
        return AlterTopicConfigs{topic_name(state), configs()};
      case 8:
        return AllocateProducerIds{broker(), rng_.range(-1, 2000)};
      case 9:
        return set_leader(state);
      case 10:
        return BeginReassignment{topic_id(state), partition(), some_brokers(rng_.uniform(4))};
      case 11:
        return complete(state);
      case 13:
        return unregister(state);
      default:
        return CancelReassignment{topic_id(state), partition()};
    }
  }

  Rng& rng() { return rng_; }

 private:
  std::string rack() { return fmt::format("r{}", rng_.uniform(3)); }
  NodeId broker() { return NodeId(static_cast<std::int32_t>(rng_.range(-1, 8))); }
  std::int32_t partition() { return static_cast<std::int32_t>(rng_.range(-1, 4)); }
  std::size_t rf(const MetadataState& state) {
    const auto* t = pick_topic(state);
    return t == nullptr || rng_.chance(10) ? 1 + rng_.uniform(3)
                                           : t->partitions.front().replicas.size();
  }
  std::vector<NodeId> some_brokers(std::uint64_t n) {
    std::vector<NodeId> out;
    for (std::uint64_t i = 0; i < n; ++i) out.push_back(broker());
    return out;
  }
  const TopicMeta* pick_topic(const MetadataState& state) {
    if (state.topics().empty() || rng_.chance(10)) return nullptr;
    auto it = state.topics().begin();
    std::advance(it, static_cast<std::ptrdiff_t>(rng_.uniform(state.topics().size())));
    return &it->second;
  }
  std::string topic_name(const MetadataState& state) {
    const auto* t = pick_topic(state);
    return t != nullptr ? t->name : fmt::format("t{}", rng_.uniform(6));
  }
  TopicId topic_id(const MetadataState& state) {
    const auto* t = pick_topic(state);
    return t != nullptr ? t->id : rng_.uniform(6);
  }
  ConfigMap configs() {
    ConfigMap out;
    for (std::uint64_t i = rng_.uniform(3); i > 0; --i) {
      out[fmt::format("c{}", rng_.uniform(4))] = std::to_string(rng_.uniform(100));
    }
    return out;
  }
  // Mostly what assign_replicas makes from the live brokers.
  ReplicaAssignment assignment(const MetadataState& state, std::uint64_t n, std::size_t rf) {
    if (rng_.chance(85)) {
      auto a = assign_replicas(broker_slots(state), broker_load(state),
                               static_cast<std::int32_t>(n), static_cast<std::int32_t>(rf));
      if (a) return *a;
    }
    ReplicaAssignment out(n);
    for (auto& replicas : out) replicas = some_brokers(rf);
    return out;
  }
  Command create_topic(const MetadataState& state) {
    CreateTopic c;
    c.name = rng_.chance(5) ? "bad name!" : fmt::format("t{}", rng_.uniform(6));
    c.id = rng_.chance(10) ? state.next_topic_id() + rng_.uniform(3) - 1 : 0;
    c.assignments = assignment(state, rng_.uniform(4), 1 + rng_.uniform(3));
    c.configs = configs();
    return c;
  }
  Command set_leader(const MetadataState& state) {
    SetPartitionLeader c;
    c.topic = topic_id(state);
    c.partition = partition();
    const auto* p = state.partition(c.topic, c.partition);
    if (p != nullptr && rng_.chance(80)) {
      const auto& from = !p->target.empty() && rng_.chance(50) ? p->target : p->replicas;
      c.leader = from[rng_.uniform(from.size())];
      c.epoch = p->leader_epoch + rng_.range(-1, 2);
      c.isr.push_back(c.leader);
      for (auto id : p->replicas) {
        if (id != c.leader && rng_.chance(60)) c.isr.push_back(id);
      }
    } else {
      c.leader = broker();
      c.epoch = Term(rng_.range(-2, 5));
      c.isr = some_brokers(rng_.uniform(3));
    }
    return c;
  }
  // Half the time a registered broker that holds nothing (when there is one).
  Command unregister(const MetadataState& state) {
    if (rng_.chance(50)) {
      std::vector<NodeId> idle;
      for (const auto& [id, b] : state.brokers()) {
        if (state.partitions_on(id) == 0) idle.push_back(id);
      }
      if (!idle.empty()) return UnregisterBroker{idle[rng_.uniform(idle.size())]};
    }
    return UnregisterBroker{broker()};
  }
  Command complete(const MetadataState& state) {
    CompleteReassignment c{topic_id(state), partition(), {}};
    const auto* p = state.partition(c.topic, c.partition);
    c.target = p != nullptr && rng_.chance(80) ? p->target : some_brokers(rng_.uniform(4));
    return c;
  }

  Rng rng_;
};

}  // namespace spate::cluster::testing
