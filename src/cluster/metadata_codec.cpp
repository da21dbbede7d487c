// SPDX-License-Identifier: Apache-2.0
//
// The controller's log entries: one Command each (metadata_codec.h).

#include "spate/cluster/metadata_codec.h"

#include <type_traits>

#include <fmt/format.h>

#include "metadata_wire.h"

namespace spate::cluster {

namespace {

// One overload per command: its fields in declaration order.
void write(wire::Writer&, const NoopCommand&) {}

void write(wire::Writer& w, const RegisterBroker& c) {
  w.num<std::int32_t>(c.id.value());
  w.host_port(c.advertised);
  w.host_port(c.cluster);
  w.opt_str(c.rack);
  w.num<std::uint64_t>(c.incarnation);
}

template <typename T>
requires std::is_same_v<T, FenceBroker> || std::is_same_v<T, UnfenceBroker>
void write(wire::Writer& w, const T& c) {
  w.num<std::int32_t>(c.id.value());
  w.num<std::int64_t>(c.epoch);
}

void write(wire::Writer& w, const CreateTopic& c) {
  w.str(c.name);
  w.num<std::uint64_t>(c.id);
  w.assignment(c.assignments);
  w.configs(c.configs);
}

void write(wire::Writer& w, const DeleteTopic& c) {
  w.str(c.name);
  w.num<std::uint64_t>(c.id);
}

void write(wire::Writer& w, const CreatePartitions& c) {
  w.str(c.name);
  w.assignment(c.assignments);
}

void write(wire::Writer& w, const AlterTopicConfigs& c) {
  w.str(c.name);
  w.configs(c.configs);
}

void write(wire::Writer& w, const AllocateProducerIds& c) {
  w.num<std::int32_t>(c.broker.value());
  w.num<std::int64_t>(c.count);
}

void write(wire::Writer& w, const SetPartitionLeader& c) {
  w.num<std::uint64_t>(c.topic);
  w.num<std::int32_t>(c.partition);
  w.num<std::int32_t>(c.leader.value());
  w.num<std::int64_t>(c.epoch.value());
  w.ids(c.isr);
}

// Begin, complete and cancel a reassignment: the partition, then the target
// (none for a cancel).
template <typename T>
requires std::is_same_v<T, BeginReassignment> || std::is_same_v<T, CompleteReassignment> ||
    std::is_same_v<T, CancelReassignment>
void write(wire::Writer& w, const T& c) {
  w.num<std::uint64_t>(c.topic);
  w.num<std::int32_t>(c.partition);
  if constexpr (!std::is_same_v<T, CancelReassignment>) w.ids(c.target);
}

void write(wire::Writer& w, const UnregisterBroker& c) { w.num<std::int32_t>(c.id.value()); }

std::string topic_name(wire::Reader& r) {
  return r.str(r.limits().topic_name_bytes_max, "topic name");
}

RegisterBroker read_register(wire::Reader& r) {
  RegisterBroker c;
  c.id = NodeId(r.num<std::int32_t>("broker id"));
  c.advertised = r.host_port("advertised address");
  c.cluster = r.host_port("cluster address");
  c.rack = r.opt_str(r.limits().string_bytes_max, "rack");
  c.incarnation = r.num<std::uint64_t>("incarnation");
  return c;
}

template <typename T>
T read_fence(wire::Reader& r) {
  T c;
  c.id = NodeId(r.num<std::int32_t>("broker id"));
  c.epoch = r.num<std::int64_t>("broker epoch");
  return c;
}

CreateTopic read_create_topic(wire::Reader& r) {
  CreateTopic c;
  c.name = topic_name(r);
  c.id = r.num<std::uint64_t>("topic id");
  c.assignments = r.assignment("assignments");
  c.configs = r.configs("configs");
  return c;
}

SetPartitionLeader read_set_leader(wire::Reader& r) {
  SetPartitionLeader c;
  c.topic = r.num<std::uint64_t>("topic id");
  c.partition = r.num<std::int32_t>("partition");
  c.leader = NodeId(r.num<std::int32_t>("leader"));
  c.epoch = Term(r.num<std::int64_t>("leader epoch"));
  c.isr = r.ids(r.limits().replicas_max * 2, "in-sync replicas");
  return c;
}

template <typename T>
T read_reassignment(wire::Reader& r) {
  T c;
  c.topic = r.num<std::uint64_t>("topic id");
  c.partition = r.num<std::int32_t>("partition");
  if constexpr (!std::is_same_v<T, CancelReassignment>) {
    c.target = r.ids(r.limits().replicas_max, "target replicas");
  }
  return c;
}

std::optional<Command> read_fields(wire::Reader& r, std::uint8_t type) {
  switch (type) {
    case 0:
      return NoopCommand{};
    case 1:
      return read_register(r);
    case 2:
      return read_fence<FenceBroker>(r);
    case 3:
      return read_fence<UnfenceBroker>(r);
    case 4:
      return read_create_topic(r);
    case 5: {
      DeleteTopic c;
      c.name = topic_name(r);
      c.id = r.num<std::uint64_t>("topic id");
      return c;
    }
    case 6: {
      CreatePartitions c;
      c.name = topic_name(r);
      c.assignments = r.assignment("assignments");
      return c;
    }
    case 7: {
      AlterTopicConfigs c;
      c.name = topic_name(r);
      c.configs = r.configs("configs");
      return c;
    }
    case 8: {
      AllocateProducerIds c;
      c.broker = NodeId(r.num<std::int32_t>("broker id"));
      c.count = r.num<std::int64_t>("count");
      return c;
    }
    case 9:
      return read_set_leader(r);
    case 10:
      return read_reassignment<BeginReassignment>(r);
    case 11:
      return read_reassignment<CompleteReassignment>(r);
    case 12:
      return read_reassignment<CancelReassignment>(r);
    case 13:
      return UnregisterBroker{NodeId(r.num<std::int32_t>("broker id"))};
    default:
      return std::nullopt;
  }
}
static_assert(std::variant_size_v<Command> == 14, "a new command needs its type in read_fields");

}  // namespace

std::vector<std::byte> encode_command(const Command& command) {
  wire::Writer w;
  w.num<std::uint8_t>(kMetadataCommandVersion);
  w.num<std::uint8_t>(static_cast<std::uint8_t>(command.index()));
  std::visit([&](const auto& c) { write(w, c); }, command);
  return w.release();
}

Result<Command> decode_command(std::span<const std::byte> bytes, const MetadataLimits& limits) {
  wire::Reader r(bytes, limits, "metadata command");
  const auto version = r.num<std::uint8_t>("version");
  const auto type = r.num<std::uint8_t>("type");
  if (!r.ok()) return r.finish().error();
  if (version != kMetadataCommandVersion) {
    return Error(Errc::unsupported_version,
                 fmt::format("metadata command version {}, this broker reads {}", version,
                             kMetadataCommandVersion));
  }
  auto command = read_fields(r, type);
  if (!command) return Error::malformed(fmt::format("metadata command type {} is unknown", type));
  if (auto s = r.finish(); !s) return s.error();
  return std::move(*command);
}

}  // namespace spate::cluster
