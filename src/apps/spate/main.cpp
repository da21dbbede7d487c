// SPDX-License-Identifier: Apache-2.0
//
// spate: the operator CLI (design.md, Processes). Flags are parsed here with
// CLI11; each subcommand is a function of the client module.

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "spate/client/commands.h"

namespace {

using namespace spate::client;  // NOLINT(google-build-using-namespace): wiring only

// Every flag's value, read by the subcommands' callbacks after parsing, and
// the exit code the callback sets.
struct Cli {
  CommonOptions common;
  std::string format = "table";
  std::int64_t timeout_ms = 10000;
  Io io{std::cin, std::cout, std::cerr};
  int code = 0;
  // topic
  std::string name;
  std::int32_t partitions = 1;
  std::int16_t replication = -1;
  std::vector<std::string> configs;
  std::vector<std::string> delete_configs;
  bool validate_only = false;
  bool json = false;  // cluster info --json: the same as --format json
  std::int32_t total = 0;
  std::int32_t records_partition = 0;
  std::int64_t before = -1;
  std::int32_t reassign_partition = 0;
  std::vector<std::int32_t> replicas;
  bool cancel = false;
  std::int32_t broker = -1;
  std::int64_t drain_wait_s = 300;
  // produce, consume, bench
  ProduceOptions produce;
  std::int32_t produce_partition = -1;
  ConsumeOptions consume;
  std::int32_t consume_partition = -1;
  std::int64_t count = -1;
  BenchOptions bench;
  // group
  std::string group;
  std::vector<std::string> groups;
  ResetOptions reset;
  bool to_earliest = false;
  bool to_latest = false;
  std::optional<std::int64_t> to_offset;
  std::optional<std::int64_t> to_time;
  std::optional<std::int64_t> shift_by;
  std::optional<std::int32_t> reset_partition;

