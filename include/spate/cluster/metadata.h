// SPDX-License-Identifier: Apache-2.0
//
// The controller's cluster metadata as a replicated state machine
// (docs/controller.md, "Cluster metadata"): brokers, topics with their
// partitions' replicas, leaders and in-sync replicas, topic configs, the
// producer-id blocks handed out, and pending reassignments. The controller's
// Raft group commits Commands; every broker applies them in log order with
// apply() and ends with the same state.
//
// Pure and deterministic: no clock, no I/O, no randomness. A command that
// does not fit the current state is refused (the state does not change but
// applied_index moves on) and its outcome says why, so that a bad proposal
// never stops the log nor makes two replicas differ.

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "spate/cluster/topic_config.h"
#include "spate/common/result.h"
#include "spate/common/types.h"

namespace spate::cluster {

// A topic's id: ids start at 1 and are never reused, so a replica left over
// from a deleted topic can never be taken for a new one of the same name.
// {topic 0, partition 0} names the controller's own Raft group.
using TopicId = std::uint64_t;
inline constexpr TopicId kControllerTopicId = 0;
inline constexpr TopicId kFirstTopicId = 1;

inline constexpr NodeId kNoLeader{-1};
inline constexpr Term kNoEpoch{-1};

// Bounds on what the state may hold; commands past them are refused and
// decoders refuse counts past them before allocating.
struct MetadataLimits {
  std::size_t brokers_max = 1'000;
  std::size_t topics_max = 10'000;
  std::size_t partitions_per_topic_max = 10'000;   // cluster::kPartitionsMax
  std::size_t partitions_max = 100'000;            // in all topics together
  std::size_t replicas_max = 32;                   // per partition (and per target)
  std::size_t configs_max = 256;                   // overrides per topic
  std::size_t topic_name_bytes_max = 249;          // Kafka's
  std::size_t string_bytes_max = 1'024;            // hosts, racks, config names
  std::size_t config_value_bytes_max = 64 * 1024;  // kConfigValueBytesMax
  std::int64_t producer_id_block_max = 1'000'000;  // ids per allocate_producer_ids
};

struct HostPort {
  std::string host;
  std::int32_t port = 0;
  bool operator==(const HostPort&) const = default;
};

struct BrokerRegistration {
  NodeId id;
  HostPort advertised;  // what Metadata gives clients
  HostPort cluster;     // the inter-broker listener
  std::optional<std::string> rack;
  // Chosen by the broker at each start (a random number): a registration
  // with the same incarnation is a retry, another one a restart.
  std::uint64_t incarnation = 0;
  // The Raft index of the registration that started this incarnation: it
  // only grows, so fence/unfence commands aimed at an older run are refused.
  std::int64_t epoch = -1;
  bool fenced = false;  // declared dead by the controller (no heartbeats)
  bool operator==(const BrokerRegistration&) const = default;
};

struct PartitionMeta {
  std::vector<NodeId> replicas;  // ordered; the first is the preferred leader
  // As the partition's leader reported it (set_partition_leader).
  NodeId leader = kNoLeader;
  Term leader_epoch = kNoEpoch;
  std::vector<NodeId> isr;
  // A pending reassignment: the replicas the partition is moving to (empty: none).
  std::vector<NodeId> target;
  bool operator==(const PartitionMeta&) const = default;
};

struct TopicMeta {
  std::string name;
  TopicId id = 0;
  std::vector<PartitionMeta> partitions;
  ConfigMap configs;  // overrides, canonical form (validated by the proposer)
  bool operator==(const TopicMeta&) const = default;
};

using ReplicaAssignment = std::vector<std::vector<NodeId>>;  // per partition

// ---- Commands -----------------------------------------------------------

struct NoopCommand {
  bool operator==(const NoopCommand&) const = default;
};
// Adds a broker or replaces its registration; unfences it.
struct RegisterBroker {
  NodeId id;
  HostPort advertised;
  HostPort cluster;
  std::optional<std::string> rack;
  std::uint64_t incarnation = 0;
  bool operator==(const RegisterBroker&) const = default;
};
// epoch: the registration the controller judged (-1: whichever is current).
struct FenceBroker {
  NodeId id;
  std::int64_t epoch = -1;
  bool operator==(const FenceBroker&) const = default;
};
struct UnfenceBroker {
  NodeId id;
  std::int64_t epoch = -1;
  bool operator==(const UnfenceBroker&) const = default;
};
// id 0: the next topic id; otherwise an unused id at or past it (migration).
struct CreateTopic {
  std::string name;
  TopicId id = 0;
  ReplicaAssignment assignments;
  ConfigMap configs;
  bool operator==(const CreateTopic&) const = default;
};
// id 0: whatever topic has the name; otherwise it must be this one.
struct DeleteTopic {
  std::string name;
  TopicId id = 0;
  bool operator==(const DeleteTopic&) const = default;
};
struct CreatePartitions {
  std::string name;
  ReplicaAssignment assignments;  // of the new partitions, appended in order
  bool operator==(const CreatePartitions&) const = default;
};
// Replaces the topic's overrides (the proposer applied the incremental ops).
struct AlterTopicConfigs {
  std::string name;
  ConfigMap configs;
  bool operator==(const AlterTopicConfigs&) const = default;
};
// Outcome value: the first id of the block [value, value + count).
struct AllocateProducerIds {
  NodeId broker;
  std::int64_t count = 0;
  bool operator==(const AllocateProducerIds&) const = default;
};
// A partition leader's report. Refused when epoch is older than the stored
// one, or equal with another leader.
struct SetPartitionLeader {
  TopicId topic = 0;
  std::int32_t partition = 0;
  NodeId leader = kNoLeader;
  Term epoch = kNoEpoch;
  std::vector<NodeId> isr;
  bool operator==(const SetPartitionLeader&) const = default;
};
struct BeginReassignment {
  TopicId topic = 0;
  std::int32_t partition = 0;
  std::vector<NodeId> target;  // replaces a pending one
  bool operator==(const BeginReassignment&) const = default;
};
// The move finished: replicas become `target`, which must be the pending one.
struct CompleteReassignment {
  TopicId topic = 0;
  std::int32_t partition = 0;
  std::vector<NodeId> target;
  bool operator==(const CompleteReassignment&) const = default;
};
struct CancelReassignment {
  TopicId topic = 0;
  std::int32_t partition = 0;
  bool operator==(const CancelReassignment&) const = default;
};
// Removes a broker's registration (`spate cluster remove`). Refused while any
// partition names it as a replica or in a pending target. Whether it is a
// controller voter is the controller's check, before it proposes (the state
// does not hold the voters): Controller::refusal.
struct UnregisterBroker {
  NodeId id;
  bool operator==(const UnregisterBroker&) const = default;
};

// The alternatives' order is their wire type (metadata_codec.h): append only.
using Command =
    std::variant<NoopCommand, RegisterBroker, FenceBroker, UnfenceBroker, CreateTopic, DeleteTopic,
                 CreatePartitions, AlterTopicConfigs, AllocateProducerIds, SetPartitionLeader,
                 BeginReassignment, CompleteReassignment, CancelReassignment, UnregisterBroker>;

[[nodiscard]] std::string_view command_name(const Command& command);

// What applying a command did.
struct ApplyOutcome {
  // ok: applied. Otherwise the command was refused and changed nothing but
  // applied_index; the code is what the proposer answers its client
  // (broker::error_code_for) and `message` says why.
  Errc error = Errc::ok;
  std::string message;
  // register_broker: the broker's epoch; create_topic: the topic id;
  // allocate_producer_ids: the block's first id; unregister_broker: the
  // epoch of the registration removed; otherwise -1.
  std::int64_t value = -1;

