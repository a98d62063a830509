"""Builds the server from its settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Iterator

import uvicorn

from .. import api  # noqa: F401  (registers every operation handler)
from ..api.context import Context
from ..api.heartbeats import Heartbeats
from ..arns import Arns
from ..clock import SystemClock
from ..config import ServerConfig
from ..store.sqlite import SqliteStore
from .app import PortsideApp
from .janitor import purge_loop

log = logging.getLogger("portside.server")


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it, so the process would die
    of SIGTERM after a clean shutdown; Portside exits 0 instead.  Held agent
    polls are answered at once so that shutdown does not wait for them."""

    def __init__(self, config: uvicorn.Config, ctx: Context) -> None:
        super().__init__(config)
        self.ctx = ctx

    def handle_exit(self, sig: int, frame: object) -> None:
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


def build_context(config: ServerConfig) -> Context:
    clock = SystemClock()
    return Context(
        store=SqliteStore(config.database_path),
        clock=clock,
        config=config,
        arns=Arns(config.region, config.account_id),
        heartbeats=Heartbeats(clock.now(), config.agent_timeout_s),
    )


async def serve(config: ServerConfig) -> None:
    ctx = build_context(config)
    server = _Server(
        uvicorn.Config(
            PortsideApp(ctx),
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        ),
        ctx,
    )
    janitor = asyncio.create_task(purge_loop(ctx))
    log.warning("portside server listening on %s (state: %s)", config.endpoint, config.database_path)
    try:
        await server.serve()  # returns after SIGTERM / SIGINT, requests drained
    finally:
        janitor.cancel()
        ctx.store.close()
