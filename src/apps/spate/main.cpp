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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spate: manage and use a Spate (Kafka-compatible) cluster"};
  app.require_subcommand(1);
  CommonOptions common;
  if (const char* env = std::getenv("SPATE_BROKERS"); env != nullptr && *env != '\0') {
    common.brokers = env;
  }
  std::string format = "table";
  std::int64_t timeout_ms = 10000;
  app.add_option("-b,--brokers", common.brokers,
                 "HOST:PORT[,HOST:PORT...] (env SPATE_BROKERS, default localhost:9092)");
  app.add_option("--format", format, "table (for people) or json (for scripts)")
      ->check(CLI::IsMember({"table", "json"}));
  app.add_option("--timeout-ms", timeout_ms, "per request")->check(CLI::Range(1, 3'600'000));
  Io io{std::cin, std::cout, std::cerr};
  int code = 0;
  auto finish_common = [&] {
    common.format = format == "json" ? Format::json : Format::table;
    common.timeout = std::chrono::milliseconds(timeout_ms);
  };

  // topic
  auto* topic = app.add_subcommand("topic", "create, list, describe, alter, delete topics");
  topic->require_subcommand(1);
  std::string name;
  std::int32_t partitions = 1;
  std::int16_t replication = -1;
  std::vector<std::string> configs;
  std::vector<std::string> delete_configs;
  bool validate_only = false;
  auto* create = topic->add_subcommand("create", "create a topic");
  create->add_option("name", name, "topic name")->required();
  create->add_option("-p,--partitions", partitions, "number of partitions")
      ->check(CLI::Range(1, 10000));
  create->add_option("-r,--replication-factor", replication, "replicas (1 on a single node)");
  create->add_option("-c,--config", configs, "NAME=VALUE topic config (repeatable)");
  create->add_flag("--validate-only", validate_only, "check, change nothing");
  create->callback([&] {
    finish_common();
    code = topic_create(common, name, partitions, replication, configs, validate_only, io);
  });
  topic->add_subcommand("list", "list topics")->callback([&] {
    finish_common();
    code = topic_list(common, io);
  });
  auto* describe = topic->add_subcommand("describe", "partitions, offsets and configs of a topic");
  describe->add_option("name", name, "topic name")->required();
  describe->callback([&] {
    finish_common();
    code = topic_describe(common, name, io);
  });
  auto* alter = topic->add_subcommand("alter", "set or delete topic configs");
  alter->add_option("name", name, "topic name")->required();
  alter->add_option("-c,--config", configs, "NAME=VALUE to set (repeatable)");
  alter->add_option("--delete-config", delete_configs, "NAME to reset to the default (repeatable)");
  alter->callback([&] {
    finish_common();
    code = topic_alter(common, name, configs, delete_configs, io);
  });
  auto* remove = topic->add_subcommand("delete", "delete a topic and its data");
  remove->add_option("name", name, "topic name")->required();
  remove->callback([&] {
    finish_common();
    code = topic_delete(common, name, io);
  });
  std::int32_t total = 0;
  auto* grow = topic->add_subcommand("add-partitions", "grow a topic to a number of partitions");
  grow->add_option("name", name, "topic name")->required();
  grow->add_option("--total", total, "the new number of partitions")
      ->required()
      ->check(CLI::Range(1, 10000));
  grow->callback([&] {
    finish_common();
    code = topic_add_partitions(common, name, total, io);
  });

  std::int32_t records_partition = 0;
  std::int64_t before = -1;
  auto* delete_records = topic->add_subcommand(
      "delete-records", "delete a partition's records below an offset (DeleteRecords)");
  delete_records->add_option("name", name, "topic name")->required();
  delete_records->add_option("-p,--partition", records_partition, "partition")->required();
  delete_records->add_option("--before", before, "first offset to keep (-1: everything so far)")
      ->required();
  delete_records->callback([&] {
    finish_common();
    code = topic_delete_records(common, name, records_partition, before, io);
  });

  // produce
  ProduceOptions produce_options;
  std::int32_t produce_partition = -1;
  auto* produce_cmd = app.add_subcommand("produce", "send lines of stdin (or a file) as records");
  produce_cmd->add_option("topic", produce_options.topic, "topic")->required();
  produce_cmd->add_option("-p,--partition", produce_partition,
                          "partition (default: by key like the Java client, else round robin)");
  produce_cmd->add_option("-f,--file", produce_options.file, "read lines from this file");
  produce_cmd->add_option("-K,--key-separator", produce_options.key_separator,
                          "split each line into KEY<sep>VALUE");
  produce_cmd->add_option("-H,--header", produce_options.headers, "NAME=VALUE header (repeatable)");
  produce_cmd->add_option("--acks", produce_options.acks, "0, 1 or all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}));
  produce_cmd
      ->add_option("-z,--compression", produce_options.compression,
                   "none, gzip, snappy, lz4 or zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  produce_cmd
      ->add_option("--batch-bytes", produce_options.batch_bytes, "records per request, in bytes")
      ->check(CLI::Range(1, 64 << 20));
  produce_cmd->callback([&] {
    finish_common();
    if (produce_partition >= 0) produce_options.partition = produce_partition;
    code = produce(common, produce_options, io);
  });

  // consume
  ConsumeOptions consume_options;
  std::int32_t consume_partition = -1;
  std::int64_t count = -1;
  auto* consume_cmd = app.add_subcommand("consume", "print records of a topic");
  consume_cmd->add_option("topic", consume_options.topic, "topic")->required();
  consume_cmd->add_option("-p,--partition", consume_partition, "only this partition");
  consume_cmd->add_option("--from", consume_options.from,
                          "beginning, end, OFFSET, -N (N before the end) or @TIMESTAMP_MS");
  consume_cmd->add_option("-n,--count", count, "stop after this many records")
      ->check(CLI::Range(0L, std::numeric_limits<std::int64_t>::max()));
  consume_cmd->add_flag("-F,--follow", consume_options.follow, "keep waiting for new records");
  consume_cmd
      ->add_option("-o,--output", consume_options.output,
                   "text (values), kv (KEY<TAB>VALUE) or json (JSON lines)")
      ->check(CLI::IsMember({"text", "kv", "json"}));
  consume_cmd->callback([&] {
    finish_common();
    if (consume_partition >= 0) consume_options.partition = consume_partition;
    if (count >= 0) consume_options.count = count;
    code = consume(common, consume_options, io);
  });

  // cluster
  auto* cluster = app.add_subcommand("cluster", "the cluster");
  cluster->require_subcommand(1);
  cluster->add_subcommand("info", "brokers, controller, topic and partition counts")->callback([&] {
    finish_common();
    code = cluster_info(common, io);
  });

  // bench
  BenchOptions bench;
  auto* bench_cmd =
      app.add_subcommand("bench", "measure produce or consume throughput and latency");
  bench_cmd->require_subcommand(1);
  auto add_bench = [&](CLI::App* cmd) {
    cmd->add_option("-t,--topic", bench.topic, "topic (created if missing)");
    cmd->add_option("-s,--record-size", bench.record_size, "bytes per record value")
        ->check(CLI::Range(1, 16 << 20));
    cmd->add_option("-n,--records", bench.records,
                    "stop after this many records (default: --seconds)");
    cmd->add_option("-d,--seconds", bench.seconds, "how long to run")
        ->check(CLI::Range(0.1, 86400.0));
    cmd->add_option("-c,--connections", bench.connections, "connections (threads)")
        ->check(CLI::Range(1, 256));
  };
  auto* bench_produce_cmd =
      bench_cmd->add_subcommand("produce", "produce records as fast as acknowledged, or at --rate");
  add_bench(bench_produce_cmd);
  bench_produce_cmd->add_option("--batch-bytes", bench.batch_bytes, "bytes of records per request")
      ->check(CLI::Range(1, 64 << 20));
  bench_produce_cmd->add_option("--acks", bench.acks, "0, 1 or all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}));
  bench_produce_cmd->add_option("--partitions", bench.partitions,
                                "partitions when creating the topic (default: one per connection)");
  bench_produce_cmd->add_option("--rate", bench.rate,
                                "records/s in all, one record per request (for latency)");
  bench_produce_cmd->add_option("--inflight", bench.inflight, "requests in flight per connection")
      ->check(CLI::Range(1, 1024));
  bench_produce_cmd->callback([&] {
    finish_common();
    code = bench_produce(common, bench, io);
  });
  auto* bench_consume_cmd =
      bench_cmd->add_subcommand("consume", "read a topic from the start to its current end");
  add_bench(bench_consume_cmd);
  bench_consume_cmd->callback([&] {
    finish_common();
    code = bench_consume(common, bench, io);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; a usage error prints CLI11's message and exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return code;
}
