# SPDX-License-Identifier: Apache-2.0
"""The chaos test's faults and what they measure. FAULTS is the fault table
(name -> function(ctx) -> record); the driver rotates through it.

Each fault leaves the cluster as it found it at most partly broken; the
driver heals every cut, resumes and restarts every broker after it. A
record: {"fault", "details", "gaps": [(partition, seconds or None, how)],
"probes": [...], "notes": [...]}; a gap is the time from a leader's loss
(SIGKILL: "kill", SIGSTOP: "pause", a cut: "cut") to a serving broker's
Metadata naming a serving leader other than the lost one (None: none within
GAP_TIMEOUT)."""
import json
import subprocess
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

import kafka_raw

GAP_TIMEOUT = 15.0
POLL = 0.02


class Ctx:
    def __init__(self, cluster, topic, partitions, rng, election_s, say, spate=None):
        self.cluster = cluster
        self.spate = spate  # the spate CLI (reassignments)
        self.moved_acked = set()  # values acknowledged on MOVED, every move so far
        self.moved_seq = 0
        self.mesh = cluster.mesh
        self.topic = topic
        self.partitions = partitions
        self.rng = rng
        self.election_s = election_s
        self.say = say
        self.probe_seq = 0
        self.created = 0

    # --------------------------------------------------------- observation
    def view(self, broker, topic=None):
        return kafka_raw.metadata(broker.client_port, topic or self.topic)

    def leaders(self):
        """partition -> leader: the serving broker whose own Metadata names
        itself (the one that knows), else what the first serving broker
        answering with the whole topic says; {} if none answers."""
        views = {b.id: self.view(b) for b in self.cluster.serving()}
        out = {}
        for md in views.values():
            if md and md.partitions and len(md.partitions) == self.partitions:
                out = {p: v[0] for p, v in md.partitions.items()}
                break
        for bid, md in views.items():
            for p, v in ((md.partitions or {}).items() if md else ()):
                if v[0] == bid:
                    out[p] = bid
        return out

    def led_by(self, broker_id):
        return sorted(p for p, l in self.leaders().items() if l == broker_id)

    def wait_new_leaders(self, partitions, lost, since, how, observers=None, timeout=GAP_TIMEOUT):
        """Gaps for `partitions`, whose leader `lost` was lost at `since`:
        polls the observers' (default: serving brokers') Metadata."""
        pending = set(partitions)
        gaps = []
        deadline = since + timeout
        while pending and time.monotonic() < deadline:
            brokers = observers or self.cluster.serving()
            by_id = {b.id: b for b in brokers}
            views = {b.id: self.view(b) for b in brokers}
            for md in views.values():
                if not md or not md.partitions:
                    continue
                for p in list(pending):
                    leader = md.partitions.get(p, (-1,))[0]
                    # A serving broker named, which names itself too (not a
                    # stale report about a broker that merely came back).
                    own = views.get(leader) if leader in by_id else None
                    if (leader != lost and own and own.partitions and
                            own.partitions.get(p, (-1,))[0] == leader):
                        gaps.append((p, time.monotonic() - since, how))
                        pending.discard(p)
            time.sleep(POLL)
        gaps += [(p, None, how) for p in sorted(pending)]
        return gaps

    def all_led(self):
        """Every serving broker names a serving leader for every partition."""
        serving = self.cluster.serving()
        live = {b.id for b in serving}
        if len(serving) < len(self.cluster.brokers):
            return False
        for b in serving:
            md = self.view(b)
            if not md or not md.partitions or len(md.partitions) != self.partitions:
                return False
            if any(v[0] not in live for v in md.partitions.values()):
                return False
        return True

    def controller(self):
        for b in self.cluster.serving():
            md = self.view(b)
            if md and md.controller in {x.id for x in self.cluster.serving()}:
                return md.controller
        return None

    def pick_leader(self):
        """(partition, its leader) for a random partition with a leader."""
        leaders = self.leaders()
        choices = [(p, l) for p, l in sorted(leaders.items()) if l >= 0]
        return self.rng.choice(choices) if choices else (None, None)

    # ---------------------------------------------------------- probing
    def probe(self, broker, partitions, until):
        """Pinned acks=all produces to `broker` for `partitions` until
        `until` (monotonic): [(value, partition, error, offset, sent, answered)]."""
        results = []
        i = 0
        while time.monotonic() < until and partitions:
            p = partitions[i % len(partitions)]
            i += 1
            self.probe_seq += 1
            value = f"probe-{self.probe_seq}"
            sent = time.monotonic()
            wait = max(0.2, min(1.5, until - sent))
            err, offset, answered = kafka_raw.produce_one(broker.client_port, self.topic, p,
                                                          value.encode(), 1000, wait)
            results.append((value, p, err, offset, sent, answered))
            time.sleep(0.05)
        return results


