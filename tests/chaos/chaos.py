#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The chaos test of issue 15 (docs/testing.md, "Chaos"): three spated
brokers on 127.0.0.1 whose inter-broker connections all pass through
userspace proxies (proxy.py), a topic of 6 partitions with replication
factor 3, idempotent acks=all producers, assign consumers and the members of
a consumer group journaling everything, while the faults of faults.FAULTS
rotate; then every cut is healed, every broker restarted, a final read, and
the checks of checks.py. Prints a summary; exits 1 naming each violated check.

Usage: chaos.py SPATED [--spate SPATE] [--faults N] [--seed S] [--keep]"""
import argparse
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402

import brokers  # noqa: E402
import checks  # noqa: E402
import faults  # noqa: E402
import kafka_raw  # noqa: E402
import proxy  # noqa: E402
import workload  # noqa: E402

TOPIC = "chaos"
PARTITIONS = 6


def election_timeout_s():
    """The election timeout: a follower campaigns after a randomized
    [election_ticks, 2 x election_ticks) ticks without a leader
    (raft::Replica::reset_timers), so its upper end, 2 x
    ReplicaContext::election_ticks x the node's tick period, read from the
    sources so the bound follows them."""
    ticks = re.search(r"int election_ticks = (\d+);",
                      open(os.path.join(ROOT, "include/spate/cluster/partition_manager.h")).read())
    tick = re.search(r"kTickPeriod = std::chrono::milliseconds\((\d+)\)",
                     open(os.path.join(ROOT, "src/apps/spated/node.cpp")).read())
    if not ticks or not tick:
        raise RuntimeError("cannot find election_ticks or kTickPeriod in the sources")
    return 2 * int(ticks.group(1)) * int(tick.group(1)) / 1000.0


class Run:
    def __init__(self, args):
        self.args = args
        self.t_start = time.monotonic()
        self.rng = random.Random(args.seed)
        self.election_s = election_timeout_s()
        self.workdir = tempfile.mkdtemp(prefix="spate-chaos-")
        self.cluster = brokers.Cluster(args.spated, self.workdir, proxy.Mesh)
        self.ctx = faults.Ctx(self.cluster, TOPIC, PARTITIONS, self.rng, self.election_s, self.say,
                              spate=args.spate)
        self.producers, self.consumers, self.records = [], [], []
        self.crashes = []

    def say(self, message):
        print(f"[{time.monotonic() - self.t_start:7.2f}] {message}", flush=True)

    def wait(self, what, check, timeout, step=0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(step)
        self.say(f"timed out after {timeout:.0f} s waiting for {what}")
        return False

    def setup(self):
        self.cluster.start_all()
        ok = self.wait("three registered brokers", lambda: all(
            (md := self.ctx.view(b)) is not None and len(md.brokers) == 3
            for b in self.cluster.brokers), 30)
        code = None
        deadline = time.monotonic() + 30
        while ok and code not in (0, 36) and time.monotonic() < deadline:
            code = kafka_raw.create_topic(self.cluster.brokers[0].client_port, TOPIC, PARTITIONS, 3,
                                          10000)
        if not ok or code not in (0, 36) or not self.wait("leaders", self.ctx.all_led, 30):
            raise RuntimeError(f"the cluster did not come up (CreateTopics answered {code})")
        tag = f"s{self.args.seed}"
        self.producers = [workload.ProducerWorker(i, self.cluster.bootstrap, TOPIC, PARTITIONS,
                                                  self.args.rate, tag,
                                                  os.path.join(self.workdir, f"producer-{i}.log"))
                          for i in range(self.args.producers)]
        kinds = list(workload.CONSUMER_KINDS.values())
        self.consumers = [kinds[i % len(kinds)](i, self.cluster.bootstrap, TOPIC, PARTITIONS,
                                                self.rng) for i in range(self.args.consumers)]
        for w in self.producers + self.consumers:
            w.start()

    def check_crashes(self):
        for b in self.cluster.brokers:
            code = b.exited_unexpectedly()
            if code is not None:
                self.crashes.append(f"broker {b.id} exited {code}: {b.log_tail(1500)}")
                self.say(f"broker {b.id} exited on its own ({code}); restarting it")
                b.proc = None

    def restore(self):
        """Heals every cut, resumes and restarts every broker, waits for leaders."""
        self.cluster.mesh.heal_all()
        for b in self.cluster.brokers:
            b.resume()
        self.check_crashes()
        self.cluster.start_all()
        t0 = time.monotonic()
        led = self.wait("every partition to have a serving leader", self.ctx.all_led, 60, 0.05)
        return led, time.monotonic() - t0

    def run_faults(self):
        names = list(faults.FAULTS)
        order = []
        for i in range(self.args.faults):
            if i % len(names) == 0:
                cycle = names[:]
                self.rng.shuffle(cycle)
                order += cycle
        unavailable = []
        for i, name in enumerate(order[:self.args.faults]):
            t0 = time.monotonic()
            try:
                record = faults.FAULTS[name](self.ctx)
            except RuntimeError as e:  # a broker that would not start again
                self.crashes.append(f"fault {i} ({name}): {e}")
                record = faults._record(name, notes=[str(e).splitlines()[0]])
            led, recovered = self.restore()
            record["seconds"] = time.monotonic() - t0
            record["recovered"] = recovered
            if not led:
                unavailable.append(f"after fault {i} ({name})")
            gaps = ", ".join(f"p{p} {'none' if g is None else f'{g:.2f}s'} ({how})"
                             for p, g, how in record["gaps"])
            self.say(f"fault {i + 1}/{self.args.faults} {name}: {record['details']}"
                     f"{'; ' + '; '.join(record['notes']) if record['notes'] else ''}"
                     f"{'; new leaders ' + gaps if gaps else ''}; "
                     f"{record['seconds']:.1f} s, leaders again {recovered:.2f} s after restore")
            self.records.append(record)
            time.sleep(self.rng.uniform(0.5, 1.5))
        return unavailable

    def caught_up(self, wanted, final):
        """Every assign consumer has seen every value of `wanted`; every group
        has, between its members, and has polled each partition's last record."""
        groups = {}
        for w in self.consumers:
            if getattr(w, "group", None) is None:
                if not wanted <= {row[3] for row in w.polls}:
                    return False
            else:
                groups.setdefault(w.group, []).append(w)
        for members in groups.values():
            rows = [row for w in members for row in list(w.polls)]
            if not wanted <= {row[3] for row in rows}:
                return False
            top = {}
            for _, p, o, _, _ in rows:
                top[p] = max(top.get(p, -1), o)
            if any(top.get(p, -1) < max(final[p], default=-1) for p in range(PARTITIONS)):
                return False
        return True

    def groups(self, final):
        """{group id: its members' polls and starts, its acknowledged commits,
        and its committed offsets read once every member has left}."""
        out = {}
        for w in self.consumers:
            if getattr(w, "group", None) is None:
                continue
            g = out.setdefault(w.group, {"polls": {}, "starts": {}, "commits": w.journal.commits,
                                         "members": []})
            g["polls"][w.idx] = w.polls
            g["starts"][w.idx] = w.starts
            g["members"].append(w)
        for group, g in out.items():
            g["committed"] = workload.committed(self.cluster.bootstrap, group, TOPIC, PARTITIONS)
        return out

    def finish(self):
        """Producers flushed, high watermarks, final read, consumers caught up."""
        time.sleep(1.0)
        for w in self.producers:
            w.finish()
        acked = {}
        for w in self.producers:
            acked.update({v: (p, o) for v, (p, o, _) in w.acked.items()})
        for r in self.records:
            for value, p, err, offset, *_ in r["probes"]:
                if err == 0:
                    acked[value] = (p, offset)
        c = Consumer(workload.quiet({"bootstrap.servers": self.cluster.bootstrap,
                                     "group.id": "chaos-hw"}))

        def high_watermark(p):
            # A leadership may still move (the balancer hands partitions back
            # to their preferred replicas): retriable answers are retried.
            deadline = time.monotonic() + 30
            while True:
                try:
                    return c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
                except KafkaException as e:
                    if not e.args[0].retriable() or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        hws = {p: high_watermark(p) for p in range(PARTITIONS)}
        c.close()
        final, incomplete, conflicts = workload.final_read(self.cluster.bootstrap, TOPIC,
                                                           PARTITIONS, hws)
        self.say("producers flushed, final read done")
        # Consumers see everything acknowledged, groups drain (bounded), then stop.
        wanted = set(acked)
        self.wait("consumers to see every acknowledged record",
                  lambda: self.caught_up(wanted, final), 30, 0.5)
        for w in self.consumers:
            w.stop.set()  # all at once: no member leaves and joins again meanwhile
        for w in self.consumers:
            w.finish()
        self.say("consumers caught up and stopped")
        return acked, hws, final, incomplete, conflicts

    def sent_values(self):
        sent = {w.idx: w.sent for w in self.producers}
        probes = {pr[0] for r in self.records for pr in r["probes"]}
        tag = f"s{self.args.seed}"

        def was_sent(value):
            m = checks.VALUE.match(value)
            if m:
                return m["tag"] == tag and int(m["seq"]) < sent.get(int(m["idx"]), 0)
            return value in probes
        return was_sent

    def main(self):
        report = checks.Report()
        self.say(f"seed {self.args.seed}, {self.args.faults} faults, election timeout "
                 f"{self.election_s:.1f} s, data in {self.workdir}")
        self.setup()
        time.sleep(2.0)
        unavailable = self.run_faults()
        led, _ = self.restore()
        if not led:
            unavailable.append("after the last fault")
        acked, hws, final, incomplete, conflicts = self.finish()
        self.check_crashes()
        producer_at = checks.producer_of_offsets(self.cluster.brokers[0].data_dir, TOPIC,
                                                 PARTITIONS, hws)
        checks.judge(acked, self.sent_values(), {w.idx: w.polls for w in self.consumers},
                     {w.idx: w.starts for w in self.consumers}, final, conflicts, incomplete,
                     self.records, self.args.leader_bound * self.election_s, report,
                     producer_at)
        groups = self.groups(final)
        checks.judge_groups(groups, acked, final, hws, report, self.t_start)
        moved, moved_start = faults.read_moved(self.ctx) if self.ctx.moved_acked else (set(), 0)
        checks.judge_moves(self.records, report, self.ctx.moved_acked, moved, moved_start)
        report.add("partitions without a serving leader 60 s after a fault", len(unavailable),
                   unavailable)
        report.add("brokers that died on their own", len(self.crashes), self.crashes)
        report.add("idempotent producers' fatal errors", sum(len(w.fatal) for w in self.producers),
                   [e for w in self.producers for e in w.fatal])
        dirs = [b.data_dir for b in self.cluster.brokers]
        self.wait("identical replica logs below the high watermark", lambda: not (
            checks.replica_divergence(dirs, TOPIC, PARTITIONS, hws)), 30, 0.5)
        divergent = checks.replica_divergence(dirs, TOPIC, PARTITIONS, hws)
        report.add("replica logs differing below the high watermark", len(divergent), divergent)
        stopped = [(b.id, b.terminate()) for b in self.cluster.brokers]
        bad_stop = [f"broker {i} exited {code}" for i, code in stopped if code != 0]
        report.add("brokers not stopping cleanly on SIGTERM at the end", len(bad_stop), bad_stop)
        self.summary(report, acked, hws, final, groups)
        return report

    def summary(self, report, acked, hws, final, groups):
        print("\n==== chaos summary", flush=True)
        by_kind = {}
        for r in self.records:
            by_kind.setdefault(r["fault"], []).append(r)
        for name, rs in sorted(by_kind.items()):
            gaps = [g for r in rs for _, g, how in r["gaps"] if g is not None and how == "kill"]
            other = [g for r in rs for _, g, how in r["gaps"] if g is not None and how != "kill"]
            probes = sum(len(r["probes"]) for r in rs)
            line = f"  {name:26} x{len(rs):3}  mean {sum(r['seconds'] for r in rs) / len(rs):5.1f} s"
            if gaps:
                line += f"; kill->leader max {max(gaps):.2f} s mean {sum(gaps) / len(gaps):.2f} s"
            if other:
                line += f"; other->leader max {max(other):.2f} s"
            if probes:
                line += f"; {probes} pinned produces"
            print(line)
        sent = sum(w.sent for w in self.producers)
        failed = sum(len(w.failed) for w in self.producers)
        unresolved = sum(w.unresolved for w in self.producers)
        polled = sum(len(w.polls) for w in self.consumers)
        records = sum(len(v) for v in final.values())
        by_producers = sum(len(w.acked) for w in self.producers)
        refused = sum(w.refused for w in self.producers)
        print(f"  produced {sent}, acknowledged {by_producers} (+{len(acked) - by_producers} pinned "
              f"probes), failed {failed}, unresolved {unresolved}, refused locally {refused}; polled {polled} records by {len(self.consumers)} consumers "
              f"({sum(w.generation for w in self.consumers)} new generations); final read "
              f"{records} records, high watermarks {[hws[p] for p in range(PARTITIONS)]}")
        for group, g in sorted(groups.items()):
            members = g["members"]
            print(f"  group {group}: {len(members)} members, {sum(w.joins for w in members)} "
                  f"joins, {sum(w.generation for w in members)} rebalance callbacks, "
                  f"{len(g['commits'])} partition commits acknowledged, "
                  f"{sum(len(w.commit_errors) for w in members)} commits given up; committed at "
                  f"the end {[g['committed'].get(p) for p in range(PARTITIONS)]}")
            for w in members:
                for sent, answered, offsets in w.late_commits[:3]:
                    print(f"    member {w.idx}: a commit sent at {sent - self.t_start:.2f} answered "
                          f"at {answered - self.t_start:.2f} (not judged): {offsets}")
                for at, text in w.commit_errors[:3]:
                    print(f"    member {w.idx} gave up a commit at {at - self.t_start:.2f}: {text}")
            if any(n and "group" in check for check, n in report.counts.items()):
                for w in members:  # what each member held when, to explain the failure
                    print(f"    member {w.idx}: " + "; ".join(
                        f"{at - self.t_start:.2f} gen {gen} {event} {held}"
                        for at, gen, event, held in w.history[-40:]))
        if self.ctx.moved_acked:
            print(f"  {faults.MOVED}: {len(self.ctx.moved_acked)} records acknowledged over the "
                  f"moves")
        print(f"  run time {time.monotonic() - self.t_start:.0f} s, seed {self.args.seed}")
        for name, (n, examples) in report.info.items():
            print(f"  info {n:6}  {name}")
            for e in examples:
                print(f"             e.g. {e}")
        for check, n in report.counts.items():
            print(f"  {'FAIL' if n else 'ok  '} {n:6}  {check}")
            for e in report.examples[check]:
                print(f"             e.g. {e}")
        for w in self.consumers:
            for at, line in getattr(w, "client_log", [])[:10]:
                print(f"  consumer {w.idx} client at {at - self.t_start:.2f}: {line}")

    def close(self, keep):
        for w in self.producers + self.consumers:
            w.stop.set()
        self.cluster.close()
        if keep:
            print(f"chaos: data and broker logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spated", nargs="?", default=os.path.join(ROOT, "build", "bin", "spated"))
    ap.add_argument("--faults", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rate", type=float, default=150.0, help="records/s per producer")
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=4,
                    help="consumers, their kinds in turn (assign, subscribe, assign, ...)")
    ap.add_argument("--spate", default=None, help="the spate CLI (default: next to SPATED)")
    ap.add_argument("--keep", action="store_true", help="keep the data and logs")
    ap.add_argument("--leader-bound", type=float, default=2.0,
                    help="a leader kill must see a new leader within this many election timeouts")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    args.spate = args.spate or os.path.join(os.path.dirname(os.path.abspath(args.spated)), "spate")
    if not os.access(args.spate, os.X_OK):
        ap.error(f"no spate CLI at {args.spate} (build the spate target, or give --spate)")
    run = Run(args)
    failed = True

    def on_term(signum, _frame):
        raise SystemExit(f"chaos: stopped by signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    verdict = ""
    try:
        report = run.main()
        violations = report.violations()
        failed = bool(violations)
        if failed:
            verdict = (f"chaos: FAILED (seed {args.seed}): "
                       + "; ".join(f"{k}: {v}" for k, v in violations.items()))
            print(verdict)
            for b in run.cluster.brokers:
                print(f"---- broker {b.id} log (tail) ----\n{b.log_tail(3000)}")
        else:
            print("chaos: OK")
    finally:
        run.close(args.keep or failed)
    if verdict:
        print(verdict)  # again, last: a CI log keeps only the tail
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
