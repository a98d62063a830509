"""Small helpers the handlers share: paging tokens, tag validation, and (from
control/lookup.py) resolving a cluster and the standard `failures` entry."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..control.lookup import failure, require_cluster
from ..control.tags import MAX_TAGS, RESERVED_PREFIX_MESSAGE, reserved, tags_after
from ..protocol.errors import InvalidParameterException

__all__ = ["MAX_TAGS", "RESERVED_PREFIX_MESSAGE", "decode_token", "encode_token", "failure", "offset_page", "page",
           "require_cluster", "reserved", "seq_page", "tags_after", "validate_tags"]


def encode_token(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode()


def decode_token(token: str | None, default: Any) -> Any:
    """The position a nextToken points at; a token we never issued is refused."""
    if not token:
        return default
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))["p"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidParameterException("Invalid token " + token[:64]) from exc
    if not isinstance(position, type(default)):
        raise InvalidParameterException("Invalid token " + token[:64])
    return position


def seq_page(member: str, rows: list[tuple[int, str]], limit: int) -> dict[str, Any]:
    """A list answer from `limit + 1` (seq, ARN) rows: the next token points
    past the last seq shown."""
    result: dict[str, Any] = {member: [arn for _, arn in rows[:limit]]}
    if len(rows) > limit:
        result["nextToken"] = encode_token(rows[limit - 1][0])
    return result


def offset_page(member: str, items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    """A list answer from `limit + 1` items read at `offset`."""
    result: dict[str, Any] = {member: items[:limit]}
    if len(items) > limit:
        result["nextToken"] = encode_token(offset + limit)
    return result


def page(params: dict[str, Any], default: int = 100) -> int:
    return params.get("maxResults") or default


def validate_tags(tags: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """AWS's tag rules: key 1-128 and value ≤ 256 characters, no `aws:` keys."""
    checked = []
    for tag in tags or []:
        key, value = tag.get("key"), tag.get("value", "")
        if not key or len(key) > 128:
            raise InvalidParameterException("Tag keys must be between 1 and 128 characters.")
        if len(value) > 256:
            raise InvalidParameterException("Tag values must be at most 256 characters.")
        if reserved(key):
            raise InvalidParameterException(RESERVED_PREFIX_MESSAGE)
        checked.append({"key": key, "value": value})
    keys = [t["key"] for t in checked]
    if len(set(keys)) != len(keys):
        raise InvalidParameterException("Tag keys must be unique.")
    return checked

