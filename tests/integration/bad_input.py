# SPDX-License-Identifier: Apache-2.0
"""Bad input against a running spated (design.md principle 5): oversized and
negative frame sizes, garbage bytes, unknown API keys and versions, truncated
requests, requests claiming huge arrays, frames that promise more than they
send. Each gets an error response or a closed connection within 100 ms;
spated's RSS grows by less than 1 MiB over many rounds; and a well-behaved
producer on another connection keeps producing (acks=all) throughout.
Usage: bad_input.py SPATED_BINARY"""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Producer  # noqa: E402

from kafka_wire import request as raw_request  # noqa: E402
from spated import Spated  # noqa: E402

REACTION_S = 0.100
ROUNDS = 30


def request(api_key, version, body=b"", correlation_id=7):
    return raw_request(api_key, version, body, correlation_id, b"bad-input")


def metadata_v1_claiming(count):
    return request(3, 1, struct.pack(">i", count) + struct.pack(">h", 3) + b"abc")


def produce_v3_truncated():
    # transactional_id null, acks -1, timeout 1000, one topic "t" with one
    # partition whose records claim 1000 bytes but the frame ends first.
    body = struct.pack(">hhi", -1, -1, 1000) + struct.pack(">i", 1) + struct.pack(">h", 1) + b"t"
    body += struct.pack(">i", 1) + struct.pack(">i", 0) + struct.pack(">i", 1000) + b"\x00" * 10
    return request(0, 3, body)


def garbage(rng):
    body = bytes(rng.getrandbits(8) for _ in range(200))
    # A plausible size so that the broker reads it all and must judge the contents;
    # the API key is forced out of range (a random one might be a valid request).
    return struct.pack(">i", len(body) + 2) + struct.pack(">h", 30000 + rng.randrange(2000)) + body


CASES = {
    "frame size 2^31-1": lambda rng: struct.pack(">i", 0x7FFFFFFF),
    "frame size 200 MiB": lambda rng: struct.pack(">i", 200 << 20) + b"x" * 100,
    "negative frame size": lambda rng: struct.pack(">i", -5),
    "frame shorter than a header": lambda rng: struct.pack(">i", 3) + b"abc",
    "garbage bytes": garbage,
    "unknown API key 999": lambda rng: request(999, 0),
    "ControlledShutdown (not served)": lambda rng: request(7, 1),
    "Metadata v99": lambda rng: request(3, 99),
    "Produce v-1": lambda rng: request(0, -1),
    "Metadata v1 claiming 2^31-1 topics": lambda rng: metadata_v1_claiming(0x7FFFFFFF),
    "Metadata v1 claiming 1M topics": lambda rng: metadata_v1_claiming(1_000_000),
    "truncated Produce": lambda rng: produce_v3_truncated(),
    "header cut in client id": lambda rng: struct.pack(">i", 12) + struct.pack(">hhih", 18, 0, 1, 100) + b"ab",
}


def expect_close_or_error(bootstrap_port, name, data):
    """Sends `data`; returns seconds until the connection closed or answered."""
    s = socket.create_connection(("127.0.0.1", bootstrap_port), timeout=2)
    s.settimeout(1.0)
    start = time.monotonic()
    s.sendall(data)
    try:
        reply = s.recv(65536)
    except ConnectionResetError:
        reply = b""
    except socket.timeout:
        raise AssertionError(f"{name}: no answer and no close within 1 s")
    elapsed = time.monotonic() - start
    s.close()
    if reply:
        # An answer must be a Kafka error: only ApiVersions gets one (code 35).
        size, correlation = struct.unpack(">ii", reply[:8])
        assert size == len(reply) - 4 and correlation == 7, (name, reply[:16])
        error_code = struct.unpack(">h", reply[8:10])[0]
        assert error_code != 0, (name, reply[:16])
    return elapsed


