"""Hostile input: no request makes the server answer 5xx or die.

Hand-written abuse (malformed JSON, wrong types, huge and endless bodies, deep
nesting, unknown targets, bad content types, invalid UTF-8, out-of-range
numbers, over-long strings, 101-element lists, HTTP-level tricks), then a
property-based test: hypothesis generates requests for every implemented
operation from botocore's own input shapes, valid and mutated, and checks that
the status is < 500, that an error's code is one the operation declares (or a
protocol error), and that the store stays consistent (tests/consistency.py).

Bounded: the property test runs a fixed number of examples per operation,
derandomized so that every run of the suite tries the same requests (50 per operation).  For a
longer, random exploration:

    PORTSIDE_FUZZ_EXAMPLES=500 PORTSIDE_FUZZ_RANDOM=1 pytest tests/integration/test_hostile.py
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portside.api  # noqa: F401  (registers the handlers: the implemented operations)
from conftest import ServerProcess
from consistency import StoreChecker
from helpers import resources
from portside.protocol.dispatch import HANDLERS
from portside.protocol.model import declared_errors, operation_model
from sigv4 import ECS, TEST_KEY, raw_call, sign

PROTOCOL_ERRORS = {
    "SerializationException", "UnknownOperationException", "ValidationException",
    "RequestEntityTooLargeException",
    "UnsupportedFeatureException",  # Portside's answer for an ECS feature it does not implement
}
FUZZ_EXAMPLES = int(os.environ.get("PORTSIDE_FUZZ_EXAMPLES", "50"))
FUZZ_RANDOM = os.environ.get("PORTSIDE_FUZZ_RANDOM") == "1"

OUTCOMES: Counter = Counter()  # (operation, how made, 200 or error code) → requests
TRIED = {"handwritten": 0, "generated": 0, "mutated": 0, "consistency_checks": 0}


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One server, populated, for the whole module: hostile requests should
    find a store with something in it."""
    proc = ServerProcess(tmp_path_factory.mktemp("hostile")).start()
    replenish(proc.client())
    yield proc
    proc.stop()


def replenish(ecs) -> None:
    """Clusters, ACTIVE instances (one with reserved port 80), ACTIVE task
    definitions (static TCP and UDP host ports, task-level sizes, host
    networking) and some tasks: what earlier requests may have deleted,
    deregistered or filled up comes back, so each operation meets a store
    worth mutating."""
    for cluster in ("default", "other"):
        ecs.create_cluster(clusterName=cluster)
        active = ecs.list_container_instances(cluster=cluster, status="ACTIVE")["containerInstanceArns"]
        for i in range(len(active), 3 if cluster == "default" else 1):
            ecs.register_container_instance(cluster=cluster, totalResources=resources(
                4096, 8192, ["22", "80"] if i == 0 else None))
    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "busybox", "cpu": 128, "memory": 128,
         "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "hostPort": 5353,
                                                                     "protocol": "udp"}]},
        {"name": "side", "image": "busybox", "memoryReservation": 64, "essential": False}])
    ecs.register_task_definition(family="batch", cpu="256", memory="512", containerDefinitions=[
        {"name": "c0", "image": "busybox", "cpu": 10, "memory": 100}])
    ecs.register_task_definition(family="hostnet", networkMode="host", containerDefinitions=[
        {"name": "c0", "image": "busybox", "memory": 32, "portMappings": [{"containerPort": 9000}]}])
    for cluster, family, count in (("default", "web", 2), ("default", "batch", 3), ("default", "hostnet", 1),
                                   ("other", "batch", 1)):
        _remember(ecs.run_task(cluster=cluster, taskDefinition=family, count=count))


def call(server, op_or_target: str | None, body, **kw):
    target = op_or_target if op_or_target is None or "." in op_or_target else ECS + op_or_target
    TRIED["handwritten"] += 1
    return raw_call(server.endpoint, target, body, **kw)


def assert_refused(answer, code=None, status=400):
    got_status, body = answer
    assert got_status == status, answer
    assert isinstance(body, dict) and set(body) == {"__type", "message"}, answer
    if code:
        assert body["__type"] == code, answer


