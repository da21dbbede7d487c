# SPDX-License-Identifier: Apache-2.0
"""A broker that is not a seed joins a running cluster (docs/cluster.md,
"Joining a cluster"): three real spated brokers are the --seeds (the
controller's voters) and hold a topic; a fourth, started with --node-id 3 and
the same --seeds, registers (every broker's spate_cluster_brokers_alive
counts 4, `spate cluster info` through it lists it), follows the controller's
log as a learner (Metadata from it lists every topic and broker), takes
replicas of a topic created afterwards with replication factor 3 over four
brokers, and producing and consuming with only it as the bootstrap works;
`spate topic reassign` moves a partition onto it and `spate cluster drain 3`
moves everything off it again. Killed, it takes no controller quorum with it:
the three voters keep one controller leader and still create topics, and fence
it after --broker-session-timeout-ms (4 s here, not the 9 s default). Every
acknowledged record reads back.
Usage: cluster_join.py SPATED_BINARY SPATE_BINARY"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import cluster as rig  # noqa: E402  (tests/integration/cluster.py: its helpers)

EARLY = "early"  # created before broker 3 joins
LATE = "late"    # created after: placed over four brokers
SESSION_MS = 4000  # --broker-session-timeout-ms (below the 9 s default)
LATE_PARTITIONS = 8
SPATE = None


def spate(bootstrap, *args, timeout=120):
    r = subprocess.run([SPATE, "-b", bootstrap, *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def replicas(bootstrap, topic):
    got = rig.leaders(bootstrap, topic)
    return {p: v[1] for p, v in got.items()} if got else None


def folders(node, topic):
    return sorted(os.path.basename(d) for d in glob.glob(os.path.join(node.data_dir, f"{topic}-*")))


def metadata(bootstrap):
    md = AdminClient(rig.quiet({"bootstrap.servers": bootstrap})).list_topics(timeout=10)
    return sorted(md.brokers), sorted(t for t in md.topics if not t.startswith("__"))


def read_back(bootstrap, acked):
    """Every acknowledged record of LATE, read through `bootstrap` (stops once
    all are seen: Raft's empty entries take offsets, so the end offsets run
    ahead of the records)."""
    c = Consumer(rig.quiet({"bootstrap.servers": bootstrap, "group.id": "cluster-join",
                            "enable.auto.commit": False}))
    c.assign([TopicPartition(LATE, p, 0) for p in range(LATE_PARTITIONS)])
    seen = set()
    deadline = time.monotonic() + 30
    while not acked <= seen and time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is None:
            continue
        if m.error() is not None:
            assert m.error().code() == KafkaError._PARTITION_EOF or m.error().retriable(), m.error()
            continue
        seen.add((m.partition(), m.value().decode()))
    c.close()
    missing = acked - seen
    assert not missing, f"{len(missing)} acknowledged records not read, e.g. {sorted(missing)[:5]}"


def main():
    global SPATE
    binary, SPATE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    cluster = rig.Cluster(binary, n=4, voters=3,
                          extra=["--broker-session-timeout-ms", str(SESSION_MS)])
    seeds, joiner = cluster.nodes[:3], cluster.nodes[3]
    started = time.monotonic()
    try:
        for node in seeds:
            node.start()
        boot = ",".join(n.bootstrap for n in seeds)
        rig.wait_for("three registered seeds", lambda: rig.all_registered(seeds, 3), timeout=30)
        admin = AdminClient(rig.quiet({"bootstrap.servers": boot}))
        admin.create_topics([NewTopic(EARLY, 3, 3)])[EARLY].result(30)
        rig.wait_for("leaders of " + EARLY, lambda: rig.all_led(boot, EARLY, 3))

        # Broker 3 joins: registered on every broker, itself included.
        joiner.start()
        rig.wait_for("four registered brokers", lambda: rig.all_registered(cluster.nodes, 4),
                     timeout=30)
        print(f"broker 3 registered {time.monotonic() - started:.1f} s in")
        m = rig.metrics(joiner)
        assert m.get("spate_controller_leader") == 0, m.get("spate_controller_leader")
        # Its Metadata: the whole cluster, the topic created before it came included.
        brokers, topics = rig.wait_for(
            "broker 3's Metadata to list every broker and topic",
            lambda: (lambda b, t: (b, t) if b == [0, 1, 2, 3] and EARLY in t else None)(
                *metadata(joiner.bootstrap)))
        got = rig.wait_for("broker 3's view of " + EARLY,
                           lambda: rig.all_led(joiner.bootstrap, EARLY, 3))
        assert all(v[1] == [0, 1, 2] for v in got.values()), got
        code, out, err = spate(joiner.bootstrap, "cluster", "info", "--json")
        assert code == 0, err
        ids = sorted(b["id"] for b in json.loads(out)["brokers"])
        assert ids == [0, 1, 2, 3], out

        # A topic created now is placed over four brokers: some replicas on 3.
        admin.create_topics([NewTopic(LATE, LATE_PARTITIONS, 3)])[LATE].result(30)
        got = rig.wait_for("leaders of " + LATE,
                           lambda: rig.all_led(joiner.bootstrap, LATE, LATE_PARTITIONS))
        on_three = sorted(p for p, v in got.items() if 3 in v[1])
        assert on_three, got
        rig.wait_for("broker 3's folders of " + LATE,
                     lambda: folders(joiner, LATE) == [f"{LATE}-{p}" for p in on_three])
        # Produce and consume with broker 3 alone as the bootstrap.
        rig.TOPIC, rig.PARTITIONS = LATE, LATE_PARTITIONS  # rig.produce writes rig.TOPIC
        acked = set()
        rig.produce(joiner.bootstrap, 0, 400, acked)
        assert len(acked) == 400
        read_back(joiner.bootstrap, acked)
        print(f"{LATE}: partitions {on_three} on broker 3; 400 records through it "
              f"{time.monotonic() - started:.1f} s in")

        # A reassignment onto broker 3, then a drain off it.
        before = replicas(boot, EARLY)[0]
        target = before[1:] + [3]
        code, out, err = spate(boot, "topic", "reassign", EARLY, "--partition", "0",
                               "--replicas", ",".join(map(str, target)))
        assert code == 0, (out, err)
        rig.wait_for(f"{EARLY} 0 on {target}",
                     lambda: (replicas(boot, EARLY) or {}).get(0) == sorted(target), timeout=30)
        rig.wait_for(f"broker 3's folder of {EARLY}-0",
                     lambda: f"{EARLY}-0" in folders(joiner, EARLY))
        code, out, err = spate(boot, "cluster", "drain", "3", "--timeout", "45", timeout=60)
        assert code == 0, (out, err)
        print(out.strip().splitlines()[-1] + f" ({time.monotonic() - started:.1f} s in)")
        # (The broker asked may apply the last completion a moment after the
        # one the CLI watched.)
        def drained(topic, count):
            now = replicas(boot, topic)
            return now and len(now) == count and all(3 not in r and len(r) == 3
                                                     for r in now.values())
        for topic, count in ((EARLY, 3), (LATE, LATE_PARTITIONS)):
            rig.wait_for(f"{topic} off broker 3", lambda t=topic, c=count: drained(t, c),
                         timeout=10)
        rig.wait_for("broker 3 to drop its folders",
                     lambda: not folders(joiner, EARLY) and not folders(joiner, LATE))
        rig.wait_for("leaders after the drain",
                     lambda: rig.all_led(boot, LATE, LATE_PARTITIONS, exclude=(3,)))
        read_back(boot, acked)

        print(f"everything read back {time.monotonic() - started:.1f} s in")
        # Killed: the voters keep their quorum, create topics and fence it.
        os.kill(joiner.proc.pid, signal.SIGKILL)
        joiner.proc.wait(10)
        admin.create_topics([NewTopic("after", 1, 3)])["after"].result(30)
        rig.wait_for("leaders of after", lambda: rig.all_led(boot, "after", 1))
        print(f"a topic created without broker 3 {time.monotonic() - started:.1f} s in")
        rig.wait_for("broker 3 fenced", lambda: rig.all_registered(seeds, 3), timeout=30)
        # After --broker-session-timeout-ms without a heartbeat (not the 9 s default).
        silent = [int(m.group(1)) for n in seeds for m in re.finditer(
            r"fencing node 3: no heartbeat for (\d+) ms", n.log())]
        assert silent and SESSION_MS <= silent[-1] < 9000, silent
        # Read one broker at a time: an election in between would count 0 or 2.
        rig.wait_for("one controller leader", lambda: sum(
            rig.metrics(n)["spate_controller_leader"] for n in seeds) == 1, timeout=10)
        rig.stop_all(seeds)
        print(f"cluster_join: OK ({time.monotonic() - started:.1f} s)")
    except BaseException:
        rig.print_failure(cluster.nodes)
        raise
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
