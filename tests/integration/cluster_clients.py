# SPDX-License-Identifier: Apache-2.0
"""Real clients across failovers (issue 15): on three spated brokers in
cluster mode, a topic of 3 partitions with replication factor 3 takes records
from an idempotent confluent-kafka producer and an idempotent KafkaJS producer
(acks=all, unique values, every acknowledgement journaled) while a
confluent-kafka group consumer and a KafkaJS group consumer (each its own
group, subscribed from the beginning, committing as they go) read it. Under
that load the leader of partition 0 is killed with SIGKILL and later
restarted, then all three brokers are restarted one after the other with
SIGTERM (a rolling restart). Then the producers stop, and:
- every client saw only retriable errors (counted and printed);
- both groups consumed every acknowledged record (at least once: a group
  resumes from its last commit after a coordinator moves);
- no acknowledged offset holds two values, and no consumer saw a value at an
  offset other than the one it was acknowledged at.
The brokers keep their client ports across restarts, as a deployment does,
so the clients' bootstrap lists stay valid.
Usage: cluster_clients.py SPATED_BINARY NODE_MODULES_DIR"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))
sys.path.insert(0, HERE)
from confluent_kafka import Consumer, KafkaError, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import all_led, all_registered, free_ports, print_failure, quiet, wait_for  # noqa: E402
from spated import Spated  # noqa: E402

TOPIC = "failover"
PARTITIONS = 3
# The producers' value prefixes and the group consumers' journal names.
PRODUCERS = ("cf-", "js-")
CONSUMERS = ("confluent-group", "kafkajs-consume")
# Errors of the connection or of a broker going away: librdkafka reports them
# and retries by itself.
TRANSIENT_LOCAL = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
                   KafkaError._PARTITION_EOF, KafkaError._TIMED_OUT}


class Journal:
    """What the clients saw, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}        # value -> (partition, offset)
        self.consumed = {}     # client -> {value: (partition, offset)}
        self.retriable = {}    # client -> count
        self.fatal = []        # (client, text)
        self.conflicts = []    # (client, value, what)

    def ack(self, value, partition, offset):
        with self.lock:
            self.acked[value] = (partition, offset)

    def error(self, client, retriable, text):
        with self.lock:
            if retriable:
                self.retriable[client] = self.retriable.get(client, 0) + 1
            else:
                self.fatal.append((client, text))

    def consume(self, client, partition, offset, value):
        with self.lock:
            seen = self.consumed.setdefault(client, {})
            where = seen.get(value)
            if where is not None and where != (partition, offset):
                self.conflicts.append((client, value, f"read at {where} and at {(partition, offset)}"))
            seen[value] = (partition, offset)

    def count(self, client):
        with self.lock:
            return len(self.consumed.get(client, {}))


class ConfluentProducer(threading.Thread):
    def __init__(self, bootstrap, journal):
        super().__init__(daemon=True)
        self.bootstrap, self.journal, self.stop = bootstrap, journal, threading.Event()

    def run(self):
        def on_delivery(err, msg):
            if err is not None:
                self.journal.error("confluent-producer", err.retriable() and not err.fatal(), str(err))
            else:
                self.journal.ack(msg.value().decode(), msg.partition(), msg.offset())

        def on_error(err):
            self.journal.error("confluent-producer", not err.fatal(), str(err))

        p = Producer(quiet({"bootstrap.servers": self.bootstrap, "acks": "all",
                            "enable.idempotence": True, "message.timeout.ms": 120000,
                            "retry.backoff.ms": 100, "error_cb": on_error}))
        n = 0
        # Bounded by the driver's stop and 200,000 records.
        while not self.stop.is_set() and n < 200000:
            p.produce(TOPIC, value=f"cf-{n}".encode(), partition=n % PARTITIONS,
                      on_delivery=on_delivery)
            n += 1
            p.poll(0.01)
        left = p.flush(120)
        if left:
            self.journal.error("confluent-producer", False, f"{left} records never answered")


