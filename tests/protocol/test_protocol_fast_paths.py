"""The protocol layer's fast paths answer exactly what the reference code answers
(pure, no server): the compiled validation checkers against the shape walker,
the reused JSON decoder and encoder against json.loads / json.dumps, the cached
parts of SigV4 header parsing, the request id format."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.protocol import auth, errors, serialize, validate
from portside.protocol.dispatch import parse_json
from portside.protocol.model import operation_model, service_model
from portside.server.app import _request_id

OPERATIONS = sorted(service_model().operation_names)


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", _typed(fn())
    except errors.ECSError as err:
        return type(err).__name__, err.message
    except Exception as exc:  # e.g. botocore's RuntimeError for a timestamp past 2**63: a 500 either way
        return type(exc).__name__, str(exc)


def _typed(value: Any) -> Any:
    """The value with every leaf's type made part of it (1 != 1.0 != True here)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


_SCALARS = [None, True, False, 0, 1, -1, 7, 2**31, -(2**31) - 1, 2**63, 1.0, 1.5, float(2**40), "",
            "x", "RUNNING", "STOPPED", "a" * 300, "2024-01-01T00:00:00Z", "not a date", [], {}]


def _sample(shape: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value for `shape`, mostly well typed, sometimes not, sometimes out of bounds."""
    if rng.random() < 0.08 or depth > 6:
        return rng.choice(_SCALARS)
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            if name in shape.required_members or rng.random() < 0.4:
                out[name] = _sample(member, rng, depth + 1)
        if rng.random() < 0.1:
            out["unknownMember"] = 1
        return out
    edges = _edges(shape)
    if kind == "list":
        n = rng.choice([0, 1, 2, 3, 11, *edges])
        return [_sample(shape.member, rng, depth + 1) for _ in range(min(n, 120))]
    if kind == "map":
        return {f"k{i}": _sample(shape.value, rng, depth + 1) for i in range(rng.randint(0, 3))}
    if kind == "string":
        if shape.enum and rng.random() < 0.8:
            return rng.choice(shape.enum)
        return rng.choice(["x", "", "name", "a" * 256, "arn:aws:ecs:us-east-1:1:task/c/1",
                           *("b" * n for n in edges if n < 1000)])
    if kind in ("integer", "long"):
        return rng.choice([0, 1, 10, 11, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63,
                           -(2**63), 3.0, 2.5, True, *edges, *edges])
    if kind in ("double", "float"):
        return rng.choice([0, 1, 1.5, -2.25, True, "1"])
    if kind == "boolean":
        return rng.choice([True, False, 0, 1, "true"])
    if kind == "timestamp":
        return rng.choice([0, 1_700_000_000, 1.5, "2024-01-01T00:00:00Z", "nope", True, None])
    return rng.choice(_SCALARS)


def _edges(shape: Any) -> list[int]:
    """Both sides of the shape's min and max."""
    bounds = [shape.metadata.get("min"), shape.metadata.get("max")]
    return [n for b in bounds if b is not None for n in (b - 1, b, b + 1) if n >= 0 or shape.type_name != "list"]


@pytest.mark.parametrize("name", OPERATIONS)
def test_validate_answers_as_the_walker_does(name: str) -> None:
    shape = operation_model(name).input_shape
    if shape is None:
        return
    rng = random.Random(name)
    checker = validate._checker(shape)
    for _ in range(500):
        value = _sample(shape, rng)
        if not isinstance(value, dict):
            continue
        expected = _outcome(lambda: validate._walk(value, shape, ""))
        assert _outcome(lambda: validate.validate(value, shape)) == expected
        try:
            result = checker(value)
        except Exception:
            continue
        assert ("ok", _typed(result)) == expected, value


def test_validate_fast_path_takes_the_hot_requests() -> None:
    for name, body in [
        ("StopTask", {"cluster": "c", "task": "t", "reason": "r"}),
        ("RunTask", {"cluster": "c", "taskDefinition": "d", "count": 10, "startedBy": "me",
                     "overrides": {"containerOverrides": [
                         {"name": "c", "environment": [{"name": "A", "value": "1"}]}]}}),
        ("DescribeTasks", {"cluster": "c", "tasks": [f"t{i}" for i in range(100)], "include": ["TAGS"]}),
    ]:
        shape = operation_model(name).input_shape
        assert validate._checker(shape)(body) == validate._walk(body, shape, "") == validate.validate(body, shape)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
                    max_leaves=20))
def test_parse_json_reads_what_json_loads_reads(value: Any) -> None:
    body = json.dumps(value).encode()
    assert _typed(parse_json(body)) == _typed(json.loads(body.decode("utf-8")))


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf{}", "\ufeff{}".encode("utf-8"), b"NaN", b'{"a": Infinity}',
                                  b"{", b"\xff", "{}".encode("utf-16"), b'{"a": "\\ud800"}', b'["\\uDFFF"]',
                                  b'{"a": ["x", {"\\udbff": 1}]}'])
