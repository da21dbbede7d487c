# SPDX-License-Identifier: Apache-2.0
"""Consumer groups on three real spated brokers in cluster mode (--seeds;
docs/groups.md, "In a cluster"): a confluent-kafka group consumer and a
kafka-python group consumer (each in its own group; both groups hash to the
same partition of __consumer_offsets, so they share a coordinator) consume
and commit; the coordinator broker is SIGKILLed; both consumers find the new
coordinator, their committed offsets are still there (committed()), and
consumption goes on with every record seen; the killed broker restarts and
its replica of __consumer_offsets catches up with the leader's. `spate group
describe` through a broker that does not coordinate the group shows the
committed offsets, and `spate group list` through any broker lists both groups.
Usage: cluster_groups.py SPATED_BINARY SPATE_BINARY"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402
from kafka.structs import TopicPartition as KTopicPartition  # noqa: E402

from cluster import (Cluster, agreed_leader, all_led, all_registered, leaders,  # noqa: E402
                     print_failure, quiet, stop_all, wait_for)

TOPIC = "orders"
PARTITIONS = 4
OFFSETS_PARTITIONS = 4
OFFSETS_TOPIC = "__consumer_offsets"
SPATE = None


def spate(node, *args):
    """The spate CLI with `node` as its only bootstrap broker; its stdout."""
    r = subprocess.run([SPATE, "-b", node.bootstrap, *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def offsets_partition(group):
    """The broker's placement of a group (FNV-1a of its id)."""
    h = 2166136261
    for b in group.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % OFFSETS_PARTITIONS


def two_groups_one_partition():
    """A group for each client, both kept in the same offsets partition."""
    first = "orders-confluent"
    target = offsets_partition(first)
    for i in range(1000):
        other = f"orders-kpy-{i}"
        if offsets_partition(other) == target:
            return first, other, target
    raise AssertionError("no second group id found")


def produce(bootstrap, first, count):
    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all",
                        "message.timeout.ms": 30000, "retry.backoff.ms": 100}))
    errors = []
    for i in range(first, first + count):
        p.produce(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS,
                  on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(60) == 0 and not errors, errors
    return {f"v{i}" for i in range(first, first + count)}


class ConfluentMember:
    def __init__(self, bootstrap, group):
        conf = quiet({"bootstrap.servers": bootstrap, "group.id": group,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                      "topic.metadata.refresh.interval.ms": 1000})
        if os.environ.get("SPATE_RDKAFKA_DEBUG"):
            conf.update({"debug": os.environ["SPATE_RDKAFKA_DEBUG"], "log_level": 7})
        self.c = Consumer(conf)
        self.c.subscribe([TOPIC])
        self.seen = []

    def poll(self):
        for m in self.c.consume(num_messages=1000, timeout=0.1):
            if m.error() is not None:
                print("confluent poll:", m.error())
                continue
            self.seen.append(m.value().decode())

    def commit(self):
        """Synchronous; True once the coordinator acknowledged it."""
        try:
            self.c.commit(asynchronous=False)
            return True
        except Exception as e:  # noqa: BLE001 (retriable while the coordinator moves)
            print("confluent commit:", e)
            return False

    def committed(self):
        try:
            got = self.c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], 5)
        except Exception as e:  # noqa: BLE001
            print("confluent committed():", e)
            return None
        return {tp.partition: tp.offset for tp in got}

    def ends(self):
        """The high watermarks (a new leader's no-op takes an offset too);
        asked again while a leader moves."""
        def read():
            try:
                return {p: self.c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
                        for p in range(PARTITIONS)}
            except KafkaException as e:
                print("confluent watermarks:", e)
                return None
        return wait_for("the high watermarks", read, timeout=30, step=0.2)

    def close(self):
        self.c.close()


