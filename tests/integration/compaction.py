# SPDX-License-Identifier: Apache-2.0
"""Log compaction with the real spated and a real client (confluent-kafka):
a topic with cleanup.policy=compact and small segments takes 1,000,000
updates over 10,000 keys; the background cleaner compacts everything below
the active segment to one record per key; a consumer from the start sees the
latest value of every key; a kill -9 of spated while a pass runs loses
nothing (restart and verify). Usage: compaction.py SPATED_BINARY"""
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from spated import Spated  # noqa: E402

TOPIC = "changelog"
KEYS = 10_000
UPDATES = 1_000_000
SEGMENT_BYTES = 1 << 20


def quiet(conf):
    return dict(conf, log_level=0)


def metrics(s):
    text = urllib.request.urlopen(f"http://127.0.0.1:{s.admin_port}/metrics", timeout=5).read()
    out = {}
    for line in text.decode().splitlines():
        m = re.match(r'^(\w+)(\{topic="changelog",partition="0"\})?\s+(-?\d+)$', line)
        if m and (m.group(2) or "{" not in line):
            out[m.group(1)] = int(m.group(3))
    return out


def produce(bootstrap, first, count, latest):
    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                        "batch.num.messages": 10000, "batch.size": 1000000,
                        "compression.type": "lz4", "queue.buffering.max.messages": 2000000}))
    for i in range(first, first + count):
        key = f"key-{i % KEYS:05d}"
        value = f"value-{i:07d}"
        while True:
            try:
                p.produce(TOPIC, key=key, value=value, partition=0)
                break
            except BufferError:
                p.poll(0.05)
        latest[key] = value
        if i % 50000 == 0:
            p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} records not delivered"


def read_all(bootstrap):
    """Every record up to the high watermark: (offset, key, value) in order."""
    c = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": "compaction-check",
                        "enable.auto.commit": False, "fetch.max.bytes": 4 << 20}))
    end = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)[1]
    c.assign([TopicPartition(TOPIC, 0, 0)])
    got = []
    deadline = time.monotonic() + 60
    while (not got or got[-1][0] < end - 1) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append((m.offset(), m.key().decode(), m.value().decode()))
    c.close()
    assert got and got[-1][0] == end - 1, f"read up to {got[-1][0] if got else None} of {end}"
    return got, end


def wait_compacted(s, timeout=60, need_run=True):
    """Until a pass ran (if `need_run`) and the clean point stays put."""
    deadline = time.monotonic() + timeout
    last = None
    stable = 0
    while time.monotonic() < deadline:
        m = metrics(s)
        point = m.get("spate_log_clean_point", 0)
        if (m.get("spate_log_cleaner_runs_total", 0) >= 1 or not need_run) and point == last:
            stable += 1
            if stable >= 15:  # 1.5 s of ticks without a new pass
                return m
        else:
            stable = 0
        last = point
        time.sleep(0.1)
    raise AssertionError(f"compaction did not settle: {metrics(s)}")


def verify(bootstrap, latest, clean_point):
    got, end = read_all(bootstrap)
    seen = {}
    offsets = [o for o, _, _ in got]
    assert offsets == sorted(set(offsets)), "offsets not strictly increasing"
    below = [k for o, k, _ in got if o < clean_point]
    assert len(below) == len(set(below)), "a key appears twice in the compacted part"
    for _, k, v in got:
        seen[k] = v
    assert seen == latest, "the latest value of some key is missing or wrong"
    above = sum(1 for o, _, _ in got if o >= clean_point)
    return len(got), len(below), above, end


def main():
    binary = sys.argv[1]
    s = Spated(binary)
    s.start()
    try:
        admin = AdminClient(quiet({"bootstrap.servers": s.bootstrap}))
        fs = admin.create_topics([NewTopic(TOPIC, 1, 1, config={
            "cleanup.policy": "compact", "segment.bytes": str(SEGMENT_BYTES)})])
        fs[TOPIC].result(10)
        latest = {}
        t0 = time.monotonic()
        produce(s.bootstrap, 0, UPDATES, latest)
        produced_s = time.monotonic() - t0
        m = wait_compacted(s)
        total, below, above, end = verify(s.bootstrap, latest, m["spate_log_clean_point"])
        print(f"produced {UPDATES} updates over {KEYS} keys in {produced_s:.1f} s; log end {end}; "
              f"{total} records left: {below} compacted (one per key) below offset "
              f"{m['spate_log_clean_point']} + {above} in the active segment; "
              f"passes={m['spate_log_cleaner_runs_total']} "
              f"read={m['spate_log_cleaner_read_bytes_total']} "
              f"written={m['spate_log_cleaner_written_bytes_total']} bytes")
        assert below <= KEYS and total <= KEYS + above
        assert end - m["spate_log_clean_point"] < UPDATES // 10, "too little was compacted"

        # kill -9 while a pass runs, then restart: nothing lost. A pass is
        # caught in flight when its temporary files are on disk at the kill.
        part_dir = os.path.join(s.data_dir, f"{TOPIC}-0")
        hits = 0
        for attempt in range(5):
            produce(s.bootstrap, UPDATES + attempt * 200_000, 200_000, latest)
            deadline = time.monotonic() + 20
            leftovers = []
            # Bounded by the deadline; polls the folder as fast as it can.
            while time.monotonic() < deadline and not leftovers:
                leftovers = [n for n in os.listdir(part_dir)
                             if n.endswith(".cleaned") or n == "cleaner.swap"]
            s.kill()
            hits += 1 if leftovers else 0
            s.start()
            m = wait_compacted(s, need_run=False)
            verify(s.bootstrap, latest, m["spate_log_clean_point"])
        print(f"kill -9 during a pass 5 times, {hits} with the pass's files on disk; "
              f"every restart verified")
        code = s.stop()
        assert code == 0, f"spated exited with {code}:\n{s.log()[-3000:]}"
        print("compaction: OK")
    finally:
        s.close()


if __name__ == "__main__":
    main()
