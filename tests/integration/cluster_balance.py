# SPDX-License-Identifier: Apache-2.0
"""Leadership balancing, in-sync replicas from follower progress, and the
replication metrics (issue 15, Operations), on three real spated brokers with
short settings (--leader-rebalance-interval-ms 1000,
--replica-lag-time-max-ms 2000):
  1. a topic with replication factor 3 and 6 partitions ends up led by each
     partition's preferred (first) replica: 2/2/2;
  2. broker 0 stops (SIGTERM): its leaders move off it; records are written
     meanwhile; it restarts, catches up, and within a bounded time every
     partition is led by its preferred replica again (2/2/2);
  3. SIGSTOP of broker 2: the partitions it follows drop it from their
     in-sync replicas after the lag time, while the controller still counts
     it alive (so the ISR follows progress, not liveness); /metrics shows
     the under-replicated partitions and the peer's lag and out-of-sync
     count; SIGCONT brings it back into every ISR with lag 0;
  4. `spate cluster info --json` shows per-follower lag; election and leader
     change counters moved.
Usage: cluster_balance.py SPATED_BINARY SPATE_BINARY"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from spated import Spated  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import free_ports, metrics, print_failure, quiet, stop_all, wait_for  # noqa: E402  (integration/cluster.py)

TOPIC = "balanced"
PARTITIONS = 6
LAG_MS = 2000
# Long enough that a broker paused past the lag time is surely not fenced yet
# on a loaded machine (the default is 9 s).
SESSION_MS = 30000


class Cluster:
    def __init__(self, binary, n=3):
        ports = free_ports(n)
        seeds = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports))
        self.nodes = [Spated(binary, ["--node-id", str(i), "--seeds", seeds,
                                      "--cluster-listen", f"127.0.0.1:{ports[i]}",
                                      "--leader-rebalance-interval-ms", "1000",
                                      "--replica-lag-time-max-ms", str(LAG_MS),
                                      "--broker-session-timeout-ms", str(SESSION_MS)])
                      for i in range(n)]

    def running(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def bootstrap(self, skip=()):
        return ",".join(n.bootstrap for i, n in enumerate(self.nodes)
                        if i not in skip and n.proc and n.proc.poll() is None)


def partitions(bootstrap):
    """partition -> (leader, replicas in assignment order, isr) or None."""
    try:
        md = AdminClient(quiet({"bootstrap.servers": bootstrap})).list_topics(TOPIC, timeout=5)
    except Exception:  # noqa: BLE001 (a broker just stopped: ask again)
        return None
    t = md.topics.get(TOPIC)
    if t is None or t.error is not None or len(t.partitions) != PARTITIONS:
        return None
    return {p.id: (p.leader, list(p.replicas), sorted(p.isrs)) for p in t.partitions.values()}


def preferred_led(nodes):
    """The partitions if every node's Metadata has each led by its preferred
    replica (a broker that just restarted may answer from metadata it has not
    caught up with yet: every broker must agree)."""
    answers = [partitions(n.bootstrap) for n in nodes]
    if any(not got or any(v[0] != v[1][0] for v in got.values()) for got in answers):
        return None
    if any(got != answers[0] for got in answers):
        return None
    return answers[0]


def spread(got):
    counts = {}
    for leader, _, _ in got.values():
        counts[leader] = counts.get(leader, 0) + 1
    return sorted(counts.values())


def produce(bootstrap, first, count):
    errors = []
    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all",
                        "message.timeout.ms": 30000, "retry.backoff.ms": 100}))
    for i in range(first, first + count):
        p.produce(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    assert p.flush(60) == 0, "records left unacknowledged"
    assert not errors, errors


def balancing(cluster):
    admin = AdminClient(quiet({"bootstrap.servers": cluster.bootstrap()}))
    # Registered in the controller's state, not only listed (a broker lists
    # itself in Metadata before its registration applies).
    wait_for("three registered brokers", lambda: all(
        metrics(n).get("spate_cluster_brokers_alive") == 3 for n in cluster.nodes), timeout=30)
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
    got = wait_for("every partition led by its preferred replica",
                   lambda: preferred_led(cluster.running()), timeout=20)
    assert spread(got) == [2, 2, 2], got
    produce(cluster.bootstrap(), 0, 300)

    def handed_back():
        return sum(n.log().count("moving leadership back to its preferred replica 0")
                   for n in cluster.nodes[1:])
    before = handed_back()
    cluster.nodes[0].stop()
    got = wait_for("leaders off broker 0", lambda: (lambda g: g if g and all(
        v[0] in (1, 2) for v in g.values()) else None)(partitions(cluster.bootstrap())))
    produce(cluster.bootstrap(), 300, 300)  # broker 0 has these to catch up with
    started = time.monotonic()
    cluster.nodes[0].start()
    # Leadership of broker 0's own partitions comes back once it caught up
    # with them; the other leaders add it to their ISR once it caught up with
    # theirs, which may come a little later: both are waited for.
    got = wait_for("preferred leaders and full ISRs again after broker 0 came back",
                   lambda: (lambda g: g if g and all(v[2] == [0, 1, 2] for v in g.values())
                            else None)(preferred_led(cluster.running())), timeout=30)
    took = time.monotonic() - started
    assert spread(got) == [2, 2, 2], got
    assert all(v[2] == [0, 1, 2] for v in got.values()), got
    # The leaders of broker 0's partitions handed them back (not an election).
    moved = handed_back() - before
    assert moved >= 2, moved
    print(f"balance: broker 0 restarted; preferred leaders 2/2/2 again {took:.1f} s later "
          f"({moved} handed back)")


def isr_follows_progress(cluster):
    stopped = cluster.nodes[2]
    others = [cluster.nodes[0], cluster.nodes[1]]
    before = [metrics(n) for n in cluster.nodes]
    stopped.proc.send_signal(signal.SIGSTOP)
    paused = time.monotonic()
    try:
        ask = cluster.bootstrap(skip=(2,))
        # Every partition (those broker 2 led get a new leader first) drops it.
        wait_for("broker 2 out of every ISR", lambda: (lambda g: g if g and all(
            2 not in v[2] and v[0] in (0, 1) for v in g.values()) else None)(partitions(ask)),
            timeout=15)
        took = time.monotonic() - paused
        # Still alive for the controller (fenced only after SESSION_MS without a
        # heartbeat).
        ms = [metrics(n) for n in others]
        assert all(m["spate_cluster_brokers_alive"] == 3 for m in ms), (took, ms)
        wait_for("every partition under-replicated in /metrics", lambda: all(
            metrics(n)["spate_cluster_partitions_under_replicated"] == PARTITIONS
            for n in others), timeout=5)
        produce(ask, 600, 60)

        def peer_metrics():
            ms = [metrics(n) for n in others]
            out = sum(m.get('spate_replica_out_of_sync_partitions{peer="2"}', 0) for m in ms)
            lags = [m.get('spate_replica_lag_offsets{peer="2"}', 0) for m in ms]
            return (out, lags) if out == PARTITIONS and all(v >= 1 for v in lags) else None
        out, lags = wait_for("broker 2's lag and out-of-sync count in /metrics", peer_metrics,
                             timeout=5)
        print(f"isr: broker 2 out of every ISR {took:.1f} s after SIGSTOP (lag time "
              f"{LAG_MS / 1000:.0f} s), still registered alive; its lag {lags}")
    finally:
        stopped.proc.send_signal(signal.SIGCONT)
    wait_for("broker 2 back in every ISR", lambda: (lambda g: g if g and all(
        v[2] == [0, 1, 2] for v in g.values()) else None)(partitions(cluster.bootstrap())),
        timeout=20)

    def settled():
        ms = [metrics(n) for n in cluster.nodes]
        ok = all(m["spate_cluster_partitions_under_replicated"] == 0 for m in ms) and all(
            v == 0 for m in ms for k, v in m.items()
            if k.startswith("spate_replica_lag_offsets") or
            k.startswith("spate_replica_out_of_sync_partitions"))
        return ms if ok else None
    after = wait_for("metrics settled after SIGCONT", settled, timeout=15)
    elections = [sum(m["spate_raft_elections_total"] for m in ms) for ms in (before, after)]
    changes = [sum(m["spate_raft_leader_changes_total"] for m in ms) for ms in (before, after)]
    assert elections[1] > elections[0] > 0, elections
    assert changes[1] > changes[0] > 0, changes
    print(f"metrics: elections {elections[0]:.0f} -> {elections[1]:.0f}, leader changes "
          f"{changes[0]:.0f} -> {changes[1]:.0f}")


def cluster_info(cluster, spate):
    def lags_zero():
        r = subprocess.run([spate, "-b", cluster.bootstrap(), "cluster", "info", "--json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        info = json.loads(r.stdout)
        rows = [p for p in info["partitions"] if p["topic"] == TOPIC]
        assert len(rows) == PARTITIONS, rows
        for p in rows:
            followers = sorted(int(k) for k in p["lag"])
            assert followers == sorted(set(p["replicas"]) - {p["leader"]}), p
        return rows if all(v == 0 for p in rows for v in p["lag"].values()) else None
    wait_for("cluster info showing lag 0 for every follower", lags_zero, timeout=15)
    r = subprocess.run([spate, "-b", cluster.bootstrap(), "cluster", "info"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and " LAG " in r.stdout, r.stdout + r.stderr


def main():
    spated, spate = sys.argv[1], sys.argv[2]
    started = time.monotonic()
    cluster = Cluster(spated)
    try:
        for node in cluster.nodes:
            node.start()
        balancing(cluster)
        isr_follows_progress(cluster)
        cluster_info(cluster, spate)
        stop_all(cluster.nodes)
        print(f"cluster_balance: OK ({time.monotonic() - started:.0f} s)")
    except BaseException:
        print_failure(cluster.nodes)
        raise
    finally:
        for node in cluster.nodes:
            if node.proc and node.proc.poll() is None:
                try:
                    node.proc.send_signal(signal.SIGCONT)
                except OSError:
                    pass
            node.close()


if __name__ == "__main__":
    main()
