# SPDX-License-Identifier: Apache-2.0
"""Operating a local cluster (issue 15): scripts/cluster up/status/down and
`spate cluster info` against three real spated brokers. Refusals first (bad
N, a busy port, a missing binary), then `up 3`, a topic with replication
factor 3 and records in it, `cluster info --json` (3 brokers, a leader and 3
replicas per partition, end offsets from the leaders), SIGKILL of the leader
of partition 0 (info says it is down, then gone, and every partition has a
new leader with its records intact), `down`, and no broker left behind.
`spate produce`, `consume`, `topic describe`, `topic delete-records` and `bench` are
pointed at a broker that does not lead the partition (they find its leader, as
Kafka clients do), and `spate produce` run right after the kill follows
partition 0 to its new leader.
Usage: cluster_ops.py SPATED_BINARY SPATE_BINARY"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "cluster")
SPATED = SPATE = None
RECORDS_PER_PARTITION = 20
AFTER_KILL = 30  # records produced to partition 0 right after its leader's SIGKILL


def run(args, expect=0, timeout=120):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == expect, (f"{' '.join(args)}: exit {r.returncode}, want {expect}\n"
                                    f"{r.stdout}{r.stderr}")
    return r


def cluster(*args, expect=0):
    return run(["/usr/bin/python3", SCRIPT, *args], expect=expect)



def spate(bootstrap, *args, expect=0, stdin=None):
    r = subprocess.run([SPATE, "-b", bootstrap, *args], capture_output=True, text=True,
                       timeout=60, input=stdin)
    assert r.returncode == expect, (f"spate {' '.join(args)}: exit {r.returncode}\n"
                                    f"{r.stdout}{r.stderr}")
    return r


def info(bootstrap):
    return json.loads(spate(bootstrap, "cluster", "info", "--json").stdout)


def free_base_port():
    """A base port whose nine ports (3 brokers x client, cluster, admin) are free."""
    for _ in range(200):
        base = random.randrange(20000, 60000, 10)
        socks = []
        try:
            for i in range(3):
                for k in range(3):
                    s = socket.socket()
                    socks.append(s)
                    s.bind(("127.0.0.1", base + 10 * i + k))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def pids_of(d):
    out = {}
    for i in range(3):
        try:
            out[i] = int(open(os.path.join(d, f"broker-{i}.pid")).read())
        except (OSError, ValueError):
            pass
    return out


def alive(pid):
    """True for a live process that is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def spated_in(d):
    """Pids of every live process whose command line mentions directory d."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
        except OSError:
            continue
        if os.fsencode(d) in cmdline and b"spated" in cmdline and alive(int(entry)):
            found.append(int(entry))
    return found


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout} s; last: {last}")


def refusals(d, base):
    r = cluster("up", "0", "--dir", d, "--spated", SPATED, expect=1)
    assert "N must be from 1 to 9" in r.stderr, r.stderr
    r = cluster("up", "10", "--dir", d, "--spated", SPATED, expect=1)
    assert "N must be from 1 to 9" in r.stderr, r.stderr
    r = cluster("up", "3", "--dir", d, "--base-port", str(base), "--spated",
                os.path.join(d, "nope"), expect=1)
    assert "no such executable" in r.stderr, r.stderr
    r = cluster("up", "3", "--dir", d, "--base-port", "65530", "--spated", SPATED, expect=1)
    assert "must lie in 1024..65535" in r.stderr, r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 11))
        s.listen()
        r = cluster("up", "3", "--dir", d, "--base-port", str(base), "--spated", SPATED, expect=1)
        assert f"{base + 11} (cluster port of broker 1)" in r.stderr, r.stderr
    assert spated_in(d) == [], spated_in(d)
    r = cluster("status", "--dir", d, expect=1)
    print("  refused: N of 0 and 10, a missing binary, ports past 65535, a busy port")


def start(d, base):
    t0 = time.monotonic()
    r = cluster("up", "3", "--dir", d, "--base-port", str(base), "--spated", SPATED)
    bootstrap = r.stdout.strip().splitlines()[-1]
    assert bootstrap == ",".join(f"127.0.0.1:{base + 10 * i}" for i in range(3)), r.stdout
    pids = pids_of(d)
    assert len(pids) == 3 and all(alive(p) for p in pids.values()), pids
    for i in range(3):
        assert os.path.isdir(os.path.join(d, f"broker-{i}")), i
        assert os.path.getsize(os.path.join(d, f"broker-{i}.log")) > 0, i
    s = cluster("status", "--dir", d)
    assert s.stdout.count("serving") == 3, s.stdout
    again = cluster("up", "3", "--dir", d, "--base-port", str(base), "--spated", SPATED, expect=1)
    assert "already running" in again.stderr, again.stderr
    other = cluster("up", "2", "--dir", d, "--spated", SPATED, expect=1)
    assert "holds a cluster of 3 broker(s)" in other.stderr, other.stderr
    print(f"  up 3 in {time.monotonic() - t0:.1f} s; status: 3 serving; a second up refused")
    return bootstrap, pids


def fill(bootstrap):
    spate(bootstrap, "topic", "create", "orders", "-p", "3", "-r", "3")
    # Leaders are elected after the topic is created: wait for all three.
    state = wait_for("leaders for orders", lambda: settled(info(bootstrap), range(3)), 30)
    assert state["cluster_id"] and state["controller"] in (0, 1, 2), state
    assert [b["id"] for b in state["brokers"]] == [0, 1, 2], state["brokers"]
    assert all(b["answered"] and b["error"] is None for b in state["brokers"]), state
    address = {b["id"]: b["address"] for b in state["brokers"]}
    # A new leader starts its term with a no-op batch, which takes an offset;
    # clients are told of it only once records follow (docs/cluster.md).
    before = [p["end_offset"] for p in partitions(state)]
    for p in partitions(state):
        assert sorted(p["replicas"]) == [0, 1, 2], p
        lines = "".join(f"k{i}:p{p['partition']}-{i}\n" for i in range(RECORDS_PER_PARTITION))
        spate(address[(p["leader"] + 1) % 3], "produce", "orders", "-p", str(p["partition"]),
              "-K:", "--acks", "all", stdin=lines)
    state = info(bootstrap)
    ends = [p["end_offset"] for p in partitions(state)]
    assert all(e - b in (RECORDS_PER_PARTITION, RECORDS_PER_PARTITION + 1)
               for e, b in zip(ends, before)), (before, state)
    check_records(state)
    # Every partition's offsets, each from its leader, through one broker.
    rows = [line.split() for line in spate(address[0], "topic", "describe", "orders")
            .stdout.splitlines()[2:5]]
    assert [int(r[4]) for r in rows] == ends, (rows, ends)
    # spate bench through one broker: each partition's connection goes to
    # its leader (the topic is new: the bench waits for its leaders).
    spate(address[0], "topic", "create", "benchy", "-p", "3", "-r", "3")
    made = json.loads(spate(address[0], "--format", "json", "bench", "produce", "-t", "benchy",
                            "-c", "3", "-n", "3000", "-s", "100", "--acks", "all").stdout)
    read = json.loads(spate(address[0], "--format", "json", "bench", "consume", "-t", "benchy",
                            "-c", "2").stdout)
    assert made["records"] >= 3000 and read["records"] == made["records"], (made, read)
    # A group of 2: the group's calls go to its coordinator, fetches to leaders.
    grouped = json.loads(spate(address[0], "--format", "json", "bench", "consume", "-t", "benchy",
                               "-c", "2", "--group", "benchers").stdout)
    assert grouped["records"] == made["records"], (made, grouped)
    # DeleteRecords goes to each partition's leader too.
    for part in range(3):
        out = spate(address[0], "topic", "delete-records", "benchy", "-p", str(part),
                    "--before", "5").stdout
        assert f"benchy/{part} now starts at offset 5" in out, out
    text = spate(bootstrap, "cluster", "info").stdout
    assert "TOPIC" in text and "orders" in text and text.count("answered") == 3, text
    print(f"  topic orders (3 partitions x 3 replicas) with {3 * RECORDS_PER_PARTITION} records;"
          f" leaders {[p['leader'] for p in partitions(state)]}, end offsets {ends}")
    return state


def check_records(state, more=0):
    """Every partition's records, read through a broker that does not lead it,
    are the ones produced; partition 0 has `more` after the first ones."""
    address = {b["id"]: b["address"] for b in state["brokers"]}
    ids = sorted(address)
    for p in partitions(state):
        other = ids[(ids.index(p["leader"]) + 1) % len(ids)]
        out = spate(address[other], "consume", "orders", "-p", str(p["partition"]),
                    "-o", "kv").stdout
        want = "".join(f"k{i}\tp{p['partition']}-{i}\n" for i in range(RECORDS_PER_PARTITION))
        if p["partition"] == 0:
            want += "".join(f"a{i}\tafter-{i}\n" for i in range(more))
        assert out == want, (p, out)
    # All partitions at once, through one broker.
    out = spate(address[ids[0]], "consume", "orders", "-o", "kv").stdout
    assert len(out.splitlines()) == 3 * RECORDS_PER_PARTITION + more, out


def partitions(state):
    return [p for p in state["partitions"] if p["topic"] == "orders"]


def settled(state, live):
    """Every orders partition led by a live broker, with no error."""
    ps = partitions(state)
    ok = len(ps) == 3 and all(p["leader"] in live and p["error"] is None and
                              p["end_offset"] is not None for p in ps)
    return ok, state


def fail_over(d, bootstrap, state):
    victim = partitions(state)[0]["leader"]
    pid = pids_of(d)[victim]
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for("the victim to die", lambda: (not alive(pid), pid), 10)
    # Right away: the victim is still listed (not fenced yet) or named as an
    # unreachable bootstrap address; either way a clear line, no crash.
    now = info(bootstrap)
    down = [b for b in now["brokers"] + now["unreachable"]
            if b["address"] == f"127.0.0.1:{state_port(state, victim)}"]
    assert len(down) == 1 and not down[0]["answered"], now
    assert "Connection refused" in down[0]["error"], down
    text = spate(bootstrap, "cluster", "info").stdout
    assert "DOWN: cannot connect" in text or "is not a listed broker" in text, text
    survivors = [i for i in range(3) if i != victim]
    # Right away, to partition 0 through a survivor: Metadata still names the
    # victim (or no leader); the producer retries until the new leader takes it.
    address = {b["id"]: b["address"] for b in state["brokers"]}
    lines = "".join(f"a{i}:after-{i}\n" for i in range(AFTER_KILL))
    r = spate(address[survivors[0]], "produce", "orders", "-p", "0", "-K:", "--acks", "all",
              stdin=lines)
    assert f"produced {AFTER_KILL} records" in r.stderr, r.stderr

    def gone():
        s = info(bootstrap)
        ok, _ = settled(s, survivors)
        ok = ok and [b["id"] for b in s["brokers"]] == survivors and all(
            victim in p["offline"] for p in partitions(s))
        return ok, s

    after = wait_for("the victim fenced and new leaders", gone, 60)
    took = time.monotonic() - t0
    ends = [p["end_offset"] for p in partitions(after)]
    assert all(e >= p["end_offset"] for e, p in zip(ends, partitions(state))), (state, after)
    check_records(after, more=AFTER_KILL)
    assert after["unreachable"] and not after["unreachable"][0]["answered"], after
    s = cluster("status", "--dir", d, expect=1)
    assert s.stdout.count("serving") == 2 and "stopped" in s.stdout, s.stdout
    print(f"  SIGKILL of broker {victim} (leader of orders/0): after {took:.1f} s it is "
          f"gone, leaders {[p['leader'] for p in partitions(after)]}, end offsets {ends}")


def state_port(state, broker):
    address = {b["id"]: b["address"] for b in state["brokers"]}
    return int(address[broker].rsplit(":", 1)[1])


def stop(d, bootstrap):
    pids = [p for p in pids_of(d).values() if alive(p)]
    t0 = time.monotonic()
    r = cluster("down", "--dir", d)
    assert "stopped" in r.stdout, r.stdout
    assert not any(alive(p) for p in pids), pids
    assert spated_in(d) == [], spated_in(d)
    assert pids_of(d) == {}, pids_of(d)
    again = cluster("down", "--dir", d)
    assert "no broker" in again.stdout, again.stdout
    gone = spate(bootstrap, "cluster", "info", expect=1)
    assert "cannot connect to 127.0.0.1:" in gone.stderr, gone.stderr
    print(f"  down: {len(pids)} brokers stopped in {time.monotonic() - t0:.1f} s; none left")


def main():
    global SPATED, SPATE
    SPATED, SPATE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spate-cluster-ops-") as tmp:
        d = os.path.join(tmp, "cluster")
        base = free_base_port()
        try:
            refusals(d, base)
            bootstrap, _ = start(d, base)
            state = fill(bootstrap)
            fail_over(d, bootstrap, state)
            stop(d, bootstrap)
        except BaseException:
            for i in range(3):
                log = os.path.join(d, f"broker-{i}.log")
                if os.path.exists(log):
                    tail = "".join(open(log, errors="replace").readlines()[-30:])
                    print(f"--- {log} (tail)\n{tail}")
            raise
        finally:
            # Whatever failed above, no broker outlives the test.
            for pid in spated_in(d):
                os.kill(pid, signal.SIGKILL)
    print(f"cluster_ops: ok in {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
