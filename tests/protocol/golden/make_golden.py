#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes golden request frames (header v1 + body, no size prefix) encoded by an
# independent implementation: kafka-python 2.0.2's protocol classes (Debian's
# python3-kafka; run with /usr/bin/python3). Each file is
# <api>_v<version>_request.hex; tests/protocol/golden_test.cpp decodes them,
# checks fields and re-encodes them byte for byte.
import os
import sys

from kafka.protocol.admin import (AlterConfigsRequest, DeleteGroupsRequest, CreatePartitionsRequest, CreateTopicsRequest,
                                  DeleteTopicsRequest, DescribeConfigsRequest,
                                  DescribeGroupsRequest, ListGroupsRequest,
                                  SaslAuthenticateRequest, SaslHandShakeRequest,
                                  ApiVersionRequest)
from kafka.protocol.api import RequestHeader
from kafka.protocol.commit import (GroupCoordinatorRequest, OffsetCommitRequest,
                                   OffsetFetchRequest)
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.group import (HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
                                  SyncGroupRequest)
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.offset import OffsetRequest
from kafka.protocol.produce import ProduceRequest

# librdkafka's batch from kafka-protocol.md §3.3 (records k1:v1, k2:v2).
BATCH = bytes.fromhex(
    "0000000000000000000000470000000002cffafa2c000000000001000001a202c1de02"
    "000001a202c1de02ffffffffffffffffffffffffffff00000002"
    "14 00 00 00 04 6b31 04 7631 00 14 00 00 02 04 6b32 04 7632 00".replace(" ", ""))

CASES = [
    ("api_versions", 0, ApiVersionRequest[0]()),
    ("api_versions", 2, ApiVersionRequest[2]()),
    ("metadata", 0, MetadataRequest[0](topics=["orders", "t"])),
    ("metadata", 1, MetadataRequest[1](topics=None)),
    ("metadata", 4, MetadataRequest[4](topics=["orders"], allow_auto_topic_creation=False)),
    ("metadata", 5, MetadataRequest[5](topics=["orders"], allow_auto_topic_creation=True)),
    ("produce", 3, ProduceRequest[3](transactional_id=None, required_acks=-1, timeout=1500,
                                     topics=[("orders", [(0, BATCH)])])),
    ("produce", 7, ProduceRequest[7](transactional_id=None, required_acks=1, timeout=30000,
                                     topics=[("orders", [(0, BATCH), (1, BATCH)])])),
    ("fetch", 4, FetchRequest[4](replica_id=-1, max_wait_time=500, min_bytes=1,
                                 max_bytes=52428800, isolation_level=0,
                                 topics=[("orders", [(0, 42, 1048576)])])),
    ("fetch", 11, FetchRequest[11](replica_id=-1, max_wait_time=500, min_bytes=1,
                                   max_bytes=52428800, isolation_level=1, session_id=0,
                                   session_epoch=-1,
                                   topics=[("orders", [(0, 5, 42, 0, 1048576)])],
                                   forgotten_topics_data=[], rack_id="")),
    ("list_offsets", 1, OffsetRequest[1](replica_id=-1,
                                         topics=[("orders", [(0, -2), (1, 1700000000000)])])),
    ("list_offsets", 2, OffsetRequest[2](replica_id=-1, isolation_level=1,
                                         topics=[("orders", [(0, -1)])])),
    ("create_topics", 3, CreateTopicsRequest[3](
        create_topic_requests=[("orders", 3, 1, [], [("retention.ms", "86400000")])],
        timeout=30000, validate_only=False)),
    ("delete_topics", 3, DeleteTopicsRequest[3](topics=["orders", "t"], timeout=30000)),
    ("describe_configs", 2, DescribeConfigsRequest[2](
        resources=[(2, "orders", ["retention.ms"]), (4, "0", None)], include_synonyms=True)),
    ("create_partitions", 1, CreatePartitionsRequest[1](
        topic_partitions=[("orders", (6, None))], timeout=30000, validate_only=False)),
    ("find_coordinator", 0, GroupCoordinatorRequest[0]("group-1")),
    ("find_coordinator", 1, GroupCoordinatorRequest[1]("group-1", 0)),
    ("join_group", 2, JoinGroupRequest[2](group="group-1", session_timeout=10000,
                                          rebalance_timeout=300000, member_id="",
                                          protocol_type="consumer",
                                          group_protocols=[("range", b"\x00\x01meta")])),
    ("sync_group", 1, SyncGroupRequest[1](group="group-1", generation_id=3, member_id="m-1",
                                          group_assignment=[("m-1", b"\x00\x01assign")])),
    ("heartbeat", 1, HeartbeatRequest[1](group="group-1", generation_id=3, member_id="m-1")),
    ("leave_group", 1, LeaveGroupRequest[1](group="group-1", member_id="m-1")),
    ("offset_commit", 2, OffsetCommitRequest[2](consumer_group="group-1",
                                                consumer_group_generation_id=3,
                                                consumer_id="m-1", retention_time=-1,
                                                topics=[("orders", [(0, 42, "meta")])])),
    ("offset_fetch", 1, OffsetFetchRequest[1](consumer_group="group-1",
                                              topics=[("orders", [0, 1])])),
    ("offset_fetch", 3, OffsetFetchRequest[3](consumer_group="group-1", topics=None)),
    ("list_groups", 1, ListGroupsRequest[1]()),
    ("describe_groups", 1, DescribeGroupsRequest[1](groups=["group-1"])),
    ("alter_configs", 0, AlterConfigsRequest[0](
        resources=[(2, "orders", [("retention.ms", "1000"), ("cleanup.policy", "delete")])],
        validate_only=False)),
    ("alter_configs", 1, AlterConfigsRequest[1](resources=[(2, "orders", [("retention.ms", None)])],
                                               validate_only=True)),
    ("delete_groups", 1, DeleteGroupsRequest[1](groups_names=["group-1", "group-2"])),
    ("sasl_handshake", 1, SaslHandShakeRequest[1](mechanism="PLAIN")),
    ("sasl_authenticate", 1, SaslAuthenticateRequest[1](sasl_auth_bytes=b"\x00user\x00pass")),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    for correlation, (api, version, request) in enumerate(CASES, start=1):
        header = RequestHeader(request, correlation_id=correlation, client_id="kafka-python-2.0.2")
        frame = header.encode() + request.encode()
        with open(os.path.join(out, f"{api}_v{version}_request.hex"), "w") as f:
            f.write(frame.hex() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