# -- hand-written abuse --------------------------------------------------------------------

DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


HOSTILE_BODIES = [
    ("CreateCluster", b"{", "SerializationException"),
    ("CreateCluster", b'{"clusterName": "a",}', "SerializationException"),
    ("CreateCluster", b"\x00\x01\x02", "SerializationException"),
    ("CreateCluster", b'{"clusterName": "\xc3\x28"}', "SerializationException"),  # invalid UTF-8
    ("CreateCluster", b'{"clusterName": "\xed\xa0\x80"}', "SerializationException"),  # UTF-8 surrogate
    ("CreateCluster", b'"just a string"', "SerializationException"),
    ("CreateCluster", b"null", "SerializationException"),
    ("CreateCluster", b"[" * 100_000, "SerializationException"),
    ("CreateCluster", DEEP, "SerializationException"),
    ("CreateCluster", b'{"clusterName": ' + b'[' * 5000 + b']' * 5000 + b'}', "SerializationException"),
    ("CreateCluster", b'{"clusterName": 7}', "SerializationException"),
    ("CreateCluster", b'{"clusterName": {"$gt": ""}}', "SerializationException"),
    ("CreateCluster", b'{"tags": "k=v"}', "SerializationException"),
    ("CreateCluster", b'{"tags": [{"key": ["k"]}]}', "SerializationException"),
    ("CreateCluster", b'{"clusterName": "' + b"x" * 256 + b'"}', "InvalidParameterException"),
    ("CreateCluster", b'{"clusterName": "a\\u0000b"}', "InvalidParameterException"),
    ("CreateCluster", b'{"clusterName": "\\ud800"}', "SerializationException"),  # unpaired surrogate
    ("RunTask", b'{"taskDefinition": "x\\udc00y"}', "SerializationException"),
    ("CreateCluster", b'{"clusterName": "\\ud83d\\ude00"}', "InvalidParameterException"),  # a pair: JSON is fine
    ("CreateCluster", b'{"clusterName": "../../etc"}', "InvalidParameterException"),
    ("CreateCluster", b'{"clusterName": "x\'; DROP TABLE tasks; --"}', "InvalidParameterException"),
    ("CreateCluster", json.dumps({"tags": [{"key": f"k{i}", "value": "v"} for i in range(51)]}).encode(),
     "InvalidParameterException"),
    ("ListClusters", b'{"maxResults": "10"}', "SerializationException"),
    ("ListClusters", b'{"maxResults": 1.5}', "SerializationException"),
    ("ListClusters", b'{"maxResults": true}', "SerializationException"),
    ("ListClusters", b'{"maxResults": 101}', "InvalidParameterException"),
    ("ListClusters", b'{"maxResults": 0}', "InvalidParameterException"),
    ("ListClusters", b'{"maxResults": -1}', "InvalidParameterException"),
    ("ListClusters", b'{"maxResults": 2147483648}', "SerializationException"),
    ("ListClusters", b'{"maxResults": 1e400}', "SerializationException"),
    ("ListClusters", b'{"maxResults": NaN}', "SerializationException"),
    ("ListClusters", b'{"maxResults": -Infinity}', "SerializationException"),
    ("ListClusters", b'{"maxResults": ' + b"9" * 5000 + b"}", "SerializationException"),  # past int digit limit
    ("ListClusters", b'{"nextToken": "not-a-token"}', "InvalidParameterException"),
    ("ListClusters", b'{"nextToken": "eyJwIjogW119"}', "InvalidParameterException"),  # {"p": []}
    ("ListTasks", b'{"desiredStatus": "RUNNING ", "cluster": "default"}', "InvalidParameterException"),
    ("DescribeClusters", json.dumps({"clusters": ["x"] * 101}).encode(), "InvalidParameterException"),
    ("DescribeTasks", json.dumps({"tasks": ["x"] * 101}).encode(), "InvalidParameterException"),
    ("DescribeContainerInstances", json.dumps({"containerInstances": ["x"] * 101}).encode(),
     "InvalidParameterException"),
    ("DescribeTasks", json.dumps({"tasks": ["x" * 100_000]}).encode(), None),
    ("RunTask", b'{"taskDefinition": "web", "count": 11}', "InvalidParameterException"),
    ("RunTask", b'{"taskDefinition": "web", "count": -1}', "InvalidParameterException"),
    ("RunTask", b'{"taskDefinition": "web", "count": 9223372036854775808}', "SerializationException"),
    ("RunTask", json.dumps({"taskDefinition": "web", "overrides": {"containerOverrides": [
        {"name": "web", "command": ["x" * 9000]}]}}).encode(), "InvalidParameterException"),
    ("RunTask", json.dumps({"taskDefinition": "web", "clientToken": "t" * 65}).encode(), "InvalidParameterException"),
    ("RunTask", json.dumps({"taskDefinition": "web", "overrides": {"cpu": "lots"}}).encode(), None),
    ("RunTask", json.dumps({"taskDefinition": "web", "overrides": {"memory": "-5"}}).encode(), None),
    ("RunTask", json.dumps({"taskDefinition": "web", "overrides": {"containerOverrides": [
        {"name": "web", "cpu": -100, "memory": -100}]}}).encode(), None),
    ("RunTask", json.dumps({"taskDefinition": "web", "placementConstraints": [{"type": "memberOf",
                            "expression": "(" * 10_000}]}).encode(), None),
    ("StopTask", json.dumps({"task": "t", "reason": "r" * 256}).encode(), "InvalidParameterException"),
    ("RegisterTaskDefinition", json.dumps({"family": "f", "containerDefinitions": [
        {"name": f"c{i}", "image": "i", "memory": 4} for i in range(11)]}).encode(), "InvalidParameterException"),
    ("RegisterTaskDefinition", json.dumps({"family": "f", "containerDefinitions": [
        {"name": "c", "image": "i", "memory": 2 ** 31}]}).encode(), "SerializationException"),
    ("RegisterTaskDefinition", json.dumps({"family": "f", "containerDefinitions": [
        {"name": "c", "image": "i", "memory": 4, "portMappings": [{"containerPort": 99999999}]}]}).encode(), None),
    ("RegisterTaskDefinition", json.dumps({"family": "f", "cpu": "1e9999", "containerDefinitions": [
        {"name": "c", "image": "i", "memory": 4}]}).encode(), None),
    ("RegisterTaskDefinition", json.dumps({"family": "f", "memory": "9" * 5000, "containerDefinitions": [
        {"name": "c", "image": "i", "memory": 4}]}).encode(), None),
    ("RegisterContainerInstance", json.dumps({"totalResources": [
        {"name": "CPU", "type": "INTEGER", "integerValue": -5}]}).encode(), None),
    ("RegisterContainerInstance", json.dumps({"instanceIdentityDocument": "{" * 10_000}).encode(), None),
    ("RegisterContainerInstance", json.dumps({"instanceIdentityDocument": "[1]"}).encode(), None),
    ("SubmitTaskStateChange", json.dumps({"task": "t", "status": "X" * 300}).encode(), None),
    ("SubmitTaskStateChange", json.dumps({"task": "t", "status": "0"}).encode(), "InvalidParameterException"),
    ("SubmitTaskStateChange", json.dumps({"task": "t", "containers": [
        {"containerName": "c0", "status": "running"}]}).encode(), "InvalidParameterException"),
    ("SubmitContainerStateChange", json.dumps({"task": "t", "status": "DONE"}).encode(),
     "InvalidParameterException"),
    ("SubmitContainerStateChange", json.dumps({"task": "t", "exitCode": 2 ** 40}).encode(), None),
    ("TagResource", json.dumps({"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
                                "tags": [{"key": "aws:x", "value": "v"}]}).encode(), "InvalidParameterException"),
    ("TagResource", json.dumps({"resourceArn": "arn:" + ":" * 1000, "tags": [{"key": "k"}]}).encode(), None),
    ("UntagResource", json.dumps({"resourceArn": "x", "tagKeys": ["k"] * 51}).encode(), "InvalidParameterException"),
]


