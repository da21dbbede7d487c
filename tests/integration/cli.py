# SPDX-License-Identifier: Apache-2.0
"""The project's own client, the spate CLI, against the real spated: every
topic command, produce and consume (keys, headers, timestamps, every codec,
every --from), cluster info, bench, clear errors with non-zero exits, data
intact after a SIGTERM restart and after kill -9.
Usage: cli.py SPATED_BINARY SPATE_BINARY"""
import codecs
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from spated import Spated  # noqa: E402

SPATE = None


def spate(broker, *args, stdin=None, expect=0):
    bs = broker if isinstance(broker, str) else broker.bootstrap
    run = subprocess.run([SPATE, "-b", bs, *args], input=stdin, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == expect, (f"spate {' '.join(args)}: exit {run.returncode}, want "
                                      f"{expect}\n{run.stdout}{run.stderr}")
    return run


def consume_json(broker, topic, *args):
    out = spate(broker, "consume", topic, "-o", "json", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def topics_and_configs(broker):
    info = json.loads(spate(broker, "--format", "json", "cluster", "info").stdout)
    assert len(info["brokers"]) == 1 and info["controller"] == 0, info
    # A single node has no other broker to remove (UnregisterBroker).
    alone = spate(broker, "cluster", "remove", "0", expect=1)
    assert "single node" in alone.stderr and "INVALID_REQUEST" in alone.stderr, alone.stderr
    spate(broker, "cluster", "remove", expect=2)  # no id: usage
    spate(broker, "topic", "create", "orders", "-p", "3", "-c", "retention.ms=3600000")
    spate(broker, "topic", "create", "orders", "-p", "3", expect=1)  # exists
    bad = spate(broker, "topic", "create", "bad", "-c", "retention.ms=soon", expect=1)
    assert "retention.ms" in bad.stderr, bad.stderr
    listed = json.loads(spate(broker, "--format", "json", "topic", "list").stdout)
    assert {"topic": "orders", "partitions": 3} in listed, listed
    spate(broker, "topic", "alter", "orders", "-c", "segment.bytes=1048576",
          "--delete-config", "retention.ms")
    d = json.loads(spate(broker, "--format", "json", "topic", "describe", "orders").stdout)
    assert d["configs"]["segment.bytes"] == "1048576", d["configs"]
    assert d["configs"]["retention.ms"] == "604800000", d["configs"]
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2], d
    spate(broker, "topic", "add-partitions", "orders", "--total", "4")
    d = json.loads(spate(broker, "--format", "json", "topic", "describe", "orders").stdout)
    assert len(d["partitions"]) == 4, d
    spate(broker, "topic", "add-partitions", "orders", "--total", "2", expect=1)
    print("  topic create/list/alter/describe/add-partitions, with refusals")


def produce_and_consume(broker):
    t0 = int(time.time() * 1000)
    sent = {}
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        lines = [f"{codec}-key-{i}|{codec} value {i}" for i in range(40)]
        spate(broker, "produce", "orders", "-K", "|", "-H", f"codec={codec}", "-H", "app=cli",
              "--acks", "all", "-z", codec, "--batch-bytes", "500", stdin="\n".join(lines) + "\n")
        for line in lines:
            k, v = line.split("|")
            sent[k] = (v, codec)
    t1 = int(time.time() * 1000)
    records = consume_json(broker, "orders")
    assert len(records) == len(sent), (len(records), len(sent))
    by_partition = {}
    for r in records:
        v, codec = sent[r["key"]]
        assert r["value"] == v and r["headers"] == {"codec": codec, "app": "cli"}, r
        assert t0 - 1000 <= r["timestamp"] <= t1 + 1000, r
        by_partition.setdefault(r["partition"], []).append(r)
    # One key always lands on one partition; offsets are dense per partition.
    for p, rs in by_partition.items():
        assert [r["offset"] for r in rs] == list(range(len(rs))), p
    again = consume_json(broker, "orders")
    assert {r["key"]: r["partition"] for r in again} == {r["key"]: r["partition"] for r in records}
    p, rs = max(by_partition.items(), key=lambda kv: len(kv[1]))
    tail = consume_json(broker, "orders", "-p", str(p), "--from", "-3")
    assert [r["offset"] for r in tail] == [len(rs) - 3, len(rs) - 2, len(rs) - 1], tail
    assert consume_json(broker, "orders", "--from", "end") == []
    assert len(consume_json(broker, "orders", "-p", str(p), "--from", "5", "-n", "2")) == 2
    at = consume_json(broker, "orders", "-p", str(p), "--from", f"@{rs[4]['timestamp']}", "-n", "1")
    assert at[0]["offset"] <= 4 and at[0]["timestamp"] >= rs[4]["timestamp"], at
    spate(broker, "topic", "delete-records", "orders", "-p", str(p), "--before", "10")
    assert consume_json(broker, "orders", "-p", str(p))[0]["offset"] == 10
    text = spate(broker, "consume", "orders", "-p", str(p), "-o", "kv", "-n", "1").stdout
    assert text == f"{rs[10]['key']}\t{rs[10]['value']}\n", text
    print(f"  {len(sent)} records under 5 codecs came back once, with keys, headers, timestamps")
    return by_partition


def errors(broker):
    down = spate("127.0.0.1:1", "topic", "list", expect=1)
    assert "cannot connect to 127.0.0.1:1" in down.stderr, down.stderr
    unknown = spate(broker, "consume", "no-such-topic", expect=1)
    assert "unknown topic 'no-such-topic'" in unknown.stderr, unknown.stderr
    spate(broker, "consume", "orders", "--from", "yesterday", expect=2)
    spate(broker, "topic", "create", "x", "-p", "0", expect=2)
    spate(broker, "--no-such-flag", "topic", "list", expect=2)
    bad_from = spate(broker, "consume", "orders", "-p", "9", expect=1)
    assert "no partition 9" in bad_from.stderr, bad_from.stderr
    spate(broker, "topic", "delete", "no-such-topic", expect=1)
    print("  unreachable broker, unknown topic, bad flags and values: clear errors, exit 1 or 2")


def bench(broker):
    out = spate(broker, "--format", "json", "bench", "produce", "-t", "b", "-n", "20000",
                "-s", "100").stdout
    produced = json.loads(out)
    assert produced["records"] >= 20000 and produced["latency_ms"]["p99"] > 0, produced
    consumed = json.loads(spate(broker, "--format", "json", "bench", "consume", "-t", "b").stdout)
    assert consumed["records"] == produced["records"], (consumed, produced)
    print(f"  bench: {produced['records']} records produced and consumed")


# Each byte that is not part of valid UTF-8 prints as the character U+00XX.
codecs.register_error("spate_bytes", lambda e: ("".join(map(chr, e.object[e.start:e.end])), e.end))


def as_text(raw):
    return raw.decode("utf-8", "spate_bytes")


def json_escaping(broker):
    """Keys, values and headers with quotes, backslashes, control characters,
    non-ASCII text and bytes that are not UTF-8 (lone, truncated, overlong,
    surrogate, past U+10FFFF) come out of `consume -o json` as valid UTF-8
    JSON holding the same text, keys in the documented order."""
    values = [b'say "hi"', b"back\\slash\\", b"tab\tcr\rnul\x00del\x7fesc\x1b",
              "h\u00e9 \u20ac \U0001F600".encode(), b"\xff\xc3", b"\xed\xa0\x80",
              b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"tail\xf0\x9f\x98"]
    keys = [b'k"%d\\' % i if i % 2 else b"k\xfe%d" % i for i in range(len(values))]
    lines = b"".join(k + b"|" + v + b"\n" for k, v in zip(keys, values))
    header = (b'q"\\\x01\xff', b'v"\xed\xa0\x80')
    run = subprocess.run([SPATE, "-b", broker.bootstrap, "produce", "esc", "-p", "0", "-K", "|",
                          "-H", header[0] + b"=" + header[1]], input=lines, capture_output=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([SPATE, "-b", broker.bootstrap, "consume", "esc", "-o", "json"],
                         capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    text = run.stdout.decode("utf-8")  # strict: every byte of the output is UTF-8
    got = [json.loads(line) for line in text.splitlines()]
    assert [r["key"] for r in got] == [as_text(k) for k in keys], got
    assert [r["value"] for r in got] == [as_text(v) for v in values], got
    for r in got:
        assert list(r) == ["topic", "partition", "offset", "timestamp", "key", "value",
                           "headers"], r
        assert r["headers"] == {as_text(header[0]): as_text(header[1])}, r
    print(f"  {len(got)} records with quotes, control characters and bad UTF-8: valid JSON")


def behind_a_port_mapping(binary):
    """A single node that advertises an address nobody listens on (as behind
    a port mapping): the CLI, given the address that works, uses it for every
    partition and for the group coordinator, as it did before it learned to
    route requests to leaders and coordinators."""
    with Spated(binary, ["--advertise", "127.0.0.1:9"]) as broker:
        spate(broker, "topic", "create", "mapped", "-p", "2")
        spate(broker, "produce", "mapped", "-K:", "--acks", "all",
              stdin="".join(f"k{i}:v{i}\n" for i in range(40)))
        assert len(consume_json(broker, "mapped")) == 40
        assert spate(broker, "topic", "describe", "mapped").returncode == 0
        run = json.loads(spate(broker, "--format", "json", "bench", "consume", "-t", "mapped",
                               "--group", "mapped-g").stdout)
        assert run["records"] == 40, run
        described = json.loads(spate(broker, "--format", "json", "group", "describe",
                                     "mapped-g").stdout)
        assert sorted(p["committed_offset"] for p in described["partitions"]) == sorted(
            p["log_end_offset"] for p in described["partitions"]), described
        spate(broker, "group", "delete", "mapped-g")
    print("  advertised at a dead address: produce, consume, describe, bench --group and group "
          "commands through the real one")


def main(binary, spate_binary):
    global SPATE
    SPATE = spate_binary
    broker = Spated(binary).start()
    try:
        topics_and_configs(broker)
        by_partition = produce_and_consume(broker)
        errors(broker)
        bench(broker)
        json_escaping(broker)
        behind_a_port_mapping(binary)
        before = consume_json(broker, "orders")
        assert broker.stop() == 0, broker.log()
        broker.start()
        assert consume_json(broker, "orders") == before, "records changed across a restart"
        # kill -9 right after acknowledged produces: nothing acknowledged is lost.
        lines = "".join(f"k{i}|v{i}\n" for i in range(5000))
        spate(broker, "produce", "crash", "-K", "|", "--acks", "all", "--batch-bytes", "2000",
              stdin=lines)
        broker.proc.send_signal(signal.SIGKILL)
        broker.proc.wait(10)
        broker.start()
        got = consume_json(broker, "crash")
        assert sorted((r["key"], r["value"]) for r in got) == sorted(
            (f"k{i}", f"v{i}") for i in range(5000)), len(got)
        spate(broker, "topic", "delete", "orders")
        assert "orders" not in spate(broker, "topic", "list").stdout
        assert broker.stop() == 0
        print(f"  restart kept {len(before)} records; kill -9 kept all 5000 acknowledged")
    finally:
        broker.close()
    del by_partition
    print("cli: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
