# SPDX-License-Identifier: Apache-2.0
"""Consumer groups with real clients against a real spated (issue 14):
  1. confluent-kafka: 3 consumers split 6 partitions 2/2/2; one is SIGKILLed
     and the other two own all 6 within the session timeout; records committed
     one by one are consumed exactly once across every hand-over, and a new
     consumer resumes after the committed offsets.
  2. confluent-kafka static membership (group.instance.id): a member killed
     and restarted within the session timeout gets its old partitions back and
     the others see no revoke.
  3. kcat -G: a second run sees only the records produced since the first.
  4. kafka-python KafkaConsumer + KafkaAdminClient: list, describe, offsets;
     delete refused while the group has members, accepted once it is empty
     (its offsets are gone).
  5. KafkaJS (JoinGroup v0-v2): two consumers split the partitions and read
     every record once; the committed offsets equal the high watermarks.
  6. sarama ConsumerGroup: consume and commit; a second session resumes.
  7. Committed offsets survive a restart after SIGTERM and after SIGKILL.
The consumers of 1 and 2 run as subprocesses of this script (--worker) so
they can be killed. Usage: compat_groups.py SPATED_BINARY NODE_MODULES_DIR"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SESSION_MS = 6000
NODE_MODULES = None


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- the confluent-kafka consumer run as a subprocess ------------------------

def worker_main(bootstrap, topic, group, instance_id):
    """Prints one JSON event a line: assign, revoke, rec (after its offset is
    committed synchronously). Closes (leaving the group) on stdin EOF."""
    from confluent_kafka import Consumer

    def emit(**event):
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_MS,
            "heartbeat.interval.ms": 300, "partition.assignment.strategy": "range",
            "topic.metadata.refresh.interval.ms": 1000}
    if instance_id:
        conf["group.instance.id"] = instance_id
    consumer = Consumer(conf)
    consumer.subscribe([topic],
                       on_assign=lambda c, ps: emit(ev="assign", parts=[p.partition for p in ps]),
                       on_revoke=lambda c, ps: emit(ev="revoke", parts=[p.partition for p in ps]))
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.is_set():
        m = consumer.poll(0.1)
        if m is None:
            continue
        if m.error():
            emit(ev="error", error=str(m.error()))
            continue
        consumer.commit(message=m, asynchronous=False)
        emit(ev="rec", p=m.partition(), o=m.offset(), v=m.value().decode())
    consumer.close()
    emit(ev="closed")


class Worker:
    def __init__(self, bootstrap, topic, group, instance_id=""):
        self.events = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", bootstrap, topic, group,
             instance_id], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def owned(self):
        """The partitions of the last assign, unless a revoke followed it."""
        parts = set()
        for e in self.snapshot():
            if e["ev"] == "assign":
                parts = set(e["parts"])
            elif e["ev"] == "revoke":
                parts = set()
        return frozenset(parts)

    def records(self):
        return [e for e in self.snapshot() if e["ev"] == "rec"]

    def count(self, kind):
        return sum(1 for e in self.snapshot() if e["ev"] == kind)

    def errors(self):
        return [e for e in self.snapshot() if e["ev"] == "error"]

    def close(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("consumer did not close")
        self.reader.join(5)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.reader.join(5)


def create_topic(bootstrap, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)


def produce(bootstrap, topic, partitions, values):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, v in enumerate(values):
        producer.produce(topic, value=v.encode(), partition=i % partitions)
    assert producer.flush(10) == 0, "records left unsent"


def split(workers, partitions):
    owned = [w.owned() for w in workers]
    union = frozenset().union(*owned)
    disjoint = sum(map(len, owned)) == len(union)
    return owned if disjoint and union == frozenset(range(partitions)) else None


def stable_split(workers, partitions, sizes, timeout):
    """Waits for a disjoint cover of the partitions with these sizes that
    holds for a second (no further rebalance)."""
    def check():
        owned = split(workers, partitions)
        return owned is not None and sorted(map(len, owned)) == sorted(sizes)
    wait_until(check, timeout, f"split {sizes}: {[sorted(w.owned()) for w in workers]}")
    time.sleep(1.0)
    wait_until(check, timeout, f"split {sizes} kept: {[sorted(w.owned()) for w in workers]}")
    return [w.owned() for w in workers]


def consumed(workers):
    return [r["v"] for w in workers for r in w.records()]


def test_confluent_split_kill_resume(broker):
    topic, group, bs = "g-split", "g-split-group", broker.bootstrap
    create_topic(bs, topic, 6)
    batch = lambda n: [f"{n}-{i}" for i in range(30)]  # noqa: E731
    workers = [Worker(bs, topic, group) for _ in range(3)]
    everyone = list(workers)
    try:
        owned = stable_split(workers, 6, [2, 2, 2], 30)
        produce(bs, topic, 6, batch(0))
        wait_until(lambda: len(consumed(workers)) >= 30, 20, "batch 0 consumed")
        for w, parts in zip(workers, owned):
            assert {r["p"] for r in w.records()} <= parts, ("read outside its assignment", parts)
        victim, survivors = workers[0], workers[1:]
        victim.kill()  # no LeaveGroup: the coordinator must expire it
        t0 = time.monotonic()
        stable_split(survivors, 6, [3, 3], SESSION_MS / 1000 + 10)
        takeover_s = time.monotonic() - t0
        assert takeover_s < SESSION_MS / 1000 + 8, f"takeover took {takeover_s:.1f} s"
        produce(bs, topic, 6, batch(1))
        wait_until(lambda: len(consumed(everyone)) >= 60, 20, "batch 1 consumed")
        for w in survivors:
            w.close()  # LeaveGroup: the group is empty now
        produce(bs, topic, 6, batch(2))
        late = Worker(bs, topic, group)
        everyone.append(late)
        stable_split([late], 6, [6], 20)
        wait_until(lambda: len(consumed(everyone)) >= 90, 20, "batch 2 consumed")
        time.sleep(0.5)  # a duplicate would show now
        late.close()
        got = consumed(everyone)
        assert sorted(got) == sorted(batch(0) + batch(1) + batch(2)), (
            "records lost or consumed twice", len(got), len(set(got)))
        assert not late.records() or {r["v"].split("-")[0] for r in late.records()} == {"2"}
        for w in everyone:
            assert not w.errors(), w.errors()
        return f"takeover {takeover_s:.1f} s"
    finally:
        for w in everyone:
            w.kill()


def test_confluent_static_membership(broker):
    topic, group, bs = "g-static", "g-static-group", broker.bootstrap
    create_topic(bs, topic, 6)
    workers = [Worker(bs, topic, group, f"static-{i}") for i in range(3)]
    everyone = list(workers)
    try:
        owned = stable_split(workers, 6, [2, 2, 2], 30)
        before = [(w.count("assign"), w.count("revoke")) for w in workers]
        workers[1].kill()
        time.sleep(1.0)
        back = Worker(bs, topic, group, "static-1")
        everyone.append(back)
        wait_until(lambda: back.owned(), SESSION_MS / 1000, "the restarted static member's assignment")
        assert back.owned() == owned[1], ("a different assignment", back.owned(), owned[1])
        time.sleep(SESSION_MS / 1000 + 1.0)  # past the old member's session timeout
        after = [(w.count("assign"), w.count("revoke")) for w in (workers[0], workers[2])]
        assert after == [before[0], before[2]], ("the others rebalanced", before, after)
        assert back.count("assign") == 1 and back.owned() == owned[1], back.snapshot()
        # A second live instance with the same id fences one of the two.
        twin = Worker(bs, topic, group, "static-0")
        everyone.append(twin)
        fenced = lambda: [e for w in (workers[0], twin) for e in w.errors()  # noqa: E731
                          if "FENCED_INSTANCE_ID" in e["error"] or "fenced" in e["error"]]
        wait_until(fenced, 15, "FENCED_INSTANCE_ID for one of two instances of static-0")
        return "restart kept partitions " + str(sorted(owned[1]))
    finally:
        for w in everyone:
            w.kill()


def kcat(*args, timeout=30):
    run = subprocess.run(["kcat", *args], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"kcat {' '.join(args)} exited {run.returncode}: {run.stderr}"
    return run.stdout


def test_kcat_group(broker):
    topic, group, bs = "g-kcat", "g-kcat-group", broker.bootstrap

    def consume():
        out = kcat("-b", bs, "-G", group, "-X", "auto.offset.reset=earliest",
                   "-X", f"session.timeout.ms={SESSION_MS}", "-e", "-q", "-f", "%s\\n", topic)
        return sorted(out.split())

    create_topic(bs, topic, 2)
    first = [f"a{i}" for i in range(10)]
    produce(bs, topic, 2, first)
    assert consume() == sorted(first)
    second = [f"b{i}" for i in range(7)]
    produce(bs, topic, 2, second)
    assert consume() == sorted(second), "the second run did not start at the committed offsets"
    assert consume() == []


def test_kafka_python_admin(broker):
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient
    from kafka.structs import TopicPartition
    topic, group, bs = "g-kpy", "g-kpy-group", broker.bootstrap
    create_topic(bs, topic, 3)
    values = [f"k{i}" for i in range(30)]
    produce(bs, topic, 3, values)
    consumer = KafkaConsumer(topic, bootstrap_servers=bs, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500,
                             client_id="kpy-client")
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        got = []
        deadline = time.monotonic() + 20
        while len(got) < len(values) and time.monotonic() < deadline:
            for records in consumer.poll(500).values():
                got += [r.value.decode() for r in records]
        assert sorted(got) == sorted(values), got
        consumer.commit()
        consumer.poll(100)  # heartbeats keep the group Stable
        assert (group, "consumer") in admin.list_consumer_groups(), admin.list_consumer_groups()
        [desc] = admin.describe_consumer_groups([group])
        assert desc.group == group and desc.state == "Stable", desc
        assert desc.protocol_type == "consumer" and len(desc.members) == 1, desc
        member = desc.members[0]
        assert member.client_id == "kpy-client", member
        assigned = member.member_assignment.assignment
        assert [(t, sorted(ps)) for t, ps in assigned] == [(topic, [0, 1, 2])], assigned
        want = {TopicPartition(topic, p): 10 for p in range(3)}
        offsets = {tp: om.offset for tp, om in admin.list_consumer_group_offsets(group).items()}
        assert offsets == want, offsets
        [(gid, err)] = admin.delete_consumer_groups([group])
        assert gid == group and err.errno == 68, ("delete of a non-empty group", err)  # NON_EMPTY_GROUP
        consumer.close()  # LeaveGroup
        consumer = None
        [(gid, err)] = admin.delete_consumer_groups([group])
        assert err.errno == 0, ("delete of an empty group", err)
        assert admin.list_consumer_group_offsets(group) == {}
        assert group not in [g for g, _ in admin.list_consumer_groups()]
    finally:
        if consumer is not None:
            consumer.close()
        admin.close()


def test_kafkajs_group(broker):
    modules = NODE_MODULES
    run = subprocess.run(["node", os.path.join(HERE, "compat_groups.js"),
                          os.path.abspath(modules), broker.bootstrap],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    assert run.returncode == 0, f"kafkajs: exit {run.returncode}\n{run.stdout}{run.stderr}"
    return run.stdout.strip().splitlines()[-1]


def test_sarama_group(broker):
    import tempfile

    import compat_sarama
    topic, bs = "g-sarama", broker.bootstrap
    create_topic(bs, topic, 2)
    with tempfile.TemporaryDirectory(prefix="spate-sarama-group-") as workdir:
        # The Go build cache outlives the run: sarama builds in seconds the next time.
        binary = compat_sarama.build(workdir, "sarama_group", "sarama_group.go",
                                     os.environ.get("SPATE_GOCACHE", "/tmp/spate-gocache"))

        def session(n):
            run = subprocess.run([binary, "-brokers", bs, "-topic", topic, "-group", "g-sarama-group",
                                  "-n", str(n)], capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, f"sarama exited {run.returncode}:\n{run.stderr}"
            return json.loads(run.stdout.strip().splitlines()[-1])

        first = [f"s{i}" for i in range(20)]
        produce(bs, topic, 2, first)
        got = session(len(first))
        assert sorted(got["values"]) == sorted(first), got
        second = [f"t{i}" for i in range(8)]
        produce(bs, topic, 2, second)
        got = session(len(second))
        assert sorted(got["values"]) == sorted(second), ("the second session did not resume", got)


def committed(bs, group):
    """OffsetFetch of every partition (null topics) by kafka-python's admin."""
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        return {(tp.topic, tp.partition): (om.offset, om.metadata)
                for tp, om in admin.list_consumer_group_offsets(group).items()}
    finally:
        admin.close()


