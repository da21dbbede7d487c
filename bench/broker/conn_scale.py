#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Connection scale (issue 12, "Must show"): spated with 1,000 partitions and
10,000 idle client connections keeps its RSS below 256 MiB, and a producer's
p99 stays within 2x of the same broker's without those connections, in the
same run:

  1. start spated (--max-connections 12000), create 10 topics x 100 partitions;
  2. RSS; `spate bench produce --rate 1000` (one 1 KiB record per request,
     acks=all): the idle broker's p50/p99;
  3. open 10,000 connections, each sends one ApiVersions and reads the answer,
     then stays open and silent; RSS; the same bench again;
  4. close them; the same bench a third time (the idle figure, after).

Usage: bench/broker/conn_scale.py [--build build] [--dir DIR] [--connections 10000]
       [--partitions 1000] [--seconds 10]
The data directory defaults to ./build/bench-data (on disk, not tmpfs)."""
import argparse
import json
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "compat"))
from spated import Spated  # noqa: E402


def spate(build, broker, *args, timeout=600):
    out = subprocess.run([os.path.join(build, "bin", "spate"), "-b", broker.bootstrap, "--format",
                          "json", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"spate {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip().startswith("{") else out.stdout


def latency(build, broker, seconds, run):
    r = spate(build, broker, "bench", "produce", "-t", f"lat{run}", "-s", "1024",
              "-d", str(seconds), "--rate", "1000", "--acks", "all")
    return r["latency_ms"]


def open_idle(port, count):
    """`count` connections that each get one ApiVersions answer, then stay silent."""
    frame = bytes.fromhex("0000000a00120000000000010000")  # ApiVersions v0
    conns = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(frame)
        conns.append(s)
        if i % 500 == 499:  # read what is answered so far: bounded socket buffers
            for c in conns[i - 499:i + 1]:
                read_frame(c)
    for c in conns[len(conns) - len(conns) % 500:]:
        read_frame(c)
    return conns


def read_frame(s):
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            raise RuntimeError("connection closed by spated")
        head += chunk
    size = struct.unpack(">i", head)[0]
    body = b""
    while len(body) < size:
        chunk = s.recv(size - len(body))
        if not chunk:
            raise RuntimeError("connection closed inside a frame")
        body += chunk
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", default=os.path.join("build", "bench-data"))
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--partitions", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 256
    if soft < need:
        if hard < need:
            sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    os.makedirs(args.dir, exist_ok=True)
    data = os.path.join(args.dir, "conn-scale")
    shutil.rmtree(data, ignore_errors=True)
    broker = Spated(os.path.join(args.build, "bin", "spated"),
                    ["--max-connections", str(args.connections + 2000), "--log-level", "warn"],
                    data_dir=data)
    broker.start()
    try:
        topics = max(1, args.partitions // 100)
        start = time.monotonic()
        for t in range(topics):
            spate(args.build, broker, "topic", "create", f"scale{t}", "-p",
                  str(args.partitions // topics))
        print(f"{topics} topics, {args.partitions} partitions created in "
              f"{time.monotonic() - start:.1f} s; RSS {broker.rss_kib() / 1024:.1f} MiB",
              flush=True)
        idle = latency(args.build, broker, args.seconds, 0)
        rss_idle = broker.rss_kib() / 1024
        print(f"idle broker:           RSS {rss_idle:6.1f} MiB, p50 {idle['p50']:.3f} ms, "
              f"p99 {idle['p99']:.3f} ms, p999 {idle['p999']:.3f} ms", flush=True)
        start = time.monotonic()
        conns = open_idle(broker.port, args.connections)
        opened = time.monotonic() - start
        time.sleep(1.0)
        rss_conns = broker.rss_kib() / 1024
        loaded = latency(args.build, broker, args.seconds, 1)
        rss_conns = max(rss_conns, broker.rss_kib() / 1024)
        print(f"{args.connections} idle connections (opened in {opened:.1f} s): RSS "
              f"{rss_conns:6.1f} MiB, p50 {loaded['p50']:.3f} ms, p99 {loaded['p99']:.3f} ms, "
              f"p999 {loaded['p999']:.3f} ms", flush=True)
        for c in conns:
            c.close()
        time.sleep(1.0)
        after = latency(args.build, broker, args.seconds, 2)
        print(f"idle again:            RSS {broker.rss_kib() / 1024:6.1f} MiB, "
              f"p50 {after['p50']:.3f} ms, p99 {after['p99']:.3f} ms, "
              f"p999 {after['p999']:.3f} ms", flush=True)
        base = max(idle["p99"], after["p99"])
        ratio = loaded["p99"] / min(idle["p99"], after["p99"])
        print(f"\nRSS with {args.connections} connections and {args.partitions} partitions: "
              f"{rss_conns:.1f} MiB (target < 256) {'ok' if rss_conns < 256 else 'MISSED'}")
        print(f"p99 with connections / idle p99: {ratio:.2f} "
              f"(idle {min(idle['p99'], after['p99']):.3f}-{base:.3f} ms; target <= 2) "
              f"{'ok' if ratio <= 2 else 'MISSED'}")
        code = broker.stop()
        if code != 0:
            raise RuntimeError(f"spated exited with {code}")
    finally:
        broker.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
