# SPDX-License-Identifier: Apache-2.0
"""Kafka requests sent to ONE chosen broker over a plain socket (kafka-python's
protocol classes encode and decode them): Metadata as that broker sees it,
and a produce pinned to that broker, which no client library would keep
there once its metadata moved on."""
import socket
import struct
import time

from kafka.protocol.admin import CreateTopicsRequest
from kafka.protocol.api import RequestHeader
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.produce import ProduceRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

MAX_RESPONSE = 64 << 20


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def call(port, request, timeout):
    """Sends `request` to 127.0.0.1:port; the decoded response (raises
    OSError/ConnectionError/socket.timeout on failure)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        header = RequestHeader(request, correlation_id=7, client_id="chaos")
        body = header.encode() + request.encode()
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        if size < 4 or size > MAX_RESPONSE:
            raise ConnectionError(f"bad response size {size}")
        data = _recv_exact(sock, size)
        return request.RESPONSE_TYPE.decode(data[4:])


class Metadata:
    """One broker's view: brokers {id: port}, controller, partitions
    {p: (leader, replicas, isr, error)} of one topic (None: not there)."""

    def __init__(self, response, topic):
        self.brokers = {b[0]: b[2] for b in response.brokers}
        self.controller = response.controller_id
        self.partitions = None
        for t in response.topics:
            if t[1] == topic and t[0] == 0:
                self.partitions = {p[1]: (p[2], sorted(p[3]), sorted(p[4]), p[0]) for p in t[3]}


def metadata(port, topic, timeout=1.0):
    """Broker at `port`'s Metadata for `topic`, or None if it did not answer."""
    try:
        return Metadata(call(port, MetadataRequest[4](topics=[topic], allow_auto_topic_creation=False),
                             timeout), topic)
    except (OSError, ConnectionError, ValueError, struct.error):
        return None


def produce_one(port, topic, partition, value, timeout_ms, wait):
    """Produces one record (acks=all, not idempotent) to the broker at `port`
    only. Returns (error_code, offset, answered_at) — error_code None when
    nothing was answered within `wait` seconds."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    builder.append(0, timestamp=int(time.time() * 1000), key=None, value=value, headers=[])
    request = ProduceRequest[3](transactional_id=None, required_acks=-1, timeout=timeout_ms,
                                topics=[(topic, [(partition, bytes(builder.build()))])])
    try:
        response = call(port, request, wait)
    except (OSError, ConnectionError, ValueError, struct.error):
        return None, -1, time.monotonic()
    answered = time.monotonic()
    for t in response.topics:
        for p in t[1]:
            if p[0] == partition:
                return p[1], p[2], answered
    return -1, -1, answered


def create_topic(port, topic, partitions, replication, timeout_ms):
    """CreateTopics v1 through the broker at `port`: the error code, or None
    if nothing was answered."""
    request = CreateTopicsRequest[1](create_topic_requests=[(topic, partitions, replication, [], [])],
                                     timeout=timeout_ms, validate_only=False)
    try:
        response = call(port, request, timeout_ms / 1000 + 5)
    except (OSError, ConnectionError, ValueError, struct.error):
        return None
    return response.topic_errors[0][1]
