# SPDX-License-Identifier: Apache-2.0
"""Three (or n) spated brokers on 127.0.0.1 for the chaos test, each with
fixed client and cluster ports (chosen free at start, kept across restarts so
that clients find a restarted broker again), its own data directory, a log,
and --seeds naming, for every other broker j, the proxy i -> j (proxy.Mesh).
Every process is handled by pid: SIGKILL, SIGSTOP, SIGCONT, SIGTERM."""
import ctypes
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from spated import free_ports  # noqa: E402,F401  (used by Cluster below)


def _die_with_parent():
    """In the child before exec: SIGKILL when the driver's thread that
    started it goes (even by SIGKILL, e.g. ctest's timeout), so that no
    broker outlives the test. Brokers are started from the main thread."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Broker:
    def __init__(self, binary, node_id, workdir, client_port, cluster_port):
        self.binary = binary
        self.id = node_id
        self.dir = os.path.join(workdir, f"broker-{node_id}")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "spated.log")
        self.client_port = client_port
        self.cluster_port = cluster_port
        self.seeds = ""
        self.proc = None
        self.paused = False
        self.starts = 0
        os.makedirs(self.dir, exist_ok=True)

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def serving(self):
        return self.alive and not self.paused

    def start(self, timeout=20.0):
        assert not self.alive, f"broker {self.id} is running"
        ready = os.path.join(self.dir, "ready")
        if os.path.exists(ready):
            os.remove(ready)
        with open(self.log_path, "ab") as log:
            log.write(f"==== chaos: start {self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "--node-id", str(self.id), "--seeds", self.seeds,
                 "--listen", f"127.0.0.1:{self.client_port}",
                 "--cluster-listen", f"127.0.0.1:{self.cluster_port}",
                 "--admin-listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                 "--ready-file", ready, "--auto-create-topics", "false"],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.paused = False
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(ready):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker {self.id} exited {self.proc.returncode} at start:\n"
                                   + self.log_tail())
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"broker {self.id} did not start within {timeout} s:\n" + self.log_tail())

    def kill(self):
        """SIGKILL (also of a stopped process) and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.paused = False

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.alive and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def terminate(self, timeout=15.0):
        """SIGTERM; the exit code (SIGKILL after timeout: None)."""
        if not self.alive:
            return None if self.proc is None else self.proc.returncode
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def exited_unexpectedly(self):
        """The exit code if the process died on its own (not by our SIGKILL)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return None if self.proc.returncode == -signal.SIGKILL else self.proc.returncode

    def log_tail(self, chars=4000):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-chars:]
        except OSError:
            return ""


class Cluster:
    def __init__(self, binary, workdir, mesh_factory, n=3):
        ports = free_ports(2 * n)
        client, cluster = ports[:n], ports[n:]
        self.brokers = [Broker(binary, i, workdir, client[i], cluster[i]) for i in range(n)]
        self.mesh = mesh_factory(cluster)
        for b in self.brokers:
            b.seeds = ",".join(
                f"{j}@127.0.0.1:{cluster[j] if j == b.id else self.mesh.port(b.id, j)}"
                for j in range(n))

    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{b.client_port}" for b in self.brokers)

    def serving(self):
        return [b for b in self.brokers if b.serving]

    def start_all(self):
        for b in self.brokers:
            if not b.alive:
                b.start()

    def close(self):
        """Every broker killed by pid (resumed first), every proxy stopped."""
        for b in self.brokers:
            try:
                b.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.mesh.close()