  [[nodiscard]] static ApplyOutcome refused(Errc code, std::string why) {
    ApplyOutcome out;
    out.error = code;
    out.message = std::move(why);
    return out;
  }
  [[nodiscard]] static ApplyOutcome done(std::int64_t result = -1) {
    ApplyOutcome out;
    out.value = result;
    return out;
  }
  [[nodiscard]] bool applied() const { return error == Errc::ok; }
};

// A partition whose leader is not its preferred (first) replica although
// that replica is alive and in sync: a target for leadership balancing.
struct LeaderMove {
  TopicId topic = 0;
  std::int32_t partition = 0;
  NodeId preferred;
  bool operator==(const LeaderMove&) const = default;
};

class MetadataState {
 public:
  explicit MetadataState(MetadataLimits limits = {}) : limits_(limits) {}

  // Applies the committed command at Raft index `index`. Errors (the state
  // is unchanged): invalid_argument when `index` is not past applied_index()
  // (the driver applied an entry twice). A command invalid against the state
  // is not an error: see ApplyOutcome.
  [[nodiscard]] Result<ApplyOutcome> apply(const Command& command, std::int64_t index);

  // Builds a state from a snapshot's parts, checking what apply() keeps true
  // (ids unique and below next_topic_id, names valid, replicas registered,
  // the leader in sync...) and that brokers and topics come in increasing id
  // order (so that a state has one encoding). Errors: malformed.
  [[nodiscard]] static Result<MetadataState> restore(
      std::vector<BrokerRegistration> brokers, std::vector<TopicMeta> topics, TopicId next_topic_id,
      std::int64_t next_producer_id, std::int64_t applied_index, MetadataLimits limits = {});

