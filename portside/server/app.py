"""The ASGI application: one POST endpoint speaking ECS JSON 1.1.

The HTTP layer authenticates the request (SigV4, see `protocol/auth.py`), reads
the body under a size cap and hands the target and the bytes to the protocol
pipeline; the pipeline answers every request, errors included.  In order:

    GET /health (open) → signature headers → body (≤ 1 MiB) → signature over
    the body → method → role may call the target → agent channel | dispatch

Handlers run on the event loop thread, one at a time, which keeps each
request's transaction free of interleaving inside this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..api import agent_channel
from ..control.context import Context
from ..metrics import observe_request
from ..protocol import errors
from ..protocol.auth import Authenticator
from ..protocol.dispatch import REGISTRY, dispatch, error_body
from ..protocol.model import ECS, service_for_target
from ..store.failures import LOCK_WAIT_S, StoreBusy, StoreWriteFailed
from ..store.interface import StoreUnavailable
from . import exec_stream

log = logging.getLogger("portside.server")

SLOW_REQUEST_S = 1.0  # a request that takes longer is logged
MAX_BODY = 1 << 20  # 1 MiB; larger requests are refused before parsing
TOO_LARGE = f"Request body exceeds {MAX_BODY} bytes."
# A PutLogEvents batch may hold 1,048,576 bytes of messages, more once in JSON.
MAX_LOGS_BODY = 3 << 20
LOGS_PREFIX = "Logs_20140328."

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class PortsideApp:
    def __init__(self, ctx: Context, auth: Authenticator | None = None) -> None:
        self.ctx = ctx
        self.auth = auth or Authenticator(None, ctx.config.region, ctx.config.account_id)
        from .metrics import MetricsEndpoint

        self.metrics = MetricsEndpoint(ctx, self.auth, ctx.config.metrics_token())
        from .console import ConsoleApp

        self.console = ConsoleApp(ctx, self.auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # ECS Exec streams
            await exec_stream.handle(self.ctx, self.auth, scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics" and scope["method"] == "GET":
            await self._metrics(scope, send)
            return
        if path == "/ui" or path.startswith("/ui/"):
            await self.console(scope, receive, send)
            return
        if path == "/" and scope["method"] == "GET" and _wants_html(scope):
            await _redirect(send, "/ui")
            return
        started = time.perf_counter()
        replay: list[Callable[[], tuple[int, bytes]]] = []
        try:
            status, payload = await self._answer(scope, receive, replay)
        except errors.ECSError as err:
            status, payload = error_body(err)
        except StoreWriteFailed as failure:  # the write lock never came: logged once by the store
            status, payload = error_body(errors.ServerException(failure.message))
        except StoreUnavailable as exc:  # the database is down: AWS's answer for its own backend's failure
            status, payload = error_body(errors.ServerException(exc.message))
        except Exception:  # a bug: answer as AWS does, keep the traceback in our log
            log.exception("internal error handling %s %s", scope.get("method"), scope.get("path"))
            status, payload = error_body(errors.ServerException("An internal error occurred."))
        try:
            await self.ctx.store.durable()  # nothing is answered before what it saw is on disk
        except StoreWriteFailed as failure:  # logged once by the store, not per request
            # A read that shared the failed batch may have seen changes now rolled
            # back: it is answered again, from what is committed.
            status, payload = replay[0]() if replay else error_body(errors.ServerException(failure.message))
        except StoreUnavailable as exc:  # the batch's COMMIT did not happen: nothing of it was kept
            status, payload = error_body(errors.ServerException(exc.message))
        except Exception:
            log.exception("committing to the database failed")
            status, payload = error_body(errors.ServerException("An internal error occurred."))
        request_id = await _respond(send, status, payload, "application/x-amz-json-1.1")
        operation = scope.get("portside.operation")
        if operation is not None:
            seconds = time.perf_counter() - started
            observe_request(operation, status, seconds)
            if seconds > SLOW_REQUEST_S and operation != "PortsideAgent.Poll":
                log.warning("slow request: %s took %.2f s (status %d)", operation, seconds, status,
                            extra={"request_id": request_id.decode()})

    async def _metrics(self, scope: Scope, send: Send) -> None:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        raw_path = scope.get("raw_path")
        if not self.metrics.allowed("GET", raw_path.decode("latin-1") if raw_path else scope["path"],
                                    scope.get("query_string", b"").decode("latin-1"), headers):
            await _respond(send, 403, b"/metrics needs the metrics bearer token or an admin key's signature\n",
                           "text/plain; charset=utf-8")
            return
        status, payload, content_type = await self.metrics.answer()
        await _respond(send, status, payload, content_type)

    async def _answer(self, scope: Scope, receive: Receive,
                      replay: list[Callable[[], tuple[int, bytes]]]) -> tuple[int, bytes]:
        method = scope["method"]
        if method == "GET" and scope["path"] in ("/", "/health"):
            return self._health()
        # Lowercased once here (ASGI servers already send them so); every lookup below relies on it.
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        target = next((v for k, v in headers if k == "x-amz-target"), "")
        cap = MAX_LOGS_BODY if target.startswith(LOGS_PREFIX) else MAX_BODY
        scope["portside.operation"] = _metric_operation(target)
        declared = _content_length(headers)
        if declared is not None and declared > cap:
            raise errors.RequestEntityTooLargeException(f"Request body exceeds {cap} bytes.")
        raw_path = scope.get("raw_path")
        pending = self.auth.check_headers(
            method,
            raw_path.decode("latin-1") if raw_path else scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            self.ctx.clock.now(),
        )
        body = await _read_body(receive, cap)
        caller = self.auth.verify(pending, body)
        if method != "POST":
            raise errors.UnknownOperationException("Only POST requests are accepted.")
        self.auth.authorize(caller, target)
        prefix, _, operation = target.partition(".")
        if prefix == agent_channel.TARGET_PREFIX:
            gone = asyncio.ensure_future(receive())  # completes on http.disconnect
            try:
                return await self._unlocked(lambda: agent_channel.handle(self.ctx, operation, body, gone))
            finally:
                gone.cancel()
        if operation.startswith(_READ_ONLY):
            replay.append(lambda: dispatch(self.ctx, target, body))

        async def attempt() -> tuple[int, bytes]:
            return dispatch(self.ctx, target, body, retry=True)

        return await self._unlocked(attempt)

    async def _unlocked(self, attempt: Callable[[], Awaitable[tuple[int, bytes]]]) -> tuple[int, bytes]:
        """Run the request; while another process holds the database's write
        lock (StoreBusy: nothing of the request was done), wait for the lock
        off the event loop, other requests going on meanwhile, and run it
        again, for up to LOCK_WAIT_S in all.  Then StoreWriteFailed naming it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_S
        while True:
            await self.ctx.store.settled()  # not while a COMMIT is in flight: see store.interface.UnitOfWork
            try:
                return await attempt()
            except StoreBusy:
                await self.ctx.store.wait_unlocked(deadline - loop.time())

    def _health(self) -> tuple[int, bytes]:
        """200 while the store takes writes; 503 naming the cause while they
        fail or the database cannot be reached.  `role` says whether this
        server runs the schedulers (`control/leadership.py`: always "leader"
        on SQLite), `database` whether its last contact with it succeeded."""
        health = getattr(self.ctx.store, "health", None)
        failure = health.failure if health is not None else None
        leadership = self.ctx.leadership
        answer = {"status": "ok", "role": leadership.role,
                  "database": "ok" if leadership.database_ok else "unreachable"}
        if failure is not None:
            answer |= {"status": "unhealthy", "store": f"writes fail: {failure}"}
        elif not leadership.database_ok:
            answer["status"] = "unhealthy"
        return (200 if answer["status"] == "ok" else 503), json.dumps(answer, separators=(",", ":")).encode()


