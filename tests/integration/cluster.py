# SPDX-License-Identifier: Apache-2.0
"""Three real spated brokers on loopback in cluster mode (--seeds): a topic
with replication factor 3 is created through any broker, every broker's
Metadata names the leaders, replicas and in-sync replicas, and (v7) the
leader epochs, which go up with a new leader and never down; confluent-kafka
produces with acks=all, the leader of a partition is killed with SIGKILL and
producing goes on through the new leaders; the killed broker restarts and
catches up, and then every replica's log files are identical and every
acknowledged record is read back. A replication factor above the brokers is
refused; a deleted topic's folders leave every broker. A kafka-python
consumer polls a log that ends with a new leader's no-op.
Usage: cluster.py SPATED_BINARY"""
import glob
import os
import signal
import struct
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402
from kafka.structs import TopicPartition as KTopicPartition  # noqa: E402

import kafka_wire  # noqa: E402
from spated import Spated, free_ports  # noqa: E402  (free_ports: also for the other cluster tests)

TOPIC = "replicated"
PARTITIONS = 6


def quiet(conf):
    return dict(conf, log_level=0)


def wait_for(what, check, timeout=20.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def print_failure(nodes, tail=4000, label="node"):
    """In an except block: the error first (a CI log may keep only the start
    of a test's output), then each broker's log tail; the traceback follows
    when the caller re-raises."""
    err = sys.exc_info()[1]
    print(f"FAILED: {type(err).__name__}: {err}", flush=True)
    for i, node in enumerate(nodes):
        print(f"---- {label} {i} log (tail) ----\n{node.log()[-tail:]}")


def stop_all(nodes):
    """SIGTERM to each node in turn; each must exit 0."""
    for i, node in enumerate(nodes):
        code = node.stop()
        assert code == 0, f"node {i} exited {code}:\n{node.log()[-3000:]}"


class Cluster:
    """`n` brokers, the first `voters` (default: all) of them the --seeds; the
    others join the cluster as the controller's learners. `extra`: more
    spated arguments, for every broker."""

    def __init__(self, binary, n=3, voters=None, extra=()):
        self.ports = free_ports(n)
        voters = n if voters is None else voters
        seeds = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(self.ports[:voters]))
        self.nodes = [Spated(binary, ["--node-id", str(i), "--seeds", seeds,
                                      "--cluster-listen", f"127.0.0.1:{self.ports[i]}",
                                      *extra])
                      for i in range(n)]

    def start(self):
        for node in self.nodes:
            node.start()
        return self

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.nodes if n.proc and n.proc.poll() is None)

    def close(self):
        for node in self.nodes:
            node.close()


def leaders(bootstrap, topic):
    """partition -> (leader, replicas, isrs) from one broker's Metadata."""
    md = AdminClient(quiet({"bootstrap.servers": bootstrap})).list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return {p.id: (p.leader, sorted(p.replicas), sorted(p.isrs)) for p in t.partitions.values()}


def all_led(bootstrap, topic, partitions, exclude=()):
    got = leaders(bootstrap, topic)
    if not got or len(got) != partitions:
        return None
    if any(v[0] < 0 or v[0] in exclude for v in got.values()):
        return None
    return got


def agreed_leader(nodes, topic, partition, exclude=()):
    """The leader of `partition` when every one of `nodes` names the same one,
    not in `exclude`; else None (for wait_for: each broker applies the
    metadata in its own time)."""
    named = set()
    for n in nodes:
        got = leaders(n.bootstrap, topic)
        if not got or partition not in got:
            return None
        named.add(got[partition][0])
    leader = named.pop() if len(named) == 1 else -1
    return None if leader < 0 or leader in exclude else leader


def produce(bootstrap, first, count, acked, watch=0):
    """Unique values; returns the seconds to the first acknowledgement of
    partition `watch`."""
    errors = []
    started = time.monotonic()
    first_ack = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
            return
        if not first_ack and msg.partition() == watch:
            first_ack.append(time.monotonic() - started)
        acked.add((msg.partition(), msg.value().decode()))

    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all",
                        "message.timeout.ms": 30000, "retry.backoff.ms": 100}))
    for i in range(first, first + count):
        p.produce(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS, on_delivery=on_delivery)
        p.poll(0)
    assert p.flush(60) == 0, "records left unacknowledged"
    retriable = [e for e in errors if not e.retriable()]
    assert not retriable, retriable
    return first_ack[0] if first_ack else None


