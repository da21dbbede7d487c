# SPDX-License-Identifier: Apache-2.0
"""Starts the real spated binary for a test: loopback, ephemeral ports, a
temporary data directory; stops it by pid. Shared by the compatibility and
bad-input tests (tests/compat, tests/integration)."""
import os
import random
import signal
import socket
import subprocess
import tempfile
import time


def _ephemeral_range():
    try:
        lo, hi = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(n):
    """n distinct ports free on 127.0.0.1 for a broker to listen on, and to
    listen on again after a restart. Taken below the kernel's ephemeral range
    where it can: a port from that range (bind to port 0) can be handed to
    any outgoing connection on the machine in the meantime, and the broker
    then fails with "Address already in use" (seen in CI)."""
    lo, _ = _ephemeral_range()
    rng = random.Random()
    ports = []
    for _ in range(200 * n):
        if len(ports) == n:
            return ports
        port = rng.randrange(10000, lo) if lo > 11000 else 0
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
        except OSError:
            pass
        finally:
            s.close()
    raise RuntimeError(f"no {n} free ports found")


class Spated:
    def __init__(self, binary, extra_args=(), data_dir=None, listen="127.0.0.1:0"):
        self.binary = binary
        # A fixed port keeps the client address across restarts (clients
        # bootstrapped with it still find the broker).
        self.listen = listen
        self.extra_args = list(extra_args)
        self._tmp = tempfile.TemporaryDirectory(prefix="spate-test-")
        self.data_dir = data_dir or os.path.join(self._tmp.name, "data")
        self.proc = None
        self.port = None
        self.admin_port = None

    def start(self, timeout=10.0):
        ready = os.path.join(self._tmp.name, "ready")
        if os.path.exists(ready):
            os.remove(ready)
        self.log_path = os.path.join(self._tmp.name, "spated.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--listen", self.listen, "--admin-listen", "127.0.0.1:0",
             "--data-dir", self.data_dir, "--ready-file", ready] + self.extra_args,
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(ready):
                fields = dict(line.split("=", 1) for line in open(ready).read().split())
                self.port = int(fields["port"])
                self.admin_port = int(fields["admin_port"])
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.kill()
        raise RuntimeError("spated did not start:\n" + self.log())

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def log(self):
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()
        except OSError:
            return ""

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=15.0):
        """SIGTERM; returns the exit code (kills with SIGKILL after timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("spated did not stop within %.0f s of SIGTERM" % timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self):
        self.kill()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            code = self.stop()
            if exc[0] is None and code != 0:
                raise AssertionError(f"spated exited with {code} on SIGTERM:\n{self.log()}")
        finally:
            self.close()
