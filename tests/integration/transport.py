# SPDX-License-Identifier: Apache-2.0
"""The connection layer of a real spated: pipelined requests are answered
strictly in order; acks=0 gets no response; a client that never reads its
responses is pushed back (the broker stops reading, its memory stays flat)
while other clients are served; idle connections are closed after
--idle-timeout-ms; connections beyond --max-connections are refused.
Usage: transport.py SPATED_BINARY"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
import kafka_wire  # noqa: E402
from kafka_wire import connect, read_frame, request  # noqa: E402
from spated import Spated  # noqa: E402


def api_versions(cid):
    return request(18, 0, b"", cid)


def metadata_all(cid):
    return request(3, 1, struct.pack(">i", -1), cid)


def record_batch(value):
    return kafka_wire.record_batch([value])


def produce(cid, topic, acks, value=b"hello"):
    batch = record_batch(value)
    body = struct.pack(">hhi", -1, acks, 5000) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) + struct.pack(">i", 0)
    body += struct.pack(">i", len(batch)) + batch
    return request(0, 3, body, cid)


def pipelining_in_order(broker):
    s = connect(broker)
    # Create the topic through Metadata's auto-create first.
    s.sendall(request(3, 4, struct.pack(">i", 1) + struct.pack(">h", 4) + b"pipe" + b"\x01", 1))
    assert read_frame(s) is not None
    burst = b""
    expected = []
    for cid in range(100, 400):
        kind = cid % 4
        if kind == 0:
            burst += api_versions(cid)
        elif kind == 1:
            burst += metadata_all(cid)
        elif kind == 2:
            burst += produce(cid, b"pipe", -1)
        else:
            burst += produce(cid, b"pipe", 0)  # no response
            continue
        expected.append(cid)
    s.sendall(burst)
    got = []
    for _ in expected:
        frame = read_frame(s)
        cid = struct.unpack(">i", frame[:4])[0]
        got.append(cid)
        if cid % 4 == 2:  # a produce: correlation, topics, name "pipe", partitions, index
            error_code = struct.unpack(">h", frame[22:24])[0]
            assert error_code == 0, f"produce {cid}: error {error_code}"
    assert got == expected, f"out of order: {got[:10]} ..."
    # Nothing more: acks=0 produced no responses.
    s.settimeout(0.3)
    try:
        extra = s.recv(1)
        raise AssertionError(f"unexpected bytes after the last response: {extra!r}")
    except socket.timeout:
        pass
    s.close()
    print(f"  {len(expected)} pipelined responses in request order; 75 acks=0 requests unanswered")


def back_pressure(broker):
    slow = connect(broker)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    rss_before = broker.rss_kib()
    frame = metadata_all(7)
    sent = 0
    slow.settimeout(0.05)
    deadline = time.monotonic() + 5
    # Keep sending without reading until the broker stops reading us.
    while time.monotonic() < deadline:
        try:
            slow.sendall(frame * 100)
            sent += 100
        except socket.timeout:
            break
    assert time.monotonic() < deadline, "the broker never pushed back"
    rss_after = broker.rss_kib()
    # Others are served meanwhile.
    other = connect(broker)
    other.sendall(api_versions(9))
    assert struct.unpack(">i", read_frame(other)[:4])[0] == 9
    other.close()
    slow.close()
    growth = rss_after - rss_before
    print(f"  a client that never reads was pushed back after {sent} requests; "
          f"RSS {growth:+d} KiB")
    assert growth < 16 * 1024, f"RSS grew {growth} KiB"


def fetch_v4(cid, topic, offset, max_bytes):
    body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1)
    body += struct.pack(">iqi", 0, offset, max_bytes)
    return request(1, 4, body, cid)


def peer_gone_during_sendfile(broker):
    s = connect(broker)
    big = b"z" * 60000
    burst = b"".join(produce(1000 + i, b"pipe", 1, big) for i in range(40))
    s.sendall(burst)
    for _ in range(40):
        assert read_frame(s) is not None
    s.close()
    for i in range(20):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", broker.port))
        if i % 2 == 0:  # half of them reset, the other half close gracefully
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sendall(fetch_v4(i, b"pipe", 0, 4 << 20))
        assert len(c.recv(100)) > 0  # the response has started
        c.close()  # gone while the broker sends records with sendfile
        time.sleep(0.05)
    alive = connect(broker)
    alive.sendall(api_versions(77))
    assert struct.unpack(">i", read_frame(alive)[:4])[0] == 77
    alive.close()
    assert broker.proc.poll() is None, "spated died"
    print("  20 consumers that vanished mid-response: the broker carried on")


def idle_timeout(binary):
    with Spated(binary, ["--idle-timeout-ms", "300"]) as broker:
        s = connect(broker)
        # Taken before the request: the broker's idle clock starts later
        # (when it answered), so `waited` is never under the idle timeout.
        start = time.monotonic()
        s.sendall(api_versions(1))
        assert read_frame(s) is not None
        s.settimeout(5)
        assert s.recv(1) == b"", "idle connection not closed"
        waited = time.monotonic() - start
        assert 0.3 <= waited < 4.0, waited
        print(f"  idle connection closed after {waited * 1000:.0f} ms (--idle-timeout-ms 300)")


def max_connections(binary):
    with Spated(binary, ["--max-connections", "3"]) as broker:
        held = [connect(broker) for _ in range(3)]
        for i, s in enumerate(held):
            s.sendall(api_versions(i))
            assert read_frame(s) is not None
        extra = connect(broker)
        extra.settimeout(2)
        try:
            extra.sendall(api_versions(9))
            assert extra.recv(1) == b"", "a 4th connection was served"
        except (ConnectionResetError, BrokenPipeError):
            pass
        extra.close()
        held.pop().close()

        def served_again():  # once the broker has seen the close
            again = connect(broker)
            try:
                again.settimeout(2)
                again.sendall(api_versions(10))
                return read_frame(again) is not None
            except (ConnectionResetError, BrokenPipeError, OSError):
                return False
            finally:
                again.close()
        deadline = time.monotonic() + 10
        while not served_again():  # bounded by time
            assert time.monotonic() < deadline, "no room after a connection closed"
            time.sleep(0.1)
        for s in held:
            s.close()
        print("  the 4th connection beyond --max-connections 3 was refused; room again after one closed")


def main(binary):
    with Spated(binary) as broker:
        pipelining_in_order(broker)
        back_pressure(broker)
        peer_gone_during_sendfile(broker)
    idle_timeout(binary)
    max_connections(binary)
    print("transport: ok")


if __name__ == "__main__":
    main(sys.argv[1])