def read_all(bootstrap, acked):
    c = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": "cluster-test",
                        "enable.auto.commit": False, "enable.partition.eof": True}))
    ends = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
            for p in range(PARTITIONS)}
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    seen = {}
    # Until every partition is read to its end (an end-of-partition event at
    # or past it): new leaders' empty no-op batches take offsets too, so
    # counting records against the end offsets would wait out the deadline.
    done = {p for p in range(PARTITIONS) if ends[p] <= 0}
    deadline = time.monotonic() + 30
    while len(done) < PARTITIONS and time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is None:
            continue
        if m.error() is not None:
            if m.error().code() == KafkaError._PARTITION_EOF:
                if m.offset() >= ends[m.partition()]:
                    done.add(m.partition())
                continue
            assert m.error().retriable(), m.error()
            continue
        offsets = seen.setdefault(m.partition(), {})
        assert m.offset() not in offsets, ("offset read twice", m.partition(), m.offset())
        offsets[m.offset()] = m.value().decode()
    c.close()
    values = {(p, v) for p, offs in seen.items() for v in offs.values()}
    missing = acked - values
    assert not missing, f"{len(missing)} acknowledged records not read, e.g. {sorted(missing)[:5]}"
    return seen


def _metadata_past_brokers(node, topic, version):
    """Metadata `version` (1 or 7) for `topic` from one broker: (the response
    body, the position just after its broker list)."""
    name = topic.encode()
    flag = b"\x00" if version >= 4 else b""  # AllowAutoTopicCreation (v4+)
    s = kafka_wire.connect(node)
    try:
        s.sendall(kafka_wire.request(3, version, struct.pack(">ih", 1, len(name)) + name + flag))
        body = kafka_wire.read_frame(s)
    finally:
        s.close()
    pos = 4 + (4 if version >= 3 else 0)  # correlation id, throttle time (v3+)
    (count,) = struct.unpack_from(">i", body, pos)
    pos += 4
    for _ in range(count):  # brokers: id, host, port, rack
        pos += 4
        (n,) = struct.unpack_from(">h", body, pos)
        pos += 2 + n + 4
        (n,) = struct.unpack_from(">h", body, pos)
        pos += 2 + max(n, 0)
    return body, pos


def metadata_v1_topic_error(node, topic):
    """The error code one broker gives `topic` in a Metadata v1 request (which
    asks for auto-creation: v1 has no flag for it)."""
    body, pos = _metadata_past_brokers(node, topic, 1)
    pos += 4  # controller id
    (count,) = struct.unpack_from(">i", body, pos)
    assert count == 1, count
    return struct.unpack_from(">h", body, pos + 4)[0]


def metadata_v7(node, topic):
    """partition -> (error, leader, leader epoch) from one broker's Metadata
    v7 (the first version with each partition's leader epoch)."""
    body, pos = _metadata_past_brokers(node, topic, 7)
    (n,) = struct.unpack_from(">h", body, pos)  # cluster id
    pos += 2 + max(n, 0) + 4  # and controller id
    (count,) = struct.unpack_from(">i", body, pos)
    assert count == 1, count
    pos += 4 + 2  # topic error
    (n,) = struct.unpack_from(">h", body, pos)
    pos += 2 + n + 1  # name, is_internal
    (count,) = struct.unpack_from(">i", body, pos)
    pos += 4
    out = {}
    for _ in range(count):
        error, index, leader, epoch = struct.unpack_from(">hiii", body, pos)
        pos += 14
        for _ in range(3):  # replicas, in-sync replicas, offline replicas
            (n,) = struct.unpack_from(">i", body, pos)
            pos += 4 + 4 * n
        out[index] = (error, leader, epoch)
    assert pos == len(body), (pos, len(body))
    return out


def all_named(answer):
    """A Metadata v7 answer if it names a leader for every partition."""
    return answer if all(leader >= 0 for _, leader, _ in answer.values()) else None


class EpochWatch:
    """Polls every given broker's Metadata v7 for `topic` in a thread and
    checks that the epoch each one names for a partition never goes down
    (a partition without a leader names -1 with LEADER_NOT_AVAILABLE)."""

    def __init__(self, nodes, topic):
        self.nodes, self.topic = nodes, topic
        self.last, self.errors, self.polls = {}, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for i, node in enumerate(self.nodes):
                try:
                    answer = metadata_v7(node, self.topic)
                except (OSError, AssertionError, struct.error):
                    continue  # not serving (yet), or the topic not known there
                self.polls += 1
                for p, (error, leader, epoch) in answer.items():
                    if leader < 0:
                        if (error, epoch) != (5, -1):
                            self.errors.append(f"broker {i} p{p}: no leader, {error} {epoch}")
                        continue
                    if epoch < self.last.get((i, p), -1):
                        self.errors.append(f"broker {i} p{p}: epoch {epoch} after "
                                           f"{self.last[(i, p)]}")
                    self.last[(i, p)] = epoch
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        assert not self.errors, self.errors[:10]
        assert self.polls > 0