def apiversions_v99(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.settimeout(1.0)
    start = time.monotonic()
    # A flexible (v2) request header, as a newer client sends: tagged fields
    # after the client id, and a body this broker cannot know.
    s.sendall(request(18, 99, body=b"\x00" + b"\x07future\x02v\x00"))
    reply = s.recv(65536)
    elapsed = time.monotonic() - start
    size, correlation, error_code = struct.unpack(">iih", reply[:10])
    assert error_code == 35, error_code  # UNSUPPORTED_VERSION, with a v0 body
    # The connection stays usable: a v0 request works on it.
    s.sendall(request(18, 0, correlation_id=8))
    reply = s.recv(65536)
    assert struct.unpack(">ih", reply[4:10]) == (8, 0), reply[:10]
    s.close()
    return elapsed


def main(binary):
    rng = random.Random(42)
    with Spated(binary) as broker:
        stop = threading.Event()
        delivered, failed = [0], []

        def produce():
            p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                          "linger.ms": 1})
            i = 0
            while not stop.is_set():
                p.produce("good-client", value=b"v%d" % i,
                          on_delivery=lambda err, msg: failed.append(err) if err
                          else delivered.__setitem__(0, delivered[0] + 1))
                i += 1
                p.poll(0.002)
            assert p.flush(10) == 0

        worker = threading.Thread(target=produce)
        worker.start()
        try:
            time.sleep(0.5)
            worst = {}
            # Warm-up round, then the RSS baseline, then many rounds.
            for name, make in CASES.items():
                expect_close_or_error(broker.port, name, make(rng))
            rss_before = broker.rss_kib()
            progress = []  # (time, records acknowledged so far)
            started = time.monotonic()
            rounds = 0
            while rounds < ROUNDS or time.monotonic() - started < 3.0:
                rounds += 1
                for name, make in CASES.items():
                    t = expect_close_or_error(broker.port, name, make(rng))
                    worst[name] = max(worst.get(name, 0), t)
                worst["ApiVersions v99"] = max(worst.get("ApiVersions v99", 0),
                                               apiversions_v99(broker.port))
                progress.append((time.monotonic(), delivered[0]))
            # Frames that promise 90 MiB and send 16 KiB, held open: the
            # broker must not reserve what was only promised.
            held = []
            for _ in range(20):
                c = socket.create_connection(("127.0.0.1", broker.port), timeout=2)
                c.sendall(struct.pack(">i", 90 << 20) + b"\x00" * 16384)
                held.append(c)
            time.sleep(0.3)
            rss_held = broker.rss_kib()
            for c in held:
                c.close()
            time.sleep(0.3)
            rss_after = broker.rss_kib()
        finally:
            stop.set()
            worker.join(30)
        for name, t in sorted(worst.items(), key=lambda kv: -kv[1]):
            print(f"  {name}: worst {t * 1000:.1f} ms")
        slow = {n: t for n, t in worst.items() if t > REACTION_S}
        assert not slow, f"slower than {REACTION_S * 1000:.0f} ms: {slow}"
        growth = rss_after - rss_before
        print(f"  RSS {rss_before} KiB -> {rss_after} KiB ({growth:+d} KiB) over {rounds} rounds "
              f"of {len(CASES) + 1} cases")
        print(f"  RSS with 20 connections each promising a 90 MiB frame: {rss_held} KiB")
        assert growth < 1024, f"RSS grew by {growth} KiB"
        assert rss_held - rss_before < 8 * 1024, f"promised frames cost {rss_held - rss_before} KiB"
        assert not failed, failed[:3]
        # The good producer kept going during the whole run: records were
        # acknowledged in (nearly) every 250 ms window.
        windows = {}
        for t, n in progress:
            windows.setdefault(int((t - started) / 0.25), []).append(n)
        counts = [max(v) for _, v in sorted(windows.items())]
        moving = sum(1 for a, b in zip(counts, counts[1:]) if b > a)
        assert moving >= (len(counts) - 1) * 0.8, counts
        print(f"  good producer: {delivered[0]} records acknowledged meanwhile")
    print("bad input: ok")


if __name__ == "__main__":
    main(sys.argv[1])