  // The common options as the flags left them.
  const CommonOptions& options() {
    common.format = format == "json" ? Format::json : Format::table;
    common.timeout = std::chrono::milliseconds(timeout_ms);
    return common;
  }
};

// topic create, list, describe, alter, delete.
void add_topic_admin(CLI::App& topic, Cli& f) {
  auto* create = topic.add_subcommand("create", "create a topic");
  create->add_option("name", f.name, "topic name")->required();
  create->add_option("-p,--partitions", f.partitions, "number of partitions")
      ->check(CLI::Range(1, 10000));
  create->add_option("-r,--replication-factor", f.replication, "replicas (1 on a single node)");
  create->add_option("-c,--config", f.configs, "NAME=VALUE topic config (repeatable)");
  create->add_flag("--validate-only", f.validate_only, "check, change nothing");
  create->callback([&f] {
    f.code = topic_create(f.options(), f.name, f.partitions, f.replication, f.configs,
                          f.validate_only, f.io);
  });
  topic.add_subcommand("list", "list topics")->callback([&f] {
    f.code = topic_list(f.options(), f.io);
  });
  auto* describe = topic.add_subcommand("describe", "partitions, offsets and configs of a topic");
  describe->add_option("name", f.name, "topic name")->required();
  describe->callback([&f] { f.code = topic_describe(f.options(), f.name, f.io); });
  auto* alter = topic.add_subcommand("alter", "set or delete topic configs");
  alter->add_option("name", f.name, "topic name")->required();
  alter->add_option("-c,--config", f.configs, "NAME=VALUE to set (repeatable)");
  alter->add_option("--delete-config", f.delete_configs,
                    "NAME to reset to the default (repeatable)");
  alter->callback(
      [&f] { f.code = topic_alter(f.options(), f.name, f.configs, f.delete_configs, f.io); });
  auto* remove = topic.add_subcommand("delete", "delete a topic and its data");
  remove->add_option("name", f.name, "topic name")->required();
  remove->callback([&f] { f.code = topic_delete(f.options(), f.name, f.io); });
}

// topic add-partitions, delete-records.
void add_topic_partitions(CLI::App& topic, Cli& f) {
  auto* grow = topic.add_subcommand("add-partitions", "grow a topic to a number of partitions");
  grow->add_option("name", f.name, "topic name")->required();
  grow->add_option("--total", f.total, "the new number of partitions")
      ->required()
      ->check(CLI::Range(1, 10000));
  grow->callback([&f] { f.code = topic_add_partitions(f.options(), f.name, f.total, f.io); });
  auto* delete_records = topic.add_subcommand(
      "delete-records", "delete a partition's records below an offset (DeleteRecords)");
  delete_records->add_option("name", f.name, "topic name")->required();
  delete_records->add_option("-p,--partition", f.records_partition, "partition")->required();
  delete_records->add_option("--before", f.before, "first offset to keep (-1: everything so far)")
      ->required();
  delete_records->callback([&f] {
    f.code = topic_delete_records(f.options(), f.name, f.records_partition, f.before, f.io);
  });
}

// topic reassign, reassignments.
void add_topic_reassign(CLI::App& topic, Cli& f) {
  auto* reassign = topic.add_subcommand(
      "reassign", "move a partition's replicas (or --cancel a move in progress)");
  reassign->add_option("name", f.name, "topic name")->required();
  reassign->add_option("-p,--partition", f.reassign_partition, "partition")->required();
  reassign->add_option("--replicas", f.replicas, "the new replicas, first the preferred leader")
      ->delimiter(',');
  reassign->add_flag("--cancel", f.cancel, "cancel the partition's move in progress");
  reassign->callback([&f] {
    f.code = topic_reassign(f.options(), f.name, f.reassign_partition, f.replicas, f.cancel, f.io);
  });
  topic.add_subcommand("reassignments", "the reassignments in progress")->callback([&f] {
    f.code = topic_reassignments(f.options(), f.io);
  });
}

void add_produce(CLI::App& app, Cli& f) {
  auto* cmd = app.add_subcommand("produce", "send lines of stdin (or a file) as records");
  cmd->add_option("topic", f.produce.topic, "topic")->required();
  cmd->add_option("-p,--partition", f.produce_partition,
                  "partition (default: by key like the Java client, else round robin)");
  cmd->add_option("-f,--file", f.produce.file, "read lines from this file");
  cmd->add_option("-K,--key-separator", f.produce.key_separator,
                  "split each line into KEY<sep>VALUE");
  cmd->add_option("-H,--header", f.produce.headers, "NAME=VALUE header (repeatable)");
  cmd->add_option("--acks", f.produce.acks, "0, 1 or all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}));
  cmd->add_option("-z,--compression", f.produce.compression, "none, gzip, snappy, lz4 or zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  cmd->add_option("--batch-bytes", f.produce.batch_bytes, "records per request, in bytes")
      ->check(CLI::Range(1, 64 << 20));
  cmd->callback([&f] {
    if (f.produce_partition >= 0) f.produce.partition = f.produce_partition;
    f.code = produce(f.options(), f.produce, f.io);
  });
}

void add_consume(CLI::App& app, Cli& f) {
  auto* cmd = app.add_subcommand("consume", "print records of a topic");
  cmd->add_option("topic", f.consume.topic, "topic")->required();
  cmd->add_option("-p,--partition", f.consume_partition, "only this partition");
  cmd->add_option("--from", f.consume.from,
                  "beginning, end, OFFSET, -N (N before the end) or @TIMESTAMP_MS");
  cmd->add_option("-n,--count", f.count, "stop after this many records")
      ->check(CLI::Range(0L, std::numeric_limits<std::int64_t>::max()));
  cmd->add_flag("-F,--follow", f.consume.follow, "keep waiting for new records");
  cmd->add_option("-o,--output", f.consume.output,
                  "text (values), kv (KEY<TAB>VALUE) or json (JSON lines)")
      ->check(CLI::IsMember({"text", "kv", "json"}));
  cmd->callback([&f] {
    if (f.consume_partition >= 0) f.consume.partition = f.consume_partition;
    if (f.count >= 0) f.consume.count = f.count;
    f.code = consume(f.options(), f.consume, f.io);
  });
}

// group reset-offsets: exactly one of --to-earliest, --to-latest, --to-offset,
// --to-time, --shift-by.
void add_group_reset(CLI::App& group, Cli& f) {
  auto* reset = group.add_subcommand(
      "reset-offsets", "set a group's committed offsets (refused while it has members)");
  reset->add_option("group", f.group, "group id")->required();
  reset->add_option("-t,--topic", f.reset.topic, "topic")->required();
  auto* earliest = reset->add_flag("--to-earliest", f.to_earliest, "the log start offset");
  auto* latest = reset->add_flag("--to-latest", f.to_latest, "the log end offset");
  auto* offset =
      reset->add_option("--to-offset", f.to_offset, "this offset (clamped into the log's range)");
  auto* time = reset
                   ->add_option("--to-time", f.to_time,
                                "the first offset at or after this time (ms since the epoch)")
                   ->check(CLI::NonNegativeNumber);
  auto* shift = reset->add_option("--shift-by", f.shift_by,
                                  "the committed offset plus N (N may be negative)");
  const std::vector<CLI::Option*> targets{earliest, latest, offset, time, shift};
  for (std::size_t i = 0; i < targets.size(); ++i) {
    for (std::size_t j = i + 1; j < targets.size(); ++j) targets[i]->excludes(targets[j]);
  }
  reset->add_option("-p,--partition", f.reset_partition, "only this partition")
      ->check(CLI::NonNegativeNumber);
  reset->add_flag("--dry-run", f.reset.dry_run, "show the new offsets, change nothing");
  reset->callback([&f] {
    using To = ResetOptions::To;
    if (f.to_earliest) {
      f.reset.to = To::earliest;
    } else if (f.to_latest) {
      f.reset.to = To::latest;
    } else if (f.to_offset || f.to_time || f.shift_by) {
      f.reset.to = f.to_offset ? To::offset : f.to_time ? To::time : To::shift;
      f.reset.offset = f.to_offset ? *f.to_offset : f.to_time ? *f.to_time : *f.shift_by;
    } else {
      throw CLI::RequiredError(
          "one of --to-earliest, --to-latest, --to-offset, --to-time or --shift-by");
    }
    f.reset.partition = f.reset_partition;
    f.code = group_reset_offsets(f.options(), f.group, f.reset, f.io);
  });
}

void add_group(CLI::App& app, Cli& f) {
  auto* group = app.add_subcommand("group", "list, describe, reset, delete consumer groups");
  group->require_subcommand(1);
  group->add_subcommand("list", "list groups")->callback([&f] {
    f.code = group_list(f.options(), f.io);
  });
  auto* describe =
      group->add_subcommand("describe", "state, members, committed offsets and lag of a group");
  describe->add_option("group", f.group, "group id")->required();
  describe->callback([&f] { f.code = group_describe(f.options(), f.group, f.io); });
  add_group_reset(*group, f);
  auto* remove = group->add_subcommand("delete", "delete groups without members and their offsets");
  remove->add_option("groups", f.groups, "group ids")->required();
  remove->callback([&f] { f.code = group_delete(f.options(), f.groups, f.io); });
}

void add_bench(CLI::App& app, Cli& f) {
  auto* bench = app.add_subcommand("bench", "measure produce or consume throughput and latency");
  bench->require_subcommand(1);
  auto common = [&f](CLI::App* cmd) {
    cmd->add_option("-t,--topic", f.bench.topic, "topic (created if missing)");
    cmd->add_option("-s,--record-size", f.bench.record_size, "bytes per record value")
        ->check(CLI::Range(1, 16 << 20));
    cmd->add_option("-n,--records", f.bench.records,
                    "stop after this many records (default: --seconds)");
    cmd->add_option("-d,--seconds", f.bench.seconds, "how long to run")
        ->check(CLI::Range(0.1, 86400.0));
    cmd->add_option("-c,--connections", f.bench.connections, "connections (threads)")
        ->check(CLI::Range(1, 256));
  };
  auto* produce_cmd =
      bench->add_subcommand("produce", "produce records as fast as acknowledged, or at --rate");
  common(produce_cmd);
  produce_cmd->add_option("--batch-bytes", f.bench.batch_bytes, "bytes of records per request")
      ->check(CLI::Range(1, 64 << 20));
  produce_cmd->add_option("--acks", f.bench.acks, "0, 1 or all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}));
  produce_cmd->add_option("--partitions", f.bench.partitions,
                          "partitions when creating the topic (default: one per connection)");
  produce_cmd->add_option("--rate", f.bench.rate,
                          "records/s in all, one record per request (for latency)");
  produce_cmd->add_option("--inflight", f.bench.inflight, "requests in flight per connection")
      ->check(CLI::Range(1, 1024));
  produce_cmd->callback([&f] { f.code = bench_produce(f.options(), f.bench, f.io); });
  auto* consume_cmd =
      bench->add_subcommand("consume", "read a topic from the start to its current end");
  common(consume_cmd);
  consume_cmd->add_option("-g,--group", f.bench.group,
                          "consume through this consumer group (join, sync, fetch, commit; one "
                          "member per connection), from its committed offsets");
  consume_cmd->callback([&f] { f.code = bench_consume(f.options(), f.bench, f.io); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spate: manage and use a Spate (Kafka-compatible) cluster"};
  app.require_subcommand(1);
  Cli f;
  if (const char* env = std::getenv("SPATE_BROKERS"); env != nullptr && *env != '\0') {
    f.common.brokers = env;
  }
  app.add_option("-b,--brokers", f.common.brokers,
                 "HOST:PORT[,HOST:PORT...] (env SPATE_BROKERS, default localhost:9092)");
  app.add_option("--format", f.format, "table (for people) or json (for scripts)")
      ->check(CLI::IsMember({"table", "json"}));
  app.add_option("--timeout-ms", f.timeout_ms, "per request")->check(CLI::Range(1, 3'600'000));

  auto* topic = app.add_subcommand("topic", "create, list, describe, alter, delete topics");
  topic->require_subcommand(1);
  add_topic_admin(*topic, f);
  add_topic_partitions(*topic, f);
  add_topic_reassign(*topic, f);
  add_produce(app, f);
  add_consume(app, f);
  auto* cluster = app.add_subcommand("cluster", "the cluster");
  cluster->require_subcommand(1);
  auto* info = cluster->add_subcommand(
      "info",
      "controller, brokers (down ones too), and each partition's leader, replicas, "
      "in-sync and offline replicas and end offset");
  info->add_flag("--json", f.json, "the same as --format json");
  info->callback([&f] {
    if (f.json) f.format = "json";
    f.code = cluster_info(f.options(), f.io);
  });
  auto* drain = cluster->add_subcommand(
      "drain", "move every replica off a broker to the other live brokers, and wait");
  drain->add_option("id", f.broker, "broker id")->required()->check(CLI::NonNegativeNumber);
  drain->add_option("--timeout", f.drain_wait_s, "seconds to wait for the moves")
      ->check(CLI::Range(1, 86'400));
  drain->callback([&f] {
    f.code = cluster_drain(f.options(), f.broker, std::chrono::seconds(f.drain_wait_s), f.io);
  });
  auto* remove = cluster->add_subcommand(
      "remove",
      "remove a broker from the cluster (it must hold no replica: drain it first; not a --seeds "
      "broker)");
  remove->add_option("id", f.broker, "broker id")->required()->check(CLI::NonNegativeNumber);
  remove->callback([&f] { f.code = cluster_remove(f.options(), f.broker, f.io); });
  add_bench(app, f);
  add_group(app, f);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; a usage error prints CLI11's message and exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    // An answer missing what the request asked for (an empty array where
    // one element was due, say): a broker's fault, not a crash of ours.
    std::cerr << "spate: unexpected answer from the broker: " << e.what() << "\n";
    return 1;
  }
  return f.code;
}
