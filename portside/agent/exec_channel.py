"""The agent's side of ECS Exec: it keeps a WebSocket open to each server
(its exec channel, signed with the agent's key), and for each session asked
for there dials back to the session's stream and runs the command in the
task's container with `docker exec`, relaying stdin, stdout/stderr, terminal
size and the exit code (frames: domain/execute_command.py).

Only containers of this instance's tasks are reachable: the container is
found by its ECS labels (task ARN, container name, this instance).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import socket
import struct
import urllib.parse
from typing import Any

import websockets

from ..domain import execute_command as frames
from .output_keeper import OutputKeeper
from .output_session import OutputUnavailable, send_output
from .runtime import LABEL_CONTAINER_NAME, LABEL_INSTANCE, LABEL_TASK_ARN
from .server_client import ServerClient

log = logging.getLogger("portside.agent.exec")

CHANNEL_TARGET = "PortsideAgentV1.ExecChannel"


def _ws_url(endpoint: str, path: str) -> str:
    return ("wss://" + endpoint[8:] if endpoint.startswith("https://") else "ws://" + endpoint.split("://", 1)[-1]) \
        + path


async def run_exec_channel(client: ServerClient, instance_arn: str, docker_client: Any | None,
                           stopping: asyncio.Event, keeper: OutputKeeper) -> None:
    """Keep an exec channel open to every server the agent was given (`--server
    URL1,URL2`) until `stopping`: servers sharing a database each hold their own
    channels in memory, and a session asked for on any of them must reach us."""
    await asyncio.gather(*(_keep_channel(client, endpoint, instance_arn, docker_client, stopping, keeper)
                           for endpoint in client.endpoints))


async def _keep_channel(client: ServerClient, endpoint: str, instance_arn: str, docker_client: Any | None,
                        stopping: asyncio.Event, keeper: OutputKeeper) -> None:
    """One server's exec channel, reconnected with backoff; its sessions dial back to that server."""
    path = "/portside/exec/agent?" + urllib.parse.urlencode({"containerInstance": instance_arn})
    delay = 0.5
    sessions: set[asyncio.Future[None]] = set()  # held until done (the loop keeps weak references)
    while not stopping.is_set():
        try:
            headers = client.signed_get_headers(path, CHANNEL_TARGET, endpoint)
            async with websockets.connect(_ws_url(endpoint, path), additional_headers=headers,
                                          ping_interval=20, open_timeout=10, close_timeout=1) as channel:
                delay = 0.5
                async for message in channel:
                    request = json.loads(message)
                    session = asyncio.ensure_future(
                        _session(endpoint, request, instance_arn, docker_client, keeper))
                    sessions.add(session)
                    session.add_done_callback(sessions.discard)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # server restarting, refused: try again
            log.debug("exec channel to %s: %s", endpoint, exc)
        try:
            await asyncio.wait_for(stopping.wait(), delay)
        except TimeoutError:
            pass
        delay = min(delay * 2, 10.0)


async def _session(endpoint: str, request: dict[str, Any], instance_arn: str, docker_client: Any | None,
                   keeper: OutputKeeper) -> None:
    url = _ws_url(endpoint, f"/portside/exec/session/{request['sessionId']}/agent")
    try:
        async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=1) as stream:
            await stream.send(json.dumps({"token": request["token"]}))
            if request.get("kind") == "logs":  # `portside logs` (agent/output_session.py)
                try:
                    await send_output(stream, request, instance_arn, docker_client, keeper)
                except OutputUnavailable as exc:
                    await stream.send(frames.frame(frames.ERROR, str(exc)))
                    return
                except Exception as exc:  # Docker's refusal, e.g. a log driver it cannot read back
                    await stream.send(frames.frame(frames.ERROR, f"reading the container's output failed: {exc}"))
                    return
                await stream.send(frames.frame(frames.EXIT, {"exitCode": 0}))
                return
            try:
                code = await _run(stream, request, instance_arn, docker_client)
            except _Refused as exc:
                await stream.send(frames.frame(frames.ERROR, str(exc)))
                return
            await stream.send(frames.frame(frames.EXIT, {"exitCode": code}))
    except Exception:
        log.exception("exec session %s failed", request.get("sessionId"))