def commit_simple(bs, group, offsets):
    """OffsetCommit from a consumer that never joined (generation -1)."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
    try:
        c.commit({TopicPartition(t, p): OffsetAndMetadata(o, m) for (t, p), (o, m) in offsets.items()})
    finally:
        c.close(autocommit=False)


def test_offsets_survive_restart(broker):
    topic = "g-restart"
    create_topic(broker.bootstrap, topic, 4)
    produce(broker.bootstrap, topic, 4, [f"r{i}" for i in range(40)])
    want = {}
    for round_, stop in enumerate(("sigterm", "sigkill")):
        group = f"g-restart-{stop}"
        want[group] = {(topic, p): (3 * p + round_ + 1, f"meta-{stop}-{p}") for p in range(4)}
        commit_simple(broker.bootstrap, group, want[group])
        assert committed(broker.bootstrap, group) == want[group]
        if stop == "sigterm":
            assert broker.stop() == 0, broker.log()[-2000:]
        else:
            broker.kill()
        broker.start()
        for g, w in want.items():
            got = committed(broker.bootstrap, g)
            assert got == w, (f"offsets after {stop}", g, got, w)

def main(binary, modules):
    global NODE_MODULES
    NODE_MODULES = modules
    from spated import Spated
    tests = [test_confluent_split_kill_resume, test_confluent_static_membership, test_kcat_group,
             test_kafka_python_admin, test_kafkajs_group, test_sarama_group,
             test_offsets_survive_restart]
    only = os.environ.get("COMPAT_GROUPS_ONLY")
    t_all = time.monotonic()
    for test in tests:
        if only and only not in test.__name__:
            continue
        t0 = time.monotonic()
        broker = Spated(binary, ["--num-partitions", "2"])
        broker.start()
        try:
            note = test(broker)
            code = broker.stop()
            assert code == 0, f"spated exited {code}:\n{broker.log()[-3000:]}"
        except BaseException:
            print(f"{test.__name__}: FAILED; spated log tail:\n{broker.log()[-3000:]}")
            raise
        finally:
            broker.close()
        print(f"{test.__name__}: ok ({time.monotonic() - t0:.1f} s) {note or ''}", flush=True)
    print(f"compat groups: ok ({time.monotonic() - t_all:.1f} s)")


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        worker_main(*sys.argv[2:6])
    else:
        sys.path.insert(0, HERE)
        main(sys.argv[1], sys.argv[2])