def test_parse_json_refuses_what_it_refused(body: bytes) -> None:
    with pytest.raises(errors.SerializationException):
        parse_json(body)


def test_parse_json_keeps_paired_surrogates() -> None:
    assert parse_json(b'{"a": "\\ud83d\\ude00", "b": "\\u00e9"}') == {"a": "\U0001f600", "b": "\u00e9"}


def test_the_shared_encoder_writes_what_json_dumps_writes() -> None:
    task = {"taskArn": "arn:aws:ecs:us-east-1:1:task/c/\u00e9\u2028", "createdAt": 1.5, "version": 2,
            "containers": [{"name": "c", "cpu": "1", "networkBindings": []}], "overrides": {"containerOverrides": []},
            "unknown": 1, "lastStatus": None, "enableExecuteCommand": False}
    expected = json.dumps({k: v for k, v in task.items() if k != "unknown" and v is not None}, separators=(",", ":"))
    assert serialize.wire_json("Task", task) == expected
    shape = operation_model("StopTask").output_shape
    assert serialize.encode_response(shape, {"task": task}) == ('{"task":' + expected + "}").encode()


def test_request_id_is_a_version_4_uuid() -> None:
    seen = set()
    for _ in range(2000):
        text = _request_id().decode()
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(text)
    assert len(seen) == 2000


@given(st.from_regex(r"\A\d{8}T\d{6}Z\Z"))
def test_amz_date_parse_is_strptime(value: str) -> None:
    import datetime as dt

    try:
        expected = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        expected = None
    assert auth._parse_amz_date(value) == expected
    assert auth._parse_amz_date(value) == expected  # cached


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.1:8080", True), ("localhost:1", True), ("a.localhost", True), ("[::1]:80", True),
    ("::1", True), ("10.0.0.1", False), ("example.com", False), ("", False), ("127.1.2.3", True),
])
def test_loopback_host_answers_the_same_twice(host: str, loopback: bool) -> None:
    for _ in range(2):
        if loopback:
            auth._require_loopback_host(host)
        else:
            with pytest.raises(errors.AccessDeniedException):
                auth._require_loopback_host(host)


def _encode_response_before(shape: Any, result: dict[str, Any]) -> bytes:
    """encode_response as it was written first: the reference."""
    if shape is None:
        return b"{}"
    parts = []
    for name, value in result.items():
        member = shape.members.get(name)
        if member is None or value is None:
            continue
        if isinstance(value, list) and value and all(isinstance(v, serialize.Encoded) for v in value):
            text = "[" + ",".join(value) + "]"
        else:
            text = json.dumps(serialize.serializer_for(member)(value), separators=(",", ":"))
        parts.append(f'"{name}":{text}')
    return ("{" + ",".join(parts) + "}").encode()


@pytest.mark.parametrize("result", [
    {},
    {"tasks": [], "failures": []},
    {"tasks": None, "failures": [{"arn": "a", "reason": "MISSING"}], "unknown": [1]},
    {"failures": [{"arn": "a\u00e9", "reason": "MISSING", "detail": None}],
     "tasks": [serialize.wire_json("Task", {"taskArn": "t1"}), serialize.wire_json("Task", {"taskArn": "t2"})]},
    {"tasks": [serialize.wire_json("Task", {"taskArn": "t1"}), {"taskArn": "t2", "createdAt": 1.5}]},  # a bug: 500
    {"tasks": [{"taskArn": "t2", "createdAt": 1, "containers": [{"name": "c", "exitCode": 0}]}]},
])
def test_encode_response_writes_what_it_wrote(result: dict[str, Any]) -> None:
    shape = operation_model("DescribeTasks").output_shape
    assert _outcome(lambda: serialize.encode_response(shape, result)) == \
        _outcome(lambda: _encode_response_before(shape, result))
    assert serialize.encode_response(None, result) == b"{}"


class _Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_one_write_sends_header_block_and_body_together() -> None:
    import asyncio

    from portside.server.runner import _OneWrite

    loop = asyncio.new_event_loop()
    try:
        real = _Transport()
        t = _OneWrite(real, loop)  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert real.calls == []
        t.write(b"{}")
        assert real.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}")]
        t.write(b"more")  # not a header block: at once
        t.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # nothing follows: on the next turn of the loop
        assert real.calls[-1] == ("write", b"more")
        loop.run_until_complete(asyncio.sleep(0))
        assert real.calls[-1] == ("write", b"HTTP/1.1 204 No Content\r\n\r\n")
        t.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        t.close()  # what is held leaves before the close
        assert real.calls[-2:] == [("write", b"HTTP/1.1 400 Bad Request\r\n\r\n"), ("close", b"")]
        loop.run_until_complete(asyncio.sleep(0))
        assert len(real.calls) == 5
        assert t.get_extra_info("peername") == "info:peername"
    finally:
        loop.close()
