# SPDX-License-Identifier: Apache-2.0
"""The real spated through restarts: topic state and data survive a SIGTERM
restart; SIGTERM under load exits 0 and keeps every acknowledged record;
kill -9 under load loses no acknowledged (acks=all) record; /health and
/metrics answer. Usage: lifecycle.py SPATED_BINARY"""
import os
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

from spated import Spated  # noqa: E402


def quiet(conf):
    return dict(conf, log_level=0)


def read_all(bootstrap, topic, partitions, expect_total, timeout=20):
    """Every record up to each partition's high watermark (the log may hold
    more than was acknowledged: records appended but not answered before a
    crash)."""
    c = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": "lifecycle",
                        "enable.auto.commit": False}))
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)}
    assert sum(ends.values()) >= expect_total, (ends, expect_total)
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < sum(ends.values()) and time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is None:
            continue
        assert m.error() is None, m.error()
        key = (m.partition(), m.offset())
        assert key not in got, f"offset {key} read twice"
        got[key] = (m.key(), m.value())
    c.close()
    assert len(got) == sum(ends.values()), f"read {len(got)} of {ends}"
    return got


def load(bootstrap, topic, partitions, stop, acked):
    """Produces acks=all until `stop`; records every acknowledged record."""
    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                        "message.timeout.ms": 5000, "retries": 0}))
    i = 0

    def on_delivery(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    while not stop.is_set():
        try:
            p.produce(topic, key=b"k%d" % i, value=b"value-%d" % i, partition=i % partitions,
                      on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        p.poll(0.001)
    p.flush(6)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def restart_keeps_topics_and_data(binary):
    broker = Spated(binary).start()
    try:
        bs = broker.bootstrap
        admin = AdminClient(quiet({"bootstrap.servers": bs}))
        admin.create_topics([NewTopic("kept", 3, 1, config={"retention.ms": "7200000"})])["kept"].result(10)
        p = Producer(quiet({"bootstrap.servers": bs, "acks": "all"}))
        for i in range(300):
            p.produce("kept", key=b"k%d" % i, value=b"v%d" % i, partition=i % 3)
        assert p.flush(10) == 0
        status, body = http_get(broker.admin_port, "/health")
        assert status == 200 and body == "ok\n", (status, body)
        status, metrics = http_get(broker.admin_port, "/metrics")
        assert status == 200
        for series in ['spate_requests_total{api="Produce"}', "spate_connections ",
                       'spate_log_end_offset{topic="kept",partition="2"} 100',
                       'spate_request_latency_seconds_bucket{api="Produce",le="+Inf"}',
                       "spate_bytes_in_total",
                       "spate_partitions 11"]:  # 3 + the 8 of __consumer_offsets
            assert series in metrics, f"/metrics lacks {series}"
        code = broker.stop()
        assert code == 0, f"exit {code} on SIGTERM:\n{broker.log()[-3000:]}"
        assert "closed cleanly" in broker.log()

        broker.start()  # the same data directory
        bs = broker.bootstrap
        admin = AdminClient(quiet({"bootstrap.servers": bs}))
        md = admin.list_topics(timeout=10)
        assert len(md.topics["kept"].partitions) == 3, md.topics
        configs = list(admin.describe_configs([ConfigResource("topic", "kept")]).values())[0].result(10)
        assert configs["retention.ms"].value == "7200000"
        got = read_all(bs, "kept", 3, 300)
        assert len(got) == 300 and all(o < 100 for (_, o) in got), len(got)
        p = Producer(quiet({"bootstrap.servers": bs, "acks": "all"}))
        offsets = []
        p.produce("kept", value=b"after", partition=0,
                  on_delivery=lambda e, m: offsets.append(m.offset()))
        assert p.flush(10) == 0 and offsets == [100], offsets
        code = broker.stop()
        assert code == 0, f"exit {code} on SIGTERM:\n{broker.log()[-3000:]}"
    finally:
        broker.close()
    print("  restart keeps topics, configs and data")


def crash_under_load(binary, how):
    broker = Spated(binary).start()
    try:
        admin = AdminClient(quiet({"bootstrap.servers": broker.bootstrap}))
        admin.create_topics([NewTopic("load", 2, 1)])["load"].result(10)
        stop, acked = threading.Event(), {}
        worker = threading.Thread(target=load, args=(broker.bootstrap, "load", 2, stop, acked))
        worker.start()
        deadline = time.monotonic() + 20
        while len(acked) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acked) >= 2000, f"only {len(acked)} acknowledged"
        if how == "kill":
            broker.proc.send_signal(signal.SIGKILL)
            broker.proc.wait(10)
        else:
            started = time.monotonic()
            code = broker.stop()
            assert code == 0, f"exit {code} on SIGTERM under load:\n{broker.log()[-2000:]}"
            assert time.monotonic() - started < 10
        stop.set()
        worker.join(30)
        snapshot = dict(acked)
        broker.start()
        got = read_all(broker.bootstrap, "load", 2, len(snapshot), timeout=30)
        missing = [k for k in snapshot if got.get(k) != snapshot[k]]
        assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. {missing[:3]}"
        code = broker.stop()
        assert code == 0, f"exit {code} on SIGTERM:\n{broker.log()[-3000:]}"
        print(f"  {how}: {len(snapshot)} acknowledged records, all present after restart")
    finally:
        broker.close()


def main(binary):
    restart_keeps_topics_and_data(binary)
    crash_under_load(binary, "sigterm")
    crash_under_load(binary, "kill")
    print("lifecycle: ok")


if __name__ == "__main__":
    main(sys.argv[1])
