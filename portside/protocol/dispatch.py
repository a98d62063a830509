"""The request pipeline, in order: target → service → operation → parse →
validate → unsupported members → limits → handler → serialize.  Errors of any
step become AWS error bodies here and nowhere else.

Every service family (ECS, Logs, Secrets Manager, SSM) goes through the same
steps, driven by its own botocore model; the `X-Amz-Target` prefix picks it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from . import errors
from .limits import check_limits
from .model import SERVICES, Service, operation_model, service_for_target
from .serialize import encode_response
from .validate import validate

log = logging.getLogger("portside.protocol")

Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]


class Registered:
    """A handler and the request members it acts on (None: all of them)."""

    __slots__ = ("handler", "accepts")

    def __init__(self, handler: Handler, accepts: frozenset[str] | None) -> None:
        self.handler = handler
        self.accepts = accepts


REGISTRY: dict[str, dict[str, Registered]] = {name: {} for name in SERVICES}
HANDLERS: dict[str, Registered] = REGISTRY["ecs"]  # the ECS operations, by name


def operation(name: str, service: str = "ecs", accepts: Iterable[str] | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for an operation named in the service's botocore model.

    `accepts` lists the request members the handler applies; a request that
    sets any other member is refused with the service's validation error
    naming it, so nothing is silently ignored.

    ECS names are checked here (every server loads ECS's model); the other
    services' models are loaded only when a request for them comes, so their
    names are checked by `misnamed()` (tests/protocol/test_operation_coverage.py)."""
    if service not in SERVICES or (service == "ecs" and operation_model(name, service) is None):
        raise ValueError(f"{name} is not a {service} operation")

    def register(fn: Handler) -> Handler:
        REGISTRY[service][name] = Registered(fn, frozenset(accepts) if accepts is not None else None)
        return fn

    return register


def misnamed() -> list[str]:
    """Registered operations their service's model does not have (none, or a handler is unreachable)."""
    return [f"{service}:{name}" for service, handlers in REGISTRY.items() for name in handlers
            if operation_model(name, service) is None]


def error_body(err: errors.ECSError) -> tuple[int, bytes]:
    return err.status, json.dumps({"__type": err.code, "message": err.message}).encode()


def dispatch(ctx: Any, target: str | None, body: bytes, retry: bool = False) -> tuple[int, bytes]:
    """Answer one JSON 1.1 request (ECS, Logs, Secrets Manager, SSM); never
    raises, except, with `retry`, an exception marked `retry_when_unlocked`
    (the store's write lock is held by another process and nothing was done:
    the caller waits and runs the request again)."""
    try:
        return 200, _answer(ctx, target, body)
    except errors.ECSError as err:
        return error_body(err)
    except Exception as exc:
        if retry and getattr(exc, "retry_when_unlocked", False):
            raise
        if getattr(exc, "server_fault", False):  # e.g. the disk is full: named, logged where it was seen
            return error_body(errors.ServerException(str(exc)))
        # a bug: answer as AWS does, keep the traceback in our log
        log.exception("internal error handling %s", target)
        return error_body(errors.ServerException("An internal error occurred."))


def _answer(ctx: Any, target: str | None, body: bytes) -> bytes:
    service = service_for_target(target)
    name = (target or "").partition(".")[2]
    if service is None or not name:
        raise errors.UnknownOperationException("The requested operation is not recognized.")
    op = operation_model(name, service.name)
    if op is None:
        raise errors.UnknownOperationException(f"Operation {name} is not recognized.")
    registered = REGISTRY[service.name].get(name)
    if registered is None:
        raise errors.UnsupportedFeatureException(f"{name} is not supported by Portside.")
    try:
        params = validate(_parse(body), op.input_shape)
    except errors.InvalidParameterException as exc:
        raise _invalid(service, exc.message) from exc
    if registered.accepts is not None:
        _refuse_unsupported(service, name, params, registered.accepts)
    if service.name == "ecs":
        check_limits(name, params)
    return encode_response(op.output_shape, registered.handler(ctx, params))


def _invalid(service: Service, message: str) -> errors.ECSError:
    if service.validation_error == "InvalidParameterException":
        return errors.InvalidParameterException(message)
    return errors.ServiceError(service.validation_error, message)


def _refuse_unsupported(service: Service, name: str, params: dict[str, Any], accepts: frozenset[str]) -> None:
    extra = sorted(m for m, v in params.items() if m not in accepts and v not in (None, False, [], {}))
    if extra:
        verb = "is" if len(extra) == 1 else "are"
        raise _invalid(service, f"{name}: {', '.join(extra)} {verb} not supported by Portside.")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# json.loads with parse_constant builds a new decoder per call; this one is built once.
_decoder = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or a SerializationException: anything but
    strict UTF-8 (json.loads alone would take UTF-16 and encoded surrogates),
    bad syntax, nesting deeper than the parser recurses, NaN/Infinity (not
    JSON), and integers past Python's digit limit (a ValueError) included."""
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):  # json.loads refuses a BOM before decoding
            raise ValueError("Unexpected UTF-8 BOM")
        value = _decoder.decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise errors.SerializationException("The request body is not valid JSON.") from exc
    # (a one-character search is a memchr; "\\ud" alone costs 0.5 ns a byte, twice)
    if "\\" in text and ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        # "\ud800" escapes decode to code points no UTF-8 store or answer can hold
        raise errors.SerializationException("The request body contains an unpaired UTF-16 surrogate.")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _parse(body: bytes) -> Any:
    if not body.strip():
        return {}
    return parse_json(body)
