"""The ECS API (and the other services on its port) called in-process, for the
console and the metrics.

Each call goes through the very pipeline a boto3 request does after
authentication (`protocol.dispatch`: validation, limits, handler,
serialization), so what the console shows and does is what the API answers,
errors included, and nothing reads the store behind the API's back.  Run on
the loop thread, after `store.settled()`, as the HTTP app does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..protocol.dispatch import dispatch
from ..protocol.model import TARGET_PREFIX


class ApiError(Exception):
    """An ECS error answer: its `__type` and message."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def call(ctx: Any, operation: str, **params: Any) -> dict[str, Any]:
    """One ECS operation by name (e.g. "DescribeServices"), its output as the
    wire shape (timestamps as epoch seconds); ApiError for an error answer."""
    return call_service(ctx, TARGET_PREFIX, operation, **params)


def call_service(ctx: Any, target_prefix: str, operation: str, **params: Any) -> dict[str, Any]:
    """One operation of any service Portside serves (its X-Amz-Target prefix), as `call`."""
    status, body = dispatch(ctx, f"{target_prefix}.{operation}", json.dumps(params).encode())
    answer = json.loads(body) if body else {}
    if status != 200:
        raise ApiError(answer.get("__type", "ServerException"), answer.get("message", ""), status)
    return answer


def pages(ctx: Any, operation: str, key: str, **params: Any) -> Iterator[str]:
    """Every item of a paged List* operation's `key` list."""
    token = None
    while True:
        answer = call(ctx, operation, **params, **({"nextToken": token} if token else {}))
        yield from answer.get(key, [])
        token = answer.get("nextToken")
        if not token:
            return


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
