# SPDX-License-Identifier: Apache-2.0
"""The real spated when storage runs out (issue 12, items 4b and 5):

- descriptors: spated under `prlimit --nofile=N` with a topic of hundreds of
  segments (many more than N); idle connections exhaust the rest of its
  descriptors while a producer keeps producing: produces fail with a
  retriable error, every acknowledged record stays readable, produce recovers
  once the idle connections close, and a restart under the same limit works;
- disk space: the data directory on a small tmpfs (mounted here; root only)
  is filled: produces fail with REQUEST_TIMED_OUT (retriable), reads go on,
  produce works again once space is freed, and the broker also starts on a
  full disk (read-only until there is room). After every restart each
  acknowledged record is there exactly once.

Usage: hostile_storage.py SPATED_BINARY"""
import errno
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.errors import KafkaError  # noqa: E402

from spated import Spated  # noqa: E402

# What a producer sees while the disk is full or descriptors are exhausted:
# REQUEST_TIMED_OUT, retriable in every client (docs/limits.md).
REFUSED = 7


def producer(bootstrap):
    # retries=0: every refusal reaches us, so that nothing is appended twice
    # and each acknowledged record is known.
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0, linger_ms=0,
                         max_block_ms=10000, request_timeout_ms=10000,
                         api_version=(2, 1, 0))


def produce_one(p, topic, value):
    """(offset, None) when acknowledged, (None, error) when refused."""
    try:
        md = p.send(topic, value=value, partition=0).get(timeout=15)
        return md.offset, None
    except KafkaError as e:
        return None, e


