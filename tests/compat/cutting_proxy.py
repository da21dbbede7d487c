# SPDX-License-Identifier: Apache-2.0
"""A userspace TCP proxy between Kafka clients and spated that cuts
connections mid-request: after forwarding a whole request of a chosen API
(Produce by default) it may wait a moment, so that the broker handles it, and
then close both sides without forwarding the response. The client sees a
request with no answer and retries it on a new connection: the case the
idempotent producer exists for. Cuts are random (seeded), at most
`max_cuts` in all, and counted.

Clients must reach the broker only through the proxy: start spated with
--advertise 127.0.0.1:<proxy.port>."""
import random
import socket
import struct
import threading
import time

from kafka_wire import recv_exact


class CuttingProxy:
    def __init__(self, target_port, cut_probability=0.2, max_cuts=50, seed=1, api_keys=(0,),
                 delay_s=0.02):
        self.target_port = target_port
        self.cut_probability = cut_probability
        self.max_cuts = max_cuts
        self.api_keys = set(api_keys)
        self.delay_s = delay_s
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.cuts = 0
        self.requests = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.sockets = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self, target_port=None):
        if target_port is not None:
            self.target_port = target_port
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.listener.close()
        with self.lock:
            for s in list(self.sockets):
                self._close(s)
        self.thread.join(5)

    def _close(self, s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, server))
            mute = threading.Event()  # set: responses are dropped from now on
            threading.Thread(target=self._requests, args=(client, server, mute),
                             daemon=True).start()
            threading.Thread(target=self._responses, args=(server, client, mute),
                             daemon=True).start()

    def _should_cut(self, api_key):
        with self.lock:
            self.requests += 1
            if api_key not in self.api_keys or self.cuts >= self.max_cuts:
                return False
            if self.rng.random() >= self.cut_probability:
                return False
            self.cuts += 1
            return True

    def _requests(self, client, server, mute):
        """Client to broker, frame by frame; each frame may be the last."""
        try:
            while True:
                size = recv_exact(client, 4)
                if size is None:
                    break
                (n,) = struct.unpack(">i", size)
                if n < 0 or n > (128 << 20):
                    break
                body = recv_exact(client, n)
                if body is None:
                    break
                api_key = struct.unpack(">h", body[:2])[0] if n >= 2 else -1
                cut = self._should_cut(api_key)
                if cut:
                    mute.set()  # this answer (and any still on its way) is lost
                server.sendall(size + body)
                if cut:
                    time.sleep(self.delay_s)  # the broker handles it meanwhile
                    break
        except OSError:
            pass
        self._close(client)
        self._close(server)

    def _responses(self, server, client, mute):
        try:
            while True:
                data = server.recv(65536)
                if not data or mute.is_set():
                    break
                client.sendall(data)
        except OSError:
            pass
        self._close(client)
        self._close(server)