@pytest.mark.parametrize("op,body,code", HOSTILE_BODIES,
                         ids=[f"{i:02d}-{op}" for i, (op, _, _) in enumerate(HOSTILE_BODIES)])
def test_hostile_bodies(target, op, body, code):
    """An AWS error with the expected code; where no code is given, any
    answer but a 5xx (some of these are legal, if odd)."""
    answer = call(target, op, body)
    if code is None:
        assert answer[0] < 500, answer
        if answer[0] != 200:
            assert_refused(answer)
    else:
        assert_refused(answer, code)


@pytest.mark.parametrize("name,target_header", [
    ("no target", None),
    ("empty", ""),
    ("prefix only", "AmazonEC2ContainerServiceV20141113"),
    ("other service", "DynamoDB_20120810.ListTables"),
    ("unknown operation", ECS + "LaunchMissiles"),
    ("dunder", ECS + "__class__"),
    ("path-ish", ECS + "../../ListClusters"),
    ("lower case", ECS.lower() + "listclusters"),
    ("agent channel, unknown", "PortsideAgentV1.Shutdown"),
    ("agent channel, empty", "PortsideAgentV1."),
    ("long", ECS + "A" * 10_000),
    ("non-ascii", ECS + "Lïst"),
])
def test_unknown_targets(target, name, target_header):
    assert_refused(call(target, target_header, b"{}"), "UnknownOperationException")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "", "multipart/form-data; boundary=x",
                                          "application/x-amz-json-1.0", "\u00e9"])
