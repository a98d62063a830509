"""Never a 500 from CloudWatch Logs, Secrets Manager or SSM: every operation of
each service's botocore model, with no members, with every member of the wrong
type, and (for the served ones) well-formed but naming resources that do not
exist, answers a 4xx with an AWS error body (`__type`, `message`)."""

from __future__ import annotations

import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION
from portside.protocol.model import LOGS, SECRETS_MANAGER, SSM, service_model

SERVICES = (LOGS, SECRETS_MANAGER, SSM)


def _minimal(shape, depth: int = 0):
    """A well-formed value of `shape` with only its required members, naming nothing that exists."""
    kind = shape.type_name
    if kind == "structure":
        return {name: _minimal(shape.members[name], depth + 1) for name in shape.required_members}
    if kind == "list":
        return [_minimal(shape.member, depth + 1)]
    if kind == "map":
        return {"k": _minimal(shape.value, depth + 1)}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        return "/nothing/here" if shape.metadata.get("min", 1) <= 13 else "x" * shape.metadata["min"]
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind in ("double", "float"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return 1_700_000_000
    if kind == "blob":
        return "aGVsbG8="
    return None


def _send(server, service, operation: str, body: bytes) -> tuple[int, dict]:
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{service.target_prefix}.{operation}"})
    SigV4Auth(Credentials("AKIDPORTSIDETEST", "secret"), service.signing_name, REGION).add_auth(request)
    answer = requests.post(request.url, data=body, headers=dict(request.headers), timeout=30)
    return answer.status_code, (answer.json() if answer.content else {})


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_no_operation_answers_a_500(server, service):
    model = service_model(service.name)
    failures = []
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        wrong = {m: {"wrong": [1]} for m in (shape.members if shape else {})}
        bodies = [b"{}", b"[]", b"{", json.dumps(wrong).encode()]
        if shape is not None:
            bodies.append(json.dumps(_minimal(shape)).encode())
        for body in bodies:
            status, answer = _send(server, service, operation, body)
            if status >= 500 or (status >= 400 and not (answer.get("__type") and "message" in answer)):
                failures.append((operation, body[:80], status, answer))
    assert failures == []


def test_missing_resources_answer_each_services_own_code(server):
    missing = [
        (LOGS, "GetLogEvents", {"logGroupName": "/none", "logStreamName": "s"}, "ResourceNotFoundException"),
        (LOGS, "DeleteLogGroup", {"logGroupName": "/none"}, "ResourceNotFoundException"),
        (LOGS, "FilterLogEvents", {"logGroupName": "/none"}, "ResourceNotFoundException"),
        (SECRETS_MANAGER, "GetSecretValue", {"SecretId": "none"}, "ResourceNotFoundException"),
        (SECRETS_MANAGER, "DescribeSecret", {"SecretId": "none"}, "ResourceNotFoundException"),
        (SSM, "GetParameter", {"Name": "/none"}, "ParameterNotFound"),
        (SSM, "DeleteParameter", {"Name": "/none"}, "ParameterNotFound"),
        (SSM, "GetParameterHistory", {"Name": "/none"}, "ParameterNotFound"),
    ]
    for service, operation, params, code in missing:
        status, answer = _send(server, service, operation, json.dumps(params).encode())
        assert (status, answer.get("__type")) == (400, code), (operation, answer)
    status, answer = _send(server, LOGS, "CreateLogGroup", json.dumps({"logGroupName": "bad:name"}).encode())
    assert (status, answer["__type"]) == (400, "InvalidParameterException")
    body = json.dumps({"Name": "/p", "Value": "v", "Type": "Nope"}).encode()
    status, answer = _send(server, SSM, "PutParameter", body)
    assert (status, answer["__type"]) == (400, "ValidationException")
