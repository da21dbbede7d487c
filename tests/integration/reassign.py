# SPDX-License-Identifier: Apache-2.0
"""Replica movement on four real spated brokers (--seeds of all four): under
acks=all produce load, `spate topic reassign` moves a partition off one of
its brokers to the fourth (confluent-kafka 1.7's AdminClient has no
alter_partition_reassignments, so the CLI sends AlterPartitionReassignments),
`spate topic reassignments` lists it while pending, a second move completes
through the restart (SIGKILL) of its joining broker, which reopens its replica
as a learner, and `spate cluster drain 1` moves every replica off broker 1. Then every acknowledged record reads back,
the metadata names no replica on the drained broker, and neither the drained
broker nor the one a partition left holds the partition folders. Last, a move
with no write after it leaves a log ending in Raft membership entries: a
kafka-python consumer reads to the end with no lag.
Usage: reassign.py SPATED_BINARY SPATE_BINARY"""
import glob
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402
from kafka.structs import TopicPartition  # noqa: E402

import cluster as rig  # noqa: E402  (tests/integration/cluster.py: its helpers)

TOPIC = "moving"
PARTITIONS = 3
rig.TOPIC = TOPIC  # read_all reads rig.TOPIC and rig.PARTITIONS
rig.PARTITIONS = PARTITIONS
SPATE = None


