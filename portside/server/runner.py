"""Builds the server from its settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from .. import api  # noqa: F401  (registers every operation handler)
from ..api.context import Context
from ..arns import Arns
from ..clock import SystemClock
from ..config import ServerConfig
from ..store.sqlite import SqliteStore
from .app import PortsideApp
from .janitor import purge_loop

log = logging.getLogger("portside.server")


def build_context(config: ServerConfig) -> Context:
    return Context(
        store=SqliteStore(config.database_path),
        clock=SystemClock(),
        config=config,
        arns=Arns(config.region, config.account_id),
    )


async def serve(config: ServerConfig) -> None:
    ctx = build_context(config)
    server = uvicorn.Server(
        uvicorn.Config(
            PortsideApp(ctx),
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    janitor = asyncio.create_task(purge_loop(ctx))
    log.warning("portside server listening on %s (state: %s)", config.endpoint, config.database_path)
    try:
        await server.serve()  # returns after SIGTERM / SIGINT, requests drained
    finally:
        janitor.cancel()
        ctx.store.close()
