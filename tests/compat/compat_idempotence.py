# SPDX-License-Identifier: Apache-2.0
"""Idempotent producers under faults (issue 14, "Must show"): librdkafka
(confluent-kafka, enable.idempotence=true) and KafkaJS (idempotent: true)
produce through cutting_proxy.py, which closes connections after forwarding
a Produce request and before its response. Each client retries what went
unanswered; afterwards the log must hold every record exactly once, in the
order sent, per partition, and the proxy must really have cut.
Usage: compat_idempotence.py SPATED_BINARY NODE_MODULES_DIR"""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cutting_proxy import CuttingProxy
from spated import Spated

HERE = os.path.dirname(os.path.abspath(__file__))
PARTITIONS = 3


def read_values(bootstrap, topic):
    """Every value in each partition, in offset order."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "idem-check",
                  "enable.auto.commit": False, "log_level": 0})
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)}
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + 30
    while sum(map(len, got.values())) < sum(ends.values()) and time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got[m.partition()].append(m.value().decode())
    c.close()
    return got


def check_exactly_once(name, got, sent):
    for p in range(PARTITIONS):
        dups = len(got[p]) - len(set(got[p]))
        assert dups == 0, f"{name}: partition {p} holds {dups} duplicates"
        assert got[p] == sent[p], (f"{name}: partition {p}: {len(got[p])} records, "
                                   f"{len(sent[p])} sent; first difference at "
                                   f"{next((i for i, (a, b) in enumerate(zip(got[p], sent[p])) if a != b), min(len(got[p]), len(sent[p])))}")


def librdkafka(bootstrap, proxy):
    topic = "idem-rdkafka"
    cuts_before = proxy.cuts
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 2, "batch.num.messages": 20, "message.timeout.ms": 120000,
                  "socket.timeout.ms": 3000, "log_level": 0,
                  # Reconnect at once: its default backoff grows to 10 s over
                  # the many cuts, which only makes the test slow.
                  "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200})
    sent = {q: [] for q in range(PARTITIONS)}
    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(str(err))

    total = 3000
    for i in range(total):
        q = i % PARTITIONS
        value = f"rd-{i}"
        sent[q].append(value)
        while True:
            try:
                p.produce(topic, value=value.encode(), partition=q, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 100 == 0:
            p.poll(0)
    left = p.flush(120)
    assert left == 0, f"librdkafka: {left} records not delivered"
    assert not failures, f"librdkafka: delivery failures {failures[:5]}"
    got = read_values(bootstrap, topic)
    check_exactly_once("librdkafka", got, sent)
    cuts = proxy.cuts - cuts_before
    assert cuts >= 5, f"librdkafka: only {cuts} connections cut"
    print(f"librdkafka: {total} records exactly once through {cuts} cut connections")


def kafkajs(bootstrap, proxy, modules):
    topic = "idem-kafkajs"
    cuts_before = proxy.cuts
    sends, per_send = 150, 10
    run = subprocess.run(["node", os.path.join(HERE, "compat_idempotence.js"), modules, bootstrap,
                          topic, str(sends), str(per_send)], capture_output=True, text=True,
                         timeout=240, env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    assert run.returncode == 0, f"kafkajs: exit {run.returncode}\n{run.stdout}{run.stderr}"
    sent_js = json.loads(run.stdout.strip().splitlines()[-1])
    sent = {p: sent_js.get(str(p), []) for p in range(PARTITIONS)}
    got = read_values(bootstrap, topic)
    check_exactly_once("kafkajs", got, sent)
    cuts = proxy.cuts - cuts_before
    assert cuts >= 5, f"kafkajs: only {cuts} connections cut"
    print(f"kafkajs: {sends * per_send} records exactly once through {cuts} cut connections")


def main(binary, modules):
    proxy = CuttingProxy(target_port=0, cut_probability=0.15, max_cuts=40, seed=14)
    with Spated(binary, ["--advertise", f"127.0.0.1:{proxy.port}"]) as broker:
        proxy.start(broker.port)
        try:
            admin = AdminClient({"bootstrap.servers": proxy_addr(proxy)})
            for name in ("idem-rdkafka", "idem-kafkajs"):
                admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(10)
            librdkafka(proxy_addr(proxy), proxy)
            if modules:
                kafkajs(proxy_addr(proxy), proxy, modules)
        finally:
            proxy.stop()
    print("compat idempotence: ok")


def proxy_addr(proxy):
    return f"127.0.0.1:{proxy.port}"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