def fetch_v11(node, topic, partition, offset, max_wait_ms):
    """One Fetch v11 (as librdkafka and KafkaJS send it) of one partition:
    (seconds to the answer, error code, the records' bytes)."""
    name = topic.encode()
    body = struct.pack(">iiiibii", -1, max_wait_ms, 1, 1 << 20, 0, 0, -1)
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iiiqqi", 1, partition, -1, offset, -1, 1 << 20)
    body += struct.pack(">ih", 0, 0)  # no forgotten topics, rack ""
    s = kafka_wire.connect(node, timeout=max_wait_ms / 1000 + 10)
    try:
        started = time.monotonic()
        s.sendall(kafka_wire.request(1, 11, body))
        answer = kafka_wire.read_frame(s)
        elapsed = time.monotonic() - started
    finally:
        s.close()
    pos = 4 + 4 + 2 + 4 + 4  # correlation id, throttle, error, session id, topics
    (n,) = struct.unpack_from(">h", answer, pos)
    pos += 2 + n + 4 + 4  # topic, partition count, partition index
    (error,) = struct.unpack_from(">h", answer, pos)
    pos += 2 + 8 + 8 + 8  # error, high watermark, last stable offset, log start
    (aborted,) = struct.unpack_from(">i", answer, pos)
    pos += 4 + max(aborted, 0) * 16 + 4  # aborted transactions, preferred read replica
    (size,) = struct.unpack_from(">i", answer, pos)
    return elapsed, error, bytes(answer[pos + 4:pos + 4 + max(size, 0)])


def metadata_brokers(node):
    """node id -> "host:port", from one Metadata v1 (no topic) asked of
    `node` alone."""
    s = kafka_wire.connect(node, timeout=10)
    try:
        s.sendall(kafka_wire.request(3, 1, struct.pack(">i", 0)))
        answer = kafka_wire.read_frame(s)
    finally:
        s.close()
    (n,) = struct.unpack_from(">i", answer, 4)  # after the correlation id
    pos = 8
    out = {}
    for _ in range(n):
        node_id, host_len = struct.unpack_from(">ih", answer, pos)
        host = answer[pos + 6:pos + 6 + host_len].decode()
        pos += 6 + host_len
        port, rack_len = struct.unpack_from(">ih", answer, pos)
        pos += 6 + max(rack_len, 0)
        out[node_id] = f"{host}:{port}"
    return out


def kafka_python_past_a_trailing_noop(cluster, acked):
    """kafka-python 2.0.2 (Fetch v4) raised IndexError on a fetch answered
    with nothing but a new leader's no-op (an empty batch). Kills partition
    0's leader so that its log ends with the successor's no-op, polls there,
    then produces one record and receives it; restarts the killed broker."""
    victim = wait_for("leaders", lambda: all_led(cluster.bootstrap, TOPIC, PARTITIONS))[0][0]
    os.kill(cluster.nodes[victim].proc.pid, signal.SIGKILL)
    cluster.nodes[victim].proc.wait(10)
    survivors = ",".join(n.bootstrap for i, n in enumerate(cluster.nodes) if i != victim)
    wait_for("new leaders", lambda: all_led(survivors, TOPIC, PARTITIONS, exclude=(victim,)))
    others = [n for i, n in enumerate(cluster.nodes) if i != victim]
    leader = cluster.nodes[wait_for("both survivors to name partition 0's new leader",
                                    lambda: agreed_leader(others, TOPIC, 0, exclude=(victim,)))]
    tp = KTopicPartition(TOPIC, 0)
    c = KafkaConsumer(bootstrap_servers=survivors.split(","), enable_auto_commit=False,
                      fetch_max_wait_ms=100)
    try:
        c.assign([tp])
        # The high watermark clients are told stops at the no-op (the last
        # offset), so a consumer there has nothing to fetch and no lag.
        end = c.end_offsets([tp])[tp]
        # Fetch v11 there: nothing to answer before max_wait (KafkaJS fetched
        # the lone no-op again and again), then no records.
        elapsed, error, records = fetch_v11(leader, TOPIC, 0, end, 1000)
        assert error == 0 and records == b"", (error, records)
        assert elapsed >= 0.8, f"a Fetch at the no-op answered after {elapsed:.2f} s"
        # kafka-python 2.0.2 at the no-op: nothing (it raised IndexError on
        # an answer holding the empty batch alone).
        c.seek(tp, end)
        quiet_until = time.monotonic() + 1.5
        while time.monotonic() < quiet_until:  # bounded by time
            got = c.poll(200)
            assert not got.get(tp), f"records at the no-op {end}: {got}"
        produce(survivors, 3000, 1, acked)  # value v3000, to partition 0
        records = wait_for("kafka-python to receive v3000", lambda: c.poll(200).get(tp), timeout=20)
        # At end + 1, past the no-op (one more, had the balancer moved the
        # leadership meanwhile).
        assert [r.value for r in records] == [b"v3000"], records
        assert records[0].offset >= end + 1, (records, end)
    finally:
        c.close()
    cluster.nodes[victim].start()
    # It lists itself at its new address at once: its registration from
    # before the kill names the old one until the new one applies (a client
    # told that address for the controller waited out its timeout).
    listed = metadata_brokers(cluster.nodes[victim]).get(victim)
    assert listed == cluster.nodes[victim].bootstrap, (listed, cluster.nodes[victim].bootstrap)
    wait_for("three registered brokers", lambda: all_registered(cluster.nodes, 3), timeout=30)
    # The others list the old address until then (the kill was too short
    # for the controller to fence it): a client must not be given it.
    current = {i: n.bootstrap for i, n in enumerate(cluster.nodes)}
    wait_for("every broker to list every broker at its address",
             lambda: all(metadata_brokers(n) == current for n in cluster.nodes), timeout=30)
    wait_for("leaders with the broker back", lambda: all_led(cluster.bootstrap, TOPIC, PARTITIONS))
    print(f"kafka-python polled at partition 0's trailing no-op ({end}), then read offset {end + 1}")