_READ_ONLY = ("Describe", "List")  # operations that change nothing


def _wants_html(scope: Scope) -> bool:
    """A browser (it asks for text/html) rather than a health check."""
    return any(k == b"accept" and b"text/html" in v for k, v in scope["headers"])


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 302,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _metric_operation(target: str) -> str:
    """The operation as a metric label: a known one, else "unknown" (a label
    taken from whatever a client sends would let it grow the metrics without end).
    ECS operations keep their bare names; the other services' are prefixed with
    the service (`logs.PutLogEvents`), since names such as TagResource repeat."""
    prefix, _, operation = target.partition(".")
    if prefix == agent_channel.TARGET_PREFIX:
        return "PortsideAgent.Poll" if operation == "Poll" else "unknown"
    service = service_for_target(target)
    if service is None or operation not in REGISTRY[service.name]:
        return "unknown"
    return operation if service is ECS else f"{service.name}.{operation}"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name == "content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, cap: int = MAX_BODY) -> bytes:
    """The body, refused as soon as it outgrows the cap (a chunked body has no
    Content-Length to refuse it by); the rest is never read."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.SerializationException("The client went away before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise errors.RequestEntityTooLargeException(f"Request body exceeds {cap} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: bytes, content_type: str) -> bytes:
    """Send the answer; returns its request id."""
    request_id = _request_id()
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"x-amzn-requestid", request_id),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    return request_id


def _request_id() -> bytes:
    """A random (version 4) UUID, as `str(uuid.uuid4())` writes it, at half the cost."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}".encode()
