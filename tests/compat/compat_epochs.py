# SPDX-License-Identifier: Apache-2.0
"""Leader epochs (KIP-320) against a real spated, by hand on the wire and with
real clients: ApiVersions lists OffsetForLeaderEpoch 0-3, ListOffsets 1-5 and
Metadata 0-7; ListOffsets v4/v5 and Metadata v7 name the epoch; Fetch v11 and
ListOffsets v5 fence an old epoch (74) and refuse a newer one (75);
OffsetForLeaderEpoch v0-v3 says where each epoch ends across a restart (a new
Raft term); and confluent-kafka (librdkafka 2.0.2), kcat and kafka-python
2.0.2 still consume every record once, in order, with the new APIs advertised.
Usage: compat_epochs.py SPATED_BINARY"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_wire import connect, read_frame, request
from spated import Spated

TOPIC = "epochs"
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
UNKNOWN_TOPIC_OR_PARTITION = 3


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        n = self.take(">h")
        s = self.data[self.at:self.at + n].decode()
        self.at += n
        return s

    def bytes(self):
        n = self.take(">i")
        if n < 0:
            return None
        b = self.data[self.at:self.at + n]
        self.at += n
        return b


def call(sock, key, version, body, correlation_id=7):
    sock.sendall(request(key, version, body, correlation_id))
    frame = read_frame(sock)
    assert frame is not None, f"broker closed the connection on key {key} v{version}"
    r = Reader(frame)
    assert r.take(">i") == correlation_id
    return r


def api_versions(sock):
    r = call(sock, 18, 0, b"")
    assert r.take(">h") == 0
    return {key: (lo, hi) for key, lo, hi in (r.take(">hhh") for _ in range(r.take(">i")))}


def list_offsets(sock, version, partition, current_epoch, timestamp):
    body = struct.pack(">ib", -1, 0) + struct.pack(">i", 1) + string(TOPIC) + struct.pack(">i", 1)
    body += struct.pack(">iiq", partition, current_epoch, timestamp)
    r = call(sock, 2, version, body)
    r.take(">i")  # throttle
    assert r.take(">i") == 1 and r.string() == TOPIC and r.take(">i") == 1
    index, error, ts, offset, epoch = r.take(">ihqqi")
    assert index == partition
    return error, offset, epoch


def fetch(sock, partition, current_epoch, offset):
    body = struct.pack(">iiiibii", -1, 0, 1, 1 << 20, 0, 0, -1)
    body += struct.pack(">i", 1) + string(TOPIC) + struct.pack(">i", 1)
    body += struct.pack(">iiqqi", partition, current_epoch, offset, -1, 1 << 20)
    body += struct.pack(">i", 0) + string("")  # no forgotten topics, rack ""
    r = call(sock, 1, 11, body)
    r.take(">ihi")  # throttle, error, session
    assert r.take(">i") == 1 and r.string() == TOPIC and r.take(">i") == 1
    index, error, hw, lso, log_start = r.take(">ihqqq")
    assert index == partition
    aborted = r.take(">i")
    for _ in range(max(aborted, 0)):
        r.take(">qq")
    r.take(">i")  # preferred read replica
    records = r.bytes()
    return error, hw, records


def epoch_ends(sock, version, entries):
    """entries: [(topic, partition, current_epoch, leader_epoch)] -> [(error, epoch, end)]."""
    body = struct.pack(">i", -1) if version >= 3 else b""
    body += struct.pack(">i", len(entries))
    for topic, partition, current, epoch in entries:
        body += string(topic) + struct.pack(">i", 1) + struct.pack(">i", partition)
        if version >= 2:
            body += struct.pack(">i", current)
        body += struct.pack(">i", epoch)
    r = call(sock, 23, version, body)
    if version >= 2:
        r.take(">i")  # throttle
    out = []
    for _ in range(r.take(">i")):
        r.string()
        for _ in range(r.take(">i")):
            error, partition = r.take(">hi")
            epoch = r.take(">i") if version >= 1 else None
            out.append((error, epoch, r.take(">q")))
    assert r.at == len(r.data), "trailing bytes in OffsetForLeaderEpoch response"
    return out


def metadata_epochs(sock, version=7):
    """partition -> (error, leader, leader epoch) of TOPIC in Metadata v7 (v6
    for comparison: no epoch on the wire, None)."""
    r = call(sock, 3, version, struct.pack(">i", 1) + string(TOPIC) + b"\x00")
    r.take(">i")  # throttle
    for _ in range(r.take(">i")):  # brokers: id, host, port, rack (null)
        r.take(">i")
        r.string()
        r.take(">i")
        assert r.take(">h") == -1
    r.string()  # cluster id
    r.take(">i")  # controller id
    assert r.take(">i") == 1
    assert r.take(">h") == 0 and r.string() == TOPIC
    r.take(">b")  # internal
    out = {}
    for _ in range(r.take(">i")):
        error, index, leader = r.take(">hii")
        epoch = r.take(">i") if version >= 7 else None
        for _ in range(3):  # replicas, in-sync, offline
            for _ in range(r.take(">i")):
                r.take(">i")
        out[index] = (error, leader, epoch)
    assert r.at == len(r.data), "trailing bytes in Metadata response"
    return out


def produce(bs, partition, values):
    p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 1})
    for v in values:
        p.produce(TOPIC, v.encode(), partition=partition)
    assert p.flush(30) == 0


def consume_confluent(bs, partition, count):
    c = Consumer({"bootstrap.servers": bs, "group.id": "epochs-confluent",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, partition, 0)])
    got = []
    while len(got) < count:
        m = c.poll(10)
        assert m is not None, f"confluent consumer got {len(got)} of {count}"
        assert m.error() is None, m.error()
        got.append((m.offset(), m.value().decode()))
    c.close()
    return got


def consume_kcat(bs, partition):
    run = subprocess.run(["kcat", "-b", bs, "-C", "-t", TOPIC, "-p", str(partition), "-o",
                          "beginning", "-e", "-q", "-f", "%o|%s\\n"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return [(int(o), v) for o, v in (line.split("|", 1) for line in run.stdout.splitlines())]


def consume_kafka_python(bs, partition, count):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, consumer_timeout_ms=10000)
    c.assign([KTP(TOPIC, partition)])
    c.seek_to_beginning()
    got = []
    for m in c:
        got.append((m.offset, m.value.decode()))
        if len(got) == count:
            break
    c.close()
    return got


def main(binary):
    data = tempfile.mkdtemp(prefix="spate-epochs-")
    try:
        run(binary, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print("compat.epochs: ok")


def run(binary, data):
    first_values = [f"first {i}" for i in range(5)]
    second_values = [f"second {i}" for i in range(3)]
    with Spated(binary, data_dir=os.path.join(data, "d")) as broker:
        bs = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})
        admin.create_topics([NewTopic(TOPIC, num_partitions=2,
                                      replication_factor=1)])[TOPIC].result(10)
        produce(bs, 0, first_values)
        s = connect(broker)
        apis = api_versions(s)
        assert apis.get(23) == (0, 3), apis.get(23)
        assert apis.get(2) == (1, 5), apis.get(2)
        assert apis.get(3) == (0, 7), apis.get(3)
        error, end, first = list_offsets(s, 4, 0, -1, -1)
        assert (error, end) == (0, 5) and first >= 1, (error, end, first)
        # Metadata v7 names the epoch ListOffsets and Fetch use, per partition.
        md = metadata_epochs(s)
        assert md[0] == (0, 0, first), (md, first)
        assert md[1][2] == list_offsets(s, 5, 1, -1, -1)[2], md
        assert metadata_epochs(s, 6) == {p: (e, leader, None) for p, (e, leader, _) in md.items()}
        s.close()
    with Spated(binary, data_dir=os.path.join(data, "d")) as broker:
        bs = broker.bootstrap
        produce(bs, 0, second_values)
        s = connect(broker)
        error, end, now = list_offsets(s, 5, 0, -1, -1)
        assert error == 0 and end == 8 and now > first, (error, end, now, first)
        assert list_offsets(s, 5, 0, now, -2)[1:] == (0, first)
        assert list_offsets(s, 5, 0, first, -1)[0] == FENCED_LEADER_EPOCH
        assert list_offsets(s, 4, 0, now + 1, -1)[0] == UNKNOWN_LEADER_EPOCH

        error, hw, records = fetch(s, 0, now, 0)
        assert error == 0 and hw == 8 and records, (error, hw)
        assert fetch(s, 0, first, 0)[0] == FENCED_LEADER_EPOCH
        assert fetch(s, 0, now + 1, 0)[0] == UNKNOWN_LEADER_EPOCH
        assert fetch(s, 0, -1, 0)[0] == 0
        now1 = list_offsets(s, 5, 1, -1, -1)[2]  # each partition has its own term
        # After the restart Metadata v7 names the new terms (a client holding
        # the old epoch is fenced by Fetch, refreshes and gets these).
        assert metadata_epochs(s) == {0: (0, 0, now), 1: (0, 0, now1)}, metadata_epochs(s)

        for v in range(4):
            ends = epoch_ends(s, v, [(TOPIC, 0, -1, first), (TOPIC, 0, -1, now),
                                     (TOPIC, 0, -1, now + 1), (TOPIC, 1, -1, now1),
                                     (TOPIC, 9, -1, now), ("nope", 0, -1, 1)])
            epoch = (lambda e: e) if v >= 1 else (lambda e: None)
            assert ends[0] == (0, epoch(first), 5), (v, ends[0])
            assert ends[1] == (0, epoch(now), 8), (v, ends[1])
            assert ends[2] == (0, epoch(-1), -1), (v, ends[2])
            assert ends[3] == (0, epoch(now1), 0), (v, ends[3])  # the empty partition
            assert ends[4][0] == UNKNOWN_TOPIC_OR_PARTITION, (v, ends[4])
            assert ends[5][0] == UNKNOWN_TOPIC_OR_PARTITION, (v, ends[5])
        assert epoch_ends(s, 3, [(TOPIC, 0, first, now)])[0][0] == FENCED_LEADER_EPOCH
        assert epoch_ends(s, 2, [(TOPIC, 0, now + 5, now)])[0][0] == UNKNOWN_LEADER_EPOCH
        s.close()

        want = list(enumerate(first_values + second_values))
        assert consume_confluent(bs, 0, len(want)) == want
        assert consume_kcat(bs, 0) == want
        assert consume_kafka_python(bs, 0, len(want)) == want


if __name__ == "__main__":
    main(sys.argv[1])
