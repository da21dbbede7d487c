# SPDX-License-Identifier: Apache-2.0
"""The spate CLI against a broker whose Metadata misleads it (a fake broker
on loopback that answers ApiVersions and Metadata v1 by hand): `topic
describe`, `consume` and `produce` send each partition's requests to its
leader, so they trust Metadata's broker list and leader ids. A leader that
is not a listed broker, a broker listed with a port out of range, a leader
whose address refuses connections, and partition indexes with gaps or below
zero each end the command with exit code 1 and a message saying what was
wrong, within its --timeout-ms (plus start-up), never a crash or a hang. And
a leader that stops answering with Produce requests in flight: every batch
not answered is sent again, in its order, and each is stored once.
Usage: cli_metadata.py SPATED_BINARY SPATE_BINARY (spated is not started)"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from kafka_wire import recv_exact  # noqa: E402

TIMEOUT_MS = 1500
TOPIC = b"t"


def string(b):
    return struct.pack(">h", len(b)) + b


def api_versions_v3():
    """ErrorCode, ApiKeys (compact array of key, min, max, tags), throttle,
    tags: ApiVersions 0-3, Metadata 1, ListOffsets 1, Produce 3, Fetch 4."""
    keys = [(18, 0, 3), (3, 1, 1), (2, 1, 1), (0, 3, 3), (1, 4, 4)]
    body = struct.pack(">hB", 0, len(keys) + 1)
    for k, lo, hi in keys:
        body += struct.pack(">hhhB", k, lo, hi, 0)
    return body + struct.pack(">iB", 0, 0)


def metadata_v1(brokers, partitions):
    """brokers: (node, host, port); partitions: (index, leader)."""
    body = struct.pack(">i", len(brokers))
    for node, host, port in brokers:
        body += struct.pack(">i", node) + string(host) + struct.pack(">ih", port, -1)
    body += struct.pack(">i", 0)  # controller
    body += struct.pack(">i", 1) + struct.pack(">h", 0) + string(TOPIC) + b"\x00"
    body += struct.pack(">i", len(partitions))
    for index, leader in partitions:
        body += struct.pack(">hii", 0, index, leader)
        body += struct.pack(">ii", 1, leader) + struct.pack(">ii", 1, leader)
    return body


def produce_v3_batches(frame):
    """The record batches of a Produce v3 request frame (after its v1 header):
    [(topic, partition, batch bytes)]."""
    at = 8
    (client_id_len,) = struct.unpack(">h", frame[at:at + 2])
    at += 2 + max(client_id_len, 0)
    (txn_len,) = struct.unpack(">h", frame[at:at + 2])
    at += 2 + max(txn_len, 0) + 2 + 4  # transactional id, acks, timeout
    out = []
    (topics,) = struct.unpack(">i", frame[at:at + 4])
    at += 4
    for _ in range(topics):
        (name_len,) = struct.unpack(">h", frame[at:at + 2])
        name = frame[at + 2:at + 2 + name_len]
        at += 2 + name_len
        (parts,) = struct.unpack(">i", frame[at:at + 4])
        at += 4
        for _ in range(parts):
            index, size = struct.unpack(">ii", frame[at:at + 8])
            at += 8
            out.append((name, index, bytes(frame[at:at + size])))
            at += size
    return out


def produce_v3_answer(batches):
    body = struct.pack(">i", len(batches))
    for name, index, _ in batches:
        body += string(name) + struct.pack(">i", 1) + struct.pack(">ihqq", index, 0, 0, -1)
    return body + struct.pack(">i", 0)


class FakeBroker:
    """Answers every connection's ApiVersions and Metadata, and Produce v3:
    each batch answered is `stored`; every batch received, answered or not,
    is in `received`. With `stall_at` N, the first connection to reach its
    Nth Produce request gets no answer to it or to any after it (a broker
    that hangs), until the client closes it."""

    def __init__(self, stall_at=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.brokers, self.partitions = [], []
        self.stall_at, self.stalled = stall_at, False
        self.received, self.stored = [], []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(30)
            produces, stalled = 0, False
            # Bounded by the client: it closes its connection when done.
            while True:
                head = recv_exact(conn, 4)
                if head is None:
                    return
                frame = recv_exact(conn, struct.unpack(">i", head)[0])
                if frame is None:
                    return
                key, _version, correlation = struct.unpack(">hhi", frame[:8])
                if key == 18:
                    body = api_versions_v3()
                elif key == 3:
                    body = metadata_v1(self.brokers, self.partitions)
                elif key == 0:
                    batches = produce_v3_batches(frame)
                    produces += 1
                    with self.lock:
                        self.received += [b for _, _, b in batches]
                        if self.stall_at and not self.stalled and produces == self.stall_at:
                            self.stalled = stalled = True
                        if stalled:
                            continue  # read, never answered, until the client gives up
                        self.stored += [b for _, _, b in batches]
                    body = produce_v3_answer(batches)
                else:
                    return
                payload = struct.pack(">i", correlation) + body
                conn.sendall(struct.pack(">i", len(payload)) + payload)

    def close(self):
        self.sock.close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spate(binary, port, *args):
    started = time.monotonic()
    r = subprocess.run([binary, "-b", f"127.0.0.1:{port}", "--timeout-ms", str(TIMEOUT_MS),
                        *args], capture_output=True, text=True, timeout=60,
                       input="k:v\n")
    return r, time.monotonic() - started


def produce_through_a_stalled_connection(binary):
    """The leader stops answering at the 3rd Produce request (8 in flight):
    the producer gives up on that connection after its timeout, connects
    again, and sends every batch not answered, in its order, before any
    later one; each batch is stored once, in the order first sent."""
    fake = FakeBroker(stall_at=3)
    fake.brokers, fake.partitions = [(0, b"127.0.0.1", fake.port)], [(0, 0)]
    try:
        lines = "".join(f"key-{i:03}:value-{i:03}\n" for i in range(200))
        r = subprocess.run([binary, "-b", f"127.0.0.1:{fake.port}", "--timeout-ms", "2000",
                            "produce", "t", "-K:", "-p", "0", "--batch-bytes", "200"],
                           input=lines, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "produced 200 records" in r.stderr, (r.returncode, r.stderr)
        first_sent = list(dict.fromkeys(fake.received))
        assert fake.stalled and len(first_sent) > 16, (fake.stalled, len(first_sent))
        assert fake.stored == first_sent, (
            f"{len(fake.stored)} stored, {len(first_sent)} sent: order or count differs")
        print(f"  a leader silent from the 3rd of {len(first_sent)} Produce requests: "
              f"{len(fake.received) - len(first_sent)} sent again, all stored once, in order")
    finally:
        fake.close()


def main():
    binary = os.path.abspath(sys.argv[2])
    fake = FakeBroker()
    me = (0, b"127.0.0.1", fake.port)
    refused = closed_port()
    cases = [
        ("a leader that is not a listed broker", [me], [(0, 7)], "broker 7 is not listed"),
        ("a broker with port 70000", [me, (1, b"127.0.0.1", 70000)], [(0, 1)],
         "broker 1 is listed at '127.0.0.1' port 70000, no address"),
        ("a broker with port -1", [me, (1, b"127.0.0.1", -1)], [(0, 1)],
         "broker 1 is listed at '127.0.0.1' port -1, no address"),
        ("a broker with no host", [me, (1, b"", 9092)], [(0, 1)],
         "broker 1 is listed at '' port 9092, no address"),
        ("a leader whose address refuses connections", [me, (1, b"127.0.0.1", refused)],
         [(0, 1)], "cannot connect"),
        ("partitions 0 and 5", [me], [(0, 0), (5, 0)], "lists partition 5 at place 1"),
        ("partition -1", [me], [(-1, 0)], "lists partition -1 at place 0"),
    ]
    try:
        for what, brokers, partitions, expect in cases:
            fake.brokers, fake.partitions = brokers, partitions
            for command in (["topic", "describe", "t"], ["consume", "t"],
                            ["produce", "t", "-K:", "-p", "0"]):
                r, took = spate(binary, fake.port, *command)
                assert r.returncode == 1, (what, command, r.returncode, r.stdout, r.stderr)
                assert expect in r.stderr and r.stderr.startswith("spate: "), \
                    (what, command, r.stderr)
                assert took < TIMEOUT_MS / 1000 + 5, (what, command, took)
            print(f"  {what}: exit 1, \"{r.stderr.strip()[:110]}\"")
    finally:
        fake.close()
    produce_through_a_stalled_connection(binary)
    print("cli_metadata: ok")


if __name__ == "__main__":
    main()
