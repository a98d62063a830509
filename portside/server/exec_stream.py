"""The ECS Exec WebSockets (see control/exec_sessions.py):

    /portside/exec/agent?containerInstance=ARN   an agent's exec channel (SigV4, agent or admin key)
    /portside/exec/session/ID                    the client; its first message is
                                                 {"token", "tty", "cols", "rows"} (JSON)
    /portside/exec/session/ID/agent              the agent's side of session ID; first
                                                 message {"token"}
    /portside/exec/logs?cluster=C&task=T&container=N&follow=0|1
                                                 `portside logs` (SigV4, an admin key): the
                                                 container's output, sent by its agent
                                                 (control/container_output.py)

Once both sides of a session are there, frames are relayed as they are until
either side closes (domain/execute_command.py has the frame format).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from ..control import container_output, exec_sessions
from ..control.context import Context
from ..domain import execute_command as frames
from ..protocol import errors
from ..protocol.auth import Authenticator

log = logging.getLogger("portside.exec")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CHANNEL_TARGET = "PortsideAgentV1.ExecChannel"
PREFIX = "/portside/exec/"
FIRST_MESSAGE_S = 10.0


async def handle(ctx: Context, auth: Authenticator, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    path = scope["path"]
    if not path.startswith(PREFIX):
        await _refuse(receive, send)
        return
    rest = path[len(PREFIX):].split("/")
    try:
        if rest == ["agent"]:
            await _channel(ctx, auth, scope, receive, send)
        elif rest == ["logs"]:
            await _output(ctx, auth, scope, receive, send)
        elif len(rest) == 2 and rest[0] == "session":
            await _client(ctx, rest[1], receive, send)
        elif len(rest) == 3 and rest[0] == "session" and rest[2] == "agent":
            await _agent(ctx, rest[1], receive, send)
        else:
            await _refuse(receive, send)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("exec stream %s failed", path)


async def _refuse(receive: Receive, send: Send, code: int = 4404) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": code})


async def _accept(receive: Receive, send: Send) -> bool:
    message = await receive()
    if message["type"] != "websocket.connect":
        return False
    await send({"type": "websocket.accept"})
    return True


async def _first(receive: Receive) -> dict[str, Any] | None:
    try:
        message = await asyncio.wait_for(receive(), FIRST_MESSAGE_S)
    except TimeoutError:
        return None
    if message["type"] != "websocket.receive":
        return None
    try:
        value = json.loads(message.get("text") or message.get("bytes") or b"")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _fail(send: Send, text: str, code: int = 1008) -> None:
    try:
        await send({"type": "websocket.send", "bytes": frames.frame(frames.ERROR, text)})
        await send({"type": "websocket.close", "code": code})
    except Exception:  # the other side is gone already
        pass


def _check_signed(ctx: Context, auth: Authenticator, scope: dict[str, Any], target: str) -> None:
    """A WebSocket's upgrade request is a GET signed like any call, for `target`
    (ECSError when it is not, or the key may not call it)."""
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
    query = scope.get("query_string", b"").decode("latin-1")
    raw_path = scope.get("raw_path")
    pending = auth.check_headers("GET", raw_path.decode("latin-1") if raw_path else scope["path"], query,
                                 headers, ctx.clock.now())
    auth.authorize(auth.verify(pending, b""), target)


async def _channel(ctx: Context, auth: Authenticator, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """An agent's exec channel: signed like its other calls; session requests
    go down it as JSON text."""
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        _check_signed(ctx, auth, scope, CHANNEL_TARGET)
    except errors.ECSError as err:
        log.warning("exec channel refused: %s", err.message)
        await _refuse(receive, send, 4403)
        return
    instance = (parse_qs(query).get("containerInstance") or [""])[0]
    if not instance or ctx.placement.get_instance(instance) is None:
        await _refuse(receive, send, 4404)
        return
    if not await _accept(receive, send):
        return
    registry = exec_sessions.sessions_of(ctx)
    queue = registry.open_channel(instance)
    gone = asyncio.ensure_future(_until_closed(receive))
    try:
        while not gone.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await send({"type": "websocket.send", "text": json.dumps(getter.result())})
            else:
                getter.cancel()
    finally:
        gone.cancel()
        registry.close_channel(instance, queue)


async def _output(ctx: Context, auth: Authenticator, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """`portside logs`: the agent's frames, relayed to the signed client."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))

    def one(name: str) -> str | None:
        return (query.get(name) or [None])[0]

    if not await _accept(receive, send):
        return
    follow = one("follow") == "1"
    try:
        _check_signed(ctx, auth, scope, container_output.TARGET)
        session = container_output.open_output_session(ctx, container_output.OutputRequest(
            cluster=one("cluster"), task=one("task") or "", container=one("container"), follow=follow))
    except errors.ECSError as err:
        await _fail(send, f"{err.code}: {err.message}")
        return
    registry = exec_sessions.sessions_of(ctx)
    try:
        await _relay_to_agent(session, registry.ask_agent_for_output(session, follow), receive, send,
                              "The agent did not answer in time.")
    finally:
        registry.end(session)


