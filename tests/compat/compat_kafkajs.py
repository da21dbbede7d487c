# SPDX-License-Identifier: Apache-2.0
"""KafkaJS against a real spated: compat_kafkajs.js creates a topic, produces
with acks=-1 (plain and gzip) and checks fetchTopicOffsets; this script then
reads every record back (confluent-kafka, assign) and checks each came back
once, in order per partition, with its key, value, headers and timestamp;
then KafkaJS deletes the topic.
Usage: compat_kafkajs.py SPATED_BINARY NODE_MODULES_DIR"""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition

from spated import Spated

HERE = os.path.dirname(os.path.abspath(__file__))


def node(modules, bootstrap, phase):
    run = subprocess.run(["node", os.path.join(HERE, "compat_kafkajs.js"), modules, bootstrap,
                          phase], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    assert run.returncode == 0, f"kafkajs {phase}: exit {run.returncode}\n{run.stdout}{run.stderr}"
    return run.stdout


def main(binary, modules):
    with Spated(binary) as broker:
        sent = json.loads(node(modules, broker.bootstrap, "produce").strip().splitlines()[-1])
        want = {0: [], 1: []}
        for m in sent:
            want[m["partition"]].append((m["key"].encode(), m["value"].encode(),
                                         [("n", m["headers"]["n"].encode())], int(m["timestamp"])))
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "kafkajs-check",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition("kafkajs-compat", p, 0) for p in (0, 1)])
        got = {0: [], 1: []}
        deadline = time.monotonic() + 20
        while sum(map(len, got.values())) < len(sent) and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got[m.partition()].append((m.key(), m.value(), m.headers(), m.timestamp()[1]))
        consumer.close()
        assert got == want, (got[0][:2], want[0][:2])
        node(modules, broker.bootstrap, "delete")
    print("compat kafkajs: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
