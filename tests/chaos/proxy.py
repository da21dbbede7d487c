# SPDX-License-Identifier: Apache-2.0
"""A userspace TCP proxy per directed broker pair i -> j (threads), through
which broker i reaches broker j's cluster listener (broker i's --seeds names
the proxy as j). A link can be cut and healed:
  * cut("drop"): existing connections are closed at once (both sides);
  * cut("blackhole"): existing connections stay open but nothing more is
    forwarded either way (what was read waits, nothing is lost: TCP's own
    delivery, delayed), so the brokers see silence, not a reset;
  * while cut, new connections are accepted and held without forwarding;
    they are connected to the target once the link is healed.
Every thread polls a stop flag at least every 0.2 s; close() stops them all."""
import socket
import threading
import time

POLL = 0.2
CHUNK = 65536


class _Conn:
    def __init__(self, client):
        self.client = client
        self.upstream = None
        self.closed = False
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for s in (self.client, self.upstream):
                if s is None:
                    continue
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class Link:
    """Forwards 127.0.0.1:self.port to 127.0.0.1:target_port."""

    MAX_CONNS = 64  # a broker keeps one outbound connection per peer; reconnects churn

    def __init__(self, name, target_port):
        self.name = name
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(POLL)
        self.port = self._listener.getsockname()[1]
        self._healed = threading.Event()
        self._healed.set()
        self._stop = threading.Event()
        self._conns = set()
        self._lock = threading.Lock()
        self._threads = []
        self.accepted = 0
        self._spawn(self._accept_loop)

    # ------------------------------------------------------------- control
    @property
    def is_cut(self):
        return not self._healed.is_set()

    def cut(self, mode):
        assert mode in ("drop", "blackhole"), mode
        self._healed.clear()
        if mode == "drop":
            with self._lock:
                conns = list(self._conns)
            for c in conns:
                c.close()

    def heal(self):
        self._healed.set()

    def close(self):
        self._stop.set()
        self._healed.set()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close()
        for t in self._threads:
            t.join(5)
        self._listener.close()

    # ------------------------------------------------------------- workers
    def _spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True, name=f"proxy-{self.name}")
        t.start()
        self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                if len(self._conns) >= self.MAX_CONNS:
                    client.close()
                    continue
                conn = _Conn(client)
                self._conns.add(conn)
            self.accepted += 1
            self._spawn(self._serve, conn)

    def _wait_healed(self, conn):
        """True once healed; False if stopping or the connection closed."""
        while not self._healed.wait(POLL):
            if self._stop.is_set() or conn.closed:
                return False
            if conn.upstream is None and _peer_closed(conn.client):
                return False
        return not (self._stop.is_set() or conn.closed)

    def _serve(self, conn):
        try:
            # Held while cut: accepted, nothing forwarded, no upstream yet.
            if not self._wait_healed(conn):
                return
            try:
                conn.upstream = socket.create_connection(("127.0.0.1", self.target_port), 3)
            except OSError:
                return
            for s in (conn.client, conn.upstream):
                s.settimeout(POLL)
            t = threading.Thread(target=self._pump, args=(conn, conn.upstream, conn.client),
                                 daemon=True)
            t.start()
            self._pump(conn, conn.client, conn.upstream)
            t.join(5)
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)

    def _pump(self, conn, src, dst):
        while not (self._stop.is_set() or conn.closed):
            try:
                data = src.recv(CHUNK)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            # A black hole: what was read waits here until the heal (or the
            # connection is dropped); nothing more is read meanwhile.
            if not self._wait_healed(conn):
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        conn.close()


def _peer_closed(sock):
    try:
        sock.setblocking(False)
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        finally:
            sock.setblocking(True)
    except BlockingIOError:
        return False
    except OSError:
        return True


class Mesh:
    """One Link per directed pair i -> j (i != j) of n brokers, whose cluster
    listeners are on cluster_ports."""

    def __init__(self, cluster_ports):
        n = len(cluster_ports)
        self.links = {(i, j): Link(f"{i}->{j}", cluster_ports[j])
                      for i in range(n) for j in range(n) if i != j}

    def port(self, i, j):
        return self.links[(i, j)].port

    def cut_between(self, side_a, side_b, mode, both_ways=True):
        """Cuts every link from side_a to side_b (and back, if both_ways)."""
        for i in side_a:
            for j in side_b:
                self.links[(i, j)].cut(mode)
                if both_ways:
                    self.links[(j, i)].cut(mode)

    def heal_all(self):
        for link in self.links.values():
            link.heal()

    def cut_links(self):
        return sorted(k for k, link in self.links.items() if link.is_cut)

    def close(self):
        for link in self.links.values():
            link.close()


def self_test():
    """A cut link forwards nothing; a healed one forwards again."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    link = Link("test", srv.getsockname()[1])
    try:
        c = socket.create_connection(("127.0.0.1", link.port), 2)
        s, _ = srv.accept()
        c.sendall(b"a")
        assert s.recv(1) == b"a"
        link.cut("blackhole")
        c.sendall(b"b")
        s.settimeout(0.5)
        try:
            got = s.recv(1)
            raise AssertionError(f"forwarded through a cut: {got!r}")
        except socket.timeout:
            pass
        link.heal()
        s.settimeout(2)
        assert s.recv(1) == b"b"
        link.cut("drop")
        time.sleep(0.3)
        assert s.recv(1) == b"", "a dropped connection stayed open"
        link.heal()
    finally:
        link.close()
        srv.close()


if __name__ == "__main__":
    self_test()
    print("proxy: OK")
