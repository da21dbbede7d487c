#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/*) from the
# byte layouts of kafka-protocol.md: request frames as the real clients send
# them, and the record batches captured from librdkafka and KafkaJS (§3.3).
# The golden_* request seeds are the fixtures of tests/protocol/golden with
# their size prefix. The raft and rpc seeds follow raft/wire.h and
# cluster/rpc.h (tests/cluster/rpc_test.cpp checks that the rpc ones decode).
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def compact(s):
    b = s.encode()
    return bytes([len(b) + 1]) + b


def frame(key, version, corr, client, body, flexible_header=False):
    header = struct.pack(">hhi", key, version, corr) + s16(client)
    if flexible_header:
        header += b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def hexbytes(h):
    return bytes.fromhex(h.replace(" ", ""))


LIBRDKAFKA_BATCH = hexbytes(
    "0000000000000000 00000047 00000000 02 cffafa2c 0000 00000001 000001a202c1de02 "
    "000001a202c1de02 ffffffffffffffff ffff ffffffff 00000002 "
    "14 00 00 00 04 6b31 04 7631 00 14 00 00 02 04 6b32 04 7632 00")
KAFKAJS_BATCH = hexbytes(
    "0000000000000000 0000004b 00000000 02 56f040d7 0000 00000001 000001a202c2b239 "
    "000001a202c2b239 ffffffffffffffff 0000 00000000 00000002 "
    "1e 00 00 00 04 6b6a 06 6a7331 02 02 68 02 76 12 00 00 02 01 06 6a7332 00")

REQUESTS = {
    "api_versions_v0": frame(18, 0, 1, "kafka-python-2.0.2", b""),
    "api_versions_v3": frame(18, 3, 1, "rdkafka",
                             compact("librdkafka") + compact("2.0.2") + b"\x00", True),
    "metadata_v1_one_topic": frame(3, 1, 2, "rdkafka", struct.pack(">i", 1) + s16("t")),
    "metadata_v4_all": frame(3, 4, 3, "rdkafka", struct.pack(">i", -1) + b"\x01"),
    # v7: v6's body (the response adds the leader epochs); no auto-creation.
    "metadata_v7_two_topics": frame(3, 7, 9, "java", struct.pack(">i", 2) + s16("t") + s16("u") +
                                    b"\x00"),
    "produce_v7": frame(0, 7, 4, "rdkafka",
                        struct.pack(">hhi", -1, -1, 1500) + struct.pack(">i", 1) + s16("t") +
                        struct.pack(">ii", 1, 0) + struct.pack(">i", len(LIBRDKAFKA_BATCH)) +
                        LIBRDKAFKA_BATCH),
    "offset_fetch_v7": frame(9, 7, 5, "rdkafka",
                             hexbytes("0267 02 0274 0200000000 00 00 00"), True),
    # KIP-455: partition 0 of "t" to [1, 2], partition 3's move cancelled (null).
    "alter_partition_reassignments_v0": frame(
        45, 0, 7, "spate",
        hexbytes("000003e8 02 0274 03 00000000 03 0000000100000002 00 00000003 00 00 00 00"), True),
    "list_partition_reassignments_v0": frame(46, 0, 8, "spate", hexbytes("0000ea60 00 00"), True),
    # `spate cluster remove 3`.
    "unregister_broker_v0": frame(64, 0, 9, "spate", hexbytes("00000003 00"), True),
    "fetch_v11": frame(1, 11, 6, "rdkafka",
                       struct.pack(">iiiibii", -1, 500, 1, 52428800, 0, 0, -1) +
                       struct.pack(">i", 1) + s16("t") + struct.pack(">i", 1) +
                       struct.pack(">iiqqi", 0, -1, 0, -1, 1048576) + struct.pack(">i", 0) +
                       s16("")),
    "create_topics_v3": frame(19, 3, 7, "kafkajs",
                              struct.pack(">i", 1) + s16("orders") + struct.pack(">ih", 3, -1) +
                              struct.pack(">i", 0) + struct.pack(">i", 1) + s16("retention.ms") +
                              s16("1000") + struct.pack(">ib", 30000, 0)),
}