async def _until_closed(receive: Receive) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def _client(ctx: Context, session_id: str, receive: Receive, send: Send) -> None:
    if not await _accept(receive, send):
        return
    start = await _first(receive)
    registry = exec_sessions.sessions_of(ctx)
    session = registry.claim_client(session_id, str((start or {}).get("token") or ""), ctx.clock.now())
    if session is None:
        await _fail(send, "The session does not exist, has expired or was already used; call ExecuteCommand again.")
        return
    try:
        assert start is not None
        asked = registry.ask_agent(session, bool(start.get("tty")), int(start.get("cols") or 80),
                                   int(start.get("rows") or 24))
        await _relay_to_agent(session, asked, receive, send, "The agent did not start the session in time.")
    finally:
        registry.end(session)


async def _relay_to_agent(session: exec_sessions.Session, asked: bool, receive: Receive, send: Send,
                          late: str) -> None:
    """Once the agent (`asked`: its exec channel was open) dials back, relay
    the client's WebSocket and the agent's; `late` if it does not in time."""
    if not asked:
        await _fail(send, "The agent of the task's container instance is not connected.")
        return
    try:
        agent_receive, agent_send = await asyncio.wait_for(asyncio.shield(session.agent),
                                                           exec_sessions.AGENT_WINDOW_S)
    except TimeoutError:
        await _fail(send, late)
        return
    await _relay((receive, send), (agent_receive, agent_send))


async def _agent(ctx: Context, session_id: str, receive: Receive, send: Send) -> None:
    if not await _accept(receive, send):
        return
    hello = await _first(receive)
    registry = exec_sessions.sessions_of(ctx)
    session = registry.claim_agent(session_id, str((hello or {}).get("token") or ""))
    if session is None:
        await _fail(send, "Unknown session.")
        return
    session.agent.set_result((receive, send))
    await session.done.wait()  # the client's handler relays; this connection lives until it ends


async def _relay(a: tuple[Receive, Send], b: tuple[Receive, Send]) -> None:
    async def pump(source: Receive, sink: Send) -> None:
        while True:
            message = await source()
            if message["type"] != "websocket.receive":
                return
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            await sink({"type": "websocket.send", "bytes": data})

    pumps = [asyncio.ensure_future(pump(a[0], b[1])), asyncio.ensure_future(pump(b[0], a[1]))]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for p in pumps:
            p.cancel()
        for _, sink in (a, b):
            try:
                await sink({"type": "websocket.close", "code": 1000})
            except Exception:  # already closed
                pass


async def collect_output(ctx: Context, request: container_output.OutputRequest, limit: int) -> tuple[bytes, str | None]:
    """A container's output as its agent sends it (not followed), for the
    console: (its last `limit` bytes, None) or (b"", why there is none).
    ECSError when the container cannot be found or its agent is away."""
    session = container_output.open_output_session(ctx, request)
    registry = exec_sessions.sessions_of(ctx)
    agent_send: Send | None = None
    try:
        if not registry.ask_agent_for_output(session, follow=False):
            return b"", "The agent of the task's container instance is not connected."
        try:
            agent_receive, agent_send = await asyncio.wait_for(asyncio.shield(session.agent),
                                                               exec_sessions.AGENT_WINDOW_S)
        except TimeoutError:
            return b"", "The agent did not answer in time."
        output = bytearray()
        while True:
            message = await asyncio.wait_for(agent_receive(), exec_sessions.AGENT_WINDOW_S)
            if message["type"] != "websocket.receive":
                return bytes(output), None
            kind, payload = frames.parse(message.get("bytes") or (message.get("text") or "").encode())
            if kind in (frames.STDOUT, frames.STDERR):
                output += payload
                del output[:-limit]
            elif kind == frames.ERROR:
                return b"", payload.decode(errors="replace")
            elif kind == frames.EXIT:
                return bytes(output), None
    except TimeoutError:
        return b"", "The agent stopped answering."
    finally:
        if agent_send is not None:
            try:
                await agent_send({"type": "websocket.close", "code": 1000})
            except Exception:  # already closed
                pass
        registry.end(session)
