# SPDX-License-Identifier: Apache-2.0
"""Raw Kafka frames for the integration suites that speak the protocol by
hand (transport.py, bad_input.py, hostile_server.py): a request frame with a
v1 header, reading one response frame, and a connection to a Spated."""
import socket
import struct


def request(api_key, version, body=b"", correlation_id=1, client_id=b"test"):
    """A whole request frame: size, header v1 (key, version, correlation id,
    client id), body."""
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def recv_exact(s, n):
    """Exactly n bytes, or None if the peer closed the connection first."""
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def read_frame(s):
    """The body of the next response frame, or None if the broker closed the
    connection before one began."""
    head = recv_exact(s, 4)
    if head is None:
        return None
    size = struct.unpack(">i", head)[0]
    body = bytearray()
    while len(body) < size:
        chunk = s.recv(min(1 << 20, size - len(body)))
        assert chunk, "closed inside a frame"
        body += chunk
    return bytes(body)


def connect(broker, timeout=5):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(n):
    """Zigzag varint, as records use."""
    n = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        if n < 0x80:
            return out + bytes([n])
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7


def record_batch(values, ts=1000, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """An uncompressed v2 batch of `values` (no keys, no headers), all at `ts`."""
    records = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        records += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, ts, ts, producer_id, producer_epoch,
                            base_sequence, len(values)) + records
    head = struct.pack(">ibI", -1, 2, crc32c(after_crc))
    return struct.pack(">qi", 0, len(head) + len(after_crc)) + head + after_crc