def spate(bootstrap, *args, timeout=120):
    r = subprocess.run([SPATE, "-b", bootstrap, *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


class Load:
    """A producer thread: unique values, acks=all, until stopped."""

    def __init__(self, bootstrap):
        self.acked = set()
        self.errors = []
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._producer = Producer(rig.quiet({"bootstrap.servers": bootstrap, "acks": "all",
                                             "message.timeout.ms": 60000,
                                             "retry.backoff.ms": 100, "linger.ms": 5}))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_delivery(self, err, msg):
        with self._lock:
            if err is not None:
                self.errors.append(err)
            else:
                self.acked.add((msg.partition(), msg.value().decode()))

    def _run(self):
        i = 0
        while not self._stop.is_set():
            self._producer.produce(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS,
                                   on_delivery=self._on_delivery)
            i += 1
            self._producer.poll(0.002)
        self.sent = i

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        assert self._producer.flush(60) == 0, "records left unacknowledged"
        fatal = [e for e in self.errors if not e.retriable()]
        assert not fatal, fatal[:5]
        return self.acked


def replicas(bootstrap):
    got = rig.leaders(bootstrap, TOPIC)
    return {p: v[1] for p, v in got.items()} if got else None


def folders(node):
    return sorted(os.path.basename(d) for d in glob.glob(os.path.join(node.data_dir, f"{TOPIC}-*")))


def kafka_python_after_a_move(boot, partition, target):
    """Moves `partition` to `target` with no write during or after it, so
    that its log ends with membership entries (clients are sent empty
    batches there). kafka-python 2.0.2 reads to the end and has no lag: the
    high watermark clients see stops before those entries."""
    code, out, err = spate(boot, "topic", "reassign", TOPIC, "--partition", str(partition),
                           "--replicas", ",".join(map(str, target)))
    assert code == 0, (out, err)
    rig.wait_for(f"partition {partition} on {target}",
                 lambda: (replicas(boot) or {}).get(partition) == sorted(target), timeout=30)
    rig.wait_for("no reassignment pending",
                 lambda: "no reassignment" in spate(boot, "topic", "reassignments")[1])
    rig.wait_for("leaders after the move", lambda: rig.all_led(boot, TOPIC, PARTITIONS))
    tp = TopicPartition(TOPIC, partition)
    c = KafkaConsumer(bootstrap_servers=boot.split(","), enable_auto_commit=False,
                      fetch_max_wait_ms=100)
    try:
        c.assign([tp])
        c.seek_to_beginning(tp)
        end = c.end_offsets([tp])[tp]
        last = [-1]

        def at_end():
            for r in c.poll(200).get(tp, []):
                last[0] = r.offset
            return c.position(tp) >= end
        rig.wait_for(f"kafka-python at the end ({end}) of partition {partition}", at_end,
                     timeout=20)
        assert c.position(tp) == end == last[0] + 1, (c.position(tp), end, last[0])
    finally:
        c.close()
    print(f"kafka-python read partition {partition} to its end ({end}) after a move with no "
          "write since: no lag")


def main():
    global SPATE
    binary, SPATE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    cluster = rig.Cluster(binary, n=4)
    started = time.monotonic()
    try:
        cluster.start()
        boot = cluster.bootstrap
        rig.wait_for("four registered brokers", lambda: rig.all_registered(cluster.nodes, 4),
                     timeout=30)
        admin = AdminClient(rig.quiet({"bootstrap.servers": boot}))
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
        rig.wait_for("leaders", lambda: rig.all_led(boot, TOPIC, PARTITIONS))
        # Partition 0 leaves one of its brokers for the one it lacks.
        before = replicas(boot)[0]
        leaving = before[0]
        joining = ({0, 1, 2, 3} - set(before)).pop()
        target = before[1:] + [joining]
        load = Load(boot).start()
        rig.wait_for("first acknowledgements", lambda: len(load.acked) > 200)

        # A bad target is refused with a clear error; a single partition moves.
        code, _, err = spate(boot, "topic", "reassign", TOPIC, "--partition", "0",
                             "--replicas", f"{joining},{joining}")
        assert code == 1 and "INVALID_REPLICA_ASSIGNMENT" in err, (code, err)
        code, out, err = spate(boot, "topic", "reassign", TOPIC, "--partition", "0",
                               "--replicas", ",".join(map(str, target)))
        assert code == 0, (out, err)
        code, out, err = spate(boot, "topic", "reassignments")
        assert code == 0, err
        print("pending: " + out.strip())
        rig.wait_for(f"partition 0 on {target}",
                     lambda: (replicas(boot) or {}).get(0) == sorted(target), timeout=30)
        rig.wait_for("no reassignment pending",
                     lambda: "no reassignment" in spate(boot, "topic", "reassignments")[1])
        rig.wait_for(f"broker {leaving} to drop its folder of partition 0",
                     lambda: f"{TOPIC}-0" not in folders(cluster.nodes[leaving]))
        assert f"{TOPIC}-0" in folders(cluster.nodes[joining]), folders(cluster.nodes[joining])
        print(f"partition 0 moved from {before} to {target} {time.monotonic() - started:.1f} s in")

        # Partition 1 moves onto the broker that lacks it, which is killed as
        # soon as it holds the partition and restarted: a replica that opens
        # with no membership of its own (none in its log or raft.state yet)
        # opens as a learner, never as a voter, and the move completes.
        before1 = replicas(boot)[1]
        joining1 = ({0, 1, 2, 3} - set(before1)).pop()
        target1 = before1[1:] + [joining1]
        node = cluster.nodes[joining1]
        code, out, err = spate(boot, "topic", "reassign", TOPIC, "--partition", "1",
                               "--replicas", ",".join(map(str, target1)))
        assert code == 0, (out, err)
        rig.wait_for(f"broker {joining1} to hold partition 1",
                     lambda: f"{TOPIC}-1" in folders(node), timeout=10, step=0.01)
        node.kill()
        mark = len(node.log())
        node.start()
        boot = cluster.bootstrap
        opened = rig.wait_for(f"broker {joining1} to reopen partition 1", lambda: [
            line for line in node.log()[mark:].splitlines() if f"[{TOPIC}-1] opens as" in line])
        print(opened[0].split("] ", 1)[-1])
        assert "opens as a learner" in opened[0] or "from its Raft state" in opened[0], opened
        rig.wait_for(f"partition 1 on {target1}",
                     lambda: (replicas(boot) or {}).get(1) == sorted(target1), timeout=30)
        rig.wait_for("no reassignment pending",
                     lambda: "no reassignment" in spate(boot, "topic", "reassignments")[1])
        print(f"partition 1 moved to {target1} through broker {joining1}'s restart")

        # Drain broker 1: every partition it holds moves elsewhere.
        code, out, err = spate(boot, "cluster", "drain", "1", "--timeout", "45", timeout=60)
        assert code == 0, (out, err)
        print(out.strip().splitlines()[-1])
        # The CLI saw the drain done on the broker it asked; the others apply
        # the same metadata a moment later (the client may ask any of them).
        def drained():
            r = replicas(boot)
            return r if r and all(1 not in v and len(v) == 3 for v in r.values()) else None
        now = rig.wait_for("the brokers to list no replica on broker 1", drained, timeout=30)
        rig.wait_for("broker 1 to drop its folders", lambda: not folders(cluster.nodes[1]))
        rig.wait_for("leaders after the drain",
                     lambda: rig.all_led(boot, TOPIC, PARTITIONS, exclude=(1,)))

        acked = load.stop()
        print(f"{len(acked)} records acknowledged during the moves")
        rig.read_all(boot, acked)
        # Partition 2 goes back onto broker 1, with no write.
        back = now[2][1:] + [1]
        kafka_python_after_a_move(boot, 2, back)
        rig.wait_for(f"broker {now[2][0]} to drop its folder of partition 2",
                     lambda: f"{TOPIC}-2" not in folders(cluster.nodes[now[2][0]]))
        now[2] = sorted(back)

        def folders_as_assigned():  # a replica's folder goes once its removal applies there
            return all(folders(node) == [f"{TOPIC}-{p}" for p in sorted(
                p for p, r in now.items() if i in r)] for i, node in enumerate(cluster.nodes))
        rig.wait_for(f"each broker to hold the folders of its replicas {now}",
                     folders_as_assigned, timeout=30)
        rig.stop_all(cluster.nodes)
        print(f"reassign: OK ({time.monotonic() - started:.1f} s)")
    except BaseException:
        rig.print_failure(cluster.nodes)
        raise
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