  [[nodiscard]] const MetadataLimits& limits() const { return limits_; }
  [[nodiscard]] const std::map<NodeId, BrokerRegistration>& brokers() const { return brokers_; }
  [[nodiscard]] const BrokerRegistration* broker(NodeId id) const;
  // Registered and not fenced.
  [[nodiscard]] bool alive(NodeId id) const;
  // How many partitions name `id` among their replicas or a pending target.
  [[nodiscard]] std::size_t partitions_on(NodeId id) const;
  [[nodiscard]] const std::map<TopicId, TopicMeta>& topics() const { return topics_; }
  [[nodiscard]] const TopicMeta* topic(TopicId id) const;
  [[nodiscard]] const TopicMeta* topic(std::string_view name) const;
  [[nodiscard]] const PartitionMeta* partition(TopicId topic, std::int32_t partition) const;
  [[nodiscard]] std::size_t partition_count() const { return partition_count_; }
  [[nodiscard]] TopicId next_topic_id() const { return next_topic_id_; }
  [[nodiscard]] std::int64_t next_producer_id() const { return next_producer_id_; }
  [[nodiscard]] std::int64_t applied_index() const { return applied_index_; }

  // The replicas of `p` on brokers that are fenced or not registered
  // (Metadata's OfflineReplicas).
  [[nodiscard]] std::vector<NodeId> offline_replicas(const PartitionMeta& p) const;
  // Every partition where leadership should move to the preferred replica,
  // in topic id and partition order.
  [[nodiscard]] std::vector<LeaderMove> preferred_leader_moves() const;

  // The limits are configuration, not state: two replicas are equal when
  // they hold the same metadata.
  bool operator==(const MetadataState& other) const;

 private:
  ApplyOutcome register_broker(const RegisterBroker& c, std::int64_t index);
  ApplyOutcome set_fenced(NodeId id, std::int64_t epoch, bool fenced);
  ApplyOutcome create_topic(const CreateTopic& c);
  ApplyOutcome delete_topic(const DeleteTopic& c);
  ApplyOutcome create_partitions(const CreatePartitions& c);
  ApplyOutcome alter_configs(const AlterTopicConfigs& c);
  ApplyOutcome allocate_producer_ids(const AllocateProducerIds& c);
  ApplyOutcome set_leader(const SetPartitionLeader& c);
  ApplyOutcome begin_reassignment(const BeginReassignment& c);
  ApplyOutcome complete_reassignment(const CompleteReassignment& c);
  ApplyOutcome cancel_reassignment(const CancelReassignment& c);
  ApplyOutcome unregister_broker(const UnregisterBroker& c);

  // Refusal reasons (empty: fine) shared by commands and restore().
  [[nodiscard]] std::string check_configs(const ConfigMap& configs) const;
  [[nodiscard]] std::string check_replicas(const std::vector<NodeId>& replicas,
                                           std::string_view what) const;
  [[nodiscard]] std::string check_assignment(const ReplicaAssignment& a,
                                             std::size_t replication_factor) const;
  TopicMeta* mutable_topic(std::string_view name);
  PartitionMeta* mutable_partition(TopicId topic, std::int32_t partition);

  MetadataLimits limits_;
  std::map<NodeId, BrokerRegistration> brokers_;
  std::map<TopicId, TopicMeta> topics_;
  std::map<std::string, TopicId, std::less<>> topic_ids_;  // by name; derived
  std::size_t partition_count_ = 0;                        // derived
  TopicId next_topic_id_ = kFirstTopicId;
  std::int64_t next_producer_id_ = 0;
  std::int64_t applied_index_ = 0;
};

}  // namespace spate::cluster
