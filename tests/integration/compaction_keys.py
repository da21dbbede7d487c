# SPDX-License-Identifier: Apache-2.0
"""Records without a key on compacted topics, with the real spated and real
clients: a topic whose cleanup.policy includes compact refuses every Produce
batch holding a record with a null key, whole, with INVALID_RECORD (87), as
Kafka does; keyed records go in. confluent-kafka (librdkafka, lz4-compressed
batches) sees error 87; kafka-python 2.0.2 (which does not know code 87 and
reports it as an unknown error) sees its send fail; in both cases the log end
does not move. Usage: compaction_keys.py SPATED_BINARY"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
import kafka  # noqa: E402
import kafka.errors  # noqa: E402

from spated import Spated  # noqa: E402

INVALID_RECORD = 87


def quiet(conf):
    return dict(conf, log_level=0)


def log_end(bootstrap, topic):
    c = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": "keys-check"}))
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def confluent_produce(bootstrap, topic, records, compression):
    """Sends (key, value) pairs in one batch; returns the delivery errors."""
    errors = []
    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 50,
                        "compression.type": compression, "retries": 0,
                        "enable.idempotence": False}))
    for key, value in records:
        p.produce(topic, key=key, value=value, partition=0,
                  on_delivery=lambda err, _msg: errors.append(err))
    left = p.flush(30)
    assert left == 0, f"{left} records not delivered or failed"
    return errors


def check_confluent(bootstrap, topic):
    end = log_end(bootstrap, topic)
    for compression in ("none", "lz4"):
        errors = confluent_produce(bootstrap, topic, [(b"k1", b"v1"), (None, b"no key"),
                                                     (b"k2", b"v2")], compression)
        assert len(errors) == 3, errors
        # The keyless record is refused with its whole batch; the keyed ones
        # share its fate when the client put them in that batch (usually: one
        # linger), and are stored otherwise.
        assert errors[1] is not None and errors[1].code() == INVALID_RECORD == \
            KafkaError.INVALID_RECORD, f"{compression}: {errors}"
        assert all(e is None or e.code() == INVALID_RECORD for e in errors), errors
        delivered = sum(e is None for e in errors)
        end += delivered
        assert log_end(bootstrap, topic) == end, f"{compression}: a refused batch was appended"
    errors = confluent_produce(bootstrap, topic, [(b"k1", b"v1"), (b"k2", None)], "lz4")
    assert errors == [None, None], errors
    assert log_end(bootstrap, topic) == end + 2
    return end + 2


def check_kafka_python(bootstrap, topic, end):
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0,
                            linger_ms=20)
    try:
        futures = [p.send(topic, key=b"k3", value=b"v3", partition=0),
                   p.send(topic, value=b"no key", partition=0)]
        p.flush(30)
        stored = 0
        for i, f in enumerate(futures):
            try:
                f.get(timeout=30)
            except kafka.errors.KafkaError as e:
                assert not e.retriable, e
                continue
            assert i == 0, "kafka-python: a keyless record was accepted"
            stored += 1  # the keyed record went in a batch of its own
        assert log_end(bootstrap, topic) == end + stored, \
            "kafka-python: a refused batch was appended"
        p.send(topic, key=b"k3", value=b"v3", partition=0).get(timeout=30)
    finally:
        p.close(10)
    assert log_end(bootstrap, topic) == end + stored + 1


def main():
    s = Spated(sys.argv[1])
    s.start()
    try:
        admin = AdminClient(quiet({"bootstrap.servers": s.bootstrap}))
        topics = {"compacted": "compact", "compacted-deleted": "compact,delete",
                  "deleted": "delete"}
        fs = admin.create_topics([NewTopic(t, 1, 1, config={"cleanup.policy": policy})
                                  for t, policy in topics.items()])
        for f in fs.values():
            f.result(10)
        for topic in ("compacted", "compacted-deleted"):
            end = check_confluent(s.bootstrap, topic)
            check_kafka_python(s.bootstrap, topic, end)
        # delete alone takes keyless records.
        assert confluent_produce(s.bootstrap, "deleted", [(None, b"v")], "lz4") == [None]
        assert log_end(s.bootstrap, "deleted") == 1
        code = s.stop()
        assert code == 0, f"spated exited with {code}:\n{s.log()[-3000:]}"
        print("compaction_keys: OK")
    finally:
        s.close()


if __name__ == "__main__":
    main()
