# SPDX-License-Identifier: Apache-2.0
"""A hostile or unlucky client against the real spated (issue 12): requests
that reach the handlers and storage behind the decoder. Every case asserts
that the broker stays up, that a well-behaved client on another connection
keeps getting answers within its normal latency, that acknowledged records
survive, and that the broker stops cleanly (exit 0) and restarts.

Usage: hostile.py SPATED_BINARY [CASE ...]"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from kafka.protocol import admin, fetch, metadata, offset  # noqa: E402
from kafka.protocol.api import Request, RequestHeader, Response  # noqa: E402
from kafka.protocol.produce import ProduceRequest_v3, ProduceResponse_v3  # noqa: E402
from kafka.protocol.types import Array, Int16, Int32, Int64, Schema, String  # noqa: E402
from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402

from spated import Spated  # noqa: E402

# A well-behaved client's round trip may take this long while a hostile one
# works (an idle broker answers in well under a millisecond; the machine is
# shared and noisy, so the bound is loose but far below the stalls of
# seconds that the issue reproduced).
PROBE_BOUND_S = 0.5
LONG = "a" * 32767  # the longest STRING a client can send


class Wire:
    """One raw Kafka connection: encodes with kafka-python's structs."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.correlation = 0

    def frame(self, request):
        """The next request's frame, encoded ahead (so that the encoding does
        not hold the GIL while a Prober measures)."""
        header = RequestHeader(request, correlation_id=self.correlation + 1, client_id="hostile")
        payload = header.encode() + request.encode()
        return struct.pack(">i", len(payload)) + payload

    def send(self, request, frame=None):
        frame = frame or self.frame(request)
        self.correlation += 1
        self.sock.sendall(frame)
        return self.correlation

    def receive(self, response_class, limit=512 << 20):
        size = struct.unpack(">i", self._read(4))[0]
        assert 0 <= size <= limit, f"response frame of {size} bytes"
        body = self._read(size)
        correlation = struct.unpack(">i", body[:4])[0]
        assert correlation == self.correlation, (correlation, self.correlation)
        return response_class.decode(body[4:]), size

    def call(self, request, response_class):
        self.send(request)
        return self.receive(response_class)[0]

    def _read(self, n):
        chunks = []
        while n > 0:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise ConnectionError("closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self):
        self.sock.close()


class Prober:
    """A well-behaved client: Metadata for one topic every 20 ms on its own
    connection, recording each round trip."""

    def __init__(self, port):
        self.wire = Wire(port, timeout=10)
        self.latencies = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                self.wire.call(metadata.MetadataRequest_v4(topics=["probe"],
                                                           allow_auto_topic_creation=False),
                               metadata.MetadataResponse_v4)
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))
                return
            self.latencies.append(time.monotonic() - start)
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(15)
        self.wire.close()
        if exc[0] is None:
            worst = self.check()
            lat = sorted(self.latencies)
            print(f"     well-behaved client: {len(lat)} round trips, median "
                  f"{lat[len(lat) // 2] * 1000:.1f} ms, worst {worst * 1000:.1f} ms", flush=True)

    def check(self):
        assert not self.errors, f"the well-behaved client failed: {self.errors}"
        assert self.latencies, "the well-behaved client got no answer"
        worst = max(self.latencies)
        assert worst < PROBE_BOUND_S, (
            f"the well-behaved client waited {worst * 1000:.0f} ms "
            f"(bound {PROBE_BOUND_S * 1000:.0f} ms, {len(self.latencies)} probes)")
        return worst


def alive(broker):
    assert broker.proc.poll() is None, f"spated exited:\n{broker.log()[-4000:]}"
    w = Wire(broker.port, timeout=5)
    w.call(metadata.MetadataRequest_v1(topics=[]), metadata.MetadataResponse_v1)
    w.close()


def create(broker, name, partitions=1, configs=()):
    w = Wire(broker.port)
    r = w.call(admin.CreateTopicsRequest_v1(
        create_topic_requests=[(name, partitions, 1, [], list(configs))], timeout=30000,
        validate_only=False), admin.CreateTopicsResponse_v1)
    w.close()
    return r.topic_errors[0][1]