class _Refused(Exception):
    pass


async def _run(stream: Any, request: dict[str, Any], instance_arn: str, docker_client: Any | None) -> int:
    if docker_client is None:
        raise _Refused("ECS Exec needs the Docker runtime; this agent runs the fake runtime.")
    api = docker_client.api
    labels = [f"{LABEL_TASK_ARN}={request['taskArn']}", f"{LABEL_CONTAINER_NAME}={request['containerName']}",
              f"{LABEL_INSTANCE}={instance_arn}"]
    found = await asyncio.to_thread(api.containers, filters={"label": labels})
    if not found:
        raise _Refused(f"The container {request['containerName']} is not running on this instance.")
    tty = bool(request.get("tty"))
    try:
        created = await asyncio.to_thread(api.exec_create, found[0]["Id"], shlex.split(request["command"]),
                                          stdin=True, stdout=True, stderr=True, tty=tty)
        exec_id = created["Id"]
        raw = await asyncio.to_thread(api.exec_start, exec_id, tty=tty, socket=True)
    except Exception as exc:  # docker's own refusal (no such file, container stopped)
        raise _Refused(f"docker exec failed: {exc}") from exc
    sock: socket.socket = getattr(raw, "_sock", raw)
    if tty:
        await _resize(api, exec_id, request.get("cols"), request.get("rows"))
    loop = asyncio.get_running_loop()
    output = asyncio.ensure_future(asyncio.to_thread(_pump_output, sock, tty, stream, loop))
    feeding = asyncio.ensure_future(_pump_input(stream, sock, api, exec_id, tty))
    await output
    feeding.cancel()
    try:
        sock.close()
    except OSError:
        pass
    for _ in range(50):
        info = await asyncio.to_thread(api.exec_inspect, exec_id)
        if not info.get("Running"):
            return int(info.get("ExitCode") or 0)
        await asyncio.sleep(0.1)
    return int(info.get("ExitCode") or 0)


async def _resize(api: Any, exec_id: str, cols: Any, rows: Any) -> None:
    try:
        await asyncio.to_thread(api.exec_resize, exec_id, height=int(rows or 24), width=int(cols or 80))
    except Exception:  # the process may have ended already
        pass


async def _pump_input(stream: Any, sock: socket.socket, api: Any, exec_id: str, tty: bool) -> None:
    async for message in stream:
        if isinstance(message, str):
            continue
        kind, payload = frames.parse(message)
        if kind == frames.STDIN:
            await asyncio.to_thread(sock.sendall, payload)
        elif kind == frames.STDIN_EOF:
            if tty:  # a terminal's end of input is its EOF character (docker would hang up the TTY)
                await asyncio.to_thread(sock.sendall, b"\x04")
                continue
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        elif kind == frames.RESIZE and tty:
            size = json.loads(payload)
            await _resize(api, exec_id, size.get("cols"), size.get("rows"))


def _pump_output(sock: socket.socket, tty: bool, stream: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Blocking: docker's output to the stream until the process closes it.
    Without a TTY, docker multiplexes stdout and stderr in 8-byte-headed
    chunks (stream type, size)."""
    def send(kind: int, data: bytes) -> None:
        asyncio.run_coroutine_threadsafe(stream.send(frames.frame(kind, data)), loop).result()

    buffered = b""
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        if tty:
            send(frames.STDOUT, data)
            continue
        buffered += data
        while len(buffered) >= 8:
            kind, size = buffered[0], struct.unpack(">I", buffered[4:8])[0]
            if len(buffered) < 8 + size:
                break
            chunk, buffered = buffered[8:8 + size], buffered[8 + size:]
            send(frames.STDERR if kind == 2 else frames.STDOUT, chunk)