BATCHES = {"librdkafka": LIBRDKAFKA_BATCH, "kafkajs": KAFKAJS_BATCH}


# Raft messages (include/spate/raft/wire.h, version 2).
def raft_membership(voters, learners):
    return (struct.pack(">I", len(voters)) + b"".join(struct.pack(">i", v) for v in voters) +
            struct.pack(">I", len(learners)) + b"".join(struct.pack(">i", l) for l in learners))


def raft_message(kind, frm, to, term, log_index, log_term, commit, hint=0, flags=0, entries=(),
                 restart=None):
    out = struct.pack(">BBiiqqqqqB", 2, kind, frm, to, term, log_index, log_term, commit, hint,
                      flags)
    out += struct.pack(">I", len(entries))
    for index, eterm, ekind, span, data in entries:
        out += struct.pack(">qqBII", index, eterm, ekind, span, len(data)) + data
    if restart is not None:
        members, snapshot = restart
        out += members + struct.pack(">I", len(snapshot)) + snapshot
    return out


RAFT = {
    "pre_vote": raft_message(0, 1, 2, 4, 17, 3, 0),
    "vote_reply_reject": raft_message(3, 2, 1, 4, 0, 0, 0, flags=1),
    "append": raft_message(4, 0, 1, 3, 9, 3, 8, entries=[
        (14, 3, 0, 5, b"record batch of 5"), (15, 3, 0, 1, b""),
        (16, 3, 1, 1, raft_membership([0, 1, 2], [3]))]),
    "append_reply_reject": raft_message(5, 1, 0, 3, 9, 2, 0, hint=7, flags=1),
    "heartbeat": raft_message(6, 0, 2, 3, 0, 0, 8),
    "timeout_now": raft_message(8, 0, 2, 3, 0, 0, 0, flags=2),
    "restart": raft_message(9, 0, 3, 5, 120, 4, 130,
                            restart=(raft_membership([0, 1, 2, 3], []), b"controller state")),
}


# Inter-broker frames (include/spate/cluster/rpc.h, version 1): u32 size, then
# u8 version, u8 kind (1 hello, 2 raft_batch, 3 request, 4 response), fields.
def rpc_frame(kind, body, version=1):
    payload = struct.pack(">BB", version, kind) + body
    return struct.pack(">I", len(payload)) + payload


def rpc_hello(cluster, node, low=1, high=1):
    c = cluster.encode()
    return rpc_frame(1, struct.pack(">H", len(c)) + c + struct.pack(">iBB", node, low, high))


def rpc_batch(frm, to, items):
    body = struct.pack(">iiI", frm, to, len(items))
    for topic, partition, message in items:
        body += struct.pack(">QiI", topic, partition, len(message)) + message
    return rpc_frame(2, body)


def rpc_call(kind, correlation, word, payload):
    return rpc_frame(kind, struct.pack(">QHI", correlation, word, len(payload)) + payload)


RPC = {
    "hello": rpc_hello("spate-cluster", 1),
    "hello_then_heartbeats": rpc_hello("c", 0) + rpc_batch(0, 2, [
        (0, 0, RAFT["heartbeat"]), (7, 0, RAFT["heartbeat"]), (7, 1, RAFT["heartbeat"])]),
    "raft_batch_append": rpc_batch(0, 1, [(3, 2, RAFT["append"]), (3, 5, RAFT["restart"])]),
    "raft_batch_empty": rpc_batch(4, 5, []),
    "request": rpc_call(3, 42, 7, b"controller call"),
    "response": rpc_call(4, 42, 0, b"answer"),
    "response_error": rpc_call(4, 43, 3, b"no such topic"),
    "request_response": rpc_call(3, 1, 1, b"") + rpc_call(4, 1, 0, b"x"),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    for sub, items in (("request", REQUESTS), ("batch", BATCHES), ("raft", RAFT), ("rpc", RPC)):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for name, data in items.items():
            with open(os.path.join(out, sub, name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