def _record(name, **kw):
    return dict({"fault": name, "details": "", "gaps": [], "probes": [], "notes": []}, **kw)


def kill_leader(ctx):
    p, leader = ctx.pick_leader()
    if p is None:
        return _record("kill_leader", notes=["no leader to kill"])
    victim = ctx.cluster.brokers[leader]
    led = ctx.led_by(leader)
    victim.kill()
    t0 = time.monotonic()
    gaps = ctx.wait_new_leaders(led, leader, t0, "kill")
    time.sleep(ctx.rng.uniform(0.3, 1.5))
    victim.start()
    return _record("kill_leader", details=f"broker {leader} (led {led})", gaps=gaps)


def kill_follower(ctx):
    p, leader = ctx.pick_leader()
    if p is None:
        return _record("kill_follower", notes=["no leader"])
    fid = ctx.rng.choice([b.id for b in ctx.cluster.brokers if b.id != leader])
    led = ctx.led_by(fid)  # a follower of p may lead other partitions
    ctx.cluster.brokers[fid].kill()
    t0 = time.monotonic()
    gaps = ctx.wait_new_leaders(led, fid, t0, "kill")
    time.sleep(max(0.0, t0 + ctx.rng.uniform(1.0, 3.0) - time.monotonic()))
    ctx.cluster.brokers[fid].start()
    return _record("kill_follower", details=f"broker {fid} (follower of {p}; led {led})", gaps=gaps)


def kill_all(ctx):
    for b in ctx.cluster.brokers:
        b.kill()
    time.sleep(ctx.rng.uniform(0.2, 1.5))
    t0 = time.monotonic()
    ctx.cluster.start_all()
    deadline = t0 + 30
    while not ctx.all_led() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _record("kill_all", details=f"all led again {time.monotonic() - t0:.2f} s after restart")


def pause_leader(ctx):
    p, leader = ctx.pick_leader()
    if p is None:
        return _record("pause_leader", notes=["no leader"])
    victim = ctx.cluster.brokers[leader]
    led = ctx.led_by(leader)
    victim.pause()
    t0 = time.monotonic()
    try:
        gaps = ctx.wait_new_leaders(led, leader, t0, "pause")
        # Past the election timeout whatever happened: twice it, and more.
        time.sleep(max(0.0, t0 + ctx.rng.uniform(2.0, 3.0) * ctx.election_s - time.monotonic()))
    finally:
        victim.resume()
    return _record("pause_leader", details=f"broker {leader} stopped {time.monotonic() - t0:.2f} s "
                   f"(led {led})", gaps=gaps)


def kill_fresh_leader(ctx):
    """Kills a leader, then its successor as soon as a Metadata answer names
    it (before it can have committed anything of its own but the no-op
    that made it confirmed); then the first one comes back, then the second."""
    p, leader = ctx.pick_leader()
    if p is None:
        return _record("kill_fresh_leader", notes=["no leader"])
    first = ctx.cluster.brokers[leader]
    first.kill()
    t0 = time.monotonic()
    gaps = ctx.wait_new_leaders([p], leader, t0, "kill")
    fresh = ctx.leaders().get(p, -1)
    notes = []
    if fresh < 0 or fresh == leader or not ctx.cluster.brokers[fresh].serving:
        notes.append(f"no fresh leader seen for partition {p}")
        first.start()
        return _record("kill_fresh_leader", gaps=gaps, notes=notes)
    second = ctx.cluster.brokers[fresh]
    second.kill()
    killed_after = time.monotonic() - t0
    time.sleep(ctx.rng.uniform(0.2, 1.0))
    first.start()
    t1 = time.monotonic()
    # One voter of three was down throughout: the two alive elect again.
    gaps += ctx.wait_new_leaders([p], fresh, t1, "restart")
    second.start()
    return _record("kill_fresh_leader", gaps=gaps,
                   details=f"partition {p}: broker {leader} killed, then its successor {fresh} "
                           f"{killed_after:.2f} s later")


