"""The agent's side of the wire: the ECS calls (boto3) and the long poll.

Everything here blocks, so it runs in a small thread pool; the caller sees
coroutines.  Transport trouble (server restarting, connection refused) is a
`ServerUnavailable`, which callers retry; an ECS error answer is a
`ServerRefused`, which they do not.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore import xform_name
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

POLL_TARGET = "PortsideAgentV1.Poll"
# Agent reports with no ECS operation to carry them, sent on Portside's agent
# channel (container health goes over ECS's agent's telemetry connection).
CHANNEL_OPERATIONS = {"report_attachment": "PortsideAgentV1.ReportAttachment",
                      "submit_health": "PortsideAgentV1.SubmitHealth"}


class ServerUnavailable(Exception):
    pass


class ServerRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


ANONYMOUS = Credentials("portside-agent", "portside-agent")


class ServerClient:
    """Signs every call with the agent's key, found the standard AWS ways: the
    key given, else the named profile (`--profile`), else botocore's chain
    (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then AWS_PROFILE or `default` in
    the shared credentials file, ...).  With none, a placeholder key, which
    only a server without `--credentials` (loopback) accepts.

    `endpoint` may name several servers sharing one database, comma-separated
    (`--server URL1,URL2`): calls go to one of them until it fails
    (`ServerUnavailable`: unreachable, or answering 5xx such as a server that
    lost its database), then to the next; callers retry as they do for one."""

    def __init__(self, endpoint: str, region: str = "us-east-1", profile: str | None = None,
                 credentials: Credentials | None = None) -> None:
        self.endpoints = [e.strip().rstrip("/") for e in endpoint.split(",") if e.strip()]
        if not self.endpoints:
            raise ValueError("no server URL given")
        self._current = 0
        self.region = region
        self._session = boto3.session.Session(profile_name=profile)
        found = credentials or self._session.get_credentials()
        self._credentials = found.get_frozen_credentials() if found else ANONYMOUS
        self._clients: dict[str, Any] = {}
        self._ecs_for(self.endpoints[0])  # a bad profile fails here, not at the first call
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="ecs-client")

    async def call_service(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One operation of another service on the same endpoint (Logs, Secrets
        Manager, SSM), e.g. call_service("logs", "PutLogEvents", ...)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, functools.partial(self._call, xform_name(operation), params, service))

    @property
    def endpoint(self) -> str:
        """The server calls go to now."""
        return self.endpoints[self._current]

    def _failed(self, endpoint: str) -> None:
        """`endpoint` failed a call: the next calls go to the next server (unless another call moved on already)."""
        if len(self.endpoints) > 1 and self.endpoint == endpoint:
            self._current = (self._current + 1) % len(self.endpoints)

    def _ecs_for(self, endpoint: str) -> Any:
        return self._client_for("ecs", endpoint)

    def _client_for(self, service: str, endpoint: str) -> Any:
        """A botocore client of `service` (ecs, logs, secretsmanager, ssm) for one of the servers."""
        client = self._clients.get(f"{service} {endpoint}")
        if client is None:
            client = self._clients[f"{service} {endpoint}"] = self._session.client(
                service,
                endpoint_url=endpoint,
                region_name=self.region,
                aws_access_key_id=self._credentials.access_key,
                aws_secret_access_key=self._credentials.secret_key,
                aws_session_token=self._credentials.token,
                # One attempt: botocore's own retry (its `max_attempts: 1` means one *retry*) would
                # resend a call whose answer was lost after the server committed it; callers retry
                # ServerUnavailable themselves, knowing what a resend means (agent.register, log_shipper).
                config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30,
                              max_pool_connections=32),
            )
        return client

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One ECS operation, e.g. call("submit_task_state_change", ...)."""
        if operation in CHANNEL_OPERATIONS:
            return await self._channel(CHANNEL_OPERATIONS[operation], params, 0)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(self._call, operation, params))

    def _call(self, operation: str, params: dict[str, Any], service: str = "ecs") -> dict[str, Any]:
        endpoint = self.endpoint
        try:
            return getattr(self._client_for(service, endpoint), operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                self._failed(endpoint)
                raise ServerUnavailable(str(exc)) from exc
            raise ServerRefused(error.get("Code", "Unknown"), error.get("Message", "")) from exc
        except BotoCoreError as exc:
            self._failed(endpoint)
            raise ServerUnavailable(str(exc)) from exc

    async def poll(self, cluster: str, instance_arn: str, version: str | None, wait: float) -> dict[str, Any]:
        """The long poll, on asyncio streams so that stopping the agent can
        cancel it mid-wait (a thread blocked in a socket could not be)."""
        return await self._channel(
            POLL_TARGET,
            {"cluster": cluster, "containerInstance": instance_arn, "version": version, "waitSeconds": wait},
            wait,
        )

    async def _channel(self, target: str, params: dict[str, Any], wait: float) -> dict[str, Any]:
        """One signed call on Portside's agent channel (the poll, and reports
        no ECS operation carries)."""
        body = json.dumps(params).encode()
        endpoint = self.endpoint
        request = AWSRequest(
            method="POST",
            url=endpoint + "/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
        )
        SigV4Auth(self._credentials, "ecs", self.region).add_auth(request)
        url = urllib.parse.urlsplit(endpoint)
        head = ["POST / HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "content-length"]
        try:
            status, payload = await asyncio.wait_for(
                _exchange(url.hostname or "127.0.0.1", url.port or 80,
                          ("\r\n".join(head) + "\r\n\r\n").encode() + body),
                wait + 15,
            )
        except (TimeoutError, OSError, EOFError, ValueError, IndexError) as exc:
            self._failed(endpoint)
            raise ServerUnavailable(str(exc) or type(exc).__name__) from exc
        if status >= 500:
            self._failed(endpoint)
            raise ServerUnavailable(f"HTTP {status}")
        if status != 200:
            raise ServerRefused(payload.get("__type", str(status)), payload.get("message", ""))
        return payload

    def signed_get_headers(self, path_and_query: str, target: str, endpoint: str) -> dict[str, str]:
        """SigV4 headers for a GET of one of the servers (the exec channel's
        WebSocket upgrade), signed with the agent's key like its other calls."""
        request = AWSRequest(method="GET", url=endpoint + path_and_query, headers={"X-Amz-Target": target})
        SigV4Auth(self._credentials, "ecs", self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() != "host"}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# A server that falls silent (its host or link gone: no reset ever arrives) is
# given up within about KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_PROBES
# seconds, mid long poll too, rather than after the poll's wait plus its margin:
# TCP keepalive probes go unanswered and the kernel fails the socket.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_PROBES = 2, 1, 3


def _keep_alive(sock: socket.socket | None) -> None:
    if sock is None or not hasattr(socket, "TCP_KEEPIDLE"):  # Linux has them; elsewhere the poll's timeout
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)


async def _exchange(host: str, port: int, request: bytes) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection(host, port)
    _keep_alive(writer.get_extra_info("socket"))
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        status = int(status_line.split()[1])
        length = None
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        data = await (reader.readexactly(length) if length is not None else reader.read())
        return status, json.loads(data or b"{}")
    finally:
        writer.close()
