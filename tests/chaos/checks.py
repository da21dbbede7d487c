# SPDX-License-Identifier: Apache-2.0
"""The chaos test's checks, judged as Jepsen's Kafka checker does, over the
producers' acknowledgements, every consumer poll, the pinned probes and the
final read; and the replica logs compared across the brokers' data dirs."""
import glob
import os
import re
import struct
from collections import defaultdict


def replica_batches(data_dir, topic, partition, high_watermark):
    """[(base offset, last offset, bytes)] of the replica's log below the high
    watermark (segments in name order; what follows a torn or zero tail is
    not read)."""
    files = sorted(glob.glob(os.path.join(data_dir, f"{topic}-{partition}", "*.log")))
    data = b"".join(open(f, "rb").read() for f in files)
    out, pos = [], 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if length < 49 or pos + 12 + length > len(data):
            break
        (last_delta,) = struct.unpack_from(">i", data, pos + 23)
        if base + last_delta >= high_watermark:
            break
        out.append((base, base + last_delta, data[pos:pos + 12 + length]))
        pos += 12 + length
    return out


def producer_of_offsets(data_dir, topic, partitions, high_watermarks):
    """{(partition, offset): (producer id, producer epoch, base sequence)} of
    every record below the high watermark in one replica's log."""
    out = {}
    for p in range(partitions):
        for base, last, raw in replica_batches(data_dir, topic, p, high_watermarks[p]):
            if len(raw) < 57:
                continue
            pid, epoch, seq = struct.unpack_from(">qhi", raw, 43)
            for o in range(base, last + 1):
                out[(p, o)] = (pid, epoch, seq)
    return out


def replica_divergence(data_dirs, topic, partitions, high_watermarks):
    """[(partition, description)] for each partition whose replicas differ
    below the high watermark (or do not reach it)."""
    bad = []
    for p in range(partitions):
        logs = [replica_batches(d, topic, p, high_watermarks[p]) for d in data_dirs]
        ends = [log[-1][1] + 1 if log else 0 for log in logs]
        if any(log != logs[0] for log in logs):
            first = None
            for i, batches in enumerate(zip(*logs)):
                if any(b != batches[0] for b in batches):
                    first = batches[0][0]
                    break
            bad.append((p, f"replica log ends {ends}, first differing batch at offset {first}"))
    return bad


class Report:
    """Counts per check, with a few examples each."""

    def __init__(self):
        self.counts = {}
        self.examples = defaultdict(list)
        self.info = {}  # name -> (count, examples): reported, not violations

    def add(self, check, n, examples=()):
        self.counts[check] = self.counts.get(check, 0) + n
        self.examples[check].extend(list(examples)[:5 - len(self.examples[check])])

    def violations(self):
        return {k: v for k, v in self.counts.items() if v}


