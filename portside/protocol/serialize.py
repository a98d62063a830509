"""Responses produced through the operation's output shape.

Handlers return plain dicts; only members the output shape declares reach the
wire, timestamps leave as epoch seconds.  One serializer function is compiled
per shape and cached, so the walk costs a dict lookup per member.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from .model import compiled_per_shape

Serializer = Callable[[Any], Any]

_compiled: dict[str, Serializer] = {}


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def serializer_for(shape: Shape | None) -> Serializer:
    if shape is None:
        return lambda _value: {}
    return compiled_per_shape(_compiled, shape, _compile)


def _compile(shape: Shape) -> Serializer:
    kind = shape.type_name
    if kind == "structure":
        members = {name: serializer_for(m) for name, m in shape.members.items()}
        # Members whose values leave as they are skip the call (most of them).
        plain = frozenset(name for name, ser in members.items() if ser is _identity)
        converted = {name: ser for name, ser in members.items() if ser is not _identity}

        def structure(value: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for name, item in value.items():
                if item is None:
                    continue
                if name in plain:
                    out[name] = item
                else:
                    ser = converted.get(name)
                    if ser is not None:
                        out[name] = ser(item)
            return out

        return structure
    if kind == "list":
        item = serializer_for(shape.member)
        if item is _identity:
            return list

        def sequence(value: Any) -> Any:
            if not value and type(value) is list:  # the many empty lists of a task cost no comprehension
                return []
            return [item(v) for v in value]

        return sequence
    if kind == "map":
        item = serializer_for(shape.value)
        if item is _identity:
            return dict
        return lambda value: {k: item(v) for k, v in value.items()}
    if kind == "timestamp":
        return _timestamp
    return _identity


class Encoded(str):
    """JSON text already produced through the output shape."""


# json.dumps with any argument builds a new JSONEncoder per call; this one is
# made once with the same settings.
_dumps = json.JSONEncoder(separators=(",", ":")).encode

_named: dict[str, Serializer] = {}


def wire_json(shape_name: str, value: Any) -> Encoded:
    """A value as the JSON of a named model shape (e.g. a stored Task)."""
    ser = _named.get(shape_name)
    if ser is None:
        from .model import service_model

        ser = _named[shape_name] = serializer_for(service_model().shape_for(shape_name))
    return Encoded(_dumps(ser(value)))


_is_encoded = Encoded.__instancecheck__


def encode_response(shape: Shape | None, result: dict[str, Any]) -> bytes:
    """The response body; top-level `Encoded` members, and lists of them, are
    spliced in as they are, so documents serialized once when stored are not
    walked again."""
    if shape is None:
        return b"{}"
    members = shape.members
    parts = ["{"]
    for name, value in result.items():
        member = members.get(name)
        if member is None or value is None:
            continue
        if len(parts) > 1:
            parts.append(",")
        parts.append(f'"{name}":')
        if isinstance(value, Encoded):
            parts.append(value)
        elif isinstance(value, list) and value and all(map(_is_encoded, value)):
            parts.append("[")
            parts.append(",".join(value))
            parts.append("]")
        else:
            parts.append(_dumps(serializer_for(member)(value)))
    parts.append("}")
    return "".join(parts).encode()
