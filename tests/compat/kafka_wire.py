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


def read_frame(s):
    """The body of the next response frame, or None if the broker closed the
    connection before one began."""
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
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