def judge(acked, sent_values, polls, starts, final, final_conflicts, incomplete, records,
          election_bound, report, producer_at=None):
    """acked: value -> (partition, offset); sent_values(value) -> bool (was it
    ever produced); polls: {consumer: [(generation, p, offset, value, t)]};
    starts: {consumer: {generation: {p: offset assigned at}}};
    final: {p: {offset: value}}; records: the fault records; producer_at:
    {(p, offset): (producer id, epoch, sequence)} from a replica's log."""
    # Every (partition, offset) -> values, every value -> places, from all sources.
    at = defaultdict(set)
    places = defaultdict(set)
    for p, offs in final.items():
        for o, v in offs.items():
            at[(p, o)].add(v)
            places[v].add((p, o))
    for p, o, v, other in final_conflicts:
        at[(p, o)].update((v, other))
    for rows in polls.values():
        for _, p, o, v, _ in rows:
            at[(p, o)].add(v)
            places[v].add((p, o))
    no_offset = sorted(v for v, (p, o) in acked.items() if o is None or o < 0)
    for v, (p, o) in acked.items():
        if o is None or o < 0:
            continue  # librdkafka: persisted, offset unknown (checked as lost or not only)
        at[(p, o)].add(v)
        places[v].add((p, o))
    report.info["acknowledged without an offset"] = (
        len(no_offset), [f"{v} partition {acked[v][0]} found at "
                         f"{sorted(places.get(v, ()))}" for v in no_offset[:5]])

    final_values = {v for offs in final.values() for v in offs.values()}
    lost = sorted(v for v in acked if v not in final_values)
    report.add("lost (acknowledged, not in the final read)", len(lost),
               [f"{v} acked at {acked[v]}" for v in lost])
    dup = sorted(v for v, ps in places.items() if len(ps) > 1)
    # The broker deduplicates per producer id and epoch. A copy written under
    # a later epoch of the same producer id is the client re-sending an
    # in-doubt batch as new after bumping its own epoch (librdkafka 2.0.2:
    # docs/idempotence.md): reported apart, not a broker's duplicate.
    producer_at = producer_at or {}

    def bumped(v):
        who = [producer_at.get(pl) for pl in sorted(places[v])]
        return (all(w is not None for w in who) and len({w[0] for w in who}) == 1 and
                len({w[1] for w in who}) == len(who))
    resent = [v for v in dup if bumped(v)]
    dup = [v for v in dup if not bumped(v)]
    report.add("duplicates (a value at two offsets)", len(dup),
               [f"{v} at {sorted(places[v])} by {[producer_at.get(pl) for pl in sorted(places[v])]}"
                for v in dup])
    report.info["values re-sent by the client under a bumped producer epoch"] = (
        len(resent), [f"{v} at {sorted(places[v])} by "
                      f"{[producer_at.get(pl) for pl in sorted(places[v])]}" for v in resent[:5]])
    split = sorted(k for k, vs in at.items() if len(vs) > 1)
    report.add("offsets holding two values (acks, polls, final read)", len(split),
               [f"partition {k[0]} offset {k[1]}: {sorted(at[k])}" for k in split])
    phantom = sorted(v for v in places if not sent_values(v))
    report.add("values never written", len(phantom), phantom)
    report.add("partitions not read to the high watermark", len(incomplete), incomplete)

    backwards, stale = [], []
    for consumer, rows in polls.items():
        last, seen = {}, defaultdict(int)
        for gen, p, o, v, _ in rows:
            key = (gen, p)
            seen[key] += 1
            if key in last and o <= last[key]:
                start = starts.get(consumer, {}).get(gen, {}).get(p, 0)
                text = (f"consumer {consumer} partition {p}: {last[key]} then {o} "
                        f"(generation {gen}, assigned at {start})")
                # One record of the previous assignment delivered first, then
                # the new one from its start: the client's, not a broker's doing.
                (stale if gen > 0 and seen[key] == 2 and o >= start else backwards).append(text)
            last[key] = o
    report.add("consumers going backwards (no reassignment)", len(backwards), backwards)
    report.info["a record of the previous assignment delivered after a reassignment"] = (
        len(stale), stale[:5])

    slow = [(r["fault"], p, g) for r in records for p, g, how in r["gaps"]
            if how == "kill" and (g is None or g > election_bound)]
    report.add(f"leader kills without a new leader within {election_bound:.1f} s", len(slow),
               [f"{f}: partition {p} {'none' if g is None else f'{g:.2f} s'}" for f, p, g in slow])
    minority = [(r["fault"], pr) for r in records for pr in r["probes"]
                if pr[2] == 0 and pr[5] < pr[6]]
    report.add("acknowledged by the minority side of a cut", len(minority),
               [f"{f}: {pr[0]} partition {pr[1]} offset {pr[3]}" for f, pr in minority])
    bad_create = [r["details"] for r in records if r.get("create_ok") is False]
    report.add("topics not created everywhere after a controller kill", len(bad_create), bad_create)
    return lost