def produce(broker, topic, values, partition=0):
    """acks=all; returns the values the broker acknowledged."""
    acked = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.max.bytes": 4 << 20, "allow.auto.create.topics": False})

    def done(err, msg):
        if err is None:
            acked.append(msg.value())

    for v in values:
        p.produce(topic, v, partition=partition, on_delivery=done)
        p.poll(0)
    assert p.flush(30) == 0, "producer did not finish in 30 s"
    return acked


def consume_all(broker, topic, partition=0, expect=None, timeout=20):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "fetch.message.max.bytes": 4 << 20})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline and (expect is None or len(out) < expect):
        m = c.poll(0.2)
        if m is None:
            # Without a count: done once nothing came for 3 s.
            if expect is None and time.monotonic() > last + 3:
                break
            continue
        last = time.monotonic()
        if m.error():
            continue
        out.append(m.value())
    c.close()
    return out


def restart(broker):
    code = broker.stop()
    assert code == 0, f"spated exited {code} on SIGTERM:\n{broker.log()[-4000:]}"
    broker.start()


# ---------------------------------------------------------------- the cases

def case_long_strings(broker):
    """Item 1: client strings copied into non-flexible response strings."""
    with Prober(broker.port):
        long_strings(broker)


def long_strings(broker):
    w = Wire(broker.port)
    r = w.call(admin.DescribeConfigsRequest_v0(resources=[(2, LONG, None)]),
               admin.DescribeConfigsResponse_v0)
    code, message = r.resources[0][0], r.resources[0][1]
    assert code == 3, code  # UNKNOWN_TOPIC_OR_PARTITION
    assert len(message) <= 1024, len(message)
    assert create(broker, "long-strings") == 0
    r = w.call(admin.AlterConfigsRequest_v0(resources=[(2, "long-strings", [(LONG, None)])],
                                            validate_only=False), admin.AlterConfigsResponse_v0)
    assert r.resources[0][0] == 40, r.resources  # INVALID_CONFIG
    assert len(r.resources[0][1]) <= 1024
    r = w.call(admin.AlterConfigsRequest_v0(resources=[(2, LONG, [("retention.ms", "1")])],
                                            validate_only=False), admin.AlterConfigsResponse_v0)
    assert r.resources[0][0] == 3, r.resources
    r = w.call(admin.CreateTopicsRequest_v1(
        create_topic_requests=[("long-config", 1, 1, [], [(LONG[:32000], "1")])], timeout=1000,
        validate_only=False), admin.CreateTopicsResponse_v1)
    assert r.topic_errors[0][1] == 40, r.topic_errors  # INVALID_CONFIG
    assert len(r.topic_errors[0][2]) <= 1024
    r = w.call(admin.CreateTopicsRequest_v1(
        create_topic_requests=[(LONG, 1, 1, [], [])], timeout=1000, validate_only=False),
        admin.CreateTopicsResponse_v1)
    assert r.topic_errors[0][1] == 17, r.topic_errors  # INVALID_TOPIC_EXCEPTION
    r = w.call(admin.CreatePartitionsRequest_v0(topic_partitions=[(LONG, (3, None))],
                                                timeout=1000, validate_only=False),
               admin.CreatePartitionsResponse_v0)
    assert r.topic_errors[0][1] == 3, r.topic_errors
    assert len(r.topic_errors[0][2] or "") <= 1024
    w.close()


def case_fetch_overshoot(broker):
    """Item 2: one small Fetch naming a partition holding a 1 MB batch 2,100
    times with partition_max_bytes=1 and max_bytes=INT32_MAX."""
    assert create(broker, "big", configs=[("max.message.bytes", str(2 << 20))]) == 0
    acked = produce(broker, "big", [b"x" * 1_000_000])
    assert len(acked) == 1
    with Prober(broker.port):
        fetch_overshoot(broker)


def fetch_overshoot(broker):
    w = Wire(broker.port, timeout=60)
    request = fetch.FetchRequest_v4(replica_id=-1, max_wait_time=0, min_bytes=1,
                                    max_bytes=0x7FFFFFFF, isolation_level=0,
                                    topics=[("big", [(0, 0, 1)] * 2100)])
    w.send(request)
    response, size = w.receive(fetch.FetchResponse_v4)
    # One batch past the broker's fetch.max.bytes (55 MiB) at the very most;
    # in fact only the first entry gets the batch.
    assert size < 60 << 20, size
    with_data = sum(1 for t in response.topics for p in t[1] if p[-1])
    assert with_data == 1, with_data
    w.close()


