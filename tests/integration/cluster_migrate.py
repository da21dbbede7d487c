# SPDX-License-Identifier: Apache-2.0
"""A single node's data directory becomes a cluster member (docs/controller.md,
"Migrating a single node"; ADR 0004): a single-node spated (--node-id 2, no
--seeds) holds a topic of 3 partitions with a config override, written by an
idempotent confluent-kafka producer; it stops, and its data directory is
restarted as broker 2 of three (the others fresh, all with --seeds). Then
every broker's Metadata has the topic with each partition on broker 2 alone
and led by it, every record reads back at the offset the single node
acknowledged it at, `spate topic describe` shows the override, producing works, and
a new idempotent producer's id is above every id the single node handed out
(read from the segment files' batch headers against producer.ids). The whole
cluster restarts once more: the migration does not run again, and everything
still reads back. Broker 2's directory started without --seeds, as the
single node it was, is refused (exit 3: it belongs to a cluster). Last, a
damaged topics.meta stops broker 2's start (exit 3, the log naming the file).
Usage: cluster_migrate.py SPATED_BINARY SPATE_BINARY"""
import glob
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import cluster as rig  # noqa: E402  (tests/integration/cluster.py: its helpers)
from spated import Spated, free_ports  # noqa: E402

TOPIC = "migrated"
PARTITIONS = 3
OVERRIDE = ("retention.ms", "123456789")
SELF = 2  # the single node's --node-id, and its broker id in the cluster
MIGRATING = "migrating them into the controller"
SPATE = None


def produce(bootstrap, first, count):
    """An idempotent producer's records: {(partition, offset): value}."""
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[(msg.partition(), msg.offset())] = msg.value().decode()

    p = Producer(rig.quiet({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                            "acks": "all", "message.timeout.ms": 30000}))
    for i in range(first, first + count):
        p.produce(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS, on_delivery=on_delivery)
        p.poll(0)
    assert p.flush(60) == 0, "records left unacknowledged"
    assert not errors and len(acked) == count, (errors[:5], len(acked))
    return acked


def read_back(bootstrap, expected):
    """Every (partition, offset) of `expected` holds its value."""
    c = Consumer(rig.quiet({"bootstrap.servers": bootstrap, "group.id": "migrate-test",
                            "enable.auto.commit": False}))
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    seen = {}
    deadline = time.monotonic() + 20
    while not expected.keys() <= seen.keys() and time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is None:
            continue
        if m.error() is not None:
            assert m.error().code() == KafkaError._PARTITION_EOF or m.error().retriable(), m.error()
            continue
        seen[(m.partition(), m.offset())] = m.value().decode()
    c.close()
    wrong = {k: (v, seen.get(k)) for k, v in expected.items() if seen.get(k) != v}
    assert not wrong, f"{len(wrong)} records not read back as acknowledged, e.g. " \
                      f"{sorted(wrong.items())[:5]}"


def producer_ids(data_dir):
    """The producer ids in the batch headers of the topic's segment files
    (Kafka's v2 batch: the producer id at byte 43)."""
    ids = set()
    for path in glob.glob(os.path.join(data_dir, f"{TOPIC}-*", "*.log")):
        data = open(path, "rb").read()
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack_from(">i", data, pos + 8)[0]
            if length <= 0:
                break
            pid = struct.unpack_from(">q", data, pos + 43)[0]
            if pid >= 0:
                ids.add(pid)
            pos += 12 + length
    return ids


def next_producer_id(data_dir):
    """producer.ids: the envelope (magic u32, version u16), a reserved u16,
    then the first id of the next block (i64) (docs/storage-format.md)."""
    data = open(os.path.join(data_dir, "producer.ids"), "rb").read()
    return struct.unpack_from(">q", data, 8)[0]


