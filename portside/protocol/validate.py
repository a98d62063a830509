"""Request validation by walking the operation's input shape.

botocore's own ParamValidator checks types and required members but neither
enums nor maximum lengths, and it answers in client-side wording.  This walker
reads the same shapes and raises what the ECS service raises: a wrong JSON type
is a `SerializationException` (the JSON protocol could not bind the value), a
missing member, a value outside its enum or a length/range outside the model's
bounds an `InvalidParameterException`.  Unknown members are ignored, as AWS's
JSON services ignore them.  Timestamps may arrive as epoch numbers or ISO
strings and leave as epoch floats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.model import Shape
from botocore.utils import parse_timestamp

from .errors import InvalidParameterException, SerializationException
from .model import compiled_per_shape


def validate(value: Any, shape: Shape | None) -> dict[str, Any]:
    """Validate a parsed request body; returns it with timestamps normalised."""
    if shape is None:
        return {}
    if not isinstance(value, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    try:
        return _checker(shape)(value)
    except Exception:  # _Irregular, or anything else: the walk below answers as it always has
        pass
    return _walk(value, shape, "")


def _path(base: str, member: str) -> str:
    return f"{base}.{member}" if base else member


def _walk(value: Any, shape: Shape, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise SerializationException(f"Expected an object at '{path or 'body'}'.")
        members = shape.members
        out: dict[str, Any] = {}
        for name in shape.required_members:
            if value.get(name) is None:
                raise InvalidParameterException(
                    f"1 validation error detected: Value null at '{_path(path, name)}' "
                    "failed to satisfy constraint: Member must not be null"
                )
        for name, item in value.items():
            member = members.get(name)
            if member is None or item is None:
                continue
            out[name] = _walk(item, member, _path(path, name))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise SerializationException(f"Expected a list at '{path}'.")
        _check_length(len(value), shape, path, "length")
        return [_walk(item, shape.member, f"{path}.{i + 1}") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise SerializationException(f"Expected a map at '{path}'.")
        return {
            _walk(k, shape.key, path): _walk(v, shape.value, f"{path}.{k}") for k, v in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise SerializationException(f"Expected a string at '{path}'.")
        enum = shape.enum
        if enum and value not in enum:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        _check_length(len(value), shape, path, "length")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise SerializationException(f"Expected an integer at '{path}'.")
        if not -(2**63) <= value < 2**63 or (kind == "integer" and not -(2**31) <= value < 2**31):
            raise SerializationException(f"Number out of range at '{path}'.")
        _check_length(value, shape, path, "value")
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SerializationException(f"Expected a number at '{path}'.")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SerializationException(f"Expected a boolean at '{path}'.")
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SerializationException(f"Expected a timestamp at '{path}'.")
        try:
            return parse_timestamp(value).timestamp()
        except (ValueError, TypeError, OverflowError, RuntimeError) as exc:  # botocore: RuntimeError past year 9999
            raise SerializationException(f"Invalid timestamp at '{path}'.") from exc
    return value  # blob/document: passed through as JSON


def _check_length(n: int, shape: Shape, path: str, what: str) -> None:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if low is not None and n < low:
        raise InvalidParameterException(
            f"1 validation error detected: Value at '{path}' failed to satisfy constraint: "
            f"Member must have {what} greater than or equal to {low}"
        )
    if high is not None and n > high:
        raise InvalidParameterException(
            f"1 validation error detected: Value at '{path}' failed to satisfy constraint: "
            f"Member must have {what} less than or equal to {high}"
        )


# -- the fast path ------------------------------------------------------------------
#
# One checker per shape, compiled once: it accepts only what plainly passes (JSON
# parsed values of exactly the expected types, within every bound), returns
# what `_walk` returns for it, and builds no paths.  Anything else, valid or not,
# raises `_Irregular`, and `validate` walks the request again with `_walk`, which
# owns every error message.

Checker = Callable[[Any], Any]


class _Irregular(Exception):
    pass


_checkers: dict[str, Checker] = {}


def _checker(shape: Shape) -> Checker:
    return compiled_per_shape(_checkers, shape, _compile)


def _plain_str(value: Any) -> Any:
    if type(value) is not str:
        raise _Irregular
    return value


def _bounds(shape: Shape) -> tuple[Any, Any]:
    meta = shape.metadata
    return meta.get("min"), meta.get("max")


def _compile(shape: Shape) -> Checker:
    kind = shape.type_name
    if kind == "structure":
        members = {name: _checker(m) for name, m in shape.members.items()}
        required = tuple(shape.required_members)

        def structure(value: Any) -> Any:
            if type(value) is not dict:
                raise _Irregular
            for name in required:
                if value.get(name) is None:
                    raise _Irregular
            out = {}
            for name, item in value.items():
                check = members.get(name)
                if check is not None and item is not None:
                    out[name] = check(item)
            return out

        return structure
    if kind == "list":
        item = _checker(shape.member)
        low, high = _bounds(shape)

        def sequence(value: Any) -> Any:
            if type(value) is not list:
                raise _Irregular
            n = len(value)
            if (low is not None and n < low) or (high is not None and n > high):
                raise _Irregular
            if item is _plain_str:
                for v in value:
                    if type(v) is not str:
                        raise _Irregular
                return value.copy()
            return [item(v) for v in value]

        return sequence
    if kind == "map":
        key, item = _checker(shape.key), _checker(shape.value)

        def mapping(value: Any) -> Any:
            if type(value) is not dict:
                raise _Irregular
            return {key(k): item(v) for k, v in value.items()}

        return mapping
    if kind == "string":
        enum = shape.enum
        low, high = _bounds(shape)
        if not enum and low is None and high is None:
            return _plain_str
        allowed = frozenset(enum) if enum else None

        def string(value: Any) -> Any:
            if type(value) is not str:
                raise _Irregular
            if allowed is not None and value not in allowed:
                raise _Irregular
            n = len(value)
            if (low is not None and n < low) or (high is not None and n > high):
                raise _Irregular
            return value

        return string
    if kind in ("integer", "long"):
        low, high = _bounds(shape)
        lo = -(2**31) if kind == "integer" else -(2**63)
        hi = 2**31 if kind == "integer" else 2**63
        if low is not None:
            lo = max(lo, low)
        if high is not None:
            hi = min(hi, high + 1)

        def integer(value: Any) -> Any:
            if type(value) is not int or not lo <= value < hi:
                raise _Irregular
            return value

        return integer
    if kind in ("double", "float"):

        def number(value: Any) -> Any:
            if type(value) is float:
                return value
            if type(value) is int:
                return float(value)
            raise _Irregular

        return number
    if kind == "boolean":

        def boolean(value: Any) -> Any:
            if type(value) is not bool:
                raise _Irregular
            return value

        return boolean
    if kind == "timestamp":
        return lambda value: _walk(value, shape, "")  # rare; any error sends the request to the walk
    return lambda value: value  # blob/document: passed through as JSON
