# SPDX-License-Identifier: Apache-2.0
"""Hostile clients against the connection layer of a real spated (issue 12,
items 8 and 9): connections that send only a size prefix; connections that
pipeline requests with large responses and never read them; a peer that stops
reading (the write timeout); descriptor exhaustion (EMFILE) on the Kafka and
admin listeners. Each case asserts that the broker stays up, that a
well-behaved client on another connection is answered quickly, and that
spated's RSS stays bounded.
Usage: hostile_server.py SPATED_BINARY [TEST_NAME...]"""
import os
import resource
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from kafka_wire import connect, read_frame  # noqa: E402
from kafka_wire import request as raw_request  # noqa: E402
from spated import Spated  # noqa: E402

# A well-behaved client's request, while the hostile one runs. A client stuck
# behind the hostile ones waits for a write timeout (30 s by default) or
# forever; 2 s leaves room for a loaded 2-core machine (scripts/test builds
# the sanitizer preset while these tests run).
ANSWER_S = 2.0


def request(api_key, version, body=b"", correlation_id=1):
    return raw_request(api_key, version, body, correlation_id, b"hostile")


def api_versions(cid):
    return request(18, 0, b"", cid)


def describe_broker_configs(cid, copies):
    # DescribeConfigs v0: `copies` times the broker resource (type 4, name "0"),
    # every config (null names): a small request with a large response.
    body = struct.pack(">i", copies)
    body += (struct.pack(">bh", 4, 1) + b"0" + struct.pack(">i", -1)) * copies
    return request(32, 0, body, cid)


def served_quickly(broker, what, limit_s=ANSWER_S):
    """A well-behaved client on a new connection is answered within limit_s."""
    assert broker.proc.poll() is None, f"{what}: spated died:\n{broker.log()[-2000:]}"
    start = time.monotonic()
    s = connect(broker, timeout=limit_s + 2)
    s.sendall(api_versions(4242))
    frame = read_frame(s)
    elapsed = time.monotonic() - start
    s.close()
    assert frame is not None and struct.unpack(">i", frame[:4])[0] == 4242, what
    assert elapsed < limit_s, f"{what}: a well-behaved client waited {elapsed:.3f} s"
    return elapsed