def case_delete_create_race(broker):
    """Item 3: DeleteTopics racing CreateTopics of the same name must never
    remove the new topic's folder: after a clean restart every record
    acknowledged to the last incarnation is there."""
    assert create(broker, "race") == 0
    # A producer keeps a flush in flight on "race", so that a delete waits
    # for it (the window in which an older broker let the create reopen the
    # folder that the delete then removed).
    stop = threading.Event()

    def load():
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0,
                      "allow.auto.create.topics": False, "message.timeout.ms": 2000})
        while not stop.is_set():
            p.produce("race", b"x" * 1000, partition=0)
            p.poll(0.001)
        p.flush(10)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        with Prober(broker.port):
            race_rounds(broker, 30)
    finally:
        stop.set()
        loader.join(30)
    assert create(broker, "race") in (0, 36)
    values = [b"last-%d" % i for i in range(200)]
    acked = produce(broker, "race", values)
    assert len(acked) == len(values), len(acked)
    restart(broker)
    # The topic may also hold the load's last records: every one of ours, in order.
    got = [v for v in consume_all(broker, "race") if v.startswith(b"last-")]
    assert got == acked, f"{len(got)} of {len(acked)} acknowledged records after restart"


def race_rounds(broker, rounds):
    for i in range(rounds):
        a, b = Wire(broker.port), Wire(broker.port)
        a.send(admin.DeleteTopicsRequest_v1(topics=["race"], timeout=30000))
        b.send(admin.CreateTopicsRequest_v1(
            create_topic_requests=[("race", 1, 1, [], [])], timeout=30000, validate_only=False))
        a.receive(admin.DeleteTopicsResponse_v1)
        created = b.receive(admin.CreateTopicsResponse_v1)[0].topic_errors[0][1]
        a.close()
        b.close()
        if created == 36:  # TOPIC_ALREADY_EXISTS: it ran before the delete
            assert create(broker, "race") in (0, 36)
        # Whatever the order, a topic the broker serves has its folder.
        w = Wire(broker.port)
        r = w.call(metadata.MetadataRequest_v1(topics=["race"]), metadata.MetadataResponse_v1)
        w.close()
        if r.topics[0][0] == 0:
            folder = os.path.join(broker.data_dir, "race-0")
            assert os.path.isdir(folder), f"round {i}: topic race is served but {folder} is gone"


def case_padded_configs(broker):
    """Item 4(a): numeric config values with unlimited leading zeros used to
    be stored verbatim until topics.meta outgrew what a restart reads."""
    zeros = "0" * 30000
    w = Wire(broker.port, timeout=120)
    topics = [(f"padded-{i}", 1, 1, [], [("retention.ms", zeros + "604800000"),
                                        ("segment.bytes", zeros + "1048576")])
              for i in range(60)]
    with Prober(broker.port):
        r = w.call(admin.CreateTopicsRequest_v1(create_topic_requests=topics, timeout=60000,
                                                validate_only=False),
                   admin.CreateTopicsResponse_v1)
    assert all(e[1] == 0 for e in r.topic_errors), r.topic_errors[:3]
    w.close()
    meta = os.path.getsize(os.path.join(broker.data_dir, "topics.meta"))
    assert meta < 64 << 10, f"topics.meta is {meta} bytes"
    restart(broker)
    w = Wire(broker.port)
    r = w.call(admin.DescribeConfigsRequest_v0(resources=[(2, "padded-7", ["retention.ms"])]),
               admin.DescribeConfigsResponse_v0)
    assert r.resources[0][4][0][1] == "604800000", r.resources
    w.close()


def segment_files(broker, topic, partition=0):
    folder = os.path.join(broker.data_dir, f"{topic}-{partition}")
    return sorted(f for f in os.listdir(folder) if f.endswith(".log"))


