#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A three-broker cluster on this machine (issue 15 figures), medians of --runs:

  rf3/rf1   spate bench produce, 1 KiB records, acks=all, to the leader of a
            1-partition topic with replication factor 3, as a ratio of the same
            run against a replication-factor-1 topic on the same broker
  latency   spate bench produce --rate 1000 to the RF=3 topic, p99
  failover  SIGKILL of the RF=3 partition's leader to the first acknowledged
            produce on its successor (a client polling every 20 ms)
  idle CPU  (--idle-partitions N, default 1000) N partitions of RF=3 in one
            topic, no traffic: each broker's CPU over 10 s, as % of one core

Usage: bench/broker/bench_cluster.py [--build build] [--dir DIR] [--runs 3] [--seconds 10]
Data directories under ./build/bench-cluster (on disk, not tmpfs)."""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "compat"))
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from spated import Spated  # noqa: E402


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start_cluster(build, directory, n=3):
    ports = free_ports(n)
    seeds = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports))
    nodes = []
    for i in range(n):
        data = os.path.join(directory, f"node{i}")
        shutil.rmtree(data, ignore_errors=True)
        nodes.append(Spated(os.path.join(build, "bin", "spated"),
                            ["--node-id", str(i), "--seeds", seeds,
                             "--cluster-listen", f"127.0.0.1:{ports[i]}"], data_dir=data).start())
    boot = ",".join(x.bootstrap for x in nodes)
    deadline = time.monotonic() + 30
    while len(AdminClient({"bootstrap.servers": boot}).list_topics(timeout=10).brokers) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("brokers did not register")
        time.sleep(0.1)
    return nodes


def create(nodes, topic, partitions, rf=None, assignment=None):
    admin = AdminClient({"bootstrap.servers": ",".join(x.bootstrap for x in nodes)})
    if assignment is not None:
        t = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment)
    else:
        t = NewTopic(topic, partitions, rf)
    admin.create_topics([t])[topic].result(60)


def leader_of(nodes, topic, partition=0, timeout=30):
    admin = AdminClient({"bootstrap.servers": ",".join(x.bootstrap for x in nodes
                                                       if x.proc.poll() is None)})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = admin.list_topics(topic, timeout=10).topics[topic]
        p = t.partitions.get(partition)
        if p is not None and p.leader >= 0 and nodes[p.leader].proc.poll() is None:
            return p.leader
        time.sleep(0.05)
    raise RuntimeError("no leader")


def bench(build, node, *args):
    out = subprocess.run([os.path.join(build, "bin", "spate"), "-b", node.bootstrap, "--format",
                          "json", "bench", "produce", *args], capture_output=True, text=True,
                         timeout=600, check=True)
    return json.loads(out.stdout)


def failover(nodes, topic):
    """Seconds from the leader's SIGKILL to the first acknowledged produce."""
    victim = leader_of(nodes, topic)
    survivors = ",".join(x.bootstrap for i, x in enumerate(nodes) if i != victim)
    p = Producer({"bootstrap.servers": survivors, "acks": "all", "retry.backoff.ms": 20,
                  "message.timeout.ms": 30000, "topic.metadata.refresh.interval.ms": 100,
                  "log_level": 0})
    p.produce(topic, b"warm", partition=0)
    p.flush(10)
    acked = []
    os.kill(nodes[victim].proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    p.produce(topic, b"after", partition=0,
              on_delivery=lambda err, msg: acked.append((err, time.monotonic())))
    while not acked and time.monotonic() - killed < 60:
        p.poll(0.02)
    nodes[victim].proc.wait(10)
    err, at = acked[0]
    assert err is None, err
    return at - killed


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(node, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{node.admin_port}/metrics",
                                  timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def settle(nodes, timeout=120):
    """Until every partition has a reported leader and the controller log has
    been still for 3 s (leader reports, one command per partition, are done)."""
    deadline = time.monotonic() + timeout
    last, still_since = None, time.monotonic()
    while time.monotonic() < deadline:
        leaderless = metric(nodes[0], "spate_cluster_partitions_leaderless")
        index = metric(nodes[0], "spate_controller_applied_index")
        if index != last:
            last, still_since = index, time.monotonic()
        if leaderless == 0 and time.monotonic() - still_since >= 3:
            return
        time.sleep(0.2)
    raise RuntimeError("the cluster did not settle")


def idle_cpu(nodes, seconds=10):
    before = [cpu_seconds(x.proc.pid) for x in nodes]
    time.sleep(seconds)
    after = [cpu_seconds(x.proc.pid) for x in nodes]
    return [100 * (a - b) / seconds for a, b in zip(after, before)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", default=os.path.join("build", "bench-cluster"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--idle-partitions", type=int, default=1000)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rows = {k: [] for k in ["rf3", "rf1", "ratio", "p50", "p99", "failover", "idle"]}
    for run in range(args.runs):
        nodes = start_cluster(args.build, args.dir)
        try:
            create(nodes, "rf3", 1, 3)
            leader = leader_of(nodes, "rf3")
            create(nodes, "rf1", None, assignment=[[leader]])
            leader_of(nodes, "rf1")
            # Alternate, RF=1 first: the page cache and the disk see the same load.
            one = bench(args.build, nodes[leader], "-t", "rf1", "-s", "1024", "-d",
                        str(args.seconds), "--acks", "all", "--partitions", "1")
            three = bench(args.build, nodes[leader], "-t", "rf3", "-s", "1024", "-d",
                          str(args.seconds), "--acks", "all", "--partitions", "1")
            lat = bench(args.build, nodes[leader], "-t", "rf3", "-s", "1024", "-d",
                        str(args.seconds), "--rate", "1000", "--acks", "all", "--partitions", "1")
            rows["rf1"].append(one["mb_per_s"])
            rows["rf3"].append(three["mb_per_s"])
            rows["ratio"].append(three["mb_per_s"] / one["mb_per_s"])
            rows["p50"].append(lat["latency_ms"]["p50"])
            rows["p99"].append(lat["latency_ms"]["p99"])
            rows["failover"].append(failover(nodes, "rf3"))
            print(f"run {run + 1}: RF=3 {three['mb_per_s']:.0f} MB/s, RF=1 {one['mb_per_s']:.0f} "
                  f"MB/s (ratio {rows['ratio'][-1]:.2f}), p99 at 1000/s "
                  f"{lat['latency_ms']['p99']:.2f} ms, failover {rows['failover'][-1]:.2f} s",
                  flush=True)
        finally:
            for x in nodes:
                x.close()
    if args.idle_partitions > 0:
        nodes = start_cluster(args.build, args.dir)
        try:
            create(nodes, "idle", args.idle_partitions, 3)
            settle(nodes)
            rows["idle"] = idle_cpu(nodes)
            print(f"idle, {args.idle_partitions} partitions of RF=3: "
                  + ", ".join(f"{c:.1f} %" for c in rows["idle"]), flush=True)
        finally:
            for x in nodes:
                x.close()
    med = {k: statistics.median(v) for k, v in rows.items() if v}
    print(f"\nmedians of {args.runs} runs:")
    print(f"  produce RF=3 acks=all: {med['rf3']:.0f} MB/s, RF=1 {med['rf1']:.0f} MB/s, "
          f"ratio {med['ratio']:.2f} (target >= 0.5)")
    print(f"  RF=3 latency at 1,000 records/s: p50 {med['p50']:.2f} ms, p99 {med['p99']:.2f} ms")
    print(f"  leader SIGKILL to first acknowledged produce: {med['failover']:.2f} s")
    if rows["idle"]:
        print(f"  idle CPU per broker, {args.idle_partitions} partitions RF=3: max "
              f"{max(rows['idle']):.1f} % of a core (target < 5)")


if __name__ == "__main__":
    main()
