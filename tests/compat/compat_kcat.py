# SPDX-License-Identifier: Apache-2.0
"""kcat (librdkafka) against a real spated: produce with keys and headers,
consume from beginning / an offset / the end, metadata -L, offsets by time -Q.
Every record comes back once, in order per partition, with its key, value,
headers and timestamp. Usage: compat_kcat.py SPATED_BINARY"""
import json
import subprocess
import sys
import time

from spated import Spated

FMT = "%p|%o|%k|%s|%h|%T\\n"


def kcat(*args, stdin=None, timeout=30):
    run = subprocess.run(["kcat", *args], input=stdin, capture_output=True, text=True,
                         timeout=timeout)
    assert run.returncode == 0, f"kcat {' '.join(args)} exited {run.returncode}: {run.stderr}"
    return run.stdout


def consume(bs, topic, partition, offset):
    out = kcat("-b", bs, "-C", "-t", topic, "-p", str(partition), "-o", str(offset), "-e",
               "-q", "-f", FMT)
    rows = []
    for line in out.splitlines():
        p, o, k, v, h, ts = line.split("|")
        rows.append({"p": int(p), "o": int(o), "k": k, "v": v, "h": h, "ts": int(ts)})
    return rows


def main(binary):
    # Topics are auto-created on first use, with 2 partitions here.
    with Spated(binary, ["--num-partitions", "2"]) as broker:
        bs = broker.bootstrap
        topic = "kcat-compat"
        kcat("-b", bs, "-L")  # metadata works before the topic exists
        t0 = int(time.time() * 1000)
        sent = {0: [], 1: []}
        for partition in (0, 1):
            lines = []
            for i in range(20):
                key, value = f"key-{partition}-{i}", f"value {partition} {i} " + "x" * i
                lines.append(f"{key}\t{value}")
                sent[partition].append((key, value))
            kcat("-b", bs, "-P", "-t", topic, "-p", str(partition), "-K", "\t",
                 "-H", "app=spate", "-H", f"part={partition}", "-X", "acks=all",
                 stdin="\n".join(lines) + "\n")
        t1 = int(time.time() * 1000)

        meta = json.loads(kcat("-b", bs, "-L", "-J", "-t", topic))
        topics = {t["topic"]: t for t in meta["topics"]}
        assert topic in topics, meta
        parts = sorted(p["partition"] for p in topics[topic]["partitions"])
        assert parts == [0, 1], parts

        for partition in parts:
            rows = consume(bs, topic, partition, "beginning")
            want = sent[partition]
            assert [(r["k"], r["v"]) for r in rows] == want, (partition, rows[:3], want[:3])
            assert [r["o"] for r in rows] == list(range(len(want))), rows
            for r in rows:
                assert r["h"] == f"app=spate,part={partition}", r
                assert t0 - 1000 <= r["ts"] <= t1 + 1000, (r, t0, t1)
            # From an offset, and relative to the end.
            from_5 = consume(bs, topic, partition, 5)
            assert [r["o"] for r in from_5] == list(range(5, len(want))), from_5
            assert consume(bs, topic, partition, "end") == []
            last2 = consume(bs, topic, partition, -2)
            assert [r["o"] for r in last2] == [len(want) - 2, len(want) - 1], last2
            # Offsets by time: before everything -> 0; after everything -> -1 (none).
            q = kcat("-b", bs, "-Q", "-t", f"{topic}:{partition}:{t0 - 10000}")
            assert f"[{partition}] offset 0" in q, q
            q = kcat("-b", bs, "-Q", "-t", f"{topic}:{partition}:{t1 + 600000}")
            assert f"[{partition}] offset -1" in q, q
    print("compat kcat: ok")


if __name__ == "__main__":
    main(sys.argv[1])