def test_content_types_never_break_it(target, content_type):
    status, body = call(target, "ListClusters", b"{}", content_type=content_type)
    assert status == 200 or (status < 500 and body["__type"]), (status, body)


@pytest.mark.parametrize("body", [
    b'{"cluster": 5}', b'{"cluster": ["default"]}', b'{"containerInstance": {}}', b'{"version": []}',
    b'{"waitSeconds": "x"}', b'{"waitSeconds": -1}', b'{"waitSeconds": 1e308}', b'{"waitSeconds": NaN}',
    b'{"waitSeconds": true}', b"[]", b'"x"', b"{", b"\xff",
])
def test_agent_poll_hostile_bodies(target, body):
    status, answer = call(target, "PortsideAgentV1.Poll", body)
    assert 400 <= status < 500 and answer["__type"], (status, answer)


def test_body_over_the_cap_refused_with_an_aws_error(target):
    big = b'{"clusterName": "' + b"x" * (1 << 20) + b'"}'
    assert_refused(call(target, "CreateCluster", big), "RequestEntityTooLargeException", status=413)


def _raw_http(server, request: bytes, read_timeout: float = 10) -> bytes:
    """Bytes on a socket, for what http.client will not send."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as s:
        try:
            s.sendall(request)
        except OSError:
            pass  # the server may hang up before it all went out
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and b"content-length" in data.lower():
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    break
    return data


def _signed_head(server, body: bytes, extra: dict[str, str], op: str = "CreateCluster") -> bytes:
    headers = sign(server.endpoint, body, {"Content-Type": "application/x-amz-json-1.1",
                                           "X-Amz-Target": ECS + op})
    headers.update(extra)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_declared_huge_body_refused_before_it_is_sent(target):
    """A Content-Length of 10 GB is refused at once; the server never waits for it."""
    started = time.monotonic()
    answer = _raw_http(target, _signed_head(target, b"{}", {"Content-Length": str(10 << 30)}) + b"{}")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RequestEntityTooLargeException" in answer
    assert time.monotonic() - started < 5


def test_endless_chunked_body_cut_off_at_the_cap(target):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(24))  # 1.5 MiB, no end
    answer = _raw_http(target, _signed_head(target, b"", {"Transfer-Encoding": "chunked"}) + body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_lying_short_content_length_is_not_a_5xx(target):
    body = b'{"clusterName": "short"}'
    answer = _raw_http(target, _signed_head(target, body, {"Content-Length": "5"}) + body)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST / HTTP/1.1\r\n" + b"X-Flood: y\r\n" * 2000 + b"\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"y" * 200_000 + b"\r\n\r\n",
    b"POST /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    b"\xff\xfe\r\n\r\n",
])
def test_broken_http_never_a_5xx(target, request_bytes):
    answer = _raw_http(target, request_bytes)
    assert not answer.startswith(b"HTTP/1.1 5"), answer[:200]


@pytest.mark.parametrize("method,path", [("GET", "/"), ("PUT", "/"), ("DELETE", "/x"), ("GET", "/%00"),
                                         ("OPTIONS", "/"), ("POST", "/../../etc/passwd"), ("POST", "/?a=b&a=c")])
def test_other_methods_and_paths(target, method, path):
    status, body = call(target, "ListClusters", b"{}" if method in ("POST", "PUT") else b"", method=method, path=path)
    assert status < 500, (status, body)


def test_server_alive_and_consistent_after_the_abuse(target):
    ecs = target.client()
    assert "cluster/default" in str(ecs.list_clusters())
    assert target.proc.poll() is None
    assert StoreChecker(ecs).problems() == []


# -- property-based: every implemented operation, from botocore's shapes --------------------

REFS: dict[str, list[str]] = {
    "cluster": ["default", "other"],
    "containerInstance": [],
    "task": [],
    "taskDefinition": ["web", "batch", "hostnet", "web:1", "batch:1"],
    "family": ["web", "batch", "hostnet"],
    "resourceArn": [],
    "containerName": ["web", "side", "c0"],
    "status": ["PENDING", "RUNNING", "STOPPED", "ACTIVATING", "DEACTIVATING", "STOPPING", "DEPROVISIONING"],
}
ALIASES = {
    "clusters": "cluster", "containerInstances": "containerInstance", "containerInstanceArn": "containerInstance",
    "tasks": "task", "taskDefinitions": "taskDefinition", "familyPrefix": "family", "name": "containerName",
}
ARN_KINDS = {"cluster": "cluster", "container-instance": "containerInstance", "task": "task",
             "task-definition": "taskDefinition"}


def _remember(payload: Any) -> None:
    """ARNs the server answered with become references for later requests."""
    if isinstance(payload, dict):
        for value in payload.values():
            _remember(value)
    elif isinstance(payload, list):
        for value in payload:
            _remember(value)
    elif isinstance(payload, str) and payload.startswith("arn:aws:ecs:"):
        kind = ARN_KINDS.get(payload.split(":", 5)[-1].split("/", 1)[0])
        for bucket in filter(None, (kind, "resourceArn")):
            if payload not in REFS[bucket] and len(REFS[bucket]) < 500:
                REFS[bucket].append(payload)


def _ref(kind: str) -> st.SearchStrategy[str]:
    """A name the server knows (chosen at draw time, so it sees new ARNs)."""
    return st.integers(0, 1 << 16).map(lambda i: REFS[kind][i % len(REFS[kind])] if REFS[kind] else "none")


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_NAMEISH = st.from_regex(r"\A[a-zA-Z0-9_:/-]{1,20}\Z")


def _string(shape, name: str) -> st.SearchStrategy[str]:
    if shape.enum:
        return st.sampled_from(list(shape.enum))
    low = shape.metadata.get("min", 0)
    high = min(shape.metadata.get("max", 40), 40)
    plain = st.one_of(_NAMEISH, _TEXT).filter(lambda s: low <= len(s) <= max(high, low))
    kind = ALIASES.get(name, name)
    if kind in REFS:
        return st.one_of(_ref(kind), _ref(kind), plain)
    return plain


def shape_strategy(shape, name: str = "", depth: int = 0, minimal: bool = False) -> st.SearchStrategy[Any]:
    """Values of a botocore shape; `minimal`: structures with their required
    members only (requests that mostly succeed, so state really changes)."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        required = {m: shape_strategy(members[m], m, depth + 1, minimal) for m in shape.required_members}
        if depth > 5 or minimal:
            return st.fixed_dictionaries(required)
        optional = {m: shape_strategy(s, m, depth + 1) for m, s in members.items() if m not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        low = shape.metadata.get("min", 0)
        return st.lists(shape_strategy(shape.member, ALIASES.get(name, name), depth + 1, minimal),
                        min_size=low, max_size=max(low, 3))
    if kind == "map":
        return st.dictionaries(_string(shape.key, ""), shape_strategy(shape.value, "", depth + 1, minimal),
                               max_size=3)
    if kind == "string":
        return _string(shape, name)
    if kind in ("integer", "long"):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None or high is not None:
            return st.integers(low if low is not None else -5, high if high is not None else 100_000)
        return st.one_of(st.integers(-5, 5000), st.sampled_from([0, 1, 2 ** 31 - 1, -(2 ** 31)]))
    if kind == "boolean":
        return st.booleans()
    if kind in ("double", "float"):
        return st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    if kind == "timestamp":
        return st.floats(0, 4e9, allow_nan=False)
    if kind == "blob":
        return st.just("aGVsbG8=")
    return st.none()


HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([2 ** 31, -(2 ** 31) - 1, 2 ** 63, -(2 ** 64), 10 ** 30, 0, -1]),
    st.sampled_from([1e308, -0.0, 1.5, -1e-300]),
    _TEXT, st.just("x" * 300), st.just("y" * 20_000), st.just("\u202e\ufeff\u0000"),
    st.lists(st.integers(0, 9), min_size=101, max_size=101), st.just(["s"] * 101),
    st.just({}), st.just([]), st.just({"unknownMember": [1, {"x": None}]}),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=1), max_leaves=60),
)