def metrics(node):
    url = f"http://127.0.0.1:{node.admin_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def all_registered(nodes, n):
    """Every node's controller state has `n` registered, unfenced brokers (a
    broker lists itself in Metadata before its registration applies, so a
    count of Metadata brokers can run ahead of the controller's)."""
    try:
        return all(metrics(node).get("spate_cluster_brokers_alive") == n for node in nodes)
    except OSError:
        return False


def replica_logs(node, partition):
    files = sorted(glob.glob(os.path.join(node.data_dir, f"{TOPIC}-{partition}", "*.log")))
    return b"".join(open(f, "rb").read() for f in files)


def main():
    binary = sys.argv[1]
    cluster = Cluster(binary)
    try:
        # A broker alone (no quorum) has not caught up with the metadata: a
        # topic it does not know may exist, so it is neither auto-created nor
        # called unknown; LEADER_NOT_AVAILABLE (5) makes clients retry.
        cluster.nodes[0].start()
        assert metadata_v1_topic_error(cluster.nodes[0], "maybe-there") == 5
        assert "auto-creating" not in cluster.nodes[0].log(), cluster.nodes[0].log()[-2000:]
        for node in cluster.nodes[1:]:
            node.start()
        admin = AdminClient(quiet({"bootstrap.servers": cluster.bootstrap}))
        # Through the third broker: admin requests reach the controller from any broker.
        # Registered and unfenced in the controller's state (a broker lists
        # itself in Metadata before its registration applies).
        wait_for("three registered brokers", lambda: all_registered(cluster.nodes, 3), timeout=30)
        futures = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3), NewTopic("too-wide", 1, 4)])
        futures[TOPIC].result(30)
        try:
            futures["too-wide"].result(30)
            raise AssertionError("replication factor 4 on 3 brokers was accepted")
        except Exception as e:  # noqa: BLE001
            assert "REPLICATION_FACTOR" in str(e).upper(), e
        for node in cluster.nodes:
            got = wait_for("leaders on " + node.bootstrap,
                           lambda n=node: all_led(n.bootstrap, TOPIC, PARTITIONS))
            assert all(v[1] == [0, 1, 2] for v in got.values()), got
        # /metrics: the cluster as the controller state says, and who leads what.

        def metrics_settled():
            ms = [metrics(n) for n in cluster.nodes]
            return (all(m["spate_cluster_brokers_alive"] == 3 and
                        m["spate_cluster_partitions_leaderless"] == 0 for m in ms) and
                    sum(m["spate_partitions_led"] for m in ms) == PARTITIONS and
                    sum(m["spate_controller_leader"] for m in ms) == 1)
        wait_for("/metrics to show the cluster", metrics_settled)
        # Metadata v7: every broker names each partition's leader with its
        # epoch (the leader's Raft term, >= 1), the same on every broker.
        def same_epochs_everywhere():
            answers = [metadata_v7(n, TOPIC) for n in cluster.nodes]
            ok = all(a == answers[0] for a in answers) and all(
                e == 0 and leader >= 0 and epoch >= 1 for e, leader, epoch in answers[0].values())
            return answers[0] if ok else None
        before = wait_for("the same leaders and epochs on every broker", same_epochs_everywhere)
        acked = set()
        produce(cluster.bootstrap, 0, 600, acked)
        assert len(acked) == 600

        # SIGKILL the leader of partition 0; producing goes on through the others.
        victim = before[0][1]
        watch = EpochWatch([n for i, n in enumerate(cluster.nodes) if i != victim], TOPIC)
        os.kill(cluster.nodes[victim].proc.pid, signal.SIGKILL)
        cluster.nodes[victim].proc.wait(10)
        killed_at = time.monotonic()
        survivors = ",".join(n.bootstrap for i, n in enumerate(cluster.nodes) if i != victim)
        first_ack = produce(survivors, 600, 600, acked)
        assert len(acked) == 1200
        print(f"partition 0's first acknowledgement {first_ack:.2f} s after its leader's kill; all 600 acknowledged "
              f"{time.monotonic() - killed_at:.2f} s after it")
        moved = wait_for("new leaders", lambda: all_led(survivors, TOPIC, PARTITIONS,
                                                        exclude=(victim,)))
        assert victim not in [v[0] for v in moved.values()], moved
        # Each partition the victim led has a new leader in a later epoch, on
        # every survivor; the others kept their leader and epoch or moved on.
        for i, node in enumerate(cluster.nodes):
            if i == victim:
                continue
            after = wait_for("a leader for every partition on " + node.bootstrap,
                             lambda n=node: all_named(metadata_v7(n, TOPIC)))
            for p, (_, leader, epoch) in after.items():
                assert epoch >= before[p][2], (p, after, before)
                if before[p][1] == victim:
                    assert leader != victim and epoch > before[p][2], (p, after, before)
        watch.stop()
        print(f"leader epochs: {watch.polls} Metadata v7 answers during the failover, "
              f"none went back; partition 0 epoch {before[0][2]} -> {after[0][2]}")

        # The killed broker comes back and catches up: replicas end identical.
        cluster.nodes[victim].start()
        produce(cluster.bootstrap, 1200, 60, acked)

        def identical():
            for p in range(PARTITIONS):
                logs = [replica_logs(n, p) for n in cluster.nodes]
                if not logs[0] or any(log != logs[0] for log in logs):
                    return False
            return True
        wait_for("identical replica logs", identical, timeout=30)
        # A rolling restart: SIGTERM hands each partition's leadership over first.
        for i, node in enumerate(cluster.nodes):
            assert node.stop() == 0, f"node {i} did not stop cleanly:\n{node.log()[-3000:]}"
            handed = [line for line in node.log().splitlines() if "handed over the leadership" in line]
            assert handed, f"node {i} did not hand over its leadership:\n{node.log()[-3000:]}"
            survivors = ",".join(n.bootstrap for j, n in enumerate(cluster.nodes) if j != i)
            produce(survivors, 2000 + 100 * i, 100, acked)
            node.start()
            wait_for("leaders after node %d came back" % i,
                     lambda: all_led(cluster.bootstrap, TOPIC, PARTITIONS))
        print("rolling restart: " + "; ".join(
            [line.split("] ", 1)[-1] for n in cluster.nodes for line in n.log().splitlines()
             if "handed over the leadership" in line]))
        wait_for("identical replica logs after the rolling restart", identical, timeout=30)
        seen = read_all(cluster.bootstrap, acked)
        print(f"read {sum(len(v) for v in seen.values())} records, "
              f"{len(acked)} acknowledged, replica logs identical")
        kafka_python_past_a_trailing_noop(cluster, acked)

        # DeleteTopics through the controller: the folders leave every broker.
        # (A new client: the brokers restarted on new client ports, which the
        # first one, knowing only the old addresses, cannot find.)
        admin = AdminClient(quiet({"bootstrap.servers": cluster.bootstrap}))
        admin.delete_topics([TOPIC])[TOPIC].result(30)
        wait_for("the topic's folders to go", lambda: not any(
            glob.glob(os.path.join(n.data_dir, f"{TOPIC}-*")) for n in cluster.nodes))
        stop_all(cluster.nodes)
        print("cluster: OK")
    except BaseException:
        print_failure(cluster.nodes)
        raise
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