def controller_during_create(ctx):
    """CreateTopics in flight (through a random broker) while the controller
    leader dies; the topic must end up created on every broker, once."""
    controller = ctx.controller()
    if controller is None:
        return _record("controller_during_create", notes=["no controller"])
    ctx.created += 1
    name = f"chaos-created-{ctx.created}"
    via = ctx.rng.choice(ctx.cluster.serving())
    answer = []
    t = threading.Thread(target=lambda: answer.append(
        kafka_raw.create_topic(via.client_port, name, 3, 3, 15000)), daemon=True)
    t.start()
    time.sleep(ctx.rng.uniform(0.0, 0.03))
    victim = ctx.cluster.brokers[controller]
    led = ctx.led_by(controller)
    victim.kill()
    t0 = time.monotonic()
    gaps = ctx.wait_new_leaders(led, controller, t0, "kill")
    t.join(25)
    time.sleep(ctx.rng.uniform(0.2, 1.0))
    victim.start()
    # Whatever was answered, the topic is there once retried (36: exists).
    first = answer[0] if answer else None
    code = first
    deadline = time.monotonic() + 30
    while code not in (0, 36) and time.monotonic() < deadline:
        code = kafka_raw.create_topic(ctx.rng.choice(ctx.cluster.serving()).client_port, name, 3,
                                      3, 10000)
    ok = False
    while time.monotonic() < deadline and not ok:
        views = [kafka_raw.metadata(b.client_port, name) for b in ctx.cluster.serving()]
        ok = all(v and v.partitions and len(v.partitions) == 3 and
                 all(x[0] >= 0 and x[1] == [0, 1, 2] for x in v.partitions.values()) for v in views)
        time.sleep(0.1)
    rec = _record("controller_during_create", gaps=gaps,
                  details=f"controller {controller} killed during CreateTopics {name} via broker "
                          f"{via.id}: first answer {first}, then {code}")
    rec["create_ok"] = ok
    return rec


def _cut(ctx, name, minority, partitions, mode):
    """Cuts `minority` from the rest both ways for 3-4.5 election timeouts,
    probing it with pinned produces meanwhile; measures the majority's new
    leaders for `partitions` (those the minority led)."""
    majority = [b.id for b in ctx.cluster.brokers if b.id != minority]
    broker = ctx.cluster.brokers[minority]
    ctx.mesh.cut_between([minority], majority, mode)
    t0 = time.monotonic()
    until = t0 + ctx.rng.uniform(3.0, 4.5) * ctx.election_s
    probes = []
    targets = partitions or [ctx.rng.randrange(ctx.partitions)]
    prober = threading.Thread(target=lambda: probes.extend(ctx.probe(broker, targets, until)),
                              daemon=True)
    prober.start()
    observers = [ctx.cluster.brokers[i] for i in majority]
    gaps = ctx.wait_new_leaders(partitions, minority, t0, "cut", observers=observers,
                                timeout=until - t0)
    prober.join(max(0.0, until - time.monotonic()) + 5)
    time.sleep(max(0.0, until - time.monotonic()))
    healed = time.monotonic()
    ctx.mesh.heal_all()
    rec = _record(name, gaps=gaps, probes=[pr + (healed,) for pr in probes],
                  details=f"broker {minority} cut ({mode}) {healed - t0:.2f} s, led {partitions}; "
                          f"{len(probes)} pinned produces")
    return rec


def isolate_leader(ctx):
    p, leader = ctx.pick_leader()
    if p is None:
        return _record("isolate_leader", notes=["no leader"])
    return _cut(ctx, "isolate_leader", leader, ctx.led_by(leader),
                ctx.rng.choice(["drop", "blackhole"]))