def judge_groups(groups, acked, final, high_watermarks, report, t0=0.0):
    """groups: {group id: {"polls": {member: [(generation, p, offset, value, t)]},
    "starts": {member: {generation: {p: committed floor}}}, "commits": [(t,
    member, p, offset)] acknowledged, "committed": {p: offset or None} read
    after the run}; final: {p: {offset: value}}; t0: the monotonic time the
    examples' times count from."""
    unseen, below, backwards, bad_end = [], [], [], []
    for group, g in sorted(groups.items()):
        seen = {row[3] for rows in g["polls"].values() for row in rows}
        missing = sorted(v for v in acked if v not in seen)
        unseen += [f"{group}: {v} acked at {acked[v]}" for v in missing]
        # A generation's first record of a partition: not below what the
        # group had acknowledged committing before the assignment.
        for member, rows in sorted(g["polls"].items()):
            first = {}
            for gen, p, o, v, _ in rows:
                first.setdefault((gen, p), o)
            for (gen, p), o in sorted(first.items()):
                floor = g["starts"][member].get(gen, {}).get(p, 0)
                if o < floor:
                    below.append(f"{group} member {member} generation {gen} partition {p}: "
                                 f"first polled {o}, committed {floor} before the assignment")
        # Acknowledged commits, in the order their answers came, never go back.
        last = {}
        for t, member, p, o, gen, sent in sorted(g["commits"]):
            if o < last.get(p, (-1,))[0]:
                o0, m0, gen0, sent0, a0 = last[p]
                backwards.append(f"{group} partition {p}: {o0} (member {m0} generation {gen0}, "
                                 f"sent {sent0 - t0:.2f} answered {a0 - t0:.2f}) then {o} (member "
                                 f"{member} generation {gen}, sent {sent - t0:.2f} answered "
                                 f"{t - t0:.2f})")
            if o >= last.get(p, (-1,))[0]:
                last[p] = (o, member, gen, sent, t)
        # After the run: the highest acknowledged commit survived, nothing is
        # committed past the high watermark, and the group drained: no record
        # at or past its committed offset.
        for p in sorted(final):
            c = g["committed"].get(p)
            end = max(final[p], default=-1) + 1
            acked_max = last.get(p, (-1,))[0]
            problems = []
            if c is None and (acked_max >= 0 or end > 0):
                problems.append("nothing committed")
            elif c is not None:
                if c < acked_max:
                    problems.append(f"below the acknowledged commit {acked_max}")
                if c > high_watermarks[p]:
                    problems.append(f"past the high watermark {high_watermarks[p]}")
                if c < end:
                    problems.append(f"short of the last record's end {end}")
            if problems:
                bad_end.append(f"{group} partition {p}: committed {c}: {', '.join(problems)}")
    report.add("acknowledged records the group never polled", len(unseen), unseen)
    report.add("group members starting below the group's acknowledged commit", len(below), below)
    report.add("group commits going backwards", len(backwards), backwards)
    report.add("group offsets after the run lost, past the high watermark or short of the end",
               len(bad_end), bad_end)


def judge_moves(records, report, moved_acked, moved_final, moved_start):
    """The controller_during_reassign faults: each reassignment completed
    (none pending, every serving broker's Metadata naming the target) within
    its bound; nothing acknowledged on the moved topic missing, right after
    each move nor in a read at the end (moved_final: None if not read to its
    end); and its log start still 0 (7-day retention: nothing may expire)."""
    bad = [r["details"] for r in records if r.get("reassign_ok") is False]
    report.add("reassignments not completed after a controller kill", len(bad), bad)
    lost = [v for r in records for v in r.get("moved_lost", ())]
    if moved_final is None:
        lost.append("the moved topic not read to its end after the run")
    else:
        lost += [f"{v} (at the end)" for v in sorted(moved_acked - moved_final)]
    report.add("records acknowledged on the moved topic missing", len(lost), lost)
    starts = [f"after move: {r['details']}" for r in records
              if r.get("moved_start") not in (None, 0)]
    if moved_start not in (None, 0):
        starts.append(f"at the end: {moved_start}")
    report.add("moved topic's log start past 0 (segments deleted under 7-day retention)",
               len(starts), starts)


VALUE = re.compile(r"^(?P<tag>[\w.]+)-p(?P<idx>\d+)-(?P<seq>\d+)$")
