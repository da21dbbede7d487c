#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# A small recording broker: listens on 127.0.0.1 (ephemeral port), answers
# just enough (ApiVersions, Metadata) for a real client to send its real
# requests, and writes each request frame it receives as
# <client>_<api>_v<version>_request.hex. Clients: librdkafka (kcat -P) and
# kafkajs (KafkaJS 2.2.4 from scripts/node). Usage: record_clients.py CLIENT [DIR].
# Bounded: it stops after capturing a Produce request, or after 10 s, and
# kills the client by its pid.
import os
import socket
import struct
import subprocess
import sys
import threading
import time

NAMES = {0: "produce", 3: "metadata", 18: "api_versions"}
CLIENT = sys.argv[1] if len(sys.argv) > 1 else "librdkafka"
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
KAFKAJS_PRODUCER = """
const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'kafkajs', brokers: [process.argv[1]], logLevel: logLevel.NOTHING,
                          retry: { retries: 0 } });
const producer = kafka.producer();
(async () => {
  await producer.connect();
  await producer.send({ topic: 't', acks: -1, messages: [
    { partition: 0, key: 'kj', value: 'js1', headers: { h: 'v' } },
    { partition: 0, key: null, value: 'js2' } ] });
})().catch(() => process.exit(1));
"""
captured = {}
done = threading.Event()


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def api_versions_response(version):
    # kafka-protocol.md §0: librdkafka picks features (MsgVer2 needs Produce
    # v3 and Fetch v4) from this list.
    keys = [(0, 0, 7), (1, 4, 11), (2, 1, 3), (3, 0, 6), (8, 0, 7), (9, 1, 7), (10, 0, 2),
            (11, 0, 5), (12, 0, 3), (13, 0, 3), (14, 0, 3), (15, 0, 4), (16, 0, 4), (17, 0, 1),
            (18, 0, 3), (19, 0, 4), (20, 0, 3), (21, 0, 1), (22, 0, 4), (32, 0, 2), (36, 0, 1),
            (37, 0, 1)]
    if version >= 3:
        body = struct.pack(">h", 0) + bytes([len(keys) + 1])
        for k in keys:
            body += struct.pack(">hhh", *k) + b"\x00"
        return body + struct.pack(">i", 0) + b"\x00"
    body = struct.pack(">hi", 0, len(keys))
    for k in keys:
        body += struct.pack(">hhh", *k)
    if version >= 1:
        body += struct.pack(">i", 0)
    return body


def metadata_response(version, port):
    body = b""
    if version >= 3:
        body += struct.pack(">i", 0)
    body += struct.pack(">i", 1) + struct.pack(">i", 0) + s16("127.0.0.1") + struct.pack(">i", port)
    if version >= 1:
        body += struct.pack(">h", -1)  # rack null
    if version >= 2:
        body += s16("recording")
    if version >= 1:
        body += struct.pack(">i", 0)
    # One topic "t" with one partition led by node 0.
    body += struct.pack(">i", 1) + struct.pack(">h", 0) + s16("t")
    if version >= 1:
        body += b"\x00"
    body += struct.pack(">i", 1) + struct.pack(">hii", 0, 0, 0)
    body += struct.pack(">ii", 1, 0) + struct.pack(">ii", 1, 0)
    if version >= 5:
        body += struct.pack(">i", 0)
    return body


def serve(conn, port):
    try:
        while not done.is_set():
            size = struct.unpack(">i", recv_exact(conn, 4))[0]
            frame = recv_exact(conn, size)
            key, version, corr = struct.unpack(">hhi", frame[:8])
            name = NAMES.get(key, f"api{key}")
            captured.setdefault(f"{CLIENT}_{name}_v{version}", frame)
            if key == 18:
                body = api_versions_response(version)
            elif key == 3:
                body = metadata_response(version, port)
            else:
                done.set()
                return
            response = struct.pack(">i", corr) + body  # header v0 for both
            conn.sendall(struct.pack(">i", len(response)) + response)
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    if CLIENT == "librdkafka":
        client = subprocess.Popen(
            ["kcat", "-P", "-b", f"127.0.0.1:{port}", "-t", "t", "-K:", "-p", "0",
             "-X", "linger.ms=0"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client.stdin.write(b"k1:v1\nk2:v2\n")
        client.stdin.close()
    elif CLIENT == "kafkajs":
        client = subprocess.Popen(["node", "-e", KAFKAJS_PRODUCER, f"127.0.0.1:{port}"],
                                  cwd=os.path.join(REPO, "scripts", "node"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        print("unknown client", CLIENT)
        return 2
    deadline = time.time() + 10
    while not done.is_set() and time.time() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, port), daemon=True).start()
    client.kill()
    client.wait()
    listener.close()
    for name, frame in sorted(captured.items()):
        with open(os.path.join(OUT, f"{name}_request.hex"), "w") as f:
            f.write(frame.hex() + "\n")
        print("captured", name, len(frame), "bytes")
    return 0 if done.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
