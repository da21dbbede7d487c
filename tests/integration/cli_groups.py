# SPDX-License-Identifier: Apache-2.0
"""The spate group commands against the real spated (issue 14): a
confluent-kafka consumer joins a group and commits; `group list` and
`group describe` show it (member, client id, host, assignment, committed
offset, log end offset, lag); `reset-offsets` and `delete` are refused while it
is a member; after it leaves, reset to earliest / an offset / latest (and
--dry-run) change the committed offsets, and delete removes the group.
Errors: an unknown group, bad flags (exit 2), a broker that is down.
Usage: cli_groups.py SPATED_BINARY SPATE_BINARY"""
import json
import socket
import sys
import time

from confluent_kafka import Consumer

import cli  # noqa: E402 (the spate() helper and the Spated harness, tests/integration/cli.py)
from cli import Spated, spate  # noqa: E402


def describe(broker, group):
    return json.loads(spate(broker, "--format", "json", "group", "describe", group).stdout)


def committed(d):
    return {(p["topic"], p["partition"]): p["committed_offset"] for p in d["partitions"]}


def join_and_commit(broker, group, records):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "client.id": "cli-groups-test", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000})
    c.subscribe(["events"])
    got = 0
    deadline = time.time() + 30
    while got < records and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got += 1
    assert got == records, got
    c.commit(asynchronous=False)
    return c


def with_member(broker, group):
    listed = json.loads(spate(broker, "--format", "json", "group", "list").stdout)
    assert {"group": group, "state": "Stable", "protocol_type": "consumer"} in listed, listed
    assert group in spate(broker, "group", "list").stdout
    d = describe(broker, group)
    assert d["state"] == "Stable" and d["protocol_type"] == "consumer", d
    assert len(d["members"]) == 1, d
    m = d["members"][0]
    assert m["client_id"] == "cli-groups-test" and m["host"] in ("127.0.0.1", "/127.0.0.1"), m
    assert sorted((a["topic"], a["partition"]) for a in m["assignment"]) == [
        ("events", 0), ("events", 1)], m
    assert committed(d) == {("events", 0): 10, ("events", 1): 10}, d
    assert d["total_lag"] == 0, d
    table = spate(broker, "group", "describe", group).stdout
    assert "Stable" in table and "events:0,1" in table and "total lag 0" in table, table
    r = spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-earliest",
              expect=1)
    assert "active member" in r.stderr, r.stderr
    r = spate(broker, "group", "delete", group, expect=1)
    assert "active members" in r.stderr, r.stderr
    print("  list/describe of a Stable group; reset and delete refused while it has a member")


def reset_after_leave(broker, group):
    time.sleep(0.02)
    t_mid = int(time.time() * 1000)
    spate(broker, "produce", "events", "-p", "0", stdin="".join(f"x{i}\n" for i in range(5)))
    d = describe(broker, group)
    assert d["state"] == "Empty" and d["members"] == [], d
    lag = {(p["topic"], p["partition"]): (p["log_end_offset"], p["lag"]) for p in d["partitions"]}
    assert lag == {("events", 0): (15, 5), ("events", 1): (10, 0)}, lag
    assert d["total_lag"] == 5, d
    dry = json.loads(spate(broker, "--format", "json", "group", "reset-offsets", group, "--topic",
                           "events", "--to-earliest", "--dry-run").stdout)
    assert dry["dry_run"] and [p["new_offset"] for p in dry["partitions"]] == [0, 0], dry
    assert committed(describe(broker, group)) == {("events", 0): 10, ("events", 1): 10}
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-earliest")
    assert committed(describe(broker, group)) == {("events", 0): 0, ("events", 1): 0}
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-offset", "7",
          "--partition", "1")
    assert committed(describe(broker, group)) == {("events", 0): 0, ("events", 1): 7}
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-latest")
    d = describe(broker, group)
    assert committed(d) == {("events", 0): 15, ("events", 1): 10} and d["total_lag"] == 0, d
    # An offset past the end is clamped into the log, as Kafka's tool does.
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-offset", "999",
          "-p", "0")
    assert committed(describe(broker, group))[("events", 0)] == 15
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--shift-by", "-4")
    assert committed(describe(broker, group)) == {("events", 0): 11, ("events", 1): 6}
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--shift-by", "100")
    assert committed(describe(broker, group)) == {("events", 0): 15, ("events", 1): 10}
    # The first x record (offset 10 of partition 0); none on partition 1: its end.
    spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-time", str(t_mid))
    assert committed(describe(broker, group)) == {("events", 0): 10, ("events", 1): 10}
    print("  reset-offsets to earliest, an offset, latest, a time, shifted, --dry-run; lag")


