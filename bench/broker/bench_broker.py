#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The broker's figures on this machine (issue 4 targets), medians of
--runs runs, each beside a raw baseline measured in the same run:

  produce   spate bench produce, 1 KiB records, acks=all, flush.policy=always
            baseline: write() + fdatasync() per 1 MiB on the same directory
  consume   spate bench consume from the start of what was produced
  latency   spate bench produce --rate 1000 (one record per request), p99
  start-up  exec to the first ApiVersions answer, empty data directory
  idle RSS  spated 1 s after start-up

Usage: bench/broker/bench_broker.py [--build build] [--dir DIR] [--runs 3] [--seconds 10]
The data directory defaults to ./build/bench-data (on disk, not tmpfs)."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "compat"))
from spated import Spated  # noqa: E402


def raw_write_baseline(directory, total=512 << 20):
    path = os.path.join(directory, "raw-baseline")
    block = b"x" * (1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.monotonic()
    written = 0
    while written < total:
        written += os.write(fd, block)
        os.fdatasync(fd)
    elapsed = time.monotonic() - start
    os.close(fd)
    os.remove(path)
    return written / elapsed / 1e6


def spate(build, broker, *args):
    out = subprocess.run([os.path.join(build, "bin", "spate"), "-b", broker.bootstrap, "--format",
                          "json", *args], capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout)


def startup(build, directory):
    data = os.path.join(directory, "startup")
    shutil.rmtree(data, ignore_errors=True)
    ready = os.path.join(directory, "startup.ready")
    if os.path.exists(ready):
        os.remove(ready)
    start = time.monotonic()
    proc = subprocess.Popen([os.path.join(build, "bin", "spated"), "--listen", "127.0.0.1:0",
                             "--admin-listen", "127.0.0.1:0", "--data-dir", data,
                             "--ready-file", ready], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(ready):
            time.sleep(0.0005)
        port = int(dict(line.split("=") for line in open(ready).read().split())["port"])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(bytes.fromhex("0000000a00120000000000010000"))  # ApiVersions v0
        s.recv(4096)
        elapsed = (time.monotonic() - start) * 1000
        s.close()
        time.sleep(1.0)
        rss = int([line for line in open(f"/proc/{proc.pid}/status")
                   if line.startswith("VmRSS")][0].split()[1])
        return elapsed, rss / 1024
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", default=os.path.join("build", "bench-data"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rows = {k: [] for k in ["produce", "baseline", "consume", "p50", "p99", "p999", "startup",
                            "rss"]}
    for run in range(args.runs):
        rows["baseline"].append(raw_write_baseline(args.dir))
        data = os.path.join(args.dir, "data")
        shutil.rmtree(data, ignore_errors=True)
        broker = Spated(os.path.join(args.build, "bin", "spated"), data_dir=data).start()
        try:
            p = spate(args.build, broker, "bench", "produce", "-t", "tput", "-s", "1024",
                      "-d", str(args.seconds), "--acks", "all")
            c = spate(args.build, broker, "bench", "consume", "-t", "tput")
            lat = spate(args.build, broker, "bench", "produce", "-t", "lat", "-s", "1024",
                        "-d", str(args.seconds), "--rate", "1000", "--acks", "all")
        finally:
            broker.stop()
            broker.close()
            shutil.rmtree(data, ignore_errors=True)
        rows["produce"].append(p["mb_per_s"])
        rows["consume"].append(c["mb_per_s"])
        rows["p50"].append(lat["latency_ms"]["p50"])
        rows["p99"].append(lat["latency_ms"]["p99"])
        rows["p999"].append(lat["latency_ms"]["p999"])
        ms, rss = startup(args.build, args.dir)
        rows["startup"].append(ms)
        rows["rss"].append(rss)
        print(f"run {run + 1}: produce {p['mb_per_s']:.0f} MB/s (raw {rows['baseline'][-1]:.0f}), "
              f"consume {c['mb_per_s']:.0f} MB/s, p99 at 1000/s {lat['latency_ms']['p99']:.3f} ms, "
              f"start-up {ms:.1f} ms, idle RSS {rss:.1f} MiB", flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\nmedians of {args.runs} runs:")
    print(f"  produce, 1 KiB records, acks=all:  {med['produce']:.0f} MB/s "
          f"({med['produce'] / med['baseline']:.2f} of raw write+fdatasync/MiB {med['baseline']:.0f} MB/s; target >= 300)")
    print(f"  consume from the start:            {med['consume']:.0f} MB/s (target >= 800)")
    print(f"  produce latency at 1,000 records/s: p50 {med['p50']:.3f} ms, p99 {med['p99']:.3f} ms, "
          f"p999 {med['p999']:.3f} ms (target p99 <= 2 ms)")
    print(f"  start-up to serving, empty dir:    {med['startup']:.1f} ms (target < 200)")
    print(f"  idle RSS:                          {med['rss']:.1f} MiB (target < 40)")


if __name__ == "__main__":
    main()