def check_cluster(nodes):
    for node in nodes:
        got = rig.wait_for(f"broker {nodes.index(node)}'s Metadata of {TOPIC}",
                           lambda n=node: rig.all_led(n.bootstrap, TOPIC, PARTITIONS), timeout=30)
        assert all(v[0] == SELF and v[1] == [SELF] for v in got.values()), got
    # `spate topic describe` through broker 2: DescribeConfigs answers from
    # the topics a broker holds (brokers 0 and 1 hold no replica of it).
    r = subprocess.run([SPATE, "-b", nodes[SELF].bootstrap, "--format", "json", "topic",
                        "describe", TOPIC], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    described = json.loads(r.stdout)
    assert described["configs"].get(OVERRIDE[0]) == OVERRIDE[1], described["configs"]
    assert len(described["partitions"]) == PARTITIONS, described


def main():
    global SPATE
    binary, SPATE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    started = time.monotonic()
    single = Spated(binary, ["--node-id", str(SELF)])
    ports = free_ports(3)
    seeds = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports))
    nodes = [Spated(binary, ["--node-id", str(i), "--seeds", seeds,
                             "--cluster-listen", f"127.0.0.1:{ports[i]}"],
                    data_dir=single.data_dir if i == SELF else None) for i in range(3)]
    try:
        single.start()
        admin = AdminClient(rig.quiet({"bootstrap.servers": single.bootstrap}))
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1, config=dict([OVERRIDE]))])[
            TOPIC].result(10)
        before = produce(single.bootstrap, 0, 300)
        assert single.stop() == 0, single.log()[-3000:]
        old_ids = producer_ids(single.data_dir)
        used_below = next_producer_id(single.data_dir)
        assert old_ids and max(old_ids) < used_below, (old_ids, used_below)
        print(f"single node: 300 records by producer ids {sorted(old_ids)}, "
              f"producer.ids at {used_below} ({time.monotonic() - started:.1f} s)")

        for node in nodes:
            node.start()
        boot = ",".join(n.bootstrap for n in nodes)
        # Asked for before the migration committed, another broker would
        # auto-create the topic with three replicas (docs/controller.md,
        # known limits): wait for it first.
        marker = os.path.join(single.data_dir, "topics.meta.migrated")
        rig.wait_for("the migration", lambda: os.path.exists(marker), timeout=30)
        print(f"cluster of three: migration done ({time.monotonic() - started:.1f} s)")
        check_cluster(nodes)
        read_back(boot, before)
        after = produce(boot, 300, 60)
        new_ids = producer_ids(single.data_dir) - old_ids
        assert new_ids and min(new_ids) >= used_below, (new_ids, used_below)
        print(f"migrated: read back, configs kept, new producer id {sorted(new_ids)} "
              f"({time.monotonic() - started:.1f} s)")
        log = nodes[SELF].log()
        assert log.count(MIGRATING) == 1, log[-3000:]
        assert "adopted as cluster topic" in log, log[-3000:]

        # Once more: nothing migrated again, nothing lost.
        logged = [len(n.log()) for n in nodes]
        for i, node in enumerate(nodes):
            code = node.stop()
            assert code == 0, f"broker {i} exited {code}:\n{node.log()[-3000:]}"
        for node in nodes:
            node.start()
        boot = ",".join(n.bootstrap for n in nodes)
        check_cluster(nodes)
        read_back(boot, {**before, **after})
        again = nodes[SELF].log()[logged[SELF]:]
        assert MIGRATING not in again and "adopted" not in again, again[-3000:]
        for i, node in enumerate(nodes):
            code = node.stop()
            assert code == 0, f"broker {i} exited {code}:\n{node.log()[-3000:]}"
        # Started again without --seeds, as the single node it was: refused
        # (exit 3), the log saying why; nothing in it changes.
        logged = len(single.log())
        try:
            single.start()
            raise AssertionError("a cluster member's directory started without --seeds")
        except RuntimeError:
            pass
        said = single.log()[logged:]
        assert single.proc.returncode == 3 and "belongs to a cluster" in said and \
            "--seeds" in said, (single.proc.returncode, said[-2000:])
        print("without --seeds: " +
              next(line for line in said.splitlines() if "belongs to a cluster" in line)[-160:])
        # A damaged topics.meta stops the start with an error naming it.
        path = os.path.join(single.data_dir, "topics.meta")
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0x01
        open(path, "wb").write(bytes(data))
        logged = len(nodes[SELF].log())
        try:
            nodes[SELF].start()
            raise AssertionError("spated started with a damaged topics.meta")
        except RuntimeError:
            pass
        said = nodes[SELF].log()[logged:]
        assert nodes[SELF].proc.returncode == 3 and "topics.meta" in said, \
            (nodes[SELF].proc.returncode, said[-2000:])
        print("damaged topics.meta: " +
              next(line for line in said.splitlines() if "topics.meta" in line)[-160:])
        print(f"cluster_migrate: OK ({time.monotonic() - started:.1f} s)")
    except BaseException:
        rig.print_failure(nodes)
        raise
    finally:
        for node in nodes:
            node.close()
        single.close()


if __name__ == "__main__":
    main()
