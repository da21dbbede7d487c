# SPDX-License-Identifier: Apache-2.0
"""The idempotent producer's state through kill -9 and restarts, by hand on
the wire: producer ids are never handed out twice (the id block is durable
before use), and after a kill -9 (no snapshot: the state is rebuilt by
scanning the log) and after a clean restart (the snapshot) a retried batch is
still answered with its original offset and not appended, a gap still
answers OUT_OF_ORDER_SEQUENCE_NUMBER and an old epoch INVALID_PRODUCER_EPOCH.
Usage: idempotence_restart.py SPATED_BINARY"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import kafka_wire  # noqa: E402
from spated import Spated  # noqa: E402

TOPIC = "idem-restart"
OUT_OF_ORDER, INVALID_EPOCH = 45, 47


def batch(pid, epoch, seq, values, ts=None):
    # Now: a rebuild from the log dates a producer by its batches (Kafka too),
    # so old timestamps would make it expire at the restart.
    ts = int(time.time() * 1000) if ts is None else ts
    return kafka_wire.record_batch(values, ts, pid, epoch, seq)


class Wire:
    def __init__(self, broker):
        self.s = kafka_wire.connect(broker)
        self.cid = 0

    def call(self, key, version, body):
        self.cid += 1
        self.s.sendall(kafka_wire.request(key, version, body, self.cid))
        resp = kafka_wire.read_frame(self.s)
        assert resp is not None, "connection closed"
        assert struct.unpack(">i", resp[:4])[0] == self.cid
        return resp[4:]

    def init_producer_id(self):
        r = self.call(22, 1, struct.pack(">hi", -1, 60000))
        _throttle, err, pid, epoch = struct.unpack(">ihqh", r[:16])
        assert err == 0, err
        return pid, epoch

    def produce(self, records):
        name = TOPIC.encode()
        body = (struct.pack(">hhii", -1, -1, 10000, 1) + struct.pack(">h", len(name)) + name +
                struct.pack(">iii", 1, 0, len(records)) + records)
        r = self.call(0, 3, body)
        n = struct.unpack(">h", r[4:6])[0]
        at = 6 + n + 4
        _index, err, base = struct.unpack(">ihq", r[at:at + 14])
        return err, base

    def close(self):
        self.s.close()


def main(binary):
    broker = Spated(binary)
    broker.start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(10)
        del admin
        w = Wire(broker)
        ids = [w.init_producer_id()[0] for _ in range(3)]
        pid = ids[0]
        assert w.produce(batch(pid, 0, 0, [b"x"])) == (0, 0)
        # Epoch 1 from here (as after a KIP-360 bump); it must start at 0.
        for seq in (0, 2, 4, 6):
            err, base = w.produce(batch(pid, 1, seq, [b"a", b"b"]))
            assert err == 0, err
        # Offsets: x at 0, then the pairs at 1, 3, 5, 7.
        w.close()
        for label, restart, next_seq, next_offset in (("kill -9", "kill", 8, 9),
                                                      ("SIGTERM", "term", 9, 10)):
            if restart == "kill":
                broker.proc.kill()  # SIGKILL: no snapshot, no clean marker
                broker.proc.wait(10)
            else:
                assert broker.stop() == 0
            broker.start()
            w = Wire(broker)
            fresh = w.init_producer_id()[0]
            assert fresh not in ids and fresh > max(ids), f"{label}: id {fresh} after {ids}"
            ids.append(fresh)
            for seq, base in ((0, 1), (2, 3), (4, 5), (6, 7)):
                got = w.produce(batch(pid, 1, seq, [b"a", b"b"]))
                assert got == (0, base), f"{label}: retry of seq {seq}: {got}"
            assert w.produce(batch(pid, 1, 10, [b"gap"]))[0] == OUT_OF_ORDER, label
            assert w.produce(batch(pid, 0, 1, [b"old"]))[0] == INVALID_EPOCH, label
            # Nothing was appended by the retries.
            got = w.produce(batch(pid, 1, next_seq, [b"next"]))
            assert got == (0, next_offset), f"{label}: next batch {got}"
            w.close()
            time.sleep(0.1)
        log = broker.log()
        assert "batches replayed" in log, "no producer state rebuild logged"
    finally:
        broker.stop()
        broker.close()
    print("idempotence restart: ok")


if __name__ == "__main__":
    main(sys.argv[1])
