# SPDX-License-Identifier: Apache-2.0
"""Every Kafka topic config with confluent-kafka (librdkafka) against a real
spated, part of compat_confluent.py: what librdkafka's own admin tests do
(create a topic with compression.type=lz4 and delete.retention.ms=900, alter
message.format.version), an IncrementalAlterConfigs APPEND on cleanup.policy
(sent by hand: confluent-kafka 1.7 has no incremental alter), reading it all
back with describe_configs and its sources, and LogAppendTime read back by a
consumer."""
import struct
import time

from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

import kafka_wire

INCREMENTAL_ALTER_CONFIGS = 44
APPEND = 2


def _string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def incremental_alter(broker, topic, configs):
    """IncrementalAlterConfigs v0 for one topic; returns (error_code, message)."""
    body = struct.pack(">i", 1) + struct.pack(">b", 2) + _string(topic)
    body += struct.pack(">i", len(configs))
    for name, op, value in configs:
        body += _string(name) + struct.pack(">b", op) + _string(value)
    body += b"\x00"  # validate_only
    s = kafka_wire.connect(broker)
    try:
        s.sendall(kafka_wire.request(INCREMENTAL_ALTER_CONFIGS, 0, body, correlation_id=7))
        frame = kafka_wire.read_frame(s)
    finally:
        s.close()
    assert frame is not None, "no IncrementalAlterConfigs response"
    correlation, _throttle, count, code, msg_len = struct.unpack(">iiihh", frame[:16])
    assert correlation == 7 and count == 1, (correlation, count)
    message = frame[16:16 + msg_len].decode() if msg_len >= 0 else None
    return code, message


def source(entry):
    return getattr(entry.source, "value", entry.source)


def describe(admin, topic):
    futures = admin.describe_configs([ConfigResource("topic", topic)])
    return list(futures.values())[0].result(10)


def check_configs(broker, admin):
    topic = "rdkafka-admin-configs"
    created = admin.create_topics([NewTopic(topic, 1, 1, config={
        "compression.type": "lz4", "delete.retention.ms": "900"})])
    created[topic].result(10)
    entries = describe(admin, topic)
    assert entries["compression.type"].value == "lz4", entries["compression.type"]
    assert entries["delete.retention.ms"].value == "900"
    assert source(entries["delete.retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, \
        entries["delete.retention.ms"].source
    assert entries["min.cleanable.dirty.ratio"].value == "0.5"
    assert source(entries["min.cleanable.dirty.ratio"]) == ConfigSource.DEFAULT_CONFIG.value
    # Every Kafka topic config is listed.
    for name in ("message.format.version", "message.downconversion.enable",
                 "leader.replication.throttled.replicas", "unclean.leader.election.enable",
                 "local.retention.ms", "file.delete.delay.ms", "segment.jitter.ms"):
        assert name in entries, name

    # AlterConfigs (replaces every override, as librdkafka's test does).
    res = ConfigResource("topic", topic, set_config={"message.format.version": "0.10.0",
                                                     "compression.type": "lz4",
                                                     "delete.retention.ms": "900"})
    admin.alter_configs([res])[res].result(10)
    entries = describe(admin, topic)
    assert entries["message.format.version"].value == "0.10.0", entries["message.format.version"]
    assert source(entries["message.format.version"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # A bad version is refused, naming the config.
    bad = ConfigResource("topic", topic, set_config={"message.format.version": "0.10.7"})
    try:
        admin.alter_configs([bad])[bad].result(10)
        raise AssertionError("bad message.format.version accepted")
    except KafkaException as e:
        assert "message.format.version" in str(e), e

    # Incremental APPEND on a list config.
    code, message = incremental_alter(broker, topic, [("cleanup.policy", APPEND, "compact")])
    assert code == 0, (code, message)
    entries = describe(admin, topic)
    assert entries["cleanup.policy"].value == "delete,compact", entries["cleanup.policy"]
    assert source(entries["cleanup.policy"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["message.format.version"].value == "0.10.0"  # kept
    code, message = incremental_alter(broker, topic, [("retention.ms", APPEND, "5")])
    assert code == 40 and "list" in message, (code, message)  # INVALID_CONFIG


def check_log_append_time(broker, admin):
    topic = "log-append-time"
    admin.create_topics([NewTopic(topic, 1, 1, config={
        "message.timestamp.type": "LogAppendTime"})])[topic].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    old = 1_000_000  # 1970: the broker's time replaces it
    before = int(time.time() * 1000)
    for i in range(5):
        producer.produce(topic, value=f"v{i}".encode(), timestamp=old + i)
    assert producer.flush(15) == 0
    after = int(time.time() * 1000)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lat",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 5 and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None:
            assert m.error() is None, m.error()
            got.append(m.timestamp())
    consumer.close()
    assert len(got) == 5, got
    for kind, ts in got:
        assert kind == TIMESTAMP_LOG_APPEND_TIME, (kind, TIMESTAMP_CREATE_TIME)
        assert before <= ts <= after, (before, ts, after)


def check_all(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    check_configs(broker, admin)
    check_log_append_time(broker, admin)