def _paths(value: Any, here: tuple = ()) -> list[tuple]:
    found = [here] if here else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, here + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, here + (i,))
    return found


def _set(root: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        root = root[step]
    root[path[-1]] = value


def _delete(root: Any, path: tuple) -> None:
    for step in path[:-1]:
        root = root[step]
    del root[path[-1]]


@st.composite
def requests_for(draw, op: str) -> tuple[bytes, str]:
    """(body, how it was made) for one request to `op`."""
    how = draw(st.sampled_from(["minimal", "minimal", "valid", "valid", "replace", "drop", "extra", "bytes",
                                "root"]))
    shape = operation_model(op).input_shape
    params = draw(shape_strategy(shape, minimal=how == "minimal"))
    paths = _paths(params)
    if how == "replace" and paths:
        _set(params, draw(st.sampled_from(paths)), draw(HOSTILE_VALUES))
    elif how == "drop" and paths:
        _delete(params, draw(st.sampled_from(paths)))
    elif how == "extra":
        params[draw(_NAMEISH)] = draw(HOSTILE_VALUES)
    elif how == "root":
        params = draw(HOSTILE_VALUES)
    else:
        how = "valid" if how in ("valid", "minimal", "replace", "drop") else how
    body = json.dumps(params).encode()
    if how == "bytes" and body:
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.sampled_from([b"", b"\xff", b"\x00", b"}", b'"', b"\\u"])) + body[cut:]
    return body, how