def read_all(bootstrap, topic, expect, timeout=20.0):
    """Every record of partition 0 up to the high watermark, checked against
    `expect` ({offset: value}): each acknowledged record there, once."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                      api_version=(2, 1, 0), fetch_max_bytes=1 << 20,
                      max_partition_fetch_bytes=1 << 20)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    end = c.end_offsets([tp])[tp]
    got = {}
    deadline = time.monotonic() + timeout
    while (not expect or len(got) < end) and time.monotonic() < deadline:
        for records in c.poll(timeout_ms=300).values():
            for m in records:
                assert m.offset not in got, f"offset {m.offset} read twice"
                got[m.offset] = m.value
        if len(got) >= end:
            break
    c.close()
    missing = [o for o, v in expect.items() if got.get(o) != v]
    assert not missing, f"{len(missing)} acknowledged records missing or changed, e.g. {missing[:5]}"
    values = list(got.values())
    assert len(values) == len(set(values)), "a record was stored twice"
    return got


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def descriptors(binary):
    limit = 64
    work = tempfile.TemporaryDirectory(prefix="spate-fds-")
    data = os.path.join(work.name, "data")
    broker = Spated(binary, data_dir=data)  # started by start_limited()
    args = [f"--nofile={limit}:{limit}", binary]
    idle = []
    try:
        start_limited(broker, args)
        bs = broker.bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bs, api_version=(2, 1, 0))
        # ~2 records per segment: hundreds of segments, far more than 64 descriptors.
        admin.create_topics([NewTopic("many", 1, 1, topic_configs={"segment.bytes": "2500"})])
        admin.close()
        p = producer(bs)
        acked = {}
        for i in range(400):
            value = b"v%06d-" % i + b"x" * 1000
            offset, err = produce_one(p, "many", value)
            assert err is None, f"produce {i} failed with {err} (the 4(b) descriptor leak?)"
            acked[offset] = value
        segments = len([n for n in os.listdir(os.path.join(data, "many-0")) if n.endswith(".log")])
        assert segments > 3 * limit, segments
        fds = fd_count(broker.proc.pid)
        assert fds < limit, fds
        print(f"  {segments} segments, {fds} descriptors open (limit {limit})")
        c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=None,
                          api_version=(2, 1, 0))
        tp = TopicPartition("many", 0)
        c.assign([tp])
        # Connect before the descriptors run out (a new connection cannot be
        # accepted then, which is not what this checks).
        c.seek(tp, 0)
        deadline = time.monotonic() + 10
        while not c.poll(timeout_ms=300) and time.monotonic() < deadline:
            pass
        # Exhaust the broker's descriptors with idle connections.
        for _ in range(2 * limit):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
            idle.append(s)
        deadline = time.monotonic() + 10
        while fd_count(broker.proc.pid) < limit and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fd_count(broker.proc.pid) >= limit - 1, fd_count(broker.proc.pid)
        refused = 0
        for i in range(400, 440):
            value = b"v%06d-" % i + b"x" * 1000
            offset, err = produce_one(p, "many", value)
            if err is None:
                acked[offset] = value  # a batch that did not need a new segment
            else:
                assert getattr(err, "errno", None) == REFUSED and err.retriable, f"unexpected {err!r} {getattr(err, 'errno', None)}: {broker.log()[-2000:]}"
                refused += 1
            # Reads of acknowledged records never fail: sealed segments borrow
            # descriptors from the cache, which gives back its own.
            some = sorted(acked)[i % len(acked)]
            c.seek(tp, some)
            batch = c.poll(timeout_ms=3000)
            assert batch, f"read at offset {some} failed while descriptors were exhausted"
        assert refused > 0, "descriptors were never exhausted"
        for s in idle:
            s.close()
        idle.clear()
        recovered = None
        deadline = time.monotonic() + 15
        i = 440
        while recovered is None and time.monotonic() < deadline:
            value = b"v%06d-" % i + b"x" * 1000
            i += 1
            offset, err = produce_one(p, "many", value)
            if err is None:
                acked[offset] = value
                recovered = offset
            else:
                time.sleep(0.1)
        assert recovered is not None, "produce did not recover after the idle connections closed"
        for j in range(30):
            value = b"w%06d-" % j + b"y" * 1000
            offset, err = produce_one(p, "many", value)
            assert err is None, err
            acked[offset] = value
        c.close()
        p.close()
        read_all(bs, "many", acked)
        print(f"  {refused} produces refused while descriptors were exhausted, reads never failed,"
              f" produce recovered; {len(acked)} acknowledged")
        code = broker.stop()
        assert code == 0, f"exit {code}:\n{broker.log()[-3000:]}"
        start_limited(broker, args)  # the restart under the same limit
        read_all(broker.bootstrap, "many", acked)
        code = broker.stop()
        assert code == 0, f"exit {code}:\n{broker.log()[-3000:]}"
        print("  restart under the same descriptor limit: every acknowledged record once")
    finally:
        for s in idle:
            s.close()
        broker.kill()
        broker.close()
        work.cleanup()


def start_limited(broker, args):
    """Spated.start() with `prlimit ... spated` as the command line."""
    ready = os.path.join(broker._tmp.name, "ready")
    if os.path.exists(ready):
        os.remove(ready)
    broker.log_path = os.path.join(broker._tmp.name, "spated.log")
    log = open(broker.log_path, "ab")
    broker.proc = subprocess.Popen(
        ["/usr/bin/prlimit"] + args +
        ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir",
         broker.data_dir, "--ready-file", ready, "--log-level", "warn"],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(ready):
            fields = dict(line.split("=", 1) for line in open(ready).read().split())
            broker.port = int(fields["port"])
            broker.admin_port = int(fields["admin_port"])
            return
        if broker.proc.poll() is not None:
            break
        time.sleep(0.02)
    broker.kill()
    raise RuntimeError("spated did not start:\n" + broker.log()[-3000:])


def fill(path):
    """Fills the file system of `path` with one file; returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (65536, 4096, 512, 1):  # bounded: stops at the first ENOSPC of each size
            chunk = b"\0" * size
            for _ in range(200000):
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return filler