def errors(broker, group):
    r = spate(broker, "group", "describe", "no-such-group", expect=1)
    assert "no group 'no-such-group'" in r.stderr, r.stderr
    r = spate(broker, "group", "delete", "no-such-group", expect=1)
    assert "no-such-group" in r.stderr, r.stderr
    for flags in (["--to-earliest", "--to-latest"], [], ["--to-offset", "x"],
                  ["--to-time", "5", "--shift-by", "1"], ["--to-time", "-1"],
                  ["--to-latest", "--partition", "-1"]):
        r = spate(broker, "group", "reset-offsets", group, "--topic", "events", *flags, expect=2)
        assert r.stderr, flags
    spate(broker, "group", "reset-offsets", group, "--to-latest", expect=2)  # no --topic
    r = spate(broker, "group", "reset-offsets", group, "--topic", "events", "--to-latest", "-p",
              "9", expect=1)
    assert "partitions 0 to 1" in r.stderr, r.stderr
    r = spate(broker, "group", "reset-offsets", group, "--topic", "nope", "--to-latest", expect=1)
    assert "nope" in r.stderr, r.stderr
    spate(broker, "group", "bogus", expect=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{s.getsockname()[1]}"
    r = spate(down, "group", "list", expect=1)
    assert "cannot connect" in r.stderr, r.stderr
    print("  unknown group, bad flags (exit 2), unknown topic/partition, broker down")


def bench_group(broker):
    spate(broker, "topic", "create", "perf", "-p", "4")
    for p in range(4):
        spate(broker, "produce", "perf", "-p", str(p), stdin="".join(f"r{i}\n" for i in range(500)))
    run = spate(broker, "--format", "json", "bench", "consume", "-t", "perf", "-c", "3", "--group",
                "bench-group")
    assert json.loads(run.stdout)["records"] >= 2000, run.stdout + run.stderr
    assert "3 members of group bench-group" in run.stderr, run.stderr
    d = describe(broker, "bench-group")
    assert d["state"] == "Empty" and d["total_lag"] == 0, d
    assert committed(d) == {("perf", p): 500 for p in range(4)}, d
    # From the committed offsets: nothing left.
    again = spate(broker, "--format", "json", "bench", "consume", "-t", "perf", "--group",
                  "bench-group")
    assert json.loads(again.stdout)["records"] == 0, again.stdout
    print("  bench consume --group: 3 members read every partition and commit its end")


def main(binary, spate_binary):
    cli.SPATE = spate_binary
    broker = Spated(binary).start()
    consumer = None
    try:
        group = "cli-group"
        spate(broker, "topic", "create", "events", "-p", "2")
        for p in (0, 1):
            spate(broker, "produce", "events", "-p", str(p),
                  stdin="".join(f"v{i}\n" for i in range(10)))
        consumer = join_and_commit(broker, group, 20)
        with_member(broker, group)
        consumer.close()
        consumer = None
        reset_after_leave(broker, group)
        errors(broker, group)
        spate(broker, "group", "delete", group)
        assert group not in spate(broker, "group", "list").stdout
        spate(broker, "group", "describe", group, expect=1)
        print("  delete of an empty group")
        bench_group(broker)
        assert broker.stop() == 0, broker.log()
    finally:
        if consumer is not None:
            consumer.close()
        broker.close()
    print("cli_groups: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