class _Connection:
    """Signed requests over one keep-alive connection (reopened when needed)."""

    def __init__(self, server) -> None:
        import http.client

        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def post(self, op: str, body: bytes) -> tuple[int, Any]:
        headers = sign(self.server.endpoint, body, {"Content-Type": "application/x-amz-json-1.1",
                                                    "X-Amz-Target": ECS + op}, TEST_KEY)
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, json.loads(response.read())
            except (ConnectionError, OSError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


READ_ONLY = ("Describe", "List", "Discover")

@pytest.mark.parametrize("op", sorted(HANDLERS))
def test_generated_requests_never_5xx_and_keep_the_store_consistent(target, op):
    replenish(target.client())
    connection = _Connection(target)
    checker = StoreChecker(target.client())
    allowed = declared_errors(op) | PROTOCOL_ERRORS

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=not FUZZ_RANDOM,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(request=requests_for(op))
    def check(request):
        body, how = request
        TRIED["generated" if how == "valid" else "mutated"] += 1
        status, answer = connection.post(op, body)
        OUTCOMES[(op, how, status if status == 200 else answer.get("__type"))] += 1
        assert status < 500, f"{op} answered {status} {answer} to {body[:500]!r}"
        if status != 200:
            code = answer.get("__type")
            assert code in allowed, \
                f"{op} answered undeclared {answer} to {body[:500]!r}"
            return
        _remember(answer)
        if not op.startswith(READ_ONLY):
            TRIED["consistency_checks"] += 1
            problems = checker.problems()
            assert problems == [], f"after {op} {body[:500]!r}:\n" + "\n".join(problems)

    check()
    assert target.proc.poll() is None, "the server died"


def test_report_what_was_tried(target):
    """Not a check: the figures for TRUST.md, printed with -s."""
    print(f"\nhostile requests tried: {TRIED}")
    if os.environ.get("PORTSIDE_FUZZ_OUTCOMES"):
        for key, n in sorted(OUTCOMES.items(), key=str):
            print(key, n)


# -- what the property test once found: minimal reproductions ------------------------------


def test_found_resource_without_a_name_is_not_a_500(server):
    server.client().create_cluster()
    status, body = raw_call(server.endpoint, ECS + "RegisterContainerInstance", b'{"totalResources": [{}]}')
    assert status == 400 and body["__type"] == "InvalidParameterException", (status, body)


def test_found_port_that_is_not_a_number_is_not_a_500(server):
    server.client().create_cluster()
    body = json.dumps({"totalResources": [{"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["http"]}]})
    status, answer = raw_call(server.endpoint, ECS + "RegisterContainerInstance", body)
    assert status == 400 and answer["__type"] == "InvalidParameterException", (status, answer)


def test_found_negative_container_overrides_do_not_mint_capacity(server):
    from helpers import register_instance, resource

    ecs = server.client()
    ecs.create_cluster()
    instance = register_instance(ecs, cpu=1024, memory=1024)
    ecs.register_task_definition(family="f", containerDefinitions=[
        {"name": "c", "image": "busybox", "cpu": 10, "memory": 10}])
    try:
        ecs.run_task(taskDefinition="f", overrides={"containerOverrides": [
            {"name": "c", "cpu": -500, "memory": -500}]})
    except ecs.exceptions.InvalidParameterException:
        pass
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "CPU") <= 1024
    assert resource(ci, "remainingResources", "MEMORY") <= 1024


def test_found_discover_poll_endpoint_answers_a_declared_error(server):
    status, body = raw_call(server.endpoint, ECS + "DiscoverPollEndpoint", b'{"cluster": "nowhere"}')
    assert status == 400 and body["__type"] in declared_errors("DiscoverPollEndpoint"), body


def test_found_list_tags_for_a_missing_resource_answers_a_declared_error(server):
    body = json.dumps({"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/nowhere"})
    status, answer = raw_call(server.endpoint, ECS + "ListTagsForResource", body)
    assert status == 400 and answer["__type"] in declared_errors("ListTagsForResource"), answer



@pytest.mark.parametrize("stamp", [2 ** 63, 1e300, -(2 ** 63), "99999999999999999999"])
def test_found_timestamp_past_any_date_is_a_serialization_error(server, stamp):
    body = json.dumps({"task": "t", "status": "RUNNING", "pullStartedAt": stamp})
    status, answer = raw_call(server.endpoint, ECS + "SubmitTaskStateChange", body)
    assert status == 400 and answer["__type"] == "SerializationException", answer


def test_start_task_listing_an_instance_twice_debits_it_twice(server):
    """Found by the property test: two tasks on one instance, two debits."""
    from helpers import register_instance, resource

    ecs = server.client()
    ecs.create_cluster()
    instance = register_instance(ecs, cpu=1024, memory=1024)
    ecs.register_task_definition(family="f", cpu="256", memory="512", containerDefinitions=[
        {"name": "c", "image": "busybox", "memory": 64}])
    placed = 0
    for _ in range(2):
        placed += len(ecs.start_task(taskDefinition="f", containerInstances=[instance, instance])["tasks"])
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert placed == 2
    assert resource(ci, "remainingResources", "MEMORY") == 0


def test_found_list_services_with_a_negative_page_size_is_not_a_500(server):
    server.client().create_cluster()
    status, body = raw_call(server.endpoint, ECS + "ListServices", b'{"maxResults": -1}')
    assert status == 400 and body["__type"] == "InvalidParameterException", (status, body)
