# SPDX-License-Identifier: Apache-2.0
"""A broker is drained and removed from the cluster (docs/cluster.md,
"Removing a broker"): three real spated brokers are the --seeds (nodes 0-2,
the controller's voters) and a fourth (node 3) joins and takes replicas of a
topic placed over four brokers. `spate cluster remove 3` is refused while it
holds replicas, and so are a voter and an unknown id; `spate cluster drain 3`
then `spate cluster remove 3` succeed. Broker 3 logs that it was removed, the
controller leader takes it out of the controller group's learners, every seed
stops connecting to it; stopped, Metadata and `spate cluster info` from every
seed list brokers 0-2 only, and producing and consuming go on. Restarted with
the same id it joins again as a new broker.
Usage: cluster_remove.py SPATED_BINARY SPATE_BINARY"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import cluster as rig  # noqa: E402  (tests/integration/cluster.py: its helpers)

TOPIC = "held"
PARTITIONS = 6
SPATE = None


def spate(bootstrap, *args, timeout=60):
    r = subprocess.run([SPATE, "-b", bootstrap, *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def broker_ids(bootstrap):
    md = AdminClient(rig.quiet({"bootstrap.servers": bootstrap})).list_topics(timeout=10)
    return sorted(md.brokers)


def replicas(bootstrap):
    got = rig.leaders(bootstrap, TOPIC)
    return {p: v[1] for p, v in got.items()} if got else None


def refused(boot, broker, expect):
    code, out, err = spate(boot, "cluster", "remove", str(broker))
    assert code == 1, (broker, code, out, err)
    assert expect in err, (broker, err)
    print(f"remove {broker} refused: {err.strip()}")


def main():
    global SPATE
    binary, SPATE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    cluster = rig.Cluster(binary, n=4, voters=3)
    seeds, joiner = cluster.nodes[:3], cluster.nodes[3]
    started = time.monotonic()
    try:
        for node in seeds:
            node.start()
        boot = ",".join(n.bootstrap for n in seeds)
        rig.wait_for("three registered seeds", lambda: rig.all_registered(seeds, 3), timeout=30)
        joiner.start()
        rig.wait_for("four registered brokers", lambda: rig.all_registered(cluster.nodes, 4),
                     timeout=30)
        admin = AdminClient(rig.quiet({"bootstrap.servers": boot}))
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
        got = rig.wait_for("leaders of " + TOPIC, lambda: rig.all_led(boot, TOPIC, PARTITIONS))
        assert any(3 in v[1] for v in got.values()), got
        rig.TOPIC, rig.PARTITIONS = TOPIC, PARTITIONS  # rig.produce writes rig.TOPIC
        acked = set()
        rig.produce(boot, 0, 300, acked)
        print(f"{TOPIC} over four brokers, 300 records {time.monotonic() - started:.1f} s in")

        # Refused: replicas on it, a voter, an unknown id. Nothing changes.
        refused(boot, 3, "drain it first")
        refused(boot, 0, "controller voter")
        refused(boot, 7, "BROKER_ID_NOT_REGISTERED")
        assert broker_ids(seeds[0].bootstrap) == [0, 1, 2, 3]

        code, out, err = spate(boot, "cluster", "drain", "3", "--timeout", "45", timeout=60)
        assert code == 0, (out, err)
        rig.wait_for(f"{TOPIC} off broker 3",
                     lambda: (lambda r: r and len(r) == PARTITIONS and
                              all(3 not in v for v in r.values()))(replicas(boot)), timeout=30)
        code, out, err = spate(boot, "cluster", "remove", "3")
        assert code == 0, (out, err)
        assert "broker 3 removed" in out, out
        print(f"drained and removed {time.monotonic() - started:.1f} s in")

        # Still running, broker 3 finds out; the leader drops it from the
        # learners; every seed stops connecting to it.
        rig.wait_for("broker 3 to log its removal",
                     lambda: "node 3 was removed from the cluster" in joiner.log())
        rig.wait_for("the leader to drop learner 3", lambda: any(
            "node 3 is no longer registered: removed from the controller group's learners"
            in n.log() for n in seeds))
        rig.wait_for("every seed to stop connecting to 3", lambda: all(
            "node 3 is no longer registered: no longer connecting to it" in n.log()
            for n in seeds))
        print(next(line for line in joiner.log().splitlines()
                   if "node 3 was removed from the cluster" in line))
        code = joiner.stop()
        assert code == 0, f"broker 3 exited {code}:\n{joiner.log()[-3000:]}"

        for node in seeds:
            rig.wait_for(f"broker {seeds.index(node)}'s Metadata to list 0-2",
                         lambda n=node: broker_ids(n.bootstrap) == [0, 1, 2])
            assert rig.metrics(node).get("spate_cluster_brokers") == 3
            code, out, err = spate(node.bootstrap, "cluster", "info", "--json")
            assert code == 0, err
            ids = sorted(b["id"] for b in json.loads(out)["brokers"])
            assert ids == [0, 1, 2], out
        rig.produce(boot, 300, 300, acked)
        rig.read_all(boot, acked)
        assert len(acked) == 600
        print(f"600 records read back without broker 3 {time.monotonic() - started:.1f} s in")

        # Restarted with the same id (a new incarnation): a new join.
        joiner.start()
        rig.wait_for("broker 3 registered again", lambda: rig.all_registered(cluster.nodes, 4),
                     timeout=30)
        rig.wait_for("Metadata to list broker 3 again",
                     lambda: broker_ids(seeds[0].bootstrap) == [0, 1, 2, 3])
        rig.stop_all(cluster.nodes)
        print(f"cluster_remove: OK ({time.monotonic() - started:.1f} s)")
    except BaseException:
        rig.print_failure(cluster.nodes)
        raise
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