def case_never_roll(broker):
    """Item 4(b): segment.ms and flush.ms of INT64 max (Kafka's "never")
    overflowed in nanoseconds and rolled a segment per append."""
    never = str(2**63 - 1)
    assert create(broker, "never", configs=[("segment.ms", never), ("flush.ms", never)]) == 0
    with Prober(broker.port):
        for i in range(20):
            assert len(produce(broker, "never", [b"v%d" % i])) == 1
    assert len(segment_files(broker, "never")) == 1, segment_files(broker, "never")
    restart(broker)
    assert len(consume_all(broker, "never", expect=20)) == 20


def case_slow_requests(broker):
    """Item 6: work that used to stall every client on the network thread."""
    # A partition whose batch holds many small records: each timestamp
    # lookup decodes it.
    assert create(broker, "stamps") == 0
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 200,
                  "batch.size": 1 << 20, "compression.type": "none"})
    base = int(time.time() * 1000)
    for i in range(30000):
        p.produce("stamps", b"v", partition=0, timestamp=base + i)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    with Prober(broker.port) as probe:
        w = Wire(broker.port, timeout=120)
        w.call(offset.OffsetRequest_v1(replica_id=-1,
                                       topics=[("stamps", [(0, base + 29000)] * 1000)]),
               offset.OffsetResponse_v1)
        # Metadata auto-creating 300 topics at once.
        r = w.call(metadata.MetadataRequest_v4(topics=[f"auto-{i}" for i in range(300)],
                                               allow_auto_topic_creation=True),
                   metadata.MetadataResponse_v4)
        assert all(t[0] == 0 for t in r.topics), [t[:2] for t in r.topics if t[0]][:3]
        # CreateTopics with 250 partitions.
        r = w.call(admin.CreateTopicsRequest_v1(
            create_topic_requests=[("wide", 250, 1, [], [])], timeout=60000,
            validate_only=False), admin.CreateTopicsResponse_v1)
        assert r.topic_errors[0][1] == 0, r.topic_errors
        # 19,000 names, all invalid: answered at once (no O(n^2) scan).
        names = [(f"bad!{i}", 1, 1, [], []) for i in range(19000)]
        r = w.call(admin.CreateTopicsRequest_v1(create_topic_requests=names, timeout=1000,
                                                validate_only=False),
                   admin.CreateTopicsResponse_v1)
        assert all(e[1] == 17 for e in r.topic_errors)
        w.close()
    # More entries than a request may carry: the connection is closed (the
    # protocol has no generic error), the broker stays up.
    w = Wire(broker.port)
    names = [(f"n{i}", 1, 1, [], []) for i in range(25000)]
    w.send(admin.CreateTopicsRequest_v1(create_topic_requests=names, timeout=1000,
                                        validate_only=False))
    try:
        w.receive(admin.CreateTopicsResponse_v1)
        raise AssertionError("a request with 25,000 entries was answered")
    except (ConnectionError, OSError):
        pass
    w.close()


class DeleteRecordsResponse_v0(Response):  # not in kafka-python 2.0.2
    API_KEY = 21
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("topics", Array(("name", String("utf-8")),
                         ("partitions", Array(("partition", Int32), ("low_watermark", Int64),
                                              ("error_code", Int16))))))


class DeleteRecordsRequest_v0(Request):
    API_KEY = 21
    API_VERSION = 0
    RESPONSE_TYPE = DeleteRecordsResponse_v0
    SCHEMA = Schema(
        ("topics", Array(("name", String("utf-8")),
                         ("partitions", Array(("partition", Int32), ("offset", Int64))))),
        ("timeout_ms", Int32))