class KafkaPythonMember:
    def __init__(self, bootstrap, group):
        self.c = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=group,
                               auto_offset_reset="earliest", enable_auto_commit=False,
                               session_timeout_ms=10000, heartbeat_interval_ms=500,
                               metadata_max_age_ms=1000, request_timeout_ms=15000)
        self.seen = []

    def poll(self):
        for records in self.c.poll(100).values():
            self.seen += [r.value.decode() for r in records]

    def commit(self):
        try:
            self.c.commit()
            return True
        except Exception as e:  # noqa: BLE001
            print("kafka-python commit:", e)
            return False

    def committed(self):
        try:
            return {p: self.c.committed(KTopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
        except Exception as e:  # noqa: BLE001
            print("kafka-python committed():", e)
            return None

    def close(self):
        self.c.close(autocommit=False)


def consume_all(members, want, timeout=40):
    """Polls every member until each has seen every value in `want`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.poll()
        if all(want <= set(m.seen) for m in members):
            return
    missing = {type(m).__name__: sorted(want - set(m.seen), key=lambda v: int(v[1:]))[:10]
               for m in members}
    raise AssertionError(f"records not consumed: {missing}")


def commit_all(members, timeout=30):
    deadline = time.monotonic() + timeout
    pending = list(members)
    while pending and time.monotonic() < deadline:
        for m in members:
            m.poll()
        pending = [m for m in pending if not m.commit()]
    assert not pending, "commits not acknowledged"


def committed_all(members, ends, timeout=30, recommit=False):
    """Waits until every member's committed() answers `ends`. With
    `recommit`, each member also commits its position every round, as an
    application that consumes and commits in a loop does: a member that
    rejoins its group after the coordinator moved (docs/groups.md, "In a
    cluster") restarts from its last committed offsets and reads some records
    again, so a commit made before it has caught up is not its last one."""
    got = {}

    def check():
        for m in members:
            m.poll()
            if recommit:
                m.commit()
        got.update({type(m).__name__: m.committed() for m in members})
        return all(v == ends for v in got.values())
    try:
        wait_for("committed offsets " + str(ends), check, timeout=timeout, step=0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}; last answers: {got}") from None


def main():
    global SPATE
    binary, SPATE = sys.argv[1], os.path.abspath(sys.argv[2])
    started = time.monotonic()
    cluster = Cluster(binary)
    for node in cluster.nodes:
        node.extra_args += ["--offsets-topic-partitions", str(OFFSETS_PARTITIONS)]
    cluster.start()
    members = []
    try:
        wait_for("three registered brokers", lambda: all_registered(cluster.nodes, 3), timeout=30)
        admin = AdminClient(quiet({"bootstrap.servers": cluster.bootstrap}))
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
        wait_for("leaders", lambda: (leaders(cluster.bootstrap, TOPIC) or {0: (-1,)})[0][0] >= 0)
        produced = produce(cluster.bootstrap, 0, 400)

        g_confluent, g_kpy, part = two_groups_one_partition()
        members = [ConfluentMember(cluster.bootstrap, g_confluent),
                   KafkaPythonMember(cluster.bootstrap, g_kpy)]
        consume_all(members, produced)
        commit_all(members)
        ends = members[0].ends()
        assert sum(ends.values()) >= 400, ends
        committed_all(members, ends)
        offsets = wait_for("the offsets topic's leaders",
                           lambda: all_led(cluster.bootstrap, OFFSETS_TOPIC, OFFSETS_PARTITIONS))
        assert len(offsets) == OFFSETS_PARTITIONS, offsets
        assert all(v[1] == [0, 1, 2] for v in offsets.values()), offsets
        victim = offsets[part][0]
        print(f"groups {g_confluent}, {g_kpy} in {OFFSETS_TOPIC}-{part}, coordinator node {victim}; "
              f"{time.monotonic() - started:.1f} s in")

        # SIGKILL the coordinator.
        os.kill(cluster.nodes[victim].proc.pid, signal.SIGKILL)
        cluster.nodes[victim].proc.wait(10)
        killed_at = time.monotonic()
        survivors = ",".join(n.bootstrap for i, n in enumerate(cluster.nodes) if i != victim)
        # The committed offsets are still there, asked of the new coordinator.
        committed_all(members, ends)
        coordinator = wait_for("the survivors to name the new coordinator", lambda: agreed_leader(
            [n for i, n in enumerate(cluster.nodes) if i != victim], OFFSETS_TOPIC, part,
            exclude=(victim,)))
        print(f"committed offsets read from the new coordinator (node {coordinator}) "
              f"{time.monotonic() - killed_at:.1f} s after the kill")
        # Consumption goes on: nothing lost, and commits land on the new coordinator.
        produced |= produce(survivors, 400, 400)
        consume_all(members, produced)
        commit_all(members)
        ends = members[0].ends()
        assert sum(ends.values()) >= 800, ends
        committed_all(members, ends, recommit=True)
        dups = [len(m.seen) - len(set(m.seen)) for m in members]
        print(f"{len(produced)} records consumed by each group after the failover "
              f"(records delivered twice: {dups}), {time.monotonic() - killed_at:.1f} s after the kill")
        # `spate group describe` through the survivor that does not coordinate
        # the group: it asks FindCoordinator and goes there.
        other = cluster.nodes[next(i for i in range(3) if i not in (victim, coordinator))]
        described = json.loads(spate(other, "--format", "json", "group", "describe", g_confluent))
        got = {p["partition"]: p["committed_offset"] for p in described["partitions"]
               if p["topic"] == TOPIC}
        assert got == ends, (got, ends, described)

        # The killed broker comes back and catches up with the offsets partition.
        cluster.nodes[victim].start()

        def offsets_log(node):
            files = sorted(glob.glob(os.path.join(node.data_dir, f"{OFFSETS_TOPIC}-{part}", "*.log")))
            return b"".join(open(f, "rb").read() for f in files)

        def caught_up():
            logs = [offsets_log(n) for n in cluster.nodes]
            return logs[0] and all(log == logs[0] for log in logs)
        wait_for(f"identical replicas of {OFFSETS_TOPIC}-{part}", caught_up, timeout=30)
        wait_for("the restarted broker in sync", lambda: all(
            victim in v[2] for v in (leaders(cluster.bootstrap, OFFSETS_TOPIC) or {0: ((), (), ())}).values()))
        for m in members:
            m.close()
        members = []
        # A fresh consumer of each group starts at the committed offsets.
        fresh = ConfluentMember(cluster.bootstrap, g_confluent)
        wait_for("the committed offsets from a fresh consumer",
                 lambda: fresh.committed() == ends, timeout=20, step=0.2)
        fresh.close()
        # `spate group list` asks every broker; through any one, both groups.
        listed = json.loads(spate(cluster.nodes[victim], "--format", "json", "group", "list"))
        assert {g_confluent, g_kpy} <= {g["group"] for g in listed}, listed
        stop_all(cluster.nodes)
        print(f"cluster groups: OK in {time.monotonic() - started:.1f} s")
    except BaseException:
        print_failure(cluster.nodes)
        raise
    finally:
        for m in members:
            try:
                m.close()
            except Exception:  # noqa: BLE001
                pass
        cluster.close()


if __name__ == "__main__":
    main()
