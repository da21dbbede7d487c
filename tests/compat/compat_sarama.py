# SPDX-License-Identifier: Apache-2.0
"""Shopify/sarama 1.22 (Debian's golang-github-shopify-sarama-dev, Go from
golang-go) against a real spated. Builds tests/compat/sarama/sarama_compat.go
in GOPATH mode with nothing downloaded, then: a SyncProducer (V2_1_0_0,
acks=all) sends 1,000 records to two partitions; after the broker's retention
has run for several seconds (it runs every 100 ms tick) ConsumePartition reads
every record back with its key and value, the log start offsets are still 0,
and the segments did not roll per batch.

sarama 1.22 leaves the batch header's maxTimestamp at -1 while its records
carry real timestamps (issue 12 item 0): a broker that trusts the header ages
those segments as 56 years old and retention deletes them at once.
Usage: compat_sarama.py SPATED_BINARY"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from spated import Spated

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDS = 1000
TOPIC = "sarama-compat"
RETENTION_WAIT_S = 3.0  # 30 retention ticks


def build(workdir, directory="sarama", source="sarama_compat.go", gocache=None):
    """The Go program, built from Debian's Go packages only (GOPATH mode)."""
    env = dict(os.environ)
    env.update({
        "GO111MODULE": "off",
        "GOPATH": os.path.join(workdir, "gopath") + ":/usr/share/gocode",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": gocache or os.path.join(workdir, "gocache"),
        "CGO_ENABLED": "1",
    })
    binary = os.path.join(workdir, os.path.splitext(source)[0])
    run = subprocess.run(["go", "build", "-o", binary, source],
                         cwd=os.path.join(HERE, directory), env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, f"go build failed ({run.returncode}):\n{run.stderr}"
    return binary


def sarama(binary, bootstrap, mode):
    run = subprocess.run([binary, "-brokers", bootstrap, "-topic", TOPIC, "-mode", mode,
                          "-n", str(RECORDS)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"sarama {mode} exited {run.returncode}:\n{run.stderr}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def segment_files(data_dir, partition):
    return sorted(glob.glob(os.path.join(data_dir, f"{TOPIC}-{partition}", "*.log")))


def main(spated_binary):
    with tempfile.TemporaryDirectory(prefix="spate-sarama-") as workdir:
        binary = build(workdir)
        # Retention of one hour: nothing written now may be deleted.
        args = ["--num-partitions", "2", "--retention-ms", "3600000"]
        with Spated(spated_binary, args) as broker:
            produced = sarama(binary, broker.bootstrap, "produce")
            offsets = {int(p): o for p, o in produced["offsets"].items()}
            assert sorted(offsets) == [0, 1], produced
            for p, o in offsets.items():
                assert o == list(range(RECORDS // 2)), (p, o[:5], len(o))

            time.sleep(RETENTION_WAIT_S)  # the broker's retention ticks run meanwhile

            got = sarama(binary, broker.bootstrap, "consume")
            assert got["mismatches"] in (None, []), got["mismatches"][:5]
            assert got["records"] == RECORDS, got
            assert got["records_with_timestamps"] == RECORDS, got
            for p in ("0", "1"):
                assert got["start_offset"][p] == 0, ("retention deleted records", got)
                assert got["end_offset"][p] == RECORDS // 2, got
            # 500 sends per partition: far fewer segments than batches.
            for p in (0, 1):
                files = segment_files(broker.data_dir, p)
                assert 1 <= len(files) <= 2, (p, "segments rolled per batch", len(files))
            assert "retention deleted" not in broker.log(), broker.log()[-2000:]
    print("compat sarama: ok")


if __name__ == "__main__":
    main(sys.argv[1])
