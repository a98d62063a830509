"""Builds the server from its settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from .. import api  # noqa: F401  (registers every operation handler)
from ..arns import Arns
from ..clock import SystemClock
from ..config import ServerConfig
from ..control.context import Context
from ..control.heartbeats import Heartbeats
from ..protocol.auth import Authenticator, CredentialsFileError, load_credentials, load_task_roles
from ..protocol.serialize import wire_json
from ..scheduler.service_reconciler import ServiceReconciler
from ..store import integrity
from ..store.interface import Store, StoreError
from ..store.sqlite import SqliteStore
from .app import PortsideApp
from .connections import ConnectionLimits, GuardedProtocol, guarded_protocol
from .janitor import purge_loop
from .lifecycle import StartupRefused
from .loop_lag import measure_loop_lag
from .peers import Peers

log = logging.getLogger("portside.server")


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it, so the process would die
    of SIGTERM after a clean shutdown; Portside exits 0 instead.  Held agent
    polls are answered at once so that shutdown does not wait for them.  A
    second signal exits at once: everything acknowledged is already committed,
    so this loses no more than a `kill -9` would."""

    def __init__(self, config: uvicorn.Config, ctx: Context) -> None:
        super().__init__(config)
        self.ctx = ctx
        self._signalled = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._signalled:
            log.warning("second %s: exiting now", signal.Signals(sig).name)
            logging.shutdown()
            os._exit(128 + sig)
        self._signalled = True
        log.info("%s: stopping (a second signal exits at once)", signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self.ctx.wakeups.wake_all()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class _OneWrite:
    """The connection's transport, except that the header block uvicorn writes
    at `http.response.start` is held until the body that follows it (in the
    same step, as PortsideApp answers) and both leave in one system call
    instead of two.  Anything else is written at once; a header block nothing
    follows is written on the next turn of the loop, and before any close."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:5] == b"HTTP/":
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.flush()
        self._transport.writelines(lines)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self.flush()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HttpProtocol(GuardedProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWrite(transport, self.loop))  # type: ignore[arg-type]


def authenticator(config: ServerConfig) -> Authenticator:
    """Who may call: the keys of `--credentials`, or (loopback only) any signer.

    An ECS API that runs containers is root on every host it reaches, so an
    open server must not be reachable from another machine."""
    if config.credentials_path is None:
        if not config.loopback_only:
            raise StartupRefused(
                f"refusing to listen on {config.host} without --credentials: anyone who can reach it "
                "could run containers; pass --credentials FILE or listen on 127.0.0.1"
            )
        return Authenticator(None, config.region, config.account_id)
    try:
        keys = load_credentials(config.credentials_path)
    except CredentialsFileError as exc:
        raise StartupRefused(str(exc)) from exc
    try:
        if config.credentials_path.stat().st_mode & 0o077:
            log.warning("credentials file %s is readable by other users; chmod 600 it", config.credentials_path)
    except OSError:
        pass
    return Authenticator(keys, config.region, config.account_id)


def encode_task(task: dict[str, Any]) -> str:
    """A task's wire document as the store keeps it."""
    return wire_json("Task", task)


def build_context(config: ServerConfig) -> Context:
    """StartupRefused when the database cannot be used (one written by a newer Portside)."""
    clock = SystemClock()
    try:
        store: Store
        if config.postgres_dsn is not None:
            from ..store.postgres import PostgresStore  # psycopg only when PostgreSQL is used

            store = PostgresStore(config.postgres_dsn, encode_task=encode_task,
                                  key_file=config.key_path)
        else:
            store = SqliteStore(config.database_path, encode_task=encode_task, key_file=config.key_path)
    except StoreError as exc:
        raise StartupRefused(str(exc)) from exc
    try:
        roles = load_task_roles(config.credentials_path) if config.credentials_path else {}
    except CredentialsFileError as exc:
        raise StartupRefused(str(exc)) from exc
    return Context(
        store=store,
        clock=clock,
        config=config,
        arns=Arns(config.region, config.account_id),
        heartbeats=Heartbeats(clock.now(), config.agent_timeout_s, store.agent_polled_instances()),
        task_roles=roles,
    )


def _peers(ctx: Context, config: ServerConfig) -> Peers | None:
    """The coordination of servers sharing a PostgreSQL database (None on SQLite: one server)."""
    if config.postgres_dsn is None:
        return None
    from ..store.postgres import PostgresCoordination, PostgresStore

    assert isinstance(ctx.store, PostgresStore)
    coordination = PostgresCoordination(config.postgres_dsn, ctx.store.connections)  # one pool per process
    return Peers(ctx, coordination, ctx.store.announce, config.lease_s)


def run(config: ServerConfig, auth: Authenticator | None = None, sock: socket.socket | None = None) -> None:
    """Serve until SIGTERM/SIGINT on uvloop's event loop: uvicorn picks its
    loop only in `Server.run`, which Portside does not use, and asyncio's own
    loop and socket transports cost more CPU per request (about 0.015 ms per
    StopTask, measured).  StartupRefused when the settings are unsafe."""
    try:
        import uvloop
    except ImportError:  # a dependency, but the server still works on asyncio's loop
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(config, auth, sock))


async def serve(config: ServerConfig, auth: Authenticator | None = None, sock: socket.socket | None = None) -> None:
    """Run until SIGTERM/SIGINT on the running loop (see `run`), on `sock`
    when given (see `lifecycle.bind`)."""
    auth = auth or authenticator(config)
    ctx = build_context(config)
    server = _Server(
        uvicorn.Config(
            PortsideApp(ctx, auth),
            host=config.host,
            port=config.port,
            http=guarded_protocol(_HttpProtocol, ConnectionLimits(
                max_connections=config.max_connections,
                idle_timeout=config.idle_timeout_s,
                header_timeout=config.header_timeout_s,
                body_timeout=config.body_timeout_s,
            )),
            timeout_keep_alive=max(1, round(config.idle_timeout_s)),  # ours (connections.py) is exact
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # nothing reads the client address: skip the X-Forwarded-* middleware
            lifespan="off",
            timeout_graceful_shutdown=5,
        ),
        ctx,
    )
    sqlite_path = config.database_path if config.postgres_dsn is None else None
    if sqlite_path is not None:  # removed below: its presence at start means a crash (store/integrity.py)
        integrity.mark_running(sqlite_path)
    peers = _peers(ctx, config)
    if peers is not None:  # several servers may share this database: lease, notices, agents' polls
        peering = peers.start(asyncio.get_running_loop())
    janitor = asyncio.create_task(purge_loop(ctx))
    reconciler = asyncio.create_task(ServiceReconciler(ctx, config.service_interval_s).run())
    lag = asyncio.create_task(measure_loop_lag())
    log.info("portside server listening on %s (state: %s; %s)", config.endpoint, config.database_label,
                "open to any signature, loopback only" if auth.open else f"{len(auth.keys or {})} keys")
    try:
        await server.serve([sock] if sock is not None else None)  # returns after SIGTERM / SIGINT, requests drained
    finally:
        janitor.cancel()
        reconciler.cancel()
        lag.cancel()
        if peers is not None:
            peering.cancel()
            await peers.stop()
            peers.coordination.close()
        ctx.store.close()
        if sqlite_path is not None:
            integrity.mark_stopped(sqlite_path)