class ConfluentGroupConsumer(threading.Thread):
    def __init__(self, bootstrap, journal):
        super().__init__(daemon=True)
        self.bootstrap, self.journal, self.stop = bootstrap, journal, threading.Event()

    def run(self):
        name = "confluent-group"

        def on_error(err):
            self.journal.error(name, not err.fatal(), str(err))

        c = Consumer(quiet({"bootstrap.servers": self.bootstrap, "group.id": "fo-confluent",
                            "auto.offset.reset": "earliest", "enable.auto.commit": True,
                            "auto.commit.interval.ms": 500, "session.timeout.ms": 10000,
                            "heartbeat.interval.ms": 500, "error_cb": on_error}))
        c.subscribe([TOPIC])
        # Bounded by the driver's stop (and its own deadline).
        while not self.stop.is_set():
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                e = m.error()
                self.journal.error(name, e.retriable() or e.code() in TRANSIENT_LOCAL, str(e))
                continue
            self.journal.consume(name, m.partition(), m.offset(), m.value().decode())
        c.close()


class KafkaJs:
    """cluster_clients.js in one role; its JSON lines go to the journal."""

    def __init__(self, modules, bootstrap, role, journal, group=None):
        self.name = f"kafkajs-{role}"
        self.journal = journal
        args = ["node", os.path.join(HERE, "cluster_clients.js"), modules, bootstrap, TOPIC, role]
        # stderr to a file: a pipe nobody reads would stop the process once full.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args + ([group] if group else []), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
        self.done = False
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            o = json.loads(line)
            if o == "done":
                self.done = True
            elif "ack" in o:
                partition, base, values = o["ack"]
                for i, v in enumerate(values):
                    self.journal.ack(v, partition, base + i)
            elif "m" in o:
                self.journal.consume(self.name, *o["m"])
            elif "err" in o or "crash" in o or "fatal" in o:
                kind = o.get("err") or o.get("crash") or o.get("fatal")
                ok = o.get("retriable") and "fatal" not in o
                self.journal.error(self.name, ok, f"{kind}: {o.get('message')}")

    def finish(self, timeout=60):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(10)
        if self.proc.returncode != 0 or not self.done:
            self.journal.error(self.name, False,
                               f"exit {self.proc.returncode}: {self.stderr_tail()}")

    def stderr_tail(self):
        self.stderr.seek(0)
        return self.stderr.read()[-2000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def progress(journal, what, before, timeout=60):
    """Waits until each producer has more acknowledgements, and each group
    consumer more records, than in `before`; returns the new counts."""
    def moved():
        with journal.lock:
            counts = {c: len(journal.consumed.get(c, {})) for c in CONSUMERS}
            for prefix in PRODUCERS:
                counts[prefix] = sum(v.startswith(prefix) for v in journal.acked)
        return all(counts[c] > before.get(c, 0) for c in counts) and counts
    return wait_for(what, moved, timeout=timeout, step=0.2)


def main(binary, modules):
    ports = free_ports(9)
    seeds = ",".join(f"{i}@127.0.0.1:{ports[i]}" for i in range(3))
    nodes = [Spated(binary, ["--node-id", str(i), "--seeds", seeds,
                             "--cluster-listen", f"127.0.0.1:{ports[i]}"],
                    listen=f"127.0.0.1:{ports[3 + i]}") for i in range(3)]
    bootstrap = ",".join(f"127.0.0.1:{ports[3 + i]}" for i in range(3))
    journal = Journal()
    clients = []
    try:
        for node in nodes:
            node.start()
        wait_for("three registered brokers", lambda: all_registered(nodes, 3), timeout=30)
        admin = AdminClient(quiet({"bootstrap.servers": bootstrap}))
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
        wait_for("leaders", lambda: all_led(bootstrap, TOPIC, PARTITIONS))

        producer = ConfluentProducer(bootstrap, journal)
        group = ConfluentGroupConsumer(bootstrap, journal)
        js_producer = KafkaJs(modules, bootstrap, "produce", journal)
        js_consumer = KafkaJs(modules, bootstrap, "consume", journal, group="fo-kafkajs")
        clients = [producer, group, js_producer, js_consumer]
        producer.start()
        group.start()
        # Node and two KafkaJS clients starting take a while on a busy machine.
        counts = progress(journal, "every client under way", {}, timeout=120)
        print(f"under way: {counts}")

        # 1. SIGKILL of partition 0's leader, later restarted.
        victim = wait_for("leaders", lambda: all_led(bootstrap, TOPIC, PARTITIONS))[0][0]
        nodes[victim].kill()
        killed = time.monotonic()
        survivors = ",".join(n.bootstrap for i, n in enumerate(nodes) if i != victim)
        wait_for("leaders off the killed broker",
                 lambda: all_led(survivors, TOPIC, PARTITIONS, exclude=(victim,)))
        print(f"killed broker {victim}: leaders moved in {time.monotonic() - killed:.2f} s")
        counts = progress(journal, "clients going on without the killed broker", counts)
        time.sleep(2)
        nodes[victim].start()
        wait_for("leaders with the broker back", lambda: all_led(bootstrap, TOPIC, PARTITIONS))
        print(f"after the kill: {counts}")

        # 2. A rolling restart of all three (SIGTERM hands leadership over first).
        for i, node in enumerate(nodes):
            assert node.stop() == 0, f"broker {i} did not stop cleanly:\n{node.log()[-3000:]}"
            counts = progress(journal, f"clients going on while broker {i} is down", counts)
            time.sleep(2)
            node.start()
            wait_for(f"leaders after broker {i} came back",
                     lambda: all_led(bootstrap, TOPIC, PARTITIONS))
            print(f"restarted broker {i}: {counts}")

        # The producers stop; both groups read everything acknowledged.
        producer.stop.set()
        producer.join(150)
        js_producer.finish()
        with journal.lock:
            acked = dict(journal.acked)

        def all_consumed():
            with journal.lock:
                return all(set(acked) <= set(journal.consumed.get(c, {})) for c in CONSUMERS)
        try:
            wait_for("both groups to consume every acknowledged record", all_consumed, timeout=90)
        finally:
            group.stop.set()
            group.join(30)
            js_consumer.finish()

        with journal.lock:
            by_offset = {}
            for value, where in acked.items():
                other = by_offset.setdefault(where, value)
                assert other == value, f"offset {where} acknowledged for {other} and {value}"
            for client, seen in journal.consumed.items():
                for value, where in seen.items():
                    if value in acked:
                        assert acked[value] == where, \
                            f"{client} read {value} at {where}, acknowledged at {acked[value]}"
                    other = by_offset.get(where)
                    assert other in (None, value), f"{client} read {value} at {where}, " \
                        f"where {other} was acknowledged"
            assert not journal.conflicts, journal.conflicts[:5]
            assert not journal.fatal, f"non-retriable errors: {journal.fatal[:10]}"
            print(f"acknowledged {len(acked)} records "
                  f"({sum(v.startswith('js-') for v in acked)} from KafkaJS); consumed "
                  + ", ".join(f"{c} {len(journal.consumed.get(c, {}))}" for c in CONSUMERS)
                  + f"; retriable errors seen: {journal.retriable}")
        for i, node in enumerate(nodes):
            assert node.stop() == 0, f"broker {i} did not stop cleanly"
        print("cluster clients: OK")
    except BaseException:
        print_failure(nodes, 3000, "broker")
        for c in clients:
            if isinstance(c, KafkaJs):
                print(f"---- {c.name} stderr (tail) ----\n{c.stderr_tail()}")
        with journal.lock:
            print(f"journal: {len(journal.acked)} acked, consumed "
                  f"{ {c: len(v) for c, v in journal.consumed.items()} }, "
                  f"fatal {journal.fatal[:10]}, retriable {journal.retriable}")
        raise
    finally:
        for c in clients:
            if isinstance(c, KafkaJs):
                c.kill()
            else:
                c.stop.set()
        for node in nodes:
            node.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