def metric(broker, name):
    s = socket.create_connection(("127.0.0.1", broker.admin_port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not in /metrics")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def prefix_only_connections(binary):
    """1,000 connections that send a size prefix claiming 1 MiB and nothing
    more must not cost a read buffer each."""
    count = 1000
    raise_nofile(count + 200)
    with Spated(binary) as broker:
        served_quickly(broker, "before")
        rss_before = broker.rss_kib()
        held = []
        for _ in range(count):
            s = connect(broker)
            s.sendall(struct.pack(">i", 1 << 20))
            held.append(s)
        # Bounded: wait until the broker has accepted them all (or 10 s).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and metric(broker, "spate_connections") < count:
            time.sleep(0.1)
        time.sleep(0.3)  # every reader has read its prefix
        growth = broker.rss_kib() - rss_before
        took = served_quickly(broker, "with 1,000 prefix-only connections")
        for s in held:
            s.close()
        print(f"  {count} prefix-only connections: RSS {growth:+d} KiB "
              f"({growth * 1024 // count} bytes each); another client answered in "
              f"{took * 1000:.1f} ms")
        assert growth < 16 * 1024, f"RSS grew {growth} KiB for {count} prefix-only connections"


def unread_responses(binary):
    """Connections that pipeline DescribeConfigs (a 8 KB request, a ~0.6 MB
    response) and never read: the broker-wide budget (--max-queued-bytes,
    default 100 MiB) and the per-connection response cap bound the memory,
    and other clients are still served."""
    hostile = 10
    with Spated(binary) as broker:
        served_quickly(broker, "before")
        probe = connect(broker)
        probe.sendall(describe_broker_configs(1, 1000))
        response_bytes = len(read_frame(probe))
        probe.close()
        rss_before = broker.rss_kib()
        frame = describe_broker_configs(7, 1000)
        held = []
        sent = 0
        for _ in range(hostile):
            s = connect(broker)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(0.05)
            held.append(s)
        # Bounded: 200 requests per connection or until the broker stops reading.
        deadline = time.monotonic() + 8
        for s in held:
            for _ in range(200):
                if time.monotonic() > deadline:
                    break
                try:
                    s.sendall(frame)
                    sent += 1
                except socket.timeout:
                    break
        # Bounded: sample RSS until it has not grown for 1 s (or 8 s): the
        # broker answers everything it read.
        peak = 0
        took = 0
        grew_at = time.monotonic()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and time.monotonic() - grew_at < 1.0:
            time.sleep(0.2)
            took = max(took, served_quickly(broker, "with unread responses queued"))
            rss = broker.rss_kib() - rss_before
            if rss > peak + 1024:
                grew_at = time.monotonic()
            peak = max(peak, rss)
        print(f"  {hostile} connections that never read sent {sent} DescribeConfigs "
              f"({response_bytes} response bytes each): RSS {peak:+d} KiB; another client "
              f"answered in {took * 1000:.1f} ms")
        assert peak < 150 * 1024, f"RSS grew {peak} KiB holding unread responses"
        used = metric(broker, "spate_memory_used_bytes")
        budget = metric(broker, "spate_memory_budget_bytes")
        print(f"  {used:.0f} bytes held of a {budget:.0f}-byte budget")
        assert used <= budget * 1.125, f"{used} bytes held, over the budget and its reserve"
        for s in held:
            s.close()
        time.sleep(0.5)
        served_quickly(broker, "after the hostile connections closed")


def write_timeout(binary):
    """A peer that stops reading its responses is closed after
    --write-timeout-ms, and what it held is released."""
    with Spated(binary, ["--write-timeout-ms", "1000"]) as broker:
        s = connect(broker)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(0.05)
        frame = describe_broker_configs(9, 1000)
        for _ in range(50):
            try:
                s.sendall(frame)
            except socket.timeout:
                break
        start = time.monotonic()
        closed = False
        # Bounded: until the broker closes the connection, or 6 s. Reads
        # nothing: the send side is what must notice.
        while time.monotonic() - start < 6:
            if metric(broker, "spate_connections") == 0:
                closed = True
                break
            time.sleep(0.1)
        waited = time.monotonic() - start
        assert closed, "a peer that never reads was not closed within 6 s"
        assert waited > 0.5, f"closed after {waited:.2f} s, before the write timeout"
        timeouts = metric(broker, "spate_connections_closed_write_timeout_total")
        used = metric(broker, "spate_memory_used_bytes")
        assert timeouts >= 1, timeouts
        assert used == 0, f"{used} bytes still held after the connection closed"
        s.close()
        served_quickly(broker, "after the write timeout")
        print(f"  a peer that stopped reading was closed after {waited:.1f} s "
              f"(--write-timeout-ms 1000); its bytes released")


def descriptor_exhaustion(binary):
    """spated runs out of descriptors (RLIMIT_NOFILE lowered to 64): its accept
    loops must neither spin nor flood the log, and once the connections close a
    normal client is served again."""
    with Spated(binary) as broker:
        served_quickly(broker, "before")
        pid = broker.proc.pid
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, 64))
        held = []
        answered = 0
        # Bounded: 100 connections; the broker can hold fewer than 64.
        for i in range(100):
            s = connect(broker, timeout=2)
            s.settimeout(0.3)
            s.sendall(api_versions(i))
            held.append(s)
            try:
                if read_frame(s) is not None:
                    answered += 1
            except (socket.timeout, ConnectionResetError):
                pass
        assert answered < 100, "the descriptor limit was never reached"
        # The admin listener too: connections waiting in its backlog.
        for _ in range(3):
            a = socket.create_connection(("127.0.0.1", broker.admin_port), timeout=2)
            a.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(a)
        log_lines_before = len(broker.log().splitlines())
        time.sleep(0.5)
        cpu_before = cpu_seconds(pid)
        time.sleep(2.0)
        cpu = cpu_seconds(pid) - cpu_before
        log_lines = len(broker.log().splitlines()) - log_lines_before
        assert broker.proc.poll() is None, "spated died"
        for s in held:
            s.close()
        print(f"  out of descriptors ({answered} of 100 connections served): "
              f"{cpu:.2f} s CPU in 2 s, {log_lines} log lines in 2.5 s")
        assert cpu < 0.3, f"spated used {cpu:.2f} s of CPU in 2 s while out of descriptors"
        assert log_lines < 10, f"{log_lines} log lines in 2.5 s:\n{broker.log()[-3000:]}"
        # Bounded: the backoff is at most 1 s; give it 5.
        deadline = time.monotonic() + 5
        while True:
            try:
                took = served_quickly(broker, "after the connections closed", limit_s=2.5)
                break
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        a = socket.create_connection(("127.0.0.1", broker.admin_port), timeout=5)
        a.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        a.settimeout(5)
        assert a.recv(100).startswith(b"HTTP/1.1 200"), "admin /health not answered"
        a.close()
        print(f"  served again once descriptors returned ({took * 1000:.0f} ms)")


TESTS = [prefix_only_connections, unread_responses, write_timeout, descriptor_exhaustion]


def main(binary, only):
    for test in TESTS:
        if not only or test.__name__ in only:
            test(binary)
    print("hostile_server: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
