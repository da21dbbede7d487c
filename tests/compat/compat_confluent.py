# SPDX-License-Identifier: Apache-2.0
"""confluent-kafka-python (librdkafka) against a real spated: admin create /
describe configs / delete, a producer with acks=all under each compression,
an assign+seek consumer, watermarks and offsets for times. Every record comes
back once, in order per partition, with its key, value, headers and timestamp.
Usage: compat_confluent.py SPATED_BINARY"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from spated import Spated
from topic_configs_check import check_all as check_topic_configs

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 60
PARTITIONS = 3


def main(binary):
    with Spated(binary) as broker:
        bs = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})
        topic = "confluent-compat"
        futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS,
                                                replication_factor=1,
                                                config={"retention.ms": "3600000"})])
        futures[topic].result(10)
        # Creating it again is an error the client reports.
        again = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        try:
            again[topic].result(10)
            raise AssertionError("second create succeeded")
        except KafkaException as e:
            assert "TOPIC_ALREADY_EXISTS" in str(e) or "already exists" in str(e), e
        # A bad config is refused with a message naming it.
        bad = admin.create_topics([NewTopic("bad-config", 1, 1, config={"retention.ms": "soon"})])
        try:
            bad["bad-config"].result(10)
            raise AssertionError("bad config accepted")
        except KafkaException as e:
            assert "retention.ms" in str(e), e

        configs = admin.describe_configs([ConfigResource("topic", topic)])
        entries = list(configs.values())[0].result(10)
        assert entries["retention.ms"].value == "3600000", entries["retention.ms"]
        assert entries["segment.bytes"].value.isdigit(), entries["segment.bytes"]

        sent = {p: [] for p in range(PARTITIONS)}
        base_ts = int(time.time() * 1000) - 5000
        errors = []
        for c, codec in enumerate(CODECS):
            producer = Producer({"bootstrap.servers": bs, "acks": "all",
                                 "compression.type": codec, "linger.ms": 5})
            for i in range(PER_CODEC):
                p = i % PARTITIONS
                key = f"{codec}-{i}".encode()
                value = (f"{codec} value {i} " * (1 + i % 7)).encode()
                headers = [("codec", codec.encode()), ("i", str(i).encode())]
                ts = base_ts + c * PER_CODEC + i
                producer.produce(topic, key=key, value=value, headers=headers, partition=p,
                                 timestamp=ts,
                                 on_delivery=lambda err, msg: err and errors.append(err))
                sent[p].append((key, value, headers, ts))
            assert producer.flush(15) == 0, f"{codec}: unflushed records"
        assert not errors, errors

        consumer = Consumer({"bootstrap.servers": bs, "group.id": "compat-assign",
                             "enable.auto.commit": False, "auto.offset.reset": "error"})
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        got = {p: [] for p in range(PARTITIONS)}
        total = sum(len(v) for v in sent.values())
        deadline = time.monotonic() + 30
        while sum(len(v) for v in got.values()) < total and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got[m.partition()].append((m.key(), m.value(), m.headers(), m.timestamp()[1],
                                       m.offset()))
        for p in range(PARTITIONS):
            assert [g[:4] for g in got[p]] == sent[p], (p, got[p][:2], sent[p][:2])
            assert [g[4] for g in got[p]] == list(range(len(sent[p]))), p
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assert (low, high) == (0, len(sent[p])), (p, low, high)

        # Seek back into partition 1 and read the tail again.
        consumer.seek(TopicPartition(topic, 1, 10))
        again = []
        deadline = time.monotonic() + 10
        while len(again) < len(sent[1]) - 10 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None and m.partition() == 1:
                again.append(m.offset())
        assert again == list(range(10, len(sent[1]))), again

        # Offsets for times: the first record at or after a record's own time.
        target = sent[2][7][3]
        found = consumer.offsets_for_times([TopicPartition(topic, 2, target)], timeout=10)
        assert found[0].offset == 7, found
        late = consumer.offsets_for_times([TopicPartition(topic, 2, base_ts + 10**7)], timeout=10)
        assert late[0].offset in (-1, len(sent[2])), late
        consumer.close()

        deleted = admin.delete_topics([topic])
        deleted[topic].result(10)
        md = admin.list_topics(timeout=10)
        assert topic not in md.topics, md.topics
        check_topic_configs(broker)
    print("compat confluent-kafka: ok")


if __name__ == "__main__":
    main(sys.argv[1])
