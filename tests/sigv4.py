"""Raw HTTP requests to a Portside server, SigV4-signed with botocore (or not),
for tests that need to send what boto3 never would."""

from __future__ import annotations

import http.client
import json
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ECS = "AmazonEC2ContainerServiceV20141113."
TEST_KEY = ("AKIDPORTSIDETEST", "secret")


def sign(endpoint: str, body: bytes, headers: dict[str, str], key: tuple[str, str] | None = TEST_KEY,
         region: str = "us-east-1", service: str = "ecs", method: str = "POST", path: str = "/") -> dict[str, str]:
    """The headers with X-Amz-Date and Authorization added (unchanged when key is None)."""
    if key is None:
        return dict(headers)
    request = AWSRequest(method=method, url=endpoint + path, data=body, headers=headers)
    SigV4Auth(Credentials(*key), service, region).add_auth(request)
    return dict(request.headers.items())


def raw_call(endpoint: str, target: str | None, body: bytes | str, *,
             content_type: str = "application/x-amz-json-1.1", key: tuple[str, str] | None = TEST_KEY,
             method: str = "POST", path: str = "/", extra_headers: dict[str, str] | None = None,
             timeout: float = 30) -> tuple[int, Any]:
    """One request; the answer as (status, parsed JSON or raw bytes)."""
    if isinstance(body, str):
        body = body.encode()
    headers = {"Content-Type": content_type} if content_type else {}
    if target is not None:
        headers["X-Amz-Target"] = target
    headers.update(extra_headers or {})
    headers = sign(endpoint, body, headers, key, method=method, path=path)
    host, port = endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data
