"""The ASGI application: one POST endpoint speaking ECS JSON 1.1.

The HTTP layer only reads the body, caps its size and hands the target and the
bytes to the protocol pipeline; the pipeline answers every request, errors
included.  Handlers run on the event loop thread, one at a time, which keeps
each request's transaction free of interleaving inside this process.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Awaitable, Callable

from ..api import agent_channel
from ..api.context import Context
from ..protocol import errors
from ..protocol.dispatch import dispatch, error_body

MAX_BODY = 1 << 20  # 1 MiB; larger requests are refused before parsing

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class PortsideApp:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] in ("/", "/health"):
            await _respond(send, 200, b'{"status":"ok"}', "application/json")
            return
        body, too_large = await _read_body(receive)
        if too_large:
            status, payload = error_body(
                errors.RequestEntityTooLargeException("Request body exceeds 1048576 bytes.")
            )
        elif scope["method"] != "POST":
            status, payload = error_body(
                errors.UnknownOperationException("Only POST requests are accepted.")
            )
        else:
            target = _header(scope, b"x-amz-target") or ""
            prefix, _, operation = target.partition(".")
            if prefix == agent_channel.TARGET_PREFIX:
                gone = asyncio.ensure_future(receive())  # completes on http.disconnect
                try:
                    status, payload = await agent_channel.handle(self.ctx, operation, body, gone)
                finally:
                    gone.cancel()
            else:
                status, payload = dispatch(self.ctx, target, body)
        await _respond(send, status, payload, "application/x-amz-json-1.1")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), size > MAX_BODY


async def _respond(send: Send, status: int, payload: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
