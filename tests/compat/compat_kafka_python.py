# SPDX-License-Identifier: Apache-2.0
"""kafka-python against a real spated: admin create/describe/delete, a
producer (acks=all, gzip), a consumer with assign/seek. Every record comes
back once, in order per partition, with its key, value, headers and
timestamp. Usage: compat_kafka_python.py SPATED_BINARY"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

from spated import Spated


def main(binary):
    with Spated(binary) as broker:
        bs = broker.bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=10000)
        topic = "kafka-python-compat"
        r = admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"segment.bytes": "1048576"})])
        assert all(e[1] == 0 for e in r.topic_errors), r
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = {e[0]: e[1] for e in described[0].resources[0][4]}
        assert entries["segment.bytes"] == "1048576", entries
        assert topic in admin.list_topics()

        producer = KafkaProducer(bootstrap_servers=bs, acks="all", compression_type="gzip",
                                 linger_ms=5)
        sent = {0: [], 1: []}
        now = int(time.time() * 1000)
        futures = []
        for i in range(200):
            p = i % 2
            key, value = f"k{i}".encode(), f"value-{i}".encode() * (1 + i % 5)
            headers = [("n", str(i).encode())]
            futures.append((p, producer.send(topic, key=key, value=value, headers=headers,
                                             partition=p, timestamp_ms=now + i)))
            sent[p].append((key, value, headers, now + i))
        offsets = {0: [], 1: []}
        for p, f in futures:
            md = f.get(timeout=15)
            offsets[p].append(md.offset)
        assert offsets == {p: list(range(len(sent[p]))) for p in sent}, offsets
        producer.close(10)

        # Grow the topic to 3 partitions.
        admin.create_partitions({topic: NewPartitions(total_count=3)})
        consumer = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False,
                                 consumer_timeout_ms=3000, group_id=None)
        parts = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        got = {0: [], 1: [], 2: []}
        for m in consumer:
            got[m.partition].append((m.key, m.value, list(m.headers), m.timestamp, m.offset))
        for p in (0, 1):
            assert [g[:4] for g in got[p]] == sent[p], (p, got[p][:2], sent[p][:2])
            assert [g[4] for g in got[p]] == list(range(len(sent[p]))), p
        assert got[2] == [], got[2]
        assert consumer.end_offsets(parts) == {parts[0]: 100, parts[1]: 100, parts[2]: 0}
        consumer.seek(parts[1], 90)
        tail = [m.offset for m in consumer]
        assert tail == list(range(90, 100)), tail
        consumer.close()

        r = admin.delete_topics([topic])
        assert all(e[1] == 0 for e in r.topic_error_codes), r
        assert topic not in admin.list_topics()
        admin.close()
    print("compat kafka-python: ok")


if __name__ == "__main__":
    main(sys.argv[1])
