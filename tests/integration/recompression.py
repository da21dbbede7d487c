# SPDX-License-Identifier: Apache-2.0
"""Broker-side recompression (compression.type other than `producer`) with the
real spated and real clients: confluent-kafka (librdkafka, idempotent)
produces lz4 to a topic created with compression.type=zstd; a raw Fetch shows
every stored batch is zstd (attributes), with the producer id kept; a
consumer reads every record, key, value and header; the same producer on a
`producer` topic keeps lz4; kafka-python's gzip lands uncompressed on a topic
with compression.type=uncompressed; an idempotent batch retried on the wire
after recompression is answered with its original offset and not appended.
Usage: recompression.py SPATED_BINARY"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import kafka_wire  # noqa: E402
from spated import Spated  # noqa: E402

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
RECORDS = 3000


def call(sock, key, version, body, cid):
    sock.sendall(kafka_wire.request(key, version, body, cid))
    resp = kafka_wire.read_frame(sock)
    assert resp is not None, "connection closed"
    assert struct.unpack(">i", resp[:4])[0] == cid
    return resp[4:]


def fetch_batches(broker, topic):
    """Every stored batch of partition 0 by Fetch v4: (base, attributes, pid, count)."""
    s = kafka_wire.connect(broker)
    name = topic.encode()
    out, offset = [], 0
    for cid in range(1, 1000):  # bounded: each pass advances or ends
        body = (struct.pack(">iiiib", -1, 100, 1, 1 << 20, 0) + struct.pack(">ih", 1, len(name)) +
                name + struct.pack(">iiqi", 1, 0, offset, 1 << 20))
        r = call(s, 1, 4, body, cid)
        at = 4 + 4  # throttle, topic count
        n = struct.unpack(">h", r[at:at + 2])[0]
        at += 2 + n + 4  # name, partition count
        _index, err, hw, _lso, aborted = struct.unpack(">ihqqi", r[at:at + 26])
        assert err == 0, err
        at += 26 + max(aborted, 0) * 16
        size = struct.unpack(">i", r[at:at + 4])[0]
        records = r[at + 4:at + 4 + size]
        pos = 0
        while pos + 61 <= len(records):
            base, length = struct.unpack(">qi", records[pos:pos + 12])
            if pos + 12 + length > len(records):
                break
            attributes = struct.unpack(">h", records[pos + 21:pos + 23])[0]
            pid = struct.unpack(">q", records[pos + 43:pos + 51])[0]
            count = struct.unpack(">i", records[pos + 57:pos + 61])[0]
            out.append((base, attributes, pid, count))
            pos += 12 + length
            offset = base + count
        if offset >= hw:
            break
    s.close()
    return out


def produce_confluent(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4",
                  "enable.idempotence": True, "linger.ms": 20, "batch.num.messages": 500,
                  "log_level": 0})
    for i in range(RECORDS):
        p.produce(topic, key=f"k{i % 97}", value=f"value-{i:06d}-" + "x" * (i % 300),
                  headers=[("n", str(i).encode())], partition=0)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0, "records not delivered"


def consume_all(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "recompress-check",
                  "enable.auto.commit": False, "log_level": 0})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m)
    c.close()
    assert len(got) == count, f"{topic}: read {len(got)} of {count}"
    for i, m in enumerate(got):
        assert m.offset() == i, (i, m.offset())
        assert m.key() == f"k{i % 97}".encode(), (i, m.key())
        assert m.value() == (f"value-{i:06d}-" + "x" * (i % 300)).encode(), i
        assert m.headers() == [("n", str(i).encode())], (i, m.headers())


def codecs_of(batches):
    return {CODECS[a & 7] for _, a, _, _ in batches}


def check_retry(broker, topic):
    """An idempotent batch (uncompressed on the wire, zstd when stored) and its retry."""
    s = kafka_wire.connect(broker)
    r = call(s, 22, 1, struct.pack(">hi", -1, 60000), 1)
    _throttle, err, pid, epoch = struct.unpack(">ihqh", r[:16])
    assert err == 0, err
    name = topic.encode()
    answers = []
    for cid in (2, 3):
        records = kafka_wire.record_batch([b"once-a", b"once-b"], int(time.time() * 1000), pid,
                                          epoch, 0)
        body = (struct.pack(">hhii", -1, -1, 10000, 1) + struct.pack(">h", len(name)) + name +
                struct.pack(">iii", 1, 0, len(records)) + records)
        r = call(s, 0, 3, body, cid)
        at = 4 + 2 + struct.unpack(">h", r[4:6])[0] + 4
        answers.append(struct.unpack(">ihq", r[at:at + 14])[1:])
    s.close()
    assert answers[0] == answers[1] == (0, RECORDS), answers
    batches = fetch_batches(broker, topic)
    assert batches[-1][0] == RECORDS and batches[-1][2] == pid, batches[-1]
    assert CODECS[batches[-1][1] & 7] == "zstd", batches[-1]
    assert sum(c for _, _, _, c in batches) == RECORDS + 2, "the retry was appended"


def check_kafka_python(bootstrap, broker):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", linger_ms=20)
    for i in range(200):
        p.send("plain", value=f"kp-{i}".encode(), partition=0)
    p.flush(30)
    p.close(10)
    batches = fetch_batches(broker, "plain")
    assert codecs_of(batches) == {"none"}, codecs_of(batches)
    assert sum(c for _, _, _, c in batches) == 200


def main(binary):
    broker = Spated(binary)
    broker.start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        topics = [NewTopic("zstd-topic", 1, 1, config={"compression.type": "zstd"}),
                  NewTopic("as-sent", 1, 1),
                  NewTopic("plain", 1, 1, config={"compression.type": "uncompressed"})]
        for f in admin.create_topics(topics).values():
            f.result(10)
        for topic in ("zstd-topic", "as-sent"):
            produce_confluent(broker.bootstrap, topic)
        stored = fetch_batches(broker, "zstd-topic")
        assert len(stored) > 1, stored
        assert codecs_of(stored) == {"zstd"}, codecs_of(stored)
        assert all(pid >= 0 for _, _, pid, _ in stored), "producer id lost"
        assert sum(c for _, _, _, c in stored) == RECORDS
        assert codecs_of(fetch_batches(broker, "as-sent")) == {"lz4"}
        consume_all(broker.bootstrap, "zstd-topic", RECORDS)
        consume_all(broker.bootstrap, "as-sent", RECORDS)
        check_retry(broker, "zstd-topic")
        check_kafka_python(broker.bootstrap, broker)
        # A restart reads the recompressed batches back (recovery, CRCs).
        assert broker.stop() == 0
        broker.start()
        assert codecs_of(fetch_batches(broker, "zstd-topic")) == {"zstd"}
    finally:
        broker.stop()
        broker.close()
    print("recompression: ok")


if __name__ == "__main__":
    main(sys.argv[1])