def disk_space(binary):
    if os.geteuid() != 0:
        print("  disk space: SKIPPED (needs root to mount a tmpfs)")
        return
    work = tempfile.mkdtemp(prefix="spate-enospc-")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
    broker = None
    try:
        data = os.path.join(mnt, "data")
        broker = Spated(binary, extra_args=["--log-level", "warn"], data_dir=data).start()
        bs = broker.bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bs, api_version=(2, 1, 0))
        admin.create_topics([NewTopic("full", 1, 1)])
        admin.close()
        p = producer(bs)
        acked = {}
        n = 0

        def value():
            nonlocal n
            n += 1
            return b"r%06d-" % n + b"z" * 3000

        for _ in range(200):
            v = value()
            offset, err = produce_one(p, "full", v)
            assert err is None, err
            acked[offset] = v
        filler = fill(mnt)
        refused = []
        for _ in range(40):
            v = value()
            offset, err = produce_one(p, "full", v)
            if err is None:
                acked[offset] = v  # the last page still had room
            else:
                refused.append(err)
        assert refused, "the full disk never refused a produce"
        for err in refused:
            assert getattr(err, "errno", None) == REFUSED, repr(err)
            assert err.retriable, repr(err)
        assert broker.proc.poll() is None, "spated died on a full disk"
        read_all(bs, "full", acked)
        print(f"  full disk: {len(refused)} produces refused with REQUEST_TIMED_OUT (retriable),"
              f" {len(acked)} acknowledged records readable")
        os.remove(filler)
        recovered = False
        deadline = time.monotonic() + 15
        while not recovered and time.monotonic() < deadline:
            v = value()
            offset, err = produce_one(p, "full", v)
            if err is None:
                acked[offset] = v
                recovered = True
            else:
                time.sleep(0.1)
        assert recovered, "produce did not recover once space was freed"
        for _ in range(20):
            v = value()
            offset, err = produce_one(p, "full", v)
            assert err is None, err
            acked[offset] = v
        p.close()
        read_all(bs, "full", acked)
        code = broker.stop()
        assert code == 0, f"exit {code}:\n{broker.log()[-3000:]}"
        print("  space freed: produce recovered, clean stop")

        # Start on a full disk: read-only until there is room.
        filler = fill(mnt)
        broker.start()
        # Opening removes each partition's clean-shutdown marker (nine with
        # __consumer_offsets), which frees a few blocks: fill them again.
        fill(mnt)
        bs = broker.bootstrap
        read_all(bs, "full", acked)
        p = producer(bs)
        refused = 0
        for _ in range(10):
            v = value()
            offset, err = produce_one(p, "full", v)
            if err is None:
                acked[offset] = v
            else:
                assert getattr(err, "errno", None) == REFUSED and err.retriable, repr(err)
                refused += 1
        assert refused > 0, "a full disk at start did not refuse produces"
        os.remove(filler)
        recovered = False
        deadline = time.monotonic() + 15
        while not recovered and time.monotonic() < deadline:
            v = value()
            offset, err = produce_one(p, "full", v)
            if err is None:
                acked[offset] = v
                recovered = True
            else:
                time.sleep(0.1)
        assert recovered, "produce did not recover after a start on a full disk"
        p.close()
        code = broker.stop()
        assert code == 0, f"exit {code}:\n{broker.log()[-3000:]}"
        broker.start()
        read_all(broker.bootstrap, "full", acked)
        code = broker.stop()
        assert code == 0, f"exit {code}:\n{broker.log()[-3000:]}"
        print(f"  started on a full disk: reads served, {refused} produces refused, writes resumed"
              f" once space was freed; {len(acked)} acknowledged records, each once, after restart")
    finally:
        if broker is not None:
            broker.kill()
            broker.close()
        subprocess.run(["umount", mnt], check=False)
        shutil.rmtree(work, ignore_errors=True)


def main(binary):
    descriptors(binary)
    disk_space(binary)
    print("hostile_storage: ok")


if __name__ == "__main__":
    main(sys.argv[1])
