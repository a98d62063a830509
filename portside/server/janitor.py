"""Stopped tasks stay describable for the retention period, then are purged;
log events older than their group's retention are purged too."""

from __future__ import annotations

import asyncio
import logging

from ..api.logs import purge_expired
from ..api.secretsmanager import purge_deleted
from ..control.context import Context

log = logging.getLogger("portside.janitor")


def purge_once(ctx: Context) -> int:
    with ctx.store.transaction():
        return ctx.store.purge_stopped_tasks(ctx.clock.now() - ctx.config.task_retention_s)


async def purge_loop(ctx: Context) -> None:
    interval = max(0.5, min(60.0, ctx.config.task_retention_s / 10))
    while True:
        await asyncio.sleep(interval)
        try:
            purged = purge_once(ctx)
        except Exception:  # the loop must outlive a bad moment of the database
            log.exception("purging stopped tasks failed")
        else:
            if purged:
                log.info("purged %d stopped tasks", purged)
        try:
            expired = purge_expired(ctx)
        except Exception:
            log.exception("purging expired log events failed")
        else:
            if expired:
                log.info("purged %d expired log events", expired)
        try:
            purge_deleted(ctx)
        except Exception:
            log.exception("deleting secrets past their recovery window failed")