def v2_batch(values, compression=0):
    """One v2 record batch as a producer sends it (1 = gzip)."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=64 << 20)
    now = int(time.time() * 1000)
    for i, v in enumerate(values):
        b.append(i, timestamp=now, key=None, value=v, headers=[])
    return bytes(b.build())


def raw_produce(w, topic, entries, acks=-1):
    """entries: [(partition, batch)]; returns the error code per entry."""
    r = w.call(ProduceRequest_v3(transactional_id=None, required_acks=acks, timeout=30000,
                                 topics=[(topic, entries)]), ProduceResponse_v3)
    return [p[1] for t in r.topics for p in t[1]]


def case_decompression_bombs(broker):
    """Validation decompresses on the network thread: 400 gzip batches of
    15 MiB of zeros each (15 KB on the wire; 6 GB to inflate) in one Produce
    held every other client up for seconds. One request's batches now share
    a budget (--max-request-decompressed-bytes, 32 MiB; the first batch may
    always use its own bound): the rest are refused with MESSAGE_TOO_LARGE
    at once."""
    assert create(broker, "bombs") == 0
    bomb = v2_batch([b"\0" * (15 << 20)], compression=1)
    assert len(bomb) < 64 << 10, len(bomb)
    w = Wire(broker.port, timeout=120)
    request = ProduceRequest_v3(transactional_id=None, required_acks=-1, timeout=30000,
                                topics=[("bombs", [(0, bomb)] * 400)])
    frame = w.frame(request)
    with Prober(broker.port):
        w.send(request, frame)
        r = w.receive(ProduceResponse_v3)[0]
    codes = [p[1] for t in r.topics for p in t[1]]
    # The first two fit the 32 MiB; the rest get MESSAGE_TOO_LARGE.
    assert codes[:2] == [0, 0], codes[:2]
    assert set(codes[2:]) == {10}, set(codes[2:])
    w.close()
    restart(broker)
    w = Wire(broker.port)
    r = w.call(offset.OffsetRequest_v1(replica_id=-1, topics=[("bombs", [(0, -1)])]),
               offset.OffsetResponse_v1)
    assert r.topics[0][1][0][3] == 2, r.topics  # the two accepted, durable
    w.close()


def case_delete_records_many(broker):
    """DeleteRecords wrote and fsynced each entry's start offset file on the
    network thread: one request of 2,000 entries (500 partitions, each named
    four times with a rising offset) held every other client up for as many
    fsync pairs. The file work runs on the disk thread now, and the new start
    offsets are durable when the answer comes."""
    partitions, rounds = 500, 4
    assert create(broker, "trim", partitions) == 0
    w = Wire(broker.port, timeout=300)
    batch = v2_batch([b"v%d" % i for i in range(rounds)])
    codes = raw_produce(w, "trim", [(i, batch) for i in range(partitions)])
    assert set(codes) == {0}, set(codes)
    request = DeleteRecordsRequest_v0(
        topics=[("trim", [(i, k) for k in range(1, rounds + 1) for i in range(partitions)])],
        timeout_ms=60000)
    frame = w.frame(request)
    with Prober(broker.port):
        w.send(request, frame)
        r = w.receive(DeleteRecordsResponse_v0)[0]
    got = [(p[0], p[1], p[2]) for t in r.topics for p in t[1]]
    assert got == [(i, k, 0) for k in range(1, rounds + 1) for i in range(partitions)], got[:3]
    w.close()
    restart(broker)
    w = Wire(broker.port)
    r = w.call(offset.OffsetRequest_v1(replica_id=-1,
                                       topics=[("trim", [(i, -2) for i in range(partitions)])]),
               offset.OffsetResponse_v1)
    starts = {p[3] for t in r.topics for p in t[1]}
    assert starts == {rounds}, starts
    w.close()


def case_long_names(broker):
    """Item 10: topics with 246-249 character names can be deleted, and stay
    deleted (with their configs) across a restart."""
    names = ["L" * n for n in (246, 247, 248, 249)]
    with Prober(broker.port):
        for n in names:
            assert create(broker, n, 2, [("retention.ms", "3600000")]) == 0
            assert len(produce(broker, n, [b"x"])) == 1
        w = Wire(broker.port)
        r = w.call(admin.DeleteTopicsRequest_v1(topics=names, timeout=30000),
                   admin.DeleteTopicsResponse_v1)
        assert all(e[1] == 0 for e in r.topic_error_codes), r.topic_error_codes
        w.close()
    restart(broker)
    w = Wire(broker.port)
    r = w.call(metadata.MetadataRequest_v1(topics=None), metadata.MetadataResponse_v1)
    assert not [t for t in r.topics if t[1] in names]
    w.close()
    assert not [d for d in os.listdir(broker.data_dir) if d.startswith("LLL")]


def case_partial_create(binary):
    """Item 10: a CreateTopics that fails partway (here: the file system runs
    out of inodes) leaves no folders that become a topic after restart."""
    mount = tempfile.mkdtemp(prefix="spate-inodes-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=120", "tmpfs", mount],
                   check=True)
    try:
        broker = Spated(binary, data_dir=os.path.join(mount, "data")).start()
        try:
            assert create(broker, "small", 2) == 0
            acked = produce(broker, "small", [b"keep-%d" % i for i in range(50)])
            code = create(broker, "huge", 200)
            assert code != 0, "a create needing more inodes than the disk has succeeded"
            alive(broker)
            restart(broker)
            w = Wire(broker.port)
            r = w.call(metadata.MetadataRequest_v1(topics=None), metadata.MetadataResponse_v1)
            names = [t[1] for t in r.topics if t[1] != "__consumer_offsets"]
            assert names == ["small"], names
            w.close()
            assert not [d for d in os.listdir(broker.data_dir) if d.startswith("huge")]
            assert consume_all(broker, "small", expect=len(acked)) == acked
        finally:
            code = broker.stop()
            broker.close()
            assert code == 0, code
    finally:
        subprocess.run(["umount", mount], check=False)
        os.rmdir(mount)


def case_delete_on_full_disk(binary):
    """Item 5 (the part in topic administration): DeleteTopics on a full disk
    used to drop the topic from memory and have it come back after restart.
    Now it fails as a whole, and works once there is space."""
    mount = tempfile.mkdtemp(prefix="spate-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount], check=True)
    filler = os.path.join(mount, "filler")
    try:
        broker = Spated(binary, data_dir=os.path.join(mount, "data")).start()
        try:
            assert create(broker, "doomed", 1) == 0
            assert create(broker, "kept", 1) == 0
            acked = produce(broker, "kept", [b"keep-%d" % i for i in range(20)])
            with open(filler, "wb") as f:  # fill the disk
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
            w = Wire(broker.port)
            r = w.call(admin.DeleteTopicsRequest_v1(topics=["doomed"], timeout=30000),
                       admin.DeleteTopicsResponse_v1)
            assert r.topic_error_codes[0][1] == 56, r.topic_error_codes  # KAFKA_STORAGE_ERROR
            m = w.call(metadata.MetadataRequest_v4(topics=["doomed"],
                                                   allow_auto_topic_creation=False),
                       metadata.MetadataResponse_v4)
            assert m.topics[0][0] == 0, m.topics  # still there, whole
            os.remove(filler)
            r = w.call(admin.DeleteTopicsRequest_v1(topics=["doomed"], timeout=30000),
                       admin.DeleteTopicsResponse_v1)
            assert r.topic_error_codes[0][1] == 0, r.topic_error_codes
            w.close()
            restart(broker)
            w = Wire(broker.port)
            m = w.call(metadata.MetadataRequest_v1(topics=None), metadata.MetadataResponse_v1)
            names = [t[1] for t in m.topics if t[1] != "__consumer_offsets"]
            assert names == ["kept"], names
            w.close()
            assert consume_all(broker, "kept", expect=len(acked)) == acked
        finally:
            code = broker.stop()
            broker.close()
            assert code == 0, code
    finally:
        if os.path.exists(filler):
            os.remove(filler)
        subprocess.run(["umount", mount], check=False)
        os.rmdir(mount)


CASES = {
    "long_strings": case_long_strings,
    "fetch_overshoot": case_fetch_overshoot,
    "delete_create_race": case_delete_create_race,
    "padded_configs": case_padded_configs,
    "never_roll": case_never_roll,
    "slow_requests": case_slow_requests,
    "long_names": case_long_names,
    "decompression_bombs": case_decompression_bombs,
    "delete_records_many": case_delete_records_many,
}
STANDALONE = {"partial_create": case_partial_create,
              "delete_on_full_disk": case_delete_on_full_disk}


def main():
    binary = sys.argv[1]
    wanted = sys.argv[2:] or list(CASES) + list(STANDALONE)
    passed = failed = 0
    for name in wanted:
        start = time.monotonic()
        try:
            if name in STANDALONE:
                STANDALONE[name](binary)
            else:
                with Spated(binary) as broker:
                    CASES[name](broker)
                    alive(broker)
                    restart(broker)
                    alive(broker)
            passed += 1
            print(f"ok   {name} ({time.monotonic() - start:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}: {e!r}", flush=True)
    print(f"hostile: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