def split(ctx):
    minority = ctx.rng.randrange(len(ctx.cluster.brokers))
    return _cut(ctx, "split", minority, ctx.led_by(minority), ctx.rng.choice(["drop", "blackhole"]))


MOVED = "chaos-moved"  # one partition, replication factor 2: a replica to move
MOVE_BOUND = 30.0      # seconds from the controller's restart for a move to complete


def _spate(ctx, broker, *args, timeout=30):
    """The spate CLI against `broker` only: (exit code, stdout, stderr)."""
    try:
        r = subprocess.run([ctx.spate, "-b", f"127.0.0.1:{broker.client_port}", "--timeout-ms",
                            "10000", *args], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return r.returncode, r.stdout, r.stderr


def _moved_topic(ctx):
    """Creates MOVED once; True when every serving broker names its leader."""
    code, deadline = None, time.monotonic() + 20
    while code not in (0, 36) and time.monotonic() < deadline:
        code = kafka_raw.create_topic(ctx.rng.choice(ctx.cluster.serving()).client_port, MOVED, 1,
                                      2, 10000)
    while time.monotonic() < deadline:
        views = [ctx.view(b, MOVED) for b in ctx.cluster.serving()]
        if all(v and v.partitions and v.partitions.get(0, (-1,))[0] >= 0 for v in views):
            return True
        time.sleep(0.1)
    return False


def _move_done(ctx, target):
    """No reassignment pending and every serving broker's Metadata naming
    `target` as MOVED's replicas, with a leader among them."""
    serving = ctx.cluster.serving()
    if len(serving) < len(ctx.cluster.brokers):
        return False
    for b in serving:
        v = ctx.view(b, MOVED)
        if not v or not v.partitions or v.partitions.get(0, (-1, []))[1] != sorted(target):
            return False
        if v.partitions[0][0] not in target:
            return False
    code, out, _ = _spate(ctx, ctx.rng.choice(serving), "--format", "json", "topic",
                          "reassignments", timeout=15)
    try:
        return code == 0 and json.loads(out)["reassignments"] == []
    except (ValueError, KeyError):
        return False


class _MovedLoad:
    """An acks=all idempotent producer writing "moved-N" to MOVED until
    stopped, adding each acknowledged value to ctx.moved_acked."""

    def __init__(self, ctx):
        self.ctx, self.stop = ctx, threading.Event()
        self.failed = 0
        self.producer = Producer({"bootstrap.servers": ctx.cluster.bootstrap, "log_level": 0,
                                  "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                  "message.timeout.ms": 30000, "request.timeout.ms": 5000,
                                  "topic.metadata.refresh.interval.ms": 1000,
                                  "reconnect.backoff.max.ms": 500})
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_delivery(self, err, msg):
        if err is None:
            self.ctx.moved_acked.add(msg.value().decode())
        else:
            self.failed += 1

    def _run(self):
        while not self.stop.is_set():
            self.ctx.moved_seq += 1
            try:
                self.producer.produce(MOVED, value=f"moved-{self.ctx.moved_seq}".encode(),
                                      partition=0, on_delivery=self._on_delivery)
            except (BufferError, KafkaException):
                pass
            self.producer.poll(0.01)

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        try:
            return self.producer.flush(40)
        except KafkaException:
            return len(self.producer)


def read_moved(ctx, timeout=30.0):
    """(the values of MOVED from its start to its high watermark (None: not
    read to it), its log start). Under the default retention (7 days) the
    log start stays 0: anything else is reported."""
    c = Consumer({"bootstrap.servers": ctx.cluster.bootstrap, "group.id": "chaos-moved-read",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "earliest", "log_level": 0})
    deadline = time.monotonic() + timeout
    try:
        low, hw = None, None
        while hw is None and time.monotonic() < deadline:
            try:
                low, hw = c.get_watermark_offsets(TopicPartition(MOVED, 0), timeout=5)
            except KafkaException:
                time.sleep(0.5)
        if hw is None:
            return None, None
        seen, at = set(), 0
        c.assign([TopicPartition(MOVED, 0, 0)])
        while at < hw and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error() is None:
                    seen.add(m.value().decode())
                    at = max(at, m.offset() + 1)
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    # Past the last record: a leader's no-ops (empty batches) may follow it.
                    at = max(at, m.offset())
        return (seen if at >= hw else None), low
    finally:
        c.close()


def controller_during_reassign(ctx):
    """Moves one replica of MOVED (RF 2 over three brokers: the one not a
    replica joins as a learner, is promoted, and a random replica, perhaps
    the leader, is removed) while the controller leader is SIGKILLed (at a
    random moment from the AlterPartitionReassignments in flight to the move
    under way) and restarted; a producer writes to MOVED throughout. The move
    must complete within MOVE_BOUND of the restart (re-asked if the first
    answer was not a success), and every value acknowledged on MOVED so far
    must read back."""
    name = "controller_during_reassign"
    if not _moved_topic(ctx):
        return _record(name, notes=[f"{MOVED} not created with a leader"], reassign_ok=False)
    views = [ctx.view(b, MOVED) for b in ctx.cluster.serving()]
    replicas = next((v.partitions[0][1] for v in views if v and v.partitions), None)
    controller = ctx.controller()
    if controller is None or not replicas or len(replicas) != 2:
        return _record(name, notes=[f"no controller ({controller}) or replicas ({replicas})"])
    leaving = ctx.rng.choice(replicas)
    joining = next(b.id for b in ctx.cluster.brokers if b.id not in replicas)
    target = [r for r in replicas if r != leaving] + [joining]
    ctx.rng.shuffle(target)
    load = _MovedLoad(ctx)
    time.sleep(0.3)
    via = ctx.rng.choice(ctx.cluster.serving())
    args = ("topic", "reassign", MOVED, "--partition", "0", "--replicas", ",".join(map(str, target)))
    answer = []
    t = threading.Thread(target=lambda: answer.append(_spate(ctx, via, *args)), daemon=True)
    began = time.monotonic()
    t.start()
    time.sleep(ctx.rng.uniform(0.0, 0.8))
    victim = ctx.cluster.brokers[controller]
    led = ctx.led_by(controller)
    victim.kill()
    t0 = time.monotonic()
    gaps = ctx.wait_new_leaders(led, controller, t0, "kill")
    t.join(30)
    time.sleep(ctx.rng.uniform(0.2, 1.0))
    victim.start()
    t1 = time.monotonic()
    first = answer[0][0] if answer else None
    code = first
    deadline = t1 + MOVE_BOUND
    while code != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        code = _spate(ctx, ctx.rng.choice(ctx.cluster.serving()), *args)[0]
    ok = False
    while code == 0 and not ok and time.monotonic() < deadline:
        ok = _move_done(ctx, target)
        if not ok:
            time.sleep(0.2)
    done_after = time.monotonic() - t1
    unflushed = load.finish()
    seen, low = read_moved(ctx)
    lost = sorted(ctx.moved_acked - seen) if seen is not None else [f"{MOVED} not read to its end"]
    details = (f"{MOVED} {replicas} -> {target} via broker {via.id}, controller {controller} killed "
               f"{t0 - began:.2f} s after the alter began: first answer {first}, then "
               f"{code}; {'completed' if ok else 'NOT completed'} {done_after:.2f} s after the "
               f"restart; {len(ctx.moved_acked)} acknowledged on {MOVED} so far, "
               f"{load.failed} failed, {unflushed} unflushed; log start {low}")
    return _record(name, gaps=gaps, details=details, reassign_ok=ok, moved_start=low,
                   moved_lost=[f"{v} (after move {replicas} -> {target})" for v in lost])


# The fault table: rotated in a seeded order, every fault once per round.
FAULTS = {
    "kill_leader": kill_leader,
    "kill_follower": kill_follower,
    "kill_all": kill_all,
    "pause_leader": pause_leader,
    "kill_fresh_leader": kill_fresh_leader,
    "controller_during_create": controller_during_create,
    "isolate_leader": isolate_leader,
    "split": split,
    "controller_during_reassign": controller_during_reassign,
}
